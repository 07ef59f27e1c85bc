"""Peak host memory of ``Model.predict`` on a large input, measured with tracemalloc.

NumPy reports its array allocations to tracemalloc, so the traced peak covers the input, every
temporary made while checking and converting it, the activations of each chunk and the output.

    python benchmarks/predict_memory.py                 # 1,000,000 x 784 float32 (about 3.1 GB)
    python benchmarks/predict_memory.py --rows 100000   # a smaller run

The claim checked: peak traced memory < 2 x input size + model size.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import _common  # noqa: F401  (from a checkout, puts the package next to this folder on the path)
import anyarray_nn as ann


def measure(rows, features=784, hidden=(256, 128), classes=10, batch_size=None, seed=0):
    """Figures of one run, in bytes (and seconds): input, model, traced peak, output."""
    sizes = [features, *hidden, classes]
    layers = [ann.Layer(a, b, "relu") for a, b in zip(sizes[:-2], sizes[1:-1])]
    layers.append(ann.Layer(sizes[-2], sizes[-1], "softmax"))
    model = ann.Model(layers, backend="numpy", dtype="float32", seed=seed)
    model_bytes = sum(int(np.asarray(p).nbytes) for p in model.parameters())

    tracemalloc.start()
    rng = np.random.default_rng(seed)
    X = np.empty((rows, features), dtype=np.float32)
    for start in range(0, rows, 65536):  # filled in blocks so making X needs no extra copy
        stop = min(start + 65536, rows)
        X[start:stop] = rng.standard_normal((stop - start, features), dtype=np.float32)
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    labels = model.predict(X, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": rows,
        "input_bytes": int(X.nbytes),
        "model_bytes": model_bytes,
        "traced_before_predict": before,
        "peak_bytes": peak,
        "extra_bytes": peak - before,
        "output_bytes": int(labels.nbytes),
        "seconds": seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    r = measure(args.rows, args.features, batch_size=args.batch_size)
    mb = 2**20
    bound = 2 * r["input_bytes"] + r["model_bytes"]
    print(f"predict on {r['rows']:,} x {args.features} float32, numpy backend")
    print(f"  input                 {r['input_bytes'] / mb:10.1f} MiB")
    print(f"  model parameters      {r['model_bytes'] / mb:10.1f} MiB")
    print(f"  traced before predict {r['traced_before_predict'] / mb:10.1f} MiB (the input and small objects)")
    print(f"  peak during predict   {r['peak_bytes'] / mb:10.1f} MiB = {r['peak_bytes'] / r['input_bytes']:.3f} x input")
    print(f"  extra over the input  {r['extra_bytes'] / mb:10.1f} MiB")
    print(f"  bound 2 x input+model {bound / mb:10.1f} MiB -> {'OK' if r['peak_bytes'] < bound else 'EXCEEDED'}")
    print(f"  time                  {r['seconds']:10.2f} s")


if __name__ == "__main__":
    main()
