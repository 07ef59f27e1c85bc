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
   that the library's own work shows: ``Model.fit``'s time per step, the bare step
   (:func:`anyarray_nn.step.make_train_step` called in a loop on the same shuffled rows), their
   difference (what the driver adds), and the same SGD step written by hand in NumPy (the arithmetic
   alone). ``--steps-only`` runs this part alone.

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
    p.add_argument("--steps-only", action="store_true", help="only the per-step overhead (part 3)")
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


def _plain_numpy_step(W, b, lr):
    """The same SGD step on 4-16-8-3 written by hand in NumPy: what the arithmetic costs without a library."""

    def step(x, y):
        n = x.shape[0]
        z1 = x @ W[0]
        z1 += b[0]
        a1 = np.maximum(z1, 0)
        z2 = a1 @ W[1]
        z2 += b[1]
        a2 = np.maximum(z2, 0)
        z3 = a2 @ W[2]
        z3 += b[2]
        s = z3 - z3.max(1, keepdims=True)
        e = np.exp(s)
        se = e.sum(1, keepdims=True)
        a3 = e / se
        loss = -(y * (s - np.log(se))).sum() / n
        predictions = a3.argmax(1)
        g3 = (a3 - y) * (-lr / n)
        g2 = (g3 @ W[2].T) * (z2 > 0)
        W[2] += a2.T @ g3
        b[2] += g3.sum(0)
        g1 = (g2 @ W[1].T) * (z1 > 0)
        W[1] += a1.T @ g2
        b[1] += g2.sum(0)
        W[0] += x.T @ g1
        b[0] += g1.sum(0)
        return loss, predictions

    return step


def step_overhead(repeat):
    """``Model.fit``'s time per step against the bare step, tiny network 4-16-8-3 at batch 64, NumPy.

    Three ways to take the same steps on the same shuffled rows, timed in paired rounds (each round runs
    all three, so that a slower moment of the machine slows all of them):

    - ``fit``: ``Model.fit`` (three epochs, shuffled), per step;
    - ``bare``: the pure step of :func:`anyarray_nn.step.make_train_step` called in a loop on the rows
      ``take`` gives for the same orders, with the flat-array packing ``fit`` uses for elementwise
      optimizers; ``fit - bare`` is what the driver adds;
    - ``plain`` (SGD only): the step written by hand in NumPy, the floor of the arithmetic.
    """
    from anyarray_nn._validation import check_targets
    from anyarray_nn.step import Packing, make_train_step
    from anyarray_nn.training import default_solver

    rng = np.random.default_rng(0)
    batch, steps, epochs = 64, 200, 3
    n = batch * steps
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n)
    layers = lambda: [ann.Layer(4, 16, "relu"), ann.Layer(16, 8, "relu"), ann.Layer(8, 3, "softmax")]  # noqa: E731
    orders = [np.random.default_rng(e).permutation(n) for e in range(epochs)]
    results = {}
    for optimizer in ("sgd", "adam"):
        solver_of = lambda: ann.Solver(optimizer=optimizer, learning_rate=0.01)  # noqa: E731
        model = ann.Model(layers(), backend="numpy", seed=0)
        settings = ann.Settings(epochs=epochs, batch_size=batch, verbose=0)
        model.fit(X, y, solver_of(), settings)  # warm: the first fit sets up what later ones reuse
        bare_model = ann.Model(layers(), backend="numpy", seed=0)
        xp, backend = bare_model.xp, bare_model.backend
        solver = default_solver(bare_model, solver_of())
        T = check_targets(y, backend, solver.loss, 3, n)
        Xd = backend.asarray(X)

        def bare():
            params = [xp.asarray(p, copy=True) for p in bare_model.parameters()]
            state = solver.optimizer.init_state(params, xp=xp)
            packing = None
            if getattr(solver.optimizer, "elementwise", False):
                packing = Packing(params, state, xp=xp)
                params, state = packing.params, packing.state
            step = make_train_step(bare_model.layers, solver, xp=xp, matmul_add=backend.library.matmul_add,
                                   packing=packing)
            t0 = time.perf_counter()
            for order in orders:
                for k in range(steps):
                    idx = order[k * batch:(k + 1) * batch]
                    params, state, _, _ = step(params, state, xp.take(Xd, idx, axis=0), xp.take(T, idx, axis=0),
                                               None, 0.01)
            return time.perf_counter() - t0

        def plain():
            W = [np.array(p, copy=True) for p in bare_model.parameters()[0::2]]
            b = [np.array(p, copy=True) for p in bare_model.parameters()[1::2]]
            step, Tn = _plain_numpy_step(W, b, np.float32(0.01)), np.asarray(T)
            t0 = time.perf_counter()
            for order in orders:
                for k in range(steps):
                    idx = order[k * batch:(k + 1) * batch]
                    step(X.take(idx, axis=0), Tn.take(idx, axis=0))
            return time.perf_counter() - t0

        times = {"fit": [], "bare": [], "plain": []}
        for _ in range(repeat):
            t0 = time.perf_counter()
            model.fit(X, y, solver_of(), settings)
            times["fit"].append(time.perf_counter() - t0)
            times["bare"].append(bare())
            if optimizer == "sgd":
                times["plain"].append(plain())
        per_step = {k: [t / (epochs * steps) * 1e6 for t in v] for k, v in times.items() if v}
        fit_us, bare_us = min(per_step["fit"]), min(per_step["bare"])
        results[optimizer] = {
            "fit_us_per_step": fit_us, "bare_step_us": bare_us, "driver_us_per_step": fit_us - bare_us,
            "fit_us": per_step["fit"], "bare_us": per_step["bare"],
        }
        line = f"step    : {optimizer:4s}: fit {fit_us:.1f} us/step, bare step {bare_us:.1f} us, driver {fit_us - bare_us:.1f} us"
        if "plain" in per_step:
            plain_us = min(per_step["plain"])
            results[optimizer].update({"plain_numpy_us": plain_us, "plain_us": per_step["plain"],
                                       "fit_over_plain": fit_us / plain_us})
            line += f", hand-written NumPy {plain_us:.1f} us (fit / hand-written {fit_us / plain_us:.2f})"
        print(line)
    return results


def main(argv=None):
    args = parse_args(argv)
    info = c.machine_info(use_torch=False)
    c.print_machine(info)
    if args.steps_only:
        overhead = step_overhead(args.step_repeat)
        c.write_json("step_overhead", {
            "command": "python benchmarks/streaming.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": info, "settings": vars(args), "step_overhead": overhead,
        }, args.out_dir)
        return
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
