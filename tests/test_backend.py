"""Backend resolution: names, namespaces, devices, dtypes, the auto fallback and missing libraries."""

import sys

import array_api_compat
import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.backend import Backend


def test_repr_shows_backend_device_and_dtype(bk):
    model = bk.model([ann.Layer(3, 2, "softmax")])
    text = repr(model)
    assert f"backend={bk.backend!r}" in text
    assert f"dtype={bk.dtype!r}" in text
    assert model.backend.device_str in text
    assert model.layers[0].W.dtype == getattr(model.xp, bk.dtype)
    assert array_api_compat.device(model.layers[0].W) == model.device


def test_auto_falls_back_visibly(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    model = ann.Model([ann.Layer(2, 2, "softmax")], backend="auto")
    assert model.backend.name == "numpy"
    assert "CuPy is not installed" in model.backend.note
    assert "CuPy is not installed" in repr(model)
    assert "CuPy is not installed" in model.summary()


def test_missing_backend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError, match=r"backend='cupy' needs the 'cupy' package.*'\.\[cuda12\]' in the anyarray_nn checkout"):
        ann.Model([ann.Layer(2, 2)], backend="cupy")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"backend='torch' needs the 'torch' package.*pip install torch"):
        ann.Model([ann.Layer(2, 2)], backend="torch")


def test_namespace_modules_are_accepted():
    import array_api_compat.numpy as compat_numpy

    for ns in (np, compat_numpy):
        assert Backend(ns).name == "numpy"
    strict = pytest.importorskip("array_api_strict")
    assert Backend(strict).name == "array_api_strict"
    with pytest.raises(ValueError, match="Unsupported array namespace 'math'"):
        Backend(__import__("math"))
    with pytest.raises(TypeError, match="`backend` must be a string or an array namespace"):
        Backend(3)


def test_dtype_objects_are_accepted():
    assert Backend("numpy", dtype=np.float64).dtype_name == "float64"
    torch = pytest.importorskip("torch")
    assert Backend("torch", dtype=torch.float32).dtype_name == "float32"


def test_strict_unknown_device_lists_choices():
    pytest.importorskip("array_api_strict")
    with pytest.raises(ValueError, match=r"Invalid `device` 'device9'.*expected one of"):
        Backend("array_api_strict", device="device9")


def test_data_from_another_library_moves_to_the_model():
    """A torch tensor or a strict device1 array fed to a NumPy model lands on the CPU as NumPy."""
    model = ann.Model([ann.Layer(2, 2, "softmax")], backend="numpy", seed=0)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = model.predict_proba(X)
    strict = pytest.importorskip("array_api_strict")
    Xs = strict.asarray(X, device=strict.Device("device1"))
    np.testing.assert_allclose(model.predict_proba(Xs), expected)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(model.predict_proba(torch.asarray(X)), expected)


def test_strict_device1_never_converts_implicitly():
    """On device1 NumPy conversion raises, so a training run there proves no hidden host copies."""
    strict = pytest.importorskip("array_api_strict")
    x = strict.asarray([1.0], device=strict.Device("device1"))
    with pytest.raises(RuntimeError):
        np.asarray(x)
    assert ann.to_numpy(x).tolist() == [1.0]


def test_random_streams_match_across_backends(any_backend):
    bk = any_backend
    a, b = Backend("numpy", dtype="float64", seed=5), bk.make()
    b.rng = np.random.default_rng(5)
    np.testing.assert_allclose(ann.to_numpy(b.normal((3, 4))), ann.to_numpy(a.normal((3, 4))), rtol=bk.rtol)
    np.testing.assert_array_equal(ann.to_numpy(b.permutation(10)), ann.to_numpy(a.permutation(10)))
