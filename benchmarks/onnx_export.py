"""onnxruntime on the exported model against ``Model.predict_proba``: throughput and agreement.

A float32 MLP 784-512-256-10 (ReLU, softmax) is trained for one epoch on synthetic data, exported with
:func:`anyarray_nn.export_onnx`, and both run on the same batches in turns: ``Model.predict_proba`` on
the NumPy backend and ``InferenceSession.run`` of onnxruntime's CPU provider, default session options.
For each batch size it reports rows per second (median of ``--repeat`` timings after a warm-up, each
timing as many calls as make about ``--rows-per-timing`` rows), the maximum absolute difference of the
probabilities and the share of equal labels.

    python benchmarks/onnx_export.py
    python benchmarks/onnx_export.py --batch-sizes 1 64 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import _common as c
import anyarray_nn as ann


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--architecture", type=int, nargs="+", default=list(c.ARCHITECTURE))
    p.add_argument("--train-samples", type=int, default=5000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024, 10000])
    p.add_argument("--rows-per-timing", type=int, default=4000, help="rows run per timing (at least one call)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--out-dir")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import onnxruntime as ort

    info = c.machine_info(use_torch=False)
    info["versions"].update({name: c._version(name) for name in ("ndonnx", "onnx", "onnxruntime")})
    c.print_machine(info)
    sizes = tuple(args.architecture)
    X_train, labels = c.synthetic_data(args.train_samples, n_features=sizes[0], n_classes=sizes[-1])
    model = ann.Model(c.mlp_layers(sizes), backend="numpy", dtype="float32", seed=0)
    t0 = time.perf_counter()
    model.fit(X_train, labels, settings=ann.Settings(epochs=1, batch_size=128, verbose=0))
    train_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        t0 = time.perf_counter()
        proto = ann.export_onnx(model, path)
        export_s = time.perf_counter() - t0
        file_bytes = os.path.getsize(path)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    opset = {o.domain: o.version for o in proto.opset_import}.get("", None)
    print(f"model   : {'-'.join(map(str, sizes))} float32, {model.n_params:,} parameters, trained {train_s:.1f} s "
          f"(1 epoch on {args.train_samples:,} rows)")
    print(f"export  : {export_s:.2f} s, {file_bytes / 2**20:.1f} MiB, opset {opset}, {len(proto.graph.node)} nodes")
    print()

    X_all, _ = c.synthetic_data(max(args.batch_sizes), n_features=sizes[0], n_classes=sizes[-1], seed=1)
    results = []
    for batch in args.batch_sizes:
        X = np.ascontiguousarray(X_all[:batch])
        calls = max(1, args.rows_per_timing // batch)
        proba = model.predict_proba(X)
        onnx_proba, onnx_label = session.run(None, {"X": X})

        def library():
            for _ in range(calls):
                model.predict_proba(X)

        def onnx():
            for _ in range(calls):
                session.run(None, {"X": X})

        times = c.measure_in_turns(
            {"predict_proba": c.synced(library, lambda: None), "onnxruntime": c.synced(onnx, lambda: None)},
            args.repeat, args.warmup,
        )
        lib, ox = c.summary(times["predict_proba"]), c.summary(times["onnxruntime"])
        rows = batch * calls
        r = {
            "batch_size": batch, "calls_per_timing": calls,
            "predict_proba": lib, "onnxruntime": ox,
            "predict_proba_rows_per_s": rows / lib["median_s"], "onnxruntime_rows_per_s": rows / ox["median_s"],
            "onnx_over_library": c.paired_ratio(times["predict_proba"], times["onnxruntime"]),
            "max_abs_diff": float(np.max(np.abs(onnx_proba - proba))),
            "labels_equal": float(np.mean(onnx_label == model.predict(X))),
        }
        results.append(r)
        print(f"  batch {batch:6d}: predict_proba {r['predict_proba_rows_per_s']:12,.0f} rows/s, onnxruntime "
              f"{r['onnxruntime_rows_per_s']:12,.0f} rows/s, max |diff| {r['max_abs_diff']:.2e}", flush=True)

    headers = ["batch", "predict_proba rows/s", "onnxruntime rows/s", "onnx speed-up", "max abs diff", "labels equal"]
    rows = [
        [f"{r['batch_size']:,}", f"{r['predict_proba_rows_per_s']:,.0f}", f"{r['onnxruntime_rows_per_s']:,.0f}",
         f"{r['onnx_over_library']:.2f}x", f"{r['max_abs_diff']:.1e}", f"{100 * r['labels_equal']:.0f}%"]
        for r in results
    ]
    print()
    print(c.table(headers, rows))
    info["load_average_1min_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    c.write_json("onnx_export", {
        "benchmark": "onnx_export",
        "command": "python benchmarks/onnx_export.py " + " ".join(argv if argv is not None else c.sys.argv[1:]),
        "machine": info, "notes": c.machine_notes(info),
        "config": {"architecture": list(sizes), "dtype": "float32", "train_samples": args.train_samples,
                   "rows_per_timing": args.rows_per_timing, "repeat": args.repeat, "warmup": args.warmup,
                   "onnxruntime_provider": "CPUExecutionProvider", "onnxruntime_session_options": "default"},
        "model": {"params": model.n_params, "train_s": train_s, "export_s": export_s, "file_bytes": file_bytes,
                  "opset": opset, "nodes": len(proto.graph.node)},
        "results": results, "markdown_table": c.markdown_table(headers, rows),
    }, args.out_dir)


if __name__ == "__main__":
    main()
