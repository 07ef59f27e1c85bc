"""The open backend layer: any Array API library by name or namespace, honest dtypes, host copies,
copies of a Backend and the hooks the training loop calls (materialize, has_values)."""

import copy
import importlib
import os
import subprocess
import sys
import textwrap

import array_api_compat
import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.backend import LIBRARIES, Backend, to_numpy

NAMESPACES = {
    "numpy": ["numpy", "array_api_compat.numpy"],
    "array_api_strict": ["array_api_strict"],
    "torch": ["torch", "array_api_compat.torch"],
    "jax": ["jax.numpy"],
    "dask": ["dask.array", "array_api_compat.dask.array"],
    "ndonnx": ["ndonnx"],
}
CPU_NAMES = list(NAMESPACES)


def _need(name):
    pytest.importorskip(LIBRARIES[name].package)


@pytest.mark.parametrize("name", CPU_NAMES)
def test_by_name_and_by_namespace(name):
    _need(name)
    by_name = Backend(name, dtype="float32", seed=0)
    assert by_name.name == name
    for module in NAMESPACES[name]:
        by_ns = Backend(importlib.import_module(module), dtype="float32", seed=0)
        assert by_ns.name == name and by_ns.xp is by_name.xp
        assert by_ns.device_str == by_name.device_str
    W = by_name.normal((3, 2))
    assert by_name.owns(W) and W.dtype == by_name.dtype
    assert by_name.info()["backend"] == name


def test_strict_devices_by_name():
    strict = pytest.importorskip("array_api_strict")
    for device in ("CPU_DEVICE", "device1"):
        b = Backend("array_api_strict", device=device)
        assert b.device_str == device
        assert strict.asarray(1.0, device=b.device).device == b.device
        W = b.normal((2, 2))
        assert array_api_compat.device(W) == b.device


def test_unknown_name_and_non_namespace():
    with pytest.raises(ValueError, match=r"Unknown backend 'nump'; expected one of \['numpy', 'cupy', .*'jax', 'dask'"):
        Backend("nump")
    with pytest.raises(ValueError, match="Unsupported array namespace 'math'"):
        Backend(__import__("math"))


@pytest.mark.parametrize("name, extra", [("jax", r"\.\[jax\]' in the anyarray_nn checkout"), ("dask", r"\.\[dask\]' in the anyarray_nn checkout"), ("ndonnx", "pip install ndonnx")])
def test_missing_library_names_the_install(monkeypatch, name, extra):
    monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    with pytest.raises(ImportError, match=rf"backend='{name}' needs the '{name}' package.*{extra}"):
        Backend(name)


def test_a_namespace_without_an_entry_uses_the_generic_one(monkeypatch):
    """A library array-api-compat does not know works through the standard alone."""
    import types

    strict = pytest.importorskip("array_api_strict")
    # The strict namespace under another name is, to the registry, an unknown library.
    fake = types.ModuleType("otherlib")
    fake.__dict__.update({k: getattr(strict, k) for k in dir(strict) if not k.startswith("__")})
    fake.__array_namespace_info__ = strict.__array_namespace_info__
    b = Backend(fake, dtype="float64", seed=0)
    assert b.name == "otherlib" and b.xp is fake
    assert b.device_str == str(strict.__array_namespace_info__().default_device())
    assert not b.is_gpu
    b.synchronize()
    assert b.materialize([1]) == [1]


def test_jax_float64_without_x64_is_refused():
    pytest.importorskip("jax")
    code = textwrap.dedent(
        """
        from anyarray_nn.backend import Backend
        Backend("jax", dtype="float32")
        try:
            Backend("jax", dtype="float64")
        except ValueError as exc:
            print(exc)
        """
    )
    env = {**os.environ, "JAX_ENABLE_X64": "0", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "cannot make float64 arrays" in out.stdout
    assert 'jax.config.update("jax_enable_x64", True)' in out.stdout and "JAX_ENABLE_X64=1" in out.stdout


@pytest.mark.parametrize("name", CPU_NAMES)
def test_to_numpy_on_each_library(name):
    _need(name)
    b = Backend(name, dtype="float64", seed=0)
    host = np.arange(6.0).reshape(2, 3)
    out = to_numpy(b.asarray(host))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, host)


def test_to_numpy_details():
    torch = pytest.importorskip("torch")
    t = torch.ones(2, requires_grad=True) * 2
    assert to_numpy(t).tolist() == [2.0, 2.0]
    assert to_numpy(torch.tensor([1 + 2j]).conj()).tolist() == [1 - 2j]
    assert to_numpy([1, 2]).tolist() == [1, 2]
    x = np.ones(3)
    assert to_numpy(x) is x


@pytest.mark.parametrize("bad", [object(), [1, None], np.array([1, "a"], dtype=object), {"a": 1}])
def test_to_numpy_refuses_object_arrays(bad):
    with pytest.raises(TypeError, match="to_numpy needs an array of numbers, got"):
        to_numpy(bad)


@pytest.mark.parametrize("name", CPU_NAMES)
def test_owns_is_false_for_python_numbers(name):
    _need(name)
    b = Backend(name)
    assert not b.owns(3) and not b.owns(2.5) and not b.owns(None) and not b.owns([1.0])
    assert b.owns(b.normal((2,)))


@pytest.mark.parametrize("name", CPU_NAMES)
def test_deepcopy_rebuilds_the_backend_and_its_random_stream(name):
    _need(name)
    b = Backend(name, dtype="float32", seed=3)
    b.normal((4,))
    c = copy.deepcopy(b)
    assert (c.name, c.device_str, c.dtype_name, c.seed) == (b.name, b.device_str, b.dtype_name, b.seed)
    assert c.xp is b.xp and c.rng is not b.rng
    np.testing.assert_array_equal(to_numpy(c.normal((5,))), to_numpy(b.normal((5,))))


def test_deepcopy_keeps_device_and_note(monkeypatch):
    pytest.importorskip("array_api_strict")
    b = copy.deepcopy(Backend("array_api_strict", device="device1"))
    assert b.device_str == "device1"
    monkeypatch.setitem(sys.modules, "cupy", None)
    auto = Backend("auto")
    assert copy.deepcopy(auto).note == auto.note


def test_dask_materialize_persists_and_the_graph_stays_small():
    da = pytest.importorskip("dask.array")
    b = Backend("dask", dtype="float64", seed=0)
    W, state = b.normal((4, 3)), {"m": [b.normal((3,))]}
    sizes = []
    for _ in range(4):
        W, state = W * 0.5 + 1.0, {"m": [state["m"][0] + W[0, :]]}
        W, state = b.materialize([W, state])
        sizes.append(len(W.__dask_graph__()) + len(state["m"][0].__dask_graph__()))
    assert isinstance(W, da.Array) and isinstance(state["m"][0], da.Array)
    assert sizes[0] == sizes[-1]  # persisted: the graph is the chunks, not the history


@pytest.mark.parametrize("name", CPU_NAMES)
def test_materialize_leaves_eager_arrays_alone(name):
    if name == "dask":
        pytest.skip("lazy: see the dask test")
    _need(name)
    b = Backend(name)
    arrays = [b.normal((2,)), {"v": b.normal((2,))}]
    out = b.materialize(arrays)
    assert out[0] is arrays[0] and out[1]["v"] is arrays[1]["v"]


@pytest.mark.parametrize("name", CPU_NAMES)
def test_same_seed_same_draws_on_every_backend(name):
    _need(name)
    ref = Backend("numpy", dtype="float32", seed=7)
    b = Backend(name, dtype="float32", seed=7)
    np.testing.assert_array_equal(to_numpy(b.normal((3, 4))), to_numpy(ref.normal((3, 4))))
    np.testing.assert_array_equal(to_numpy(b.permutation(9)), to_numpy(ref.permutation(9)))
    np.testing.assert_array_equal(to_numpy(b.dropout_mask((2, 5), 0.5)), to_numpy(ref.dropout_mask((2, 5), 0.5)))


def test_values_are_not_read_from_traced_or_symbolic_arrays():
    jax = pytest.importorskip("jax")
    b = Backend("jax", dtype="float32")
    assert b.has_values(b.normal((2,)))
    seen = []
    jax.jit(lambda x: seen.append(b.has_values(x)) or x)(b.normal((2,)))
    assert seen == [False]


def test_check_X_passes_a_symbolic_ndonnx_batch():
    ndx = pytest.importorskip("ndonnx")
    from anyarray_nn._validation import check_X

    b = Backend("ndonnx", dtype="float64")
    X = ndx.argument(shape=("N", 3), dtype=ndx.float64)
    assert not b.has_values(X)
    out = check_X(X, b, 3, to_device=False)
    assert out.shape == (None, 3)
    with pytest.raises(ValueError, match="contains 1 NaN"):
        check_X(b.asarray(np.array([[1.0, np.nan, 0.0]])), b, 3)


@pytest.mark.parametrize("loss", ["mae", "mse", "rmse", "binary_crossentropy", "crossentropy"])
def test_losses_with_an_unknown_batch_size(loss):
    """Losses divide by the batch size; an unknown one (Dask after a filter, ndonnx graph input) works."""
    da = pytest.importorskip("dask.array")
    import array_api_compat.dask.array as dxp

    from anyarray_nn import activations, losses

    fn = losses.get(loss)
    act = activations.get("softmax" if loss == "crossentropy" else "sigmoid")
    rng = np.random.default_rng(0)
    Z, Y = rng.normal(size=(6, 3)), np.eye(3)[[0, 2, 1, 0, 1, 2]]
    A = act.forward(Z, xp=np)
    expected = (fn.forward(Z, A, Y, act, xp=np), fn.backward(Z, A, Y, act, xp=np))

    keep = da.from_array(np.ones(6, dtype=bool))  # a data-dependent selection: the row count is nan
    Zd, Yd = da.from_array(Z)[keep], da.from_array(Y)[keep]
    assert np.isnan(Zd.shape[0])
    Ad = act.forward(Zd, xp=dxp)
    value, grad = fn.forward(Zd, Ad, Yd, act, xp=dxp), fn.backward(Zd, Ad, Yd, act, xp=dxp)
    np.testing.assert_allclose(float(value.compute()), expected[0], rtol=1e-12)
    np.testing.assert_allclose(grad.compute(), expected[1], rtol=1e-12)

    ndx = pytest.importorskip("ndonnx")
    Zs, Ys = (ndx.argument(shape=("N", 3), dtype=ndx.float64) for _ in range(2))
    As = act.forward(Zs, xp=ndx)
    assert fn.forward(Zs, As, Ys, act, xp=ndx).shape == ()
    assert fn.backward(Zs, As, Ys, act, xp=ndx).shape == (None, 3)


def test_a_model_predicts_the_same_on_every_backend(any_backend):
    """Same seed, same weights: the forward pass agrees with NumPy float64 on every library."""
    X = np.random.default_rng(1).normal(size=(7, 4))
    layers = [ann.Layer(4, 5, "relu"), ann.Layer(5, 3, "softmax")]
    expected = ann.Model(layers, backend="numpy", dtype="float64", seed=0).predict_proba(X)
    layers = [ann.Layer(4, 5, "relu"), ann.Layer(5, 3, "softmax")]
    model = any_backend.model(layers)
    assert model.backend.name == any_backend.backend
    got = to_numpy(model.predict_proba(any_backend.asarray(X)))
    np.testing.assert_allclose(got, expected, rtol=any_backend.rtol, atol=any_backend.atol)


def test_a_trained_strict_model_moves_and_copies(iris_split):
    """The optimizer state holds the step count, a Python int: ``owns`` must not claim it."""
    pytest.importorskip("array_api_strict")
    Xtr, _, ytr, _ = iris_split
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="array_api_strict", dtype="float64", seed=0)
    model.fit(Xtr, ytr, solver=ann.Solver(optimizer="adam", learning_rate=0.01), settings=ann.Settings(epochs=2, verbose=0))
    expected = to_numpy(model.predict_proba(Xtr))
    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(to_numpy(twin.predict_proba(Xtr)), expected)
    model.to("numpy")
    np.testing.assert_allclose(model.predict_proba(Xtr), expected, rtol=1e-12)
