"""Test fixtures: every test that takes ``bk`` runs once per (backend, device, dtype) present.

Ids read like ``numpy-cpu-float64`` or ``strict-device1-float32``. A library or GPU that is missing
skips its cases with the reason. ``any_backend`` adds the JAX and Dask cases (``jax-cpu-float64``,
``dask-cpu-float32``, ...): the tests that take it run the whole workflow on them (training against
NumPy's losses, prediction, saving, moving, compiled steps, L-BFGS, the estimators). ``bk`` leaves them
out by default because JAX's op-by-op compilation and Dask's task per operation make its many small
cases take tens of minutes there; ``ANN_BK_ALL=1 pytest`` runs every ``bk`` test on them too.
"""

from __future__ import annotations

import importlib.util
import os

# scikit-learn runs its array-API estimator checks only when SciPy's array-API mode is on, and SciPy
# reads the variable once, on import: set it before anything imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest

import anyarray_nn as ann


def _has(module):
    return importlib.util.find_spec(module) is not None


if _has("jax"):
    # The float64 cases need JAX's 64-bit types, which are off by default and must be on before any
    # JAX array exists. Float32 cases are unaffected: every array is made with an explicit dtype.
    import jax

    jax.config.update("jax_enable_x64", True)


def _cuda_reason():
    if not _has("cupy"):
        return "cupy is not installed"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no CUDA device"
    except Exception as exc:  # a broken driver counts as no GPU
        return f"no usable CUDA device ({type(exc).__name__})"
    return None


def _torch_cuda_reason():
    if not _has("torch"):
        return "torch is not installed"
    import torch

    return None if torch.cuda.is_available() else "torch sees no CUDA device"


class BackendCase:
    """One (backend, device, dtype) combination of the fixture."""

    def __init__(self, backend, device, dtype, label):
        self.backend, self.device, self.dtype, self.label = backend, device, dtype, label

    @property
    def rtol(self):
        """Relative tolerance for comparisons with a NumPy float64 reference."""
        return 1e-10 if self.dtype == "float64" else 1e-4

    @property
    def atol(self):
        return 1e-12 if self.dtype == "float64" else 1e-5

    def make(self):
        """A ``Backend`` for this case."""
        return ann.Backend(self.backend, device=self.device, dtype=self.dtype, seed=0)

    def model(self, layers, seed=0):
        return ann.Model(layers, backend=self.backend, device=self.device, dtype=self.dtype, seed=seed)

    def asarray(self, x, dtype=None):
        """``x`` (NumPy) as an array of this backend and device (float arrays in the case's dtype)."""
        b = self.make()
        x = np.asarray(x)
        if x.dtype.kind in "iub":
            return b.xp.asarray(x.astype(np.int64), device=b.device)
        return b.asarray(x, dtype=dtype)

    def __repr__(self):
        return self.label


def _cases():
    cases = []
    for dtype in ("float64", "float32"):
        cases.append(pytest.param(BackendCase("numpy", None, dtype, f"numpy-cpu-{dtype}"), id=f"numpy-cpu-{dtype}"))
    strict_reason = None if _has("array_api_strict") else "array_api_strict is not installed"
    for device in ("CPU_DEVICE", "device1"):
        for dtype in ("float64", "float32"):
            label = f"strict-{'cpu' if device == 'CPU_DEVICE' else device}-{dtype}"
            marks = [pytest.mark.skip(reason=strict_reason)] if strict_reason else []
            cases.append(pytest.param(BackendCase("array_api_strict", device, dtype, label), id=label, marks=marks))
    torch_reason = None if _has("torch") else "torch is not installed (pip install torch==2.13.0 for the CPU build)"
    for dtype in ("float64", "float32"):
        label = f"torch-cpu-{dtype}"
        marks = [pytest.mark.skip(reason=torch_reason)] if torch_reason else []
        cases.append(pytest.param(BackendCase("torch", "cpu", dtype, label), id=label, marks=marks))
    cupy_reason = _cuda_reason()
    for dtype in ("float64", "float32"):
        label = f"cupy-cuda-{dtype}"
        marks = [pytest.mark.skip(reason=cupy_reason)] if cupy_reason else []
        cases.append(pytest.param(BackendCase("cupy", None, dtype, label), id=label, marks=marks))
    tc_reason = _torch_cuda_reason()
    label = "torch-cuda-float32"
    marks = [pytest.mark.skip(reason=tc_reason)] if tc_reason else []
    cases.append(pytest.param(BackendCase("torch", "cuda", "float32", label), id=label, marks=marks))
    return cases


CASES = _cases()


def _lazy_or_immutable_cases():
    """JAX (immutable arrays) and Dask (lazy arrays) cases, for the ``any_backend`` fixture."""
    cases = []
    jax_reason = None if _has("jax") else "jax is not installed (pip install '.[jax]')"
    for dtype in ("float64", "float32"):
        label = f"jax-cpu-{dtype}"
        marks = [pytest.mark.skip(reason=jax_reason)] if jax_reason else []
        cases.append(pytest.param(BackendCase("jax", "cpu", dtype, label), id=label, marks=marks))
    dask_reason = None if _has("dask") else "dask is not installed (pip install '.[dask]')"
    for dtype in ("float64", "float32"):
        label = f"dask-cpu-{dtype}"
        marks = [pytest.mark.skip(reason=dask_reason)] if dask_reason else []
        cases.append(pytest.param(BackendCase("dask", None, dtype, label), id=label, marks=marks))
    return cases


LAZY_OR_IMMUTABLE = _lazy_or_immutable_cases()
ANY_CASES = CASES + LAZY_OR_IMMUTABLE


@pytest.fixture(params=CASES + (LAZY_OR_IMMUTABLE if os.environ.get("ANN_BK_ALL") else []))
def bk(request):
    """A BackendCase: ``bk.backend``, ``bk.device``, ``bk.dtype``, ``bk.model(layers)``, ``bk.asarray(x)``."""
    return request.param


@pytest.fixture
def iris_split():
    """Standardized, stratified 70/30 split of iris as NumPy arrays: Xtr, Xte, ytr, yte."""
    from anyarray_nn.preprocessing import StandardScaler, train_test_split

    X, y = ann.datasets.load_iris()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, seed=0)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


@pytest.fixture(params=ANY_CASES)
def any_backend(request):
    """Like ``bk``, plus ``jax-cpu-*`` and ``dask-cpu-*`` (64-bit JAX types are enabled above)."""
    return request.param


CASES64 = [case for case in CASES if case.values[0].dtype == "float64"]


@pytest.fixture(params=CASES64)
def bk64(request):
    """Like ``bk``, float64 cases only (finite-difference checks, bit-level comparisons)."""
    return request.param
