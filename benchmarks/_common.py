"""Shared pieces of the benchmark scripts: the machine report, the backends present, timing, output.

Every script prints a table, writes its figures with the machine report to ``benchmarks/results/<name>.json``
and, when matplotlib is installed, a plot beside it.
"""

from __future__ import annotations

import copy
import datetime
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

# Run from a checkout without installing: the package next to this folder.
if importlib.util.find_spec("anyarray_nn") is None:
    sys.path.insert(0, str(ROOT))

import anyarray_nn as ann  # noqa: E402

# Variables that make OpenBLAS pick an older kernel (or a wrong cache size) than the CPU supports.
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
)

ARCHITECTURE = (784, 512, 256, 10)


# --------------------------------------------------------------------------------------------------
# the machine
def cpu_model():
    """The CPU's model name as the operating system reports it (with family and model numbers on Linux)."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:
                    break
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


# Distribution names, so versions are read without importing (and starting the thread pools of) a library.
_DISTRIBUTIONS = {"anyarray_nn": "anyarray-nn", "array_api_compat": "array-api-compat", "sklearn": "scikit-learn"}


def _version(module):
    if importlib.util.find_spec(module) is None:
        return None
    if module in sys.modules or module == "cupy":  # CuPy's distribution is named after the CUDA version
        try:
            return str(getattr(importlib.import_module(module), "__version__", "?"))
        except Exception as exc:  # an installed but broken library is reported, not fatal
            return f"broken ({type(exc).__name__})"
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(module, module))
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(importlib.import_module(module), "__version__", "?"))


def blas_info():
    """Which BLAS libraries are loaded, their kernel (architecture) and thread count (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl is not installed (pip install threadpoolctl)"}]
    keep = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads", "prefix")
    rows = []
    for entry in threadpool_info():
        row = {k: entry[k] for k in keep if k in entry}
        path = entry.get("filepath", "")
        row["library"] = os.path.basename(path)
        # The one NumPy links: numpy wheels carry it in numpy.libs, other builds name it in their config.
        row["used_by_numpy"] = "numpy" in path.replace(row["library"], "")
        rows.append(row)
    return rows


def gpu_names(use_torch=True):
    names = []
    cupy = cupy_reason() is None
    if cupy:
        import cupy as cp

        for i in range(cp.cuda.runtime.getDeviceCount()):
            names.append(cp.cuda.runtime.getDeviceProperties(i)["name"].decode())
    elif use_torch and torch_cuda_reason() is None:
        import torch

        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return names


def machine_info(use_torch=True):
    """Everything a reader needs to judge the figures: CPU, cores, load, libraries, BLAS, environment.

    ``use_torch`` also asks torch for its threads, CPU BLAS and GPUs, which imports it.
    """
    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpus": gpu_names(use_torch),
        "versions": {
            name: _version(name)
            for name in (
                "anyarray_nn", "numpy", "array_api_compat", "torch", "cupy", "jax", "jaxlib", "keras", "sklearn",
                "threadpoolctl",
            )
        },
        "blas": blas_info(),
        "environment": {k: os.environ[k] for k in OPENBLAS_VARIABLES + THREAD_VARIABLES if k in os.environ},
    }
    if use_torch and importlib.util.find_spec("torch") is not None:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "mkl" if torch.backends.mkl.is_available() else "other"
    return info


def machine_notes(info):
    """Warnings a reader should see next to the figures."""
    notes = []
    forced = {k: v for k, v in info["environment"].items() if k in OPENBLAS_VARIABLES}
    if forced:
        setting = ", ".join(f"{k}={v}" for k, v in forced.items())
        notes.append(
            f"{setting} is set: OpenBLAS may use an older kernel than this CPU supports, and NumPy's matrix "
            f"products can be much slower. For the reference figures run: "
            f"env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python {' '.join(sys.argv)}"
        )
    load = info.get("load_average_1min")
    if load is not None and info["cores_usable"] and load > 0.5 * info["cores_usable"]:
        notes.append(
            f"load average {load:.2f} on {info['cores_usable']} cores at the start: other processes share "
            f"this machine, so the timings are noisy"
        )
    return notes


def print_machine(info):
    v = info["versions"]
    print(f"machine : {info['cpu']}, {info['cores_usable']} usable cores ({info['logical_cores']} logical), {info['platform']}")
    if info["gpus"]:
        print(f"gpus    : {', '.join(info['gpus'])}")
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val is not None))
    for row in info["blas"]:
        if "note" in row:
            print(f"blas    : {row['note']}")
            continue
        if row.get("internal_api") == "openmp":
            print(f"openmp  : threads={row.get('num_threads')} ({row.get('library')})")
            continue
        print(
            f"blas    : {row.get('internal_api')} {row.get('version')} kernel={row.get('architecture')} "
            f"threads={row.get('num_threads')} ({row.get('library')})" + ("  <- NumPy's" if row.get("used_by_numpy") else "")
        )
    if "torch_threads" in info:
        print(f"torch   : {info['torch_threads']} threads, CPU BLAS {info['torch_blas']}")
    env = info["environment"]
    print("env     : " + (", ".join(f"{k}={val}" for k, val in env.items()) if env else "no BLAS/thread variables set"))
    for note in machine_notes(info):
        print(f"NOTE    : {note}")
    print()


# --------------------------------------------------------------------------------------------------
# backends
def cupy_reason():
    """None when CuPy can run on a GPU here, else why not."""
    if importlib.util.find_spec("cupy") is None:
        return "cupy is not installed"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no CUDA device"
    except Exception as exc:  # a missing driver or a broken install both mean no GPU
        return f"no usable CUDA device ({type(exc).__name__})"
    return None


def torch_reason():
    return None if importlib.util.find_spec("torch") is not None else "torch is not installed"


def torch_cuda_reason():
    if torch_reason() is not None:
        return torch_reason()
    import torch

    return None if torch.cuda.is_available() else "torch sees no CUDA device"


def jax_reason():
    return None if importlib.util.find_spec("jax") is not None else "jax is not installed"


# (label, backend name, device, reason it is missing or None). JAX runs on its default device (the CPU
# unless a GPU build of jaxlib is installed).
def backend_cases(wanted=None):
    cases = [
        ("numpy", "numpy", None, None),
        ("torch-cpu", "torch", "cpu", torch_reason()),
        ("jax", "jax", None, jax_reason()),
        ("cupy", "cupy", None, cupy_reason()),
        ("torch-cuda", "torch", "cuda", torch_cuda_reason()),
    ]
    if wanted:
        unknown = set(wanted) - {c[0] for c in cases}
        if unknown:
            raise SystemExit(f"unknown backend(s) {sorted(unknown)}; expected some of {[c[0] for c in cases]}")
        cases = [c for c in cases if c[0] in wanted]
    present = []
    for label, name, device, reason in cases:
        if reason is None:
            present.append((label, name, device))
        else:
            print(f"skipped : {label}: {reason}")
    return present


# --------------------------------------------------------------------------------------------------
# the network and the data
def synthetic_data(n, n_features=784, n_classes=10, seed=0):
    """A learnable float32 classification set: class centres plus noise. ``(X, labels)`` on the host."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features), dtype=np.float32)
    labels = rng.integers(0, n_classes, size=n)
    X = np.empty((n, n_features), dtype=np.float32)
    step = 65536  # chunks keep the float64-free generation within a small temporary
    for start in range(0, n, step):
        stop = min(start + step, n)
        X[start:stop] = rng.standard_normal((stop - start, n_features), dtype=np.float32)
        X[start:stop] += 0.5 * centres[labels[start:stop]]
    return X, labels


def mlp_layers(sizes=ARCHITECTURE):
    """ReLU hidden layers and a softmax output: ``784-512-256-10`` by default."""
    hidden = [ann.Layer(a, b, "relu") for a, b in zip(sizes[:-2], sizes[1:-1])]
    return hidden + [ann.Layer(sizes[-2], sizes[-1], "softmax")]


def one_hot(labels, n_classes):
    out = np.zeros((labels.shape[0], n_classes), dtype=np.float32)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def matmul_shapes(sizes, batch):
    """The matrix products of one training step on ``batch`` rows: ``[(name, (m, k), (k, n)), ...]``.

    Forward ``A_{l-1} @ W_l``; backward ``A_{l-1}^T @ G_l`` (weight gradient) for every layer and
    ``G_l @ W_l^T`` (gradient for the layer below) for every layer but the first, whose input needs none.
    """
    shapes = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((f"forward {i + 1}", (batch, a), (a, b)))
    for i in range(len(sizes) - 2, -1, -1):
        a, b = sizes[i], sizes[i + 1]
        shapes.append((f"grad_W {i + 1}", (a, batch), (batch, b)))
        if i > 0:
            shapes.append((f"grad_A {i}", (batch, b), (b, a)))
    return shapes


def epoch_flops(sizes, n):
    """Floating-point operations of the matrix products of one epoch over ``n`` samples."""
    return sum(2 * m * k * p for _, (m, k), (_, p) in matmul_shapes(sizes, n))


# --------------------------------------------------------------------------------------------------
# timing
def timed(fn, sync, repeat, warmup=1):
    """Seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones, each between two ``sync()``."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def summary(times):
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times}


def block(backend, arrays=()):
    """Wait until ``backend`` has finished the work that produces ``arrays`` (before a clock is read).

    ``Backend.synchronize`` waits for a GPU's queue; JAX dispatches asynchronously on the CPU as well, so
    its arrays are waited for one by one (``jax.block_until_ready``).
    """
    backend.synchronize()
    if backend.name == "jax":
        import jax

        jax.block_until_ready(arrays)


def ratio(a, b):
    return a / b if b else math.nan


def paired_ratio(times_a, times_b):
    """Median over rounds of ``a / b``, each pair measured back to back in the same round.

    On a machine whose speed drifts (a VM that shares its host), both halves of a pair see nearly the
    same machine, so this is steadier than the ratio of the two medians, which can come from rounds far
    apart.
    """
    pairs = [ratio(a, b) for a, b in zip(times_a, times_b)]
    return statistics.median(pairs) if pairs else math.nan


# --------------------------------------------------------------------------------------------------
# Each "runner" does one epoch per call and returns its seconds. The runners of a batch size are called
# in turns (one repetition of each, then the next round), so that a machine shared with other work slows
# them alike and the ratios stay meaningful.
def settings_accept_compile():
    """Whether this version's ``Settings`` takes ``compile=`` (compiling the training step, e.g. with jax.jit)."""
    return "compile" in inspect.signature(ann.Settings).parameters


def library_runner(backend_name, device, X, labels, batch, learning_rate=0.01, sizes=ARCHITECTURE, compile="auto"):
    """One epoch of ``Model.fit`` per call; the seconds come from ``History.epoch_time``.

    That clock is read after the epoch's one host read, which waits for the device; the wall time of
    the whole ``fit`` call (its input checks included), between two waits for the device (``block``),
    is kept as well.

    ``compile`` is passed to ``Settings`` when it accepts it; ``record["compile"]`` holds what was passed
    (None when ``Settings`` has no such parameter) and ``record["compiled"]`` whether the step was compiled.
    """
    model = ann.Model(mlp_layers(sizes), backend=backend_name, device=device, dtype="float32", seed=0)
    backend = model.backend
    Xd = backend.asarray(X)  # on the device once, outside the timing, as a user would keep it
    solver = ann.Solver(loss="crossentropy", optimizer="sgd", learning_rate=learning_rate)
    options = {"compile": compile} if settings_accept_compile() else {}
    settings = ann.Settings(epochs=1, batch_size=batch, verbose=0, **options)
    record = {"wall": [], "loss": [], "accuracy": [], "compile": options.get("compile")}
    record["compiled"] = False

    def epoch():
        block(backend, model.parameters())
        t0 = time.perf_counter()
        history = model.fit(Xd, labels, solver=solver, settings=settings)  # the same Solver: a warm start
        block(backend, model.parameters())
        record["wall"].append(time.perf_counter() - t0)
        record["loss"] += history.loss
        record["accuracy"] += history.accuracy
        # History says how the step ran: the compiler's name, or "eager: <why>".
        record["how"] = getattr(history, "compiled", "")
        record["compiled"] = bool(record["how"]) and not record["how"].startswith("eager")
        return history.epoch_time[-1]

    return epoch, backend, Xd, record


def reference_start(sizes=ARCHITECTURE, seed=0):
    """The starting weights ``[W_1, b_1, ...]`` (host float32) of ``Model(..., seed=seed)`` and a copy of its
    generator as ``fit`` finds it, so a peer can start from the same weights and draw the same
    per-epoch permutations (one ``permutation(n)`` per epoch, as ``fit`` draws with shuffling on).

    The library draws both on the host, so they are the same on every backend for a seed.
    """
    model = ann.Model(mlp_layers(sizes), backend="numpy", dtype="float32", seed=seed)
    params = [np.array(p, dtype=np.float32) for p in model.parameters()]
    return params, copy.deepcopy(model.backend.rng)


def synced(fn, sync):
    def run():
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    return run


def measure_in_turns(runners, repeat, warmup):
    """``{name: [seconds, ...]}``: ``warmup`` untimed rounds, then ``repeat`` timed rounds of every runner."""
    for _ in range(warmup):
        for run in runners.values():
            run()
    times = {name: [] for name in runners}
    for _ in range(repeat):
        for name, run in runners.items():
            times[name].append(run())
    return times


def floor_fn(backend, X, sizes, batch):
    """A function doing exactly the matrix products of one epoch on ``backend``, and nothing else.

    On JAX the products of one batch are one ``jax.jit``-compiled function (XLA's own matmul cost, one
    dispatch per batch) and the epoch waits for the last of them before it returns.
    """
    if backend.name == "jax":
        return jax_floor_fn(backend, X, sizes, batch)
    n = X.shape[0]
    rng = np.random.default_rng(1)
    Ws = [backend.asarray(rng.standard_normal((a, b), dtype=np.float32) * 0.05) for a, b in zip(sizes[:-1], sizes[1:])]

    def operands(m):
        # Inputs of each layer (A_0 = a slice of X) and output gradients G_l, already on the device.
        A = [None] + [backend.asarray(rng.standard_normal((m, s), dtype=np.float32)) for s in sizes[1:-1]]
        G = [backend.asarray(rng.standard_normal((m, s), dtype=np.float32)) for s in sizes[1:]]
        return A, G

    full = operands(batch)
    last = n % batch
    tail = operands(last) if last else None
    starts = list(range(0, n, batch))
    L = len(Ws)

    def epoch():
        out = None
        for start in starts:
            m = min(batch, n - start)
            A, G = full if m == batch else tail
            A = [X[start : start + m, :]] + A[1:]
            for i in range(L):  # forward
                out = A[i] @ Ws[i]
            for i in range(L - 1, -1, -1):  # backward: weight gradient, then the gradient for the layer below
                out = A[i].T @ G[i]
                if i > 0:
                    out = G[i] @ Ws[i].T
        return out

    return epoch


def jax_floor_fn(backend, X, sizes, batch):
    """``floor_fn`` on JAX arrays: per batch, one compiled function doing that batch's products.

    The batch is a ``dynamic_slice`` of ``X`` inside the compiled function, so nothing but the products runs.
    Every product is an output (XLA cannot drop any), and a scalar carried from batch to batch makes each
    batch's products wait for the previous ones, as the steps of training do; the epoch blocks on the last
    outputs.
    """
    import jax

    n = X.shape[0]
    rng = np.random.default_rng(1)

    def put(a):
        return jax.device_put(a, backend.device)

    Ws = [put(rng.standard_normal((a, b), dtype=np.float32) * 0.05) for a, b in zip(sizes[:-1], sizes[1:])]
    L = len(Ws)

    def operands(m):
        A = [put(rng.standard_normal((m, s), dtype=np.float32)) for s in sizes[1:-1]]
        G = [put(rng.standard_normal((m, s), dtype=np.float32)) for s in sizes[1:]]
        return A, G

    def products(carry, X, start, Ws, A_rest, G, rows):
        A = [jax.lax.dynamic_slice_in_dim(X, start, rows)] + list(A_rest)
        outs = []
        for i in range(L):  # forward
            outs.append(A[i] @ Ws[i])
        for i in range(L - 1, -1, -1):  # backward: weight gradient, then the gradient for the layer below
            outs.append(A[i].T @ G[i])
            if i > 0:
                outs.append(G[i] @ Ws[i].T)
        return carry + outs[-1][0, 0], outs

    compiled = jax.jit(products, static_argnums=(6,))
    starts = list(range(0, n, batch))
    # Operands for each batch shape the epoch has (a full batch, a short last one), compiled now.
    shapes = {m: operands(m) for m in dict.fromkeys(min(batch, n - start) for start in starts)}
    zero = put(np.zeros((), dtype=np.float32))
    for m, (A, G) in shapes.items():
        jax.block_until_ready(compiled(zero, X, 0, Ws, A, G, m))

    def epoch():
        carry, outs = zero, None
        for start in starts:
            m = min(batch, n - start)
            A, G = shapes[m]
            carry, outs = compiled(carry, X, start, Ws, A, G, m)
        jax.block_until_ready((carry, outs))
        return outs

    return epoch


# --------------------------------------------------------------------------------------------------
# output
def table(headers, rows):
    """A plain text table; numbers formatted by the caller."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cells[0], widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells[1:]]
    return "\n".join(lines)


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "|".join("---:" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(name, payload, out_dir=None):
    out = Path(out_dir) if out_dir else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"wrote   : {path}")
    return path


def pyplot():
    """matplotlib's pyplot on a file-only backend, or None when matplotlib is not installed."""
    if importlib.util.find_spec("matplotlib") is None:
        print("skipped : plot (matplotlib is not installed)")
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, name, out_dir=None):
    out = Path(out_dir) if out_dir else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"wrote   : {path}")
    return path
