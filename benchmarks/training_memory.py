"""Peak memory of a training epoch against data + parameters + one batch's activations.

For each batch size, one epoch of ``Model.fit`` on the MLP 784-512-256-10 (float32, synthetic data) and
the memory it needs beyond the input ``X`` the caller already holds:

* NumPy: the peak traced by ``tracemalloc`` (NumPy reports its array allocations to it) during ``fit``;
* torch on CUDA: ``torch.cuda.max_memory_allocated`` during ``fit``, less what was allocated before;
* CuPy: the bytes CuPy's memory pool holds after ``fit`` (the pool keeps freed blocks, so this bounds the
  peak from above).

The reference it is compared with, in bytes::

    data         targets as the model's one-hot float32 rows (n x k)  [X itself is the caller's]
    parameters   W and b of every layer, times 4: the weights, their gradients, the copy fit trains on
                 and the last good copy it keeps for the divergence guard
    activations  one batch: its inputs and, per layer, Z, A and the gradient of Z

    python benchmarks/training_memory.py
    python benchmarks/training_memory.py --samples 200000 --batch-sizes 256 4096
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

import numpy as np

import _common as c
from _common import ann


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024, 8192])
    p.add_argument("--backends", nargs="+", default=["numpy", "cupy", "torch-cuda"])
    p.add_argument("--out-dir")
    return p.parse_args(argv)


def reference(sizes, n, batch, bytes_per=4):
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    activations = batch * sizes[0] + sum(3 * batch * s for s in sizes[1:])
    return {
        "data_bytes": n * sizes[-1] * bytes_per,
        "parameter_bytes": 4 * params * bytes_per,
        "activation_bytes": activations * bytes_per,
    }


def peak_numpy(model, X, labels, settings, solver):
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        model.fit(X, labels, solver=solver, settings=settings)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def peak_torch_cuda(model, X, labels, settings, solver):
    import torch

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    model.fit(X, labels, solver=solver, settings=settings)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def peak_cupy(model, X, labels, settings, solver):
    import cupy

    pool = cupy.get_default_memory_pool()
    cupy.cuda.Device().synchronize()
    base = pool.used_bytes()
    pool.free_all_blocks()
    model.fit(X, labels, solver=solver, settings=settings)
    cupy.cuda.Device().synchronize()
    return pool.total_bytes() - base


MEASURES = {"numpy": peak_numpy, "torch-cuda": peak_torch_cuda, "cupy": peak_cupy}


def main(argv=None):
    args = parse_args(argv)
    info = c.machine_info(use_torch=any(b.startswith("torch") for b in args.backends))
    c.print_machine(info)
    unsupported = [b for b in args.backends if b not in MEASURES]
    for b in unsupported:
        print(f"skipped : {b}: no peak-memory probe for it (torch on the CPU reports its allocations to no tracer)")
    cases = c.backend_cases([b for b in args.backends if b in MEASURES])
    sizes = c.ARCHITECTURE
    X_host, labels = c.synthetic_data(args.samples)
    rows = []
    for label, name, device in cases:
        for batch in args.batch_sizes:
            model = ann.Model(c.mlp_layers(sizes), backend=name, device=device, dtype="float32", seed=0)
            X = model.backend.asarray(X_host)
            solver = ann.Solver(loss="crossentropy", optimizer="sgd", learning_rate=0.01)
            settings = ann.Settings(epochs=1, batch_size=batch, verbose=0)
            model.fit(X, labels, solver=solver, settings=settings)  # warm-up: lazy imports, pools, caches
            peak = MEASURES[label](model, X, labels, settings, solver)
            ref = reference(sizes, args.samples, batch)
            total = sum(ref.values())
            rows.append({"backend": label, "batch_size": batch, "peak_bytes": peak, **ref, "reference_bytes": total,
                         "peak_over_reference": c.ratio(peak, total), "input_bytes": int(np.prod(X.shape)) * 4})
            print(f"  {label:10s} batch {batch:5d}: peak {peak / 2**20:.1f} MiB, reference {total / 2**20:.1f} MiB", flush=True)
            del model, X

    mib = lambda b: f"{b / 2**20:.1f}"  # noqa: E731
    headers = ["backend", "batch", "peak MiB", "data MiB", "params x4 MiB", "batch activations MiB", "reference MiB", "peak/reference"]
    table_rows = [
        [r["backend"], r["batch_size"], mib(r["peak_bytes"]), mib(r["data_bytes"]), mib(r["parameter_bytes"]),
         mib(r["activation_bytes"]), mib(r["reference_bytes"]), f"{r['peak_over_reference']:.2f}"]
        for r in rows
    ]
    print()
    print(f"input X (held by the caller, not counted): {args.samples:,} x {sizes[0]} float32 = {mib(args.samples * sizes[0] * 4)} MiB")
    print(c.table(headers, table_rows))
    c.write_json("training_memory", {
        "benchmark": "training_memory",
        "command": "python benchmarks/training_memory.py " + " ".join(argv if argv is not None else c.sys.argv[1:]),
        "machine": info, "notes": c.machine_notes(info),
        "config": {"architecture": list(sizes), "samples": args.samples, "dtype": "float32"},
        "results": rows, "markdown_table": c.markdown_table(headers, table_rows),
    }, args.out_dir)
    plt = c.pyplot()
    if plt is not None and rows:
        fig, ax = plt.subplots(figsize=(6, 4))
        for backend in dict.fromkeys(r["backend"] for r in rows):
            pts = [r for r in rows if r["backend"] == backend]
            ax.plot([r["batch_size"] for r in pts], [r["peak_bytes"] / 2**20 for r in pts], "o-", label=f"peak {backend}")
        pts = [r for r in rows if r["backend"] == rows[0]["backend"]]
        ax.plot([r["batch_size"] for r in pts], [r["reference_bytes"] / 2**20 for r in pts], "x--", label="data + params + activations")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel("MiB beyond the input X")
        ax.legend(fontsize=7)
        c.save_figure(fig, "training_memory", args.out_dir)


if __name__ == "__main__":
    main()
