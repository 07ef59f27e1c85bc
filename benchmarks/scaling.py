"""How the epoch time grows with the hidden width and with the data, next to its matrix-product floor.

Two sweeps, on float32 synthetic data, batch 256 by default:

* width: an MLP 784-h-h-10 for growing h, on a fixed number of samples;
* data: the MLP 784-512-256-10 on a growing number of samples.

For each point it reports the epoch time of ``Model.fit`` (median of ``--repeat`` after a warm-up), the
floor (the same epoch's matrix products alone), their ratio and the time per sample. When the cost grows
with the matrix products and nothing else, the ratio stays flat across each sweep and the time per sample
stays flat across the data sweep (no bookkeeping that grows faster than the data).

    python benchmarks/scaling.py            # quick: widths 128..1024 on 10,000 samples, 10k..80k samples
    python benchmarks/scaling.py --full     # widths 128..4096 on 20,000 samples, 10k..1M samples
    python benchmarks/scaling.py --widths 256 2048 --samples 10000 100000 --backends numpy torch-cpu

The full data sweep holds 1,000,000 x 784 float32 inputs (3.1 GB) and takes several minutes per backend
on a two-core CPU.
"""

from __future__ import annotations

import argparse

import _common as c

QUICK = {"widths": [128, 256, 512, 1024], "width_samples": 10000, "samples": [10000, 20000, 40000, 80000]}
FULL = {"widths": [128, 256, 512, 1024, 2048, 4096], "width_samples": 20000, "samples": [10000, 30000, 100000, 300000, 1000000]}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the long sweeps (see the module docstring)")
    p.add_argument("--widths", type=int, nargs="*", help="hidden widths of the width sweep ([] skips it)")
    p.add_argument("--width-samples", type=int, help="samples of the width sweep")
    p.add_argument("--samples", type=int, nargs="*", help="sample counts of the data sweep ([] skips it)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--backends", nargs="+", default=["numpy"], help="some of: numpy torch-cpu jax cupy torch-cuda")
    p.add_argument("--out-dir")
    args = p.parse_args(argv)
    preset = FULL if args.full else QUICK
    args.widths = preset["widths"] if args.widths is None else args.widths
    args.width_samples = args.width_samples or preset["width_samples"]
    args.samples = preset["samples"] if args.samples is None else args.samples
    return args


def point(label, name, device, sizes, X, labels, args):
    run, backend, Xd, record = c.library_runner(name, device, X, labels, args.batch_size, sizes=sizes)
    floor = c.synced(c.floor_fn(backend, Xd, sizes, args.batch_size), backend.synchronize)
    times = c.measure_in_turns({"epoch": run, "floor": floor}, args.repeat, args.warmup)
    epoch, fl = c.summary(times["epoch"]), c.summary(times["floor"])
    n = X.shape[0]
    return {
        "backend": label, "architecture": list(sizes), "samples": n, "batch_size": args.batch_size,
        "epoch": epoch, "floor": fl, "epoch_over_floor": c.paired_ratio(times["epoch"], times["floor"]),
        "us_per_sample": 1e6 * epoch["median_s"] / n,
        "gflops_per_s": c.epoch_flops(sizes, n) / epoch["median_s"] / 1e9,
        "train_loss": record["loss"],
    }


def main(argv=None):
    args = parse_args(argv)
    info = c.machine_info(use_torch=any(b.startswith("torch") for b in args.backends))
    c.print_machine(info)
    cases = c.backend_cases(args.backends)
    results = {"width": [], "data": []}
    if args.widths:
        X, labels = c.synthetic_data(args.width_samples)
        for label, name, device in cases:
            for h in args.widths:
                r = point(label, name, device, (784, h, h, 10), X, labels, args)
                results["width"].append(r)
                print(f"  width {h:5d} {label:10s}: epoch {r['epoch']['median_s']:.3f} s, epoch/floor {r['epoch_over_floor']:.2f}", flush=True)
        del X
    if args.samples:
        X_all, labels_all = c.synthetic_data(max(args.samples))
        for label, name, device in cases:
            for n in args.samples:
                r = point(label, name, device, c.ARCHITECTURE, X_all[:n], labels_all[:n], args)
                results["data"].append(r)
                print(f"  samples {n:8d} {label:10s}: epoch {r['epoch']['median_s']:.3f} s, epoch/floor {r['epoch_over_floor']:.2f}", flush=True)
        del X_all

    headers = ["sweep", "backend", "architecture", "samples", "epoch s", "floor s", "epoch/floor", "us/sample", "GFLOP/s"]
    rows = [
        [sweep, r["backend"], "-".join(map(str, r["architecture"])), f"{r['samples']:,}", f"{r['epoch']['median_s']:.3f}",
         f"{r['floor']['median_s']:.3f}", f"{r['epoch_over_floor']:.2f}", f"{r['us_per_sample']:.1f}", f"{r['gflops_per_s']:.1f}"]
        for sweep in ("width", "data") for r in results[sweep]
    ]
    print()
    print(c.table(headers, rows))
    info["load_average_1min_end"] = c.os.getloadavg()[0] if hasattr(c.os, "getloadavg") else None
    c.write_json("scaling", {
        "benchmark": "scaling", "command": "python benchmarks/scaling.py " + " ".join(argv if argv is not None else c.sys.argv[1:]),
        "machine": info, "notes": c.machine_notes(info),
        "config": {"batch_size": args.batch_size, "repeat": args.repeat, "warmup": args.warmup, "dtype": "float32"},
        "results": results, "markdown_table": c.markdown_table(headers, rows),
    }, args.out_dir)
    plot(results, args)


def plot(results, args):
    if not results["width"] and not results["data"]:
        print("skipped : plot (nothing was measured)")
        return
    plt = c.pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, sweep, key, xlabel in (
        (axes[0], "width", lambda r: r["architecture"][1], f"hidden width h (784-h-h-10, {args.width_samples:,} samples)"),
        (axes[1], "data", lambda r: r["samples"], "samples (784-512-256-10)"),
    ):
        for backend in dict.fromkeys(r["backend"] for r in results[sweep]):
            pts = [r for r in results[sweep] if r["backend"] == backend]
            ax.plot([key(r) for r in pts], [r["epoch"]["median_s"] for r in pts], "o-", label=f"epoch {backend}")
            ax.plot([key(r) for r in pts], [r["floor"]["median_s"] for r in pts], "x--", label=f"floor {backend}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds per epoch")
        ax.legend(fontsize=7)
    fig.suptitle(f"Epoch time against the matrix-product floor, batch {args.batch_size}, float32")
    c.save_figure(fig, "scaling", args.out_dir)


if __name__ == "__main__":
    main()
