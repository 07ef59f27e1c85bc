"""Training throughput of an MLP 784-512-256-10 against its floor and against the libraries a user would pick.

For every backend present (NumPy; torch on the CPU and JAX through anyarray_nn; CuPy and torch on CUDA when a
GPU is present) and every batch size it measures, on synthetic float32 data (60,000 samples by default):

* epoch: seconds per training epoch of ``Model.fit`` (ReLU, softmax + cross-entropy, SGD at 0.01), the
  median over ``--repeat`` epochs after ``--warmup`` untimed ones, taken from ``History.epoch_time`` (whose
  clock is read after the epoch's one host read, so queued device work is included); the wall time of the
  whole timed fit, between two waits for the device, is recorded as well. Where ``Settings`` accepts
  ``compile=``, ``--compile`` (default ``auto``: on JAX the training step is compiled with ``jax.jit``) is
  passed and the JSON records whether the step was compiled (the compilation itself falls in the untimed
  warm-up epochs; with ``--warmup 0`` it lands in the first timed one);
* floor: seconds of exactly the matrix products that epoch needs (per layer the forward product, the
  weight-gradient product, and the product for the layer below except for the first layer), on the same
  backend, shapes and dtype, waited for before the clock is read. On JAX each batch's products are one
  ``jax.jit``-compiled function, so the floor is what XLA's matrix products cost;
* peers, the same network and data trained for one epoch per call:

  - ``torch.nn`` + ``torch.optim.SGD`` on the same device (when torch is installed);
  - scikit-learn's ``MLPClassifier(solver="sgd")`` (when installed);
  - with the JAX row: a hand-written ``jax.jit`` training step (parameters as a pytree, ``jax.value_and_grad``
    of the softmax cross-entropy, the SGD update, the parameters donated), from the library's starting
    weights and over the same per-epoch permutations, the batch taken from the device arrays inside the
    compiled step: what a compiled path can reach (``--no-jax-jit`` skips it);
  - with the JAX row: Keras 3 on its JAX backend (when keras is installed): ``keras.Sequential`` of
    ``Dense(512, relu)``, ``Dense(256, relu)``, ``Dense(10, softmax)``, ``SGD(0.01)``,
    ``sparse_categorical_crossentropy``, from the library's starting weights, one
    ``fit(X, y, batch_size=b, epochs=1, shuffle=False)`` on the host arrays per call, after a warm-up fit
    that compiles both batch shapes (``--no-keras`` skips it).

  Every ratio to a peer pairs the two epochs of one round (the runners take turns).

This script sets ``KERAS_BACKEND=jax`` in its own environment before anything imports keras (Keras reads
it once, at import), so Keras always runs on JAX here, whatever the shell sets.

    python benchmarks/training_throughput.py                   # the reference run
    python benchmarks/training_throughput.py --quick           # a smaller, faster run
    python benchmarks/training_throughput.py --batch-sizes 256 --backends numpy --no-sklearn
    python benchmarks/training_throughput.py --backends jax --no-torch-nn --no-sklearn   # JAX and its peers

Reference figures are measured with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for the command:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/training_throughput.py``.
"""

from __future__ import annotations

import os

# Keras picks its backend once, when first imported: this must come before any import of keras.
os.environ["KERAS_BACKEND"] = "jax"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import _common as c  # noqa: E402
from _common import ann  # noqa: E402

TARGETS = {
    "numpy epoch/floor at batch 256": ("<=", 1.15),
    "numpy epoch/floor at batch 64": ("<=", 1.3),
    "numpy epoch / torch.nn (cpu) at batch 64 and 256": ("<=", 0.6),
    "sklearn epoch / numpy epoch (every batch size)": (">=", 2.0),
    "cupy epoch / torch.nn (cuda) at batch 1024": ("<=", 1.3),
    "jax (compiled) epoch / hand-written jax.jit at batch 64 and 256": ("<=", 1.05),
    "jax (compiled) epoch / keras (jax) at batch 64 and 256": ("<=", 1.0),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--repeat", type=int, default=5, help="timed repetitions (the median is reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs before the timed ones")
    p.add_argument("--backends", nargs="+", help="some of: numpy torch-cpu jax cupy torch-cuda (default: all present)")
    p.add_argument("--no-torch-nn", action="store_true", help="skip the torch.nn peer")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn peer")
    p.add_argument("--no-jax-jit", action="store_true", help="skip the hand-written jax.jit peer")
    p.add_argument("--no-keras", action="store_true", help="skip the Keras (JAX backend) peer")
    p.add_argument(
        "--compile", choices=["auto", "true", "false"], default="auto",
        help="Settings(compile=...) for anyarray_nn, where Settings accepts it (auto: compiled on JAX)",
    )
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--quick", action="store_true", help="12,000 samples, 3 repetitions")
    p.add_argument("--out-dir", help="where the JSON and PNG go (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.repeat = min(args.samples, 12000), min(args.repeat, 3)
    args.compile = {"auto": "auto", "true": True, "false": False}[args.compile]
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


def keras_reason():
    """None when Keras 3 can run on its JAX backend here, else why not."""
    if c.jax_reason() is not None:
        return f"Keras runs on JAX here and {c.jax_reason()}"
    if importlib.util.find_spec("keras") is None:
        return "keras is not installed"
    try:
        import keras
    except Exception as exc:  # an installed but broken keras is reported, not fatal
        return f"keras does not import ({type(exc).__name__}: {exc})"
    if keras.backend.backend() != "jax":
        return f"keras was imported on its {keras.backend.backend()!r} backend before KERAS_BACKEND was set"
    return None


def jax_jit_runner(X, labels, batch, start, device, args, record):
    """One epoch of a hand-written ``jax.jit`` training step of the same network per call.

    ``start`` is ``(weights, generator)`` from ``c.reference_start``: the library's starting weights and its
    generator as ``fit`` finds it, so each call draws the same permutation as the library's epoch of the same
    round. The batch is gathered from the device arrays inside the compiled step; the parameters (a list of
    ``(W, b)`` pairs) and the running loss sum are donated, and the epoch ends with one host read of the
    loss and a wait for the parameters.
    """
    import jax
    import jax.numpy as jnp

    weights, rng = start
    rng = c.copy.deepcopy(rng)
    n = X.shape[0]
    lr = args.learning_rate
    Xd = jax.device_put(X, device)
    yd = jax.device_put(labels.astype(np.int32), device)

    def fresh_params():
        return [(jax.device_put(W, device), jax.device_put(b, device)) for W, b in zip(weights[::2], weights[1::2])]

    def loss_fn(params, xb, yb):
        a = xb
        for W, b in params[:-1]:
            a = jax.nn.relu(a @ W + b)
        W, b = params[-1]
        logp = jax.nn.log_softmax(a @ W + b, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def step(params, total, X, y, order, begin, rows):
        idx = jax.lax.dynamic_slice_in_dim(order, begin, rows)
        xb, yb = jnp.take(X, idx, axis=0), jnp.take(y, idx, axis=0)
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        params = jax.tree.map(lambda p, g: p - lr * g, params, grads)
        return params, total + loss * rows

    compiled = jax.jit(step, static_argnums=(6,), donate_argnums=(0, 1))
    zero = np.zeros((), dtype=np.float32)
    # Compile both batch shapes now, on throw-away parameters, outside any timing.
    warm_order = jax.device_put(np.arange(n, dtype=np.int32), device)
    for rows in dict.fromkeys(min(batch, n - begin) for begin in range(0, n, batch)):
        jax.block_until_ready(compiled(fresh_params(), jax.device_put(zero, device), Xd, yd, warm_order, 0, rows))
    state = {"params": fresh_params()}
    record["loss"] = []

    def epoch():
        params = state["params"]
        order = jax.device_put(rng.permutation(n).astype(np.int32), device)
        total = jax.device_put(zero, device)
        for begin in range(0, n, batch):
            params, total = compiled(params, total, Xd, yd, order, begin, min(batch, n - begin))
        record["loss"].append(float(total) / n)  # one host read per epoch, as anyarray_nn does
        jax.block_until_ready(params)
        state["params"] = params

    return c.synced(epoch, lambda: None)


def keras_runner(X, labels, batch, start, args, record):
    """One ``keras.Model.fit`` epoch (Keras 3, JAX backend) of the same network per call.

    It starts from the library's starting weights; a warm-up fit on one full batch and the short last one
    compiles both shapes first, then the weights are put back.
    """
    import jax
    import keras

    sizes = c.ARCHITECTURE
    weights, _ = start
    layers = [keras.Input((sizes[0],))]
    layers += [keras.layers.Dense(b, activation="relu") for b in sizes[1:-1]]
    layers += [keras.layers.Dense(sizes[-1], activation="softmax")]
    model = keras.Sequential(layers)
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=args.learning_rate), loss="sparse_categorical_crossentropy")
    y = labels.astype(np.int32)
    n = X.shape[0]
    m = batch + n % batch if n > batch else n
    model.fit(X[:m], y[:m], batch_size=batch, epochs=1, shuffle=False, verbose=0)
    model.set_weights(weights)
    record["loss"] = []
    record["jit_compile"] = str(getattr(model, "jit_compile", "?"))

    def sync():
        jax.block_until_ready([v.value for v in model.variables])

    def epoch():
        history = model.fit(X, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        record["loss"].append(float(history.history["loss"][-1]))

    return c.synced(epoch, sync)


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

    skipped = []
    want_torch_nn = not args.no_torch_nn and c.torch_reason() is None
    if not want_torch_nn:
        skipped.append(f"torch.nn peer ({'--no-torch-nn' if args.no_torch_nn else c.torch_reason()})")
    want_sklearn = not args.no_sklearn and c._version("sklearn") is not None
    if not want_sklearn:
        skipped.append(f"scikit-learn peer ({'--no-sklearn' if args.no_sklearn else 'scikit-learn is not installed'})")
    # The JAX peers are measured against the library's JAX row, so they run with it.
    has_jax = any(label == "jax" for label, _, _ in cases)
    no_jax_row = c.jax_reason() or "the jax backend is not among --backends"
    want_jax_jit = not args.no_jax_jit and has_jax
    if not want_jax_jit:
        skipped.append(f"hand-written jax.jit peer ({'--no-jax-jit' if args.no_jax_jit else no_jax_row})")
    keras_missing = None if args.no_keras or not has_jax else keras_reason()
    want_keras = not args.no_keras and has_jax and keras_missing is None
    if not want_keras:
        skipped.append(f"keras peer ({'--no-keras' if args.no_keras else keras_missing or no_jax_row})")
    start = c.reference_start(sizes) if want_jax_jit or want_keras else None
    if want_keras:
        info["versions"]["keras"] = c._version("keras")
        info["keras_backend"] = "jax"

    rows, torch_nn, sklearn, jax_jit, keras = [], {}, {}, {}, {}
    for batch in args.batch_sizes:
        runners, meta = {}, {}
        for label, name, device in cases:
            run, backend, Xd, record = c.library_runner(
                name, device, X, labels, batch, args.learning_rate, sizes, compile=args.compile
            )
            runners[label] = run
            runners[f"floor {label}"] = c.synced(c.floor_fn(backend, Xd, sizes, batch), backend.synchronize)
            meta[label] = (backend, record, "cuda" if backend.is_gpu else "cpu")
        devices = dict.fromkeys(m[2] for m in meta.values())
        if want_torch_nn:
            for device in devices:
                runners[f"torch.nn {device}"] = torch_nn_runner(X, labels, batch, device, args)
        sk_record, jit_record, keras_record = {}, {}, {}
        if want_sklearn and "cpu" in devices:
            runners["sklearn"] = sklearn_runner(X, labels, batch, args, sk_record)
        if want_jax_jit:
            runners["jax.jit"] = jax_jit_runner(X, labels, batch, start, meta["jax"][0].device, args, jit_record)
        if want_keras:
            runners["keras"] = keras_runner(X, labels, batch, start, args, keras_record)
        times = c.measure_in_turns(runners, args.repeat, args.warmup)
        for device in devices:
            if f"torch.nn {device}" in times:
                torch_nn[(device, batch)] = c.summary(times[f"torch.nn {device}"])
        if "sklearn" in times:
            sklearn[batch] = {**c.summary(times["sklearn"]), **sk_record}
        if "jax.jit" in times:
            jax_jit[batch] = {**c.summary(times["jax.jit"]), "train_loss": jit_record["loss"]}
        if "keras" in times:
            keras[batch] = {
                **c.summary(times["keras"]), "train_loss": keras_record["loss"], "jit_compile": keras_record["jit_compile"],
            }
        for label, _, _ in cases:
            backend, record, device = meta[label]
            lib = c.summary(times[label])
            lib["fit_wall_s"] = record["wall"]
            lib["train_loss"], lib["train_accuracy"] = record["loss"], record["accuracy"]
            floor = c.summary(times[f"floor {label}"])
            row = {"backend": label, "device": backend.device_str, "batch_size": batch, "epoch": lib, "floor": floor}
            row["compile"], row["compiled"] = record["compile"], record["compiled"]
            row["samples_per_s"] = args.samples / lib["median_s"]
            # Ratios pair the epochs of one round (see measure_in_turns); the two others are kept for comparison.
            row["epoch_over_floor"] = c.paired_ratio(times[label], times[f"floor {label}"])
            row["epoch_over_floor_of_medians"] = c.ratio(lib["median_s"], floor["median_s"])
            row["epoch_over_floor_best"] = c.ratio(lib["min_s"], floor["min_s"])
            if (device, batch) in torch_nn:
                row["torch_nn_device"] = device
                row["over_torch_nn"] = c.paired_ratio(times[label], times[f"torch.nn {device}"])
            if device == "cpu" and batch in sklearn:
                row["sklearn_speedup"] = c.paired_ratio(times["sklearn"], times[label])
            if label == "jax" and batch in jax_jit:
                row["over_jax_jit"] = c.paired_ratio(times[label], times["jax.jit"])
            if label == "jax" and batch in keras:
                row["over_keras"] = c.paired_ratio(times[label], times["keras"])
            rows.append(row)
            extra = "".join(
                f", {name} x{row[key]:.2f}"
                for key, name in (("over_torch_nn", "torch.nn"), ("over_jax_jit", "jax.jit"), ("over_keras", "keras"))
                if key in row
            )
            if label == "jax":
                extra += ", step compiled" if row["compiled"] else ", step not compiled"
            print(
                f"  {label:10s} batch {batch:5d}: epoch {lib['median_s']:.3f} s, floor {floor['median_s']:.3f} s, "
                f"epoch/floor {row['epoch_over_floor']:.2f}{extra}",
                flush=True,
            )
    for line in skipped:
        print(f"skipped : {line}")
    if has_jax and not c.settings_accept_compile():
        print("note    : this anyarray_nn's Settings takes no compile=: its JAX step ran op by op, uncompiled")

    headers, text_rows = report_rows(rows, torch_nn, sklearn, jax_jit, keras)
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
            "compile": args.compile, "settings_accept_compile": c.settings_accept_compile(),
            "floor_products_per_batch": [s[0] for s in c.matmul_shapes(sizes, 1)],
        },
        "skipped": skipped,
        "results": rows,
        "torch_nn": [{"device": d, "batch_size": b, **r} for (d, b), r in torch_nn.items()],
        "sklearn": [{"batch_size": b, **r} for b, r in sklearn.items()],
        "jax_jit": [{"batch_size": b, **r} for b, r in jax_jit.items()],
        "keras": [{"batch_size": b, "backend": "jax", **r} for b, r in keras.items()],
        "targets": {k: {"value": v, "target": t, "met": m} for k, (v, t, m) in checks.items()},
        "markdown_table": c.markdown_table(headers, text_rows),
    }
    c.write_json("training_throughput", payload, args.out_dir)
    plot(rows, torch_nn, sklearn, jax_jit, keras, args)
    return payload


def report_rows(rows, torch_nn, sklearn, jax_jit=None, keras=None):
    jax_jit, keras = jax_jit or {}, keras or {}
    headers = ["backend", "batch", "epoch s", "samples/s", "floor s", "epoch/floor", "torch.nn s", "vs torch.nn",
               "sklearn s", "sklearn/ours"]
    if jax_jit:
        headers += ["jax.jit s", "vs jax.jit"]
    if keras:
        headers += ["keras s", "vs keras"]
    out = []
    for r in rows:
        tn = torch_nn.get((r.get("torch_nn_device"), r["batch_size"]))
        sk = sklearn.get(r["batch_size"]) if "sklearn_speedup" in r else None
        name = r["backend"]
        if name == "jax":
            name += " (compiled)" if r.get("compiled") else " (op by op)"
        line = [
            name, r["batch_size"], f"{r['epoch']['median_s']:.3f}", f"{r['samples_per_s']:,.0f}",
            f"{r['floor']['median_s']:.3f}", f"{r['epoch_over_floor']:.2f}",
            f"{tn['median_s']:.3f}" if tn else "-", f"{r['over_torch_nn']:.2f}" if tn else "-",
            f"{sk['median_s']:.3f}" if sk else "-", f"{r['sklearn_speedup']:.1f}x" if sk else "-",
        ]
        for peers, key in ((jax_jit, "over_jax_jit"), (keras, "over_keras")):
            if peers:
                peer = peers.get(r["batch_size"]) if key in r else None
                line += [f"{peer['median_s']:.3f}", f"{r[key]:.2f}"] if peer else ["-", "-"]
        out.append(line)
    return headers, out


def check_targets(rows):
    def find(backend, batch):
        return next((r for r in rows if r["backend"] == backend and r["batch_size"] == batch), None)

    def value(row, key):
        return None if row is None or key not in row else row[key]

    def worst(backend, key, compiled=False):
        # Both batch sizes measured (the JAX step compiled where asked); the larger (worse) ratio counts.
        found = [find(backend, b) for b in (64, 256)]
        if any(r is None or key not in r or (compiled and not r.get("compiled")) for r in found):
            return None
        return max(r[key] for r in found)

    speedups = [r["sklearn_speedup"] for r in rows if r["backend"] == "numpy" and "sklearn_speedup" in r]
    found = {
        "numpy epoch/floor at batch 256": value(find("numpy", 256), "epoch_over_floor"),
        "numpy epoch/floor at batch 64": value(find("numpy", 64), "epoch_over_floor"),
        "numpy epoch / torch.nn (cpu) at batch 64 and 256": worst("numpy", "over_torch_nn"),
        "sklearn epoch / numpy epoch (every batch size)": min(speedups) if speedups else None,
        "cupy epoch / torch.nn (cuda) at batch 1024": value(find("cupy", 1024), "over_torch_nn"),
        "jax (compiled) epoch / hand-written jax.jit at batch 64 and 256": worst("jax", "over_jax_jit", compiled=True),
        "jax (compiled) epoch / keras (jax) at batch 64 and 256": worst("jax", "over_keras", compiled=True),
    }
    out = {}
    for name, v in found.items():
        op, limit = TARGETS[name]
        met = None if v is None or math.isnan(v) else (v <= limit if op == "<=" else v >= limit)
        out[name] = (v, f"{op} {limit}", met)
    return out


def plot(rows, torch_nn, sklearn, jax_jit, keras, args):
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
    for b, res in jax_jit.items():
        series.setdefault("hand-written jax.jit", {})[b] = args.samples / res["median_s"]
    for b, res in keras.items():
        series.setdefault("keras (jax)", {})[b] = args.samples / res["median_s"]
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
