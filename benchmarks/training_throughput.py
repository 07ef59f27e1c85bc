"""Training throughput of an MLP 784-512-256-10 against its floor and against torch.nn and scikit-learn.

For every backend present (NumPy; torch on the CPU through anyarray_nn; CuPy and torch on CUDA when a GPU
is present) and every batch size it measures, on synthetic float32 data (60,000 samples by default):

* epoch: seconds per training epoch of ``Model.fit`` (ReLU, softmax + cross-entropy, SGD at 0.01), the
  median over ``--repeat`` epochs after ``--warmup`` untimed ones, taken from ``History.epoch_time`` (whose
  clock is read after the epoch's one host read, so queued device work is included); the wall time of the
  whole timed fit, between two ``Backend.synchronize()`` calls, is recorded as well;
* floor: seconds of exactly the matrix products that epoch needs (per layer the forward product, the
  weight-gradient product, and the product for the layer below except for the first layer), on the same
  backend, shapes and dtype, between two ``Backend.synchronize()`` calls;
* peers: the same network and data trained for one epoch by ``torch.nn`` + ``torch.optim.SGD`` on the same
  device (when torch is installed) and by scikit-learn's ``MLPClassifier(solver="sgd")`` (when installed).

    python benchmarks/training_throughput.py                   # the reference run
    python benchmarks/training_throughput.py --quick           # a smaller, faster run
    python benchmarks/training_throughput.py --batch-sizes 256 --backends numpy --no-sklearn

Reference figures are measured with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for the command:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/training_throughput.py``.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

import numpy as np

import _common as c
from _common import ann

TARGETS = {
    "numpy epoch/floor at batch 256": ("<=", 1.15),
    "numpy epoch/floor at batch 64": ("<=", 1.3),
    "numpy epoch / torch.nn (cpu) at batch 256": ("<=", 1.0),
    "sklearn epoch / numpy epoch (every batch size)": (">=", 2.0),
    "cupy epoch / torch.nn (cuda) at batch 1024": ("<=", 1.3),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--repeat", type=int, default=5, help="timed repetitions (the median is reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs before the timed ones")
    p.add_argument("--backends", nargs="+", help="some of: numpy torch-cpu cupy torch-cuda (default: all present)")
    p.add_argument("--no-torch-nn", action="store_true", help="skip the torch.nn peer")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn peer")
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--quick", action="store_true", help="12,000 samples, 3 repetitions")
    p.add_argument("--out-dir", help="where the JSON and PNG go (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.repeat = min(args.samples, 12000), min(args.repeat, 3)
    return args


# --------------------------------------------------------------------------------------------------
def torch_nn_runner(X, labels, batch, device, args):
    """One epoch of the same network trained by torch.nn + torch.optim.SGD on ``device`` per call."""
    import torch

    torch.manual_seed(0)
    sizes = c.ARCHITECTURE
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*mods).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=args.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(X).to(device)
    yt = torch.from_numpy(labels.astype(np.int64)).to(device)
    n = Xt.shape[0]
    gen = torch.Generator(device=device).manual_seed(0)

    def epoch():
        order = torch.randperm(n, device=device, generator=gen)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach() * xb.shape[0]
        return float(total) / n  # one host read per epoch, as anyarray_nn does

    return c.synced(epoch, ann.Backend("torch", device=device).synchronize)


def sklearn_runner(X, labels, batch, args, record):
    """``MLPClassifier(solver="sgd").fit`` for one epoch (its setup included) per call."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def epoch():
        clf = MLPClassifier(
            hidden_layer_sizes=c.ARCHITECTURE[1:-1], activation="relu", solver="sgd",
            learning_rate_init=args.learning_rate, momentum=0.0, nesterovs_momentum=False, alpha=0.0,
            batch_size=batch, max_iter=1, shuffle=True, random_state=0, tol=0.0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, labels)
        record["dtype"] = str(clf.coefs_[0].dtype)
        record["loss"] = float(clf.loss_)

    return c.synced(epoch, lambda: None)


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    info = c.machine_info()
    c.print_machine(info)
    cases = c.backend_cases(args.backends)
    X, labels = c.synthetic_data(args.samples)
    sizes = c.ARCHITECTURE
    print(
        f"MLP {'-'.join(map(str, sizes))} (relu, softmax + crossentropy, SGD lr={args.learning_rate}), "
        f"{args.samples} samples, float32, warm-up {args.warmup}, median of {args.repeat}\n"
    )

    want_torch_nn = not args.no_torch_nn and c.torch_reason() is None
    want_sklearn = not args.no_sklearn and c._version("sklearn") is not None
    rows, torch_nn, sklearn = [], {}, {}
    for batch in args.batch_sizes:
        runners, meta = {}, {}
        for label, name, device in cases:
            run, backend, Xd, record = c.library_runner(name, device, X, labels, batch, args.learning_rate, sizes)
            runners[label] = run
            runners[f"floor {label}"] = c.synced(c.floor_fn(backend, Xd, sizes, batch), backend.synchronize)
            meta[label] = (backend, record)
        devices = dict.fromkeys("cuda" if label in ("cupy", "torch-cuda") else "cpu" for label, _, _ in cases)
        if want_torch_nn:
            for device in devices:
                runners[f"torch.nn {device}"] = torch_nn_runner(X, labels, batch, device, args)
        sk_record = {}
        if want_sklearn and "cpu" in devices:
            runners["sklearn"] = sklearn_runner(X, labels, batch, args, sk_record)
        times = c.measure_in_turns(runners, args.repeat, args.warmup)
        for device in devices:
            if f"torch.nn {device}" in times:
                torch_nn[(device, batch)] = c.summary(times[f"torch.nn {device}"])
        if "sklearn" in times:
            sklearn[batch] = {**c.summary(times["sklearn"]), **sk_record}
        for label, _, _ in cases:
            backend, record = meta[label]
            lib = c.summary(times[label])
            lib["fit_wall_s"] = record["wall"]
            lib["train_loss"], lib["train_accuracy"] = record["loss"], record["accuracy"]
            floor = c.summary(times[f"floor {label}"])
            row = {"backend": label, "device": backend.device_str, "batch_size": batch, "epoch": lib, "floor": floor}
            row["samples_per_s"] = args.samples / lib["median_s"]
            # Ratios pair the epochs of one round (see measure_in_turns); the two others are kept for comparison.
            row["epoch_over_floor"] = c.paired_ratio(times[label], times[f"floor {label}"])
            row["epoch_over_floor_of_medians"] = c.ratio(lib["median_s"], floor["median_s"])
            row["epoch_over_floor_best"] = c.ratio(lib["min_s"], floor["min_s"])
            device = "cuda" if label in ("cupy", "torch-cuda") else "cpu"
            if (device, batch) in torch_nn:
                row["torch_nn_device"] = device
                row["over_torch_nn"] = c.paired_ratio(times[label], times[f"torch.nn {device}"])
            if device == "cpu" and batch in sklearn:
                row["sklearn_speedup"] = c.paired_ratio(times["sklearn"], times[label])
            rows.append(row)
            extra = f", torch.nn x{row['over_torch_nn']:.2f}" if "over_torch_nn" in row else ""
            print(
                f"  {label:10s} batch {batch:5d}: epoch {lib['median_s']:.3f} s, floor {floor['median_s']:.3f} s, "
                f"epoch/floor {row['epoch_over_floor']:.2f}{extra}",
                flush=True,
            )
    if args.no_torch_nn or c.torch_reason() is not None:
        print(f"skipped : torch.nn peer ({'--no-torch-nn' if args.no_torch_nn else c.torch_reason()})")
    if args.no_sklearn or c._version("sklearn") is None:
        print(f"skipped : scikit-learn peer ({'--no-sklearn' if args.no_sklearn else 'scikit-learn is not installed'})")

    headers, text_rows = report_rows(rows, torch_nn, sklearn)
    print()
    print(c.table(headers, text_rows))
    checks = check_targets(rows)
    print()
    for name, (value, target, met) in checks.items():
        shown = "not measured" if value is None else f"{value:.3f}"
        print(f"target  : {name} {target}: {shown}" + ("" if value is None else ("  met" if met else "  NOT met")))
    print(
        "(every ratio is the median over rounds of two epochs measured back to back; the JSON also holds the "
        "ratio of the medians and of the fastest repetitions)"
    )
    info["load_average_1min_end"] = c.os.getloadavg()[0] if hasattr(c.os, "getloadavg") else None
    payload = {
        "benchmark": "training_throughput",
        "command": "python " + " ".join(["benchmarks/training_throughput.py"] + (argv if argv is not None else sys.argv[1:])),
        "machine": info,
        "notes": c.machine_notes(info),
        "config": {
            "architecture": list(sizes), "samples": args.samples, "dtype": "float32", "batch_sizes": args.batch_sizes,
            "repeat": args.repeat, "warmup": args.warmup, "learning_rate": args.learning_rate,
            "floor_products_per_batch": [s[0] for s in c.matmul_shapes(sizes, 1)],
        },
        "results": rows,
        "torch_nn": [{"device": d, "batch_size": b, **r} for (d, b), r in torch_nn.items()],
        "sklearn": [{"batch_size": b, **r} for b, r in sklearn.items()],
        "targets": {k: {"value": v, "target": t, "met": m} for k, (v, t, m) in checks.items()},
        "markdown_table": c.markdown_table(headers, text_rows),
    }
    c.write_json("training_throughput", payload, args.out_dir)
    plot(rows, torch_nn, sklearn, args)
    return payload


def report_rows(rows, torch_nn, sklearn):
    headers = ["backend", "batch", "epoch s", "samples/s", "floor s", "epoch/floor", "torch.nn s", "vs torch.nn",
               "sklearn s", "sklearn/ours"]
    out = []
    for r in rows:
        tn = torch_nn.get((r.get("torch_nn_device"), r["batch_size"]))
        sk = sklearn.get(r["batch_size"]) if "sklearn_speedup" in r else None
        out.append([
            r["backend"], r["batch_size"], f"{r['epoch']['median_s']:.3f}", f"{r['samples_per_s']:,.0f}",
            f"{r['floor']['median_s']:.3f}", f"{r['epoch_over_floor']:.2f}",
            f"{tn['median_s']:.3f}" if tn else "-", f"{r['over_torch_nn']:.2f}" if tn else "-",
            f"{sk['median_s']:.3f}" if sk else "-", f"{r['sklearn_speedup']:.1f}x" if sk else "-",
        ])
    return headers, out


def check_targets(rows):
    def find(backend, batch):
        return next((r for r in rows if r["backend"] == backend and r["batch_size"] == batch), None)

    def value(row, key):
        return None if row is None or key not in row else row[key]

    speedups = [r["sklearn_speedup"] for r in rows if r["backend"] == "numpy" and "sklearn_speedup" in r]
    found = {
        "numpy epoch/floor at batch 256": value(find("numpy", 256), "epoch_over_floor"),
        "numpy epoch/floor at batch 64": value(find("numpy", 64), "epoch_over_floor"),
        "numpy epoch / torch.nn (cpu) at batch 256": value(find("numpy", 256), "over_torch_nn"),
        "sklearn epoch / numpy epoch (every batch size)": min(speedups) if speedups else None,
        "cupy epoch / torch.nn (cuda) at batch 1024": value(find("cupy", 1024), "over_torch_nn"),
    }
    out = {}
    for name, v in found.items():
        op, limit = TARGETS[name]
        met = None if v is None or math.isnan(v) else (v <= limit if op == "<=" else v >= limit)
        out[name] = (v, f"{op} {limit}", met)
    return out


def plot(rows, torch_nn, sklearn, args):
    if not rows:
        print("skipped : plot (no backend was measured)")
        return
    plt = c.pyplot()
    if plt is None:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    batches = args.batch_sizes
    series = {}
    for r in rows:
        series.setdefault(f"anyarray_nn {r['backend']}", {})[r["batch_size"]] = r["samples_per_s"]
        series.setdefault(f"floor {r['backend']}", {})[r["batch_size"]] = args.samples / r["floor"]["median_s"]
    for (d, b), res in torch_nn.items():
        series.setdefault(f"torch.nn {d}", {})[b] = args.samples / res["median_s"]
    for b, res in sklearn.items():
        series.setdefault("scikit-learn", {})[b] = args.samples / res["median_s"]
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + k * width for i, b in enumerate(batches) if b in values]
        ax1.bar(xs, [values[b] for b in batches if b in values], width, label=name)
    ax1.set_xticks([i + 0.4 - width / 2 for i in range(len(batches))], [str(b) for b in batches])
    ax1.set_xlabel("batch size")
    ax1.set_ylabel("samples / s")
    ax1.set_yscale("log")
    ax1.legend(fontsize=7)
    for backend in dict.fromkeys(r["backend"] for r in rows):
        pts = [(r["batch_size"], r["epoch_over_floor"]) for r in rows if r["backend"] == backend]
        ax2.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=backend)
    ax2.axhline(1.0, color="gray", lw=0.8)
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("batch size")
    ax2.set_ylabel("epoch time / matrix-product floor")
    ax2.legend(fontsize=7)
    fig.suptitle(f"MLP {'-'.join(map(str, c.ARCHITECTURE))}, {args.samples} samples, float32")
    c.save_figure(fig, "training_throughput", args.out_dir)


if __name__ == "__main__":
    main()
