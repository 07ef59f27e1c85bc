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


# -- the NumPy namespace: its shortcuts give what array_api_compat's functions give ---------------------

def _numpy_cases():
    rng = np.random.default_rng(0)
    return [
        rng.standard_normal((5, 4)).astype(np.float32),
        rng.standard_normal((3, 4, 2)),
        np.asfortranarray(rng.standard_normal((4, 3))),
        rng.integers(-5, 5, (6, 3)).astype(np.int32),
        rng.integers(0, 5, (7,)).astype(np.uint8),
        rng.standard_normal((6, 5)) > 0,
        np.asarray(2.5),
        np.zeros((0, 3)),
    ]


@pytest.mark.parametrize("case", range(8))
def test_numpy_namespace_shortcuts_equal_array_api_compat(case):
    import array_api_compat.numpy as compat

    xp = Backend("numpy").xp
    x = _numpy_cases()[case]
    assert xp is not compat and xp.__array_namespace_info__ is compat.__array_namespace_info__

    def same(got, expected):
        assert type(got) is type(expected) and got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)

    axes = [None] + list(range(x.ndim)) + ([(0, 1)] if x.ndim > 1 else [])
    for axis in axes:
        for keepdims in (False, True):
            same(xp.sum(x, axis=axis, keepdims=keepdims), compat.sum(x, axis=axis, keepdims=keepdims))
            if x.size:
                same(xp.max(x, axis=axis, keepdims=keepdims), compat.max(x, axis=axis, keepdims=keepdims))
                same(xp.min(x, axis=axis, keepdims=keepdims), compat.min(x, axis=axis, keepdims=keepdims))
    same(xp.sum(x, dtype=xp.float64), compat.sum(x, dtype=compat.float64))
    if x.size:
        for axis in [None] + list(range(x.ndim)):
            same(xp.argmax(x, axis=axis), compat.argmax(x, axis=axis))
        if x.ndim:
            idx = np.asarray([x.shape[0] - 1, 0])
            same(xp.take(x, idx, axis=0), compat.take(x, idx, axis=0))
    for dtype in (xp.float32, xp.float64, xp.int64, xp.bool):
        same(xp.astype(x, dtype), compat.astype(x, dtype))
        same(xp.zeros_like(x, dtype=dtype), compat.zeros_like(x, dtype=dtype))
    for shape in ((-1,), (1, -1), x.shape):
        same(xp.reshape(x, shape), compat.reshape(x, shape))
        got = xp.reshape(x, shape, copy=True)
        same(got, compat.reshape(x, shape, copy=True))
        assert not np.shares_memory(got, x) or x.size == 0
    if x.ndim == 2 and x.size and x.flags.c_contiguous:
        assert np.shares_memory(xp.reshape(x, (-1,), copy=False), x)
    if x.ndim == 2 and x.size and not x.flags.c_contiguous:
        with pytest.raises(ValueError):
            xp.reshape(x, (-1,), copy=False)  # a copy would be needed
    copy = xp.astype(x, x.dtype)
    assert copy is not x and xp.astype(x, x.dtype, copy=False) is x
    same(xp.zeros_like(x), compat.zeros_like(x))
    assert xp.zeros_like(x).flags.c_contiguous == compat.zeros_like(x).flags.c_contiguous
    # Anything else is array_api_compat's to answer: NumPy scalars, devices.
    same(xp.sum(np.float32(3.0)), compat.sum(np.float32(3.0)))
    with pytest.raises(ValueError):
        xp.astype(x, xp.float32, device="gpu")
    with pytest.raises(ValueError):
        xp.zeros_like(x, device="gpu")


def test_numpy_namespace_is_numpy():
    import array_api_compat.numpy as compat

    b = Backend("numpy")
    assert Backend(b.xp).name == "numpy" and Backend(compat).xp is b.xp and Backend(np).xp is b.xp
    assert array_api_compat.array_namespace(b.xp.asarray([1.0])) is compat  # its arrays are NumPy's


def test_fresh_writeable_per_library():
    from anyarray_nn.backend import fresh_writeable

    assert fresh_writeable(np.ones(3) @ np.ones((3, 2)))
    jnp = pytest.importorskip("jax.numpy")
    assert not fresh_writeable(jnp.ones(3) + 1.0)  # JAX arrays are never written into
