"""Training from a file against training from memory, and what the epoch driver adds to each step.

Three measurements, each printed as a table and written to ``benchmarks/results/streaming.json``:

1. **Epoch time from a memmapped ``.npy``** (the page cache warm: the file was just written and read)
   against the same rows in memory, for the MLP 784-512-256-10 at batches 64 and 256, on NumPy and JAX.
   Both fits draw the same order from the same seed; the ratio ``memmap / memory`` is the median of
   paired rounds (the aim is at most 1.10: reading the next batch on the background thread overlaps
   the step).
2. **Read throughput** of the source alone (rows read, checked and moved to the device per second,
   shuffled order) and the **peak resident memory** of one epoch from the file, measured in a separate
   process (``VmHWM``), against the file's size.
3. **Per-step overhead**: a tiny network (4-16-8-3) at batch 64 on NumPy, whose step costs little, so
   that the driver's own work shows: ``Model.fit``'s time per step, the bare step
   (:func:`anyarray_nn.step.make_train_step` called in a loop on slices) and their difference.

    python benchmarks/streaming.py
    python benchmarks/streaming.py --samples 20000 --batch-sizes 64 256 --backends numpy jax --repeat 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

import _common as c
from _common import ann


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--backends", nargs="+", default=["numpy", "jax"])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--step-repeat", type=int, default=7)
    p.add_argument("--out-dir")
    return p.parse_args(argv)


def _model(name):
    return ann.Model(c.mlp_layers(), backend=name, seed=0)


def _epoch_runner(name, X, y, batch):
    """One epoch of fit per call on ``(X, y)`` (arrays or a memmap); its seconds from History."""
    model = _model(name)
    solver = ann.Solver(optimizer="sgd", learning_rate=0.01)
    settings = ann.Settings(epochs=1, batch_size=batch, verbose=0)

    def run():
        history = model.fit(X, y, solver, settings)
        return history.epoch_time[-1]

    return run


def epochs_from_file(args, path_X, path_y, X, y):
    rows = []
    for label, name, _ in c.backend_cases([b for b in args.backends if b in ("numpy", "jax")]):
        for batch in args.batch_sizes:
            Xm, ym = np.load(path_X, mmap_mode="r"), np.load(path_y, mmap_mode="r")
            memory, mapped = _epoch_runner(name, X, y, batch), _epoch_runner(name, Xm, ym, batch)
            memory(), mapped()  # compile, warm the page cache
            t_mem, t_map = [], []
            for _ in range(args.repeat):  # in turns, so that a drifting machine slows both alike
                t_mem.append(memory())
                t_map.append(mapped())
            rows.append({
                "backend": label, "batch_size": batch,
                "memory": c.summary(t_mem), "memmap": c.summary(t_map),
                "memmap_over_memory": c.paired_ratio(t_map, t_mem),
            })
            print(f"epoch   : {label:6s} batch {batch:4d}: memory {min(t_mem):.3f} s, memmap {min(t_map):.3f} s, "
                  f"ratio {rows[-1]['memmap_over_memory']:.3f}")
    return rows


def read_throughput(path_X, path_y, batch, repeat):
    """Rows per second and MB per second that the source delivers alone (shuffled rows, checked, on NumPy)."""
    from anyarray_nn.feed import SourceFeed
    from anyarray_nn.sources import ArraySource, BatchChecker

    Xm, ym = np.load(path_X, mmap_mode="r"), np.load(path_y, mmap_mode="r")
    model = _model("numpy")
    loss = ann.losses.get("crossentropy")
    checker = BatchChecker(Xm.shape[1], lambda arr, name: loss.encode_targets(arr, 10, name), "float32")
    feed = SourceFeed(ArraySource(Xm, ym), checker, model.backend)
    n = Xm.shape[0]
    steps = -(-n // batch)
    times = []
    for _ in range(repeat):
        order = np.random.default_rng(0).permutation(n)
        t0 = time.perf_counter()
        for _ in feed.epoch(order, batch, steps):
            pass
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"batch_size": batch, "seconds": c.summary(times), "rows_per_s": n / best,
            "mb_per_s": Xm.nbytes / best / 1e6}


_PEAK = textwrap.dedent(
    """
    import sys
    import numpy as np
    import anyarray_nn as ann
    X, y = np.load(sys.argv[1], mmap_mode="r"), np.load(sys.argv[2], mmap_mode="r")
    model = ann.Model([ann.Layer(784, 512, "relu"), ann.Layer(512, 256, "relu"), ann.Layer(256, 10, "softmax")], seed=0)
    model.fit(X, y, ann.Solver(optimizer="sgd"), ann.Settings(epochs=1, batch_size=int(sys.argv[3]), verbose=0))
    with open("/proc/self/status") as f:
        print(next(int(line.split()[1]) for line in f if line.startswith("VmHWM")))
    """
)


def peak_memory(path_X, path_y, batch):
    """Peak resident KiB of one epoch from the file, in a process of its own (Linux)."""
    if not os.path.exists("/proc/self/status"):
        return None
    done = subprocess.run([sys.executable, "-c", _PEAK, path_X, path_y, str(batch)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return int(done.stdout.split()[-1]) * 1024


def step_overhead(repeat):
    """``Model.fit`` time per step against the bare step, tiny network 4-16-8-3 at batch 64, NumPy."""
    from anyarray_nn._validation import check_targets
    from anyarray_nn.step import make_train_step
    from anyarray_nn.training import default_solver

    rng = np.random.default_rng(0)
    batch, steps, epochs = 64, 200, 3
    n = batch * steps
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n)
    layers = lambda: [ann.Layer(4, 16, "relu"), ann.Layer(16, 8, "relu"), ann.Layer(8, 3, "softmax")]  # noqa: E731
    results = {}
    for optimizer in ("sgd", "adam"):
        model = ann.Model(layers(), backend="numpy", seed=0)
        settings = ann.Settings(epochs=epochs, batch_size=batch, verbose=0)
        model.fit(X, y, ann.Solver(optimizer=optimizer, learning_rate=0.01), settings)
        bare_model = ann.Model(layers(), backend="numpy", seed=0)
        solver = default_solver(bare_model, ann.Solver(optimizer=optimizer, learning_rate=0.01))
        step = make_train_step(bare_model.layers, solver, xp=bare_model.xp, matmul_add=bare_model.backend.matmul_add)
        T = check_targets(y, bare_model.backend, solver.loss, 3, n)
        Xd = bare_model.backend.asarray(X)
        fit_t, bare_t = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            model.fit(X, y, ann.Solver(optimizer=optimizer, learning_rate=0.01), settings)
            fit_t.append((time.perf_counter() - t0) / (epochs * steps))
            params = [p.copy() for p in bare_model.parameters()]
            state = solver.optimizer.init_state(params, xp=bare_model.xp)
            t0 = time.perf_counter()
            for _ in range(epochs):
                for k in range(steps):
                    params, state, _, _ = step(params, state, Xd[k * batch:(k + 1) * batch], T[k * batch:(k + 1) * batch], None, 0.01)
            bare_t.append((time.perf_counter() - t0) / (epochs * steps))
        results[optimizer] = {
            "fit_us_per_step": min(fit_t) * 1e6, "bare_step_us": min(bare_t) * 1e6,
            "driver_us_per_step": (min(fit_t) - min(bare_t)) * 1e6,
            "fit_times_s": fit_t, "bare_times_s": bare_t,
        }
        print(f"step    : {optimizer:4s}: fit {min(fit_t) * 1e6:.1f} us/step, bare step {min(bare_t) * 1e6:.1f} us, "
              f"driver {results[optimizer]['driver_us_per_step']:.1f} us")
    return results


def main(argv=None):
    args = parse_args(argv)
    info = c.machine_info(use_torch=False)
    c.print_machine(info)
    with tempfile.TemporaryDirectory() as tmp:
        X, y = c.synthetic_data(args.samples)
        path_X, path_y = os.path.join(tmp, "X.npy"), os.path.join(tmp, "y.npy")
        np.save(path_X, X)
        np.save(path_y, y)
        epochs = epochs_from_file(args, path_X, path_y, X, y)
        throughput = [read_throughput(path_X, path_y, b, args.repeat) for b in args.batch_sizes]
        for t in throughput:
            print(f"read    : batch {t['batch_size']:4d}: {t['rows_per_s']:,.0f} rows/s, {t['mb_per_s']:.0f} MB/s")
        peaks = {b: peak_memory(path_X, path_y, b) for b in args.batch_sizes}
        file_mb = X.nbytes / 2**20
        for b, peak in peaks.items():
            if peak is not None:
                print(f"memory  : batch {b:4d}: peak resident {peak / 2**20:.0f} MiB for a {file_mb:.0f} MiB file")
    overhead = step_overhead(args.step_repeat)

    headers = ["backend", "batch", "memory s", "memmap s", "memmap/memory"]
    table_rows = [
        [r["backend"], r["batch_size"], f"{r['memory']['min_s']:.3f}", f"{r['memmap']['min_s']:.3f}",
         f"{r['memmap_over_memory']:.3f}"]
        for r in epochs
    ]
    print()
    print(c.table(headers, table_rows))
    print("target  : memmap/memory <= 1.10")
    print(f"target  : a step of the tiny network in fit at most 60 us (now {overhead['sgd']['fit_us_per_step']:.0f} us "
          f"with SGD, {overhead['adam']['fit_us_per_step']:.0f} us with Adam)")
    command = "python benchmarks/streaming.py " + " ".join(sys.argv[1:] if argv is None else argv)
    c.write_json("streaming", {
        "command": command.strip(),
        "machine": info,
        "settings": vars(args),
        "results": epochs,
        "read_throughput": throughput,
        "peak_resident_bytes": {str(b): p for b, p in peaks.items()},
        "file_bytes": int(X.nbytes),
        "step_overhead": overhead,
        "markdown_table": c.markdown_table(headers, table_rows),
    }, args.out_dir)


if __name__ == "__main__":
    main()
