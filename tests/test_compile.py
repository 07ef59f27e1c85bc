"""Compiled training steps: ``Settings(compile=...)``.

The pure training step is compiled where the backend's library has a compiler (``jax.jit`` on JAX by
default, ``torch.compile`` on torch when asked) and gives the results of the eager step to float
tolerance; elsewhere ``compile`` changes nothing, and the model's repr says which compiler there is.
"""

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import backend as backend_module


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5).astype(int)
    return X, y


def _fit(case, compile, optimizer="adam", epochs=3, batch_size=16, n=48):
    X, y = _data(n)
    model = case.model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")])
    solver = ann.Solver(
        optimizer=optimizer, learning_rate=0.05, schedule=ann.schedules.get("step", step_size=1, gamma=0.5),
        regularization=ann.Regularization("l2", lam=1e-3, dropout=0.2),
    )
    history = model.fit(X, y, solver, ann.Settings(epochs=epochs, batch_size=batch_size, verbose=0, compile=compile))
    return model, history


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_step_gives_the_eager_results(any_backend, optimizer):
    eager, h_eager = _fit(any_backend, False, optimizer)
    auto, h_auto = _fit(any_backend, "auto", optimizer)
    expected = "jax.jit" if any_backend.backend == "jax" else "eager"
    assert h_auto.compiled.startswith(expected) and h_eager.compiled == "eager: compile=False"
    np.testing.assert_allclose(h_auto.loss, h_eager.loss, rtol=any_backend.rtol, atol=any_backend.atol)
    for p, q in zip(auto.parameters(), eager.parameters()):
        np.testing.assert_allclose(ann.to_numpy(p), ann.to_numpy(q), rtol=any_backend.rtol, atol=any_backend.atol)
    # The optimizer's step count is a Python int again after a compiled fit: it saves and resumes.
    assert auto.optimizer_state_["t"] == 3 * 3


def test_the_repr_names_the_compiler():
    assert "compiler=None" in repr(ann.Model([ann.Layer(2, 1, "linear")], backend="numpy"))
    pytest.importorskip("jax", reason="jax is not installed")
    assert "compiler='jax.jit'" in repr(ann.Model([ann.Layer(2, 1, "linear")], backend="jax", dtype="float32"))


def _count_traces(monkeypatch):
    traces = []
    real = ann.network.forward
    monkeypatch.setattr(ann.network, "forward", lambda *a, **k: traces.append(1) or real(*a, **k))
    return traces


def test_schedules_and_dropout_do_not_recompile(monkeypatch):
    """Under jax.jit the step's Python code runs only while tracing: once per shape of batch."""
    pytest.importorskip("jax", reason="jax is not installed")
    from conftest import BackendCase

    case = BackendCase("jax", "cpu", "float64", "jax-cpu-float64")
    ann.training._COMPILED.clear()
    traces = _count_traces(monkeypatch)
    _fit(case, "auto", epochs=4, batch_size=16, n=48)  # 3 equal batches an epoch, a new rate each epoch
    assert len(traces) == 1
    # 40 rows: the data is an input of the compiled step, so its new shape compiles the step again, and the
    # last batch of 8 once more.
    _fit(case, "auto", epochs=4, batch_size=16, n=40)
    assert len(traces) == 3
    _fit(case, "auto", epochs=2, batch_size=16, n=40)  # a new fit with the same settings compiles nothing
    assert len(traces) == 3


def test_one_host_read_per_epoch_with_a_compiled_step(monkeypatch):
    pytest.importorskip("jax", reason="jax is not installed")
    from conftest import BackendCase

    reads = []
    real = ann.Backend.to_numpy
    monkeypatch.setattr(ann.Backend, "to_numpy", lambda self, x: reads.append(1) or real(self, x))
    _, history = _fit(BackendCase("jax", "cpu", "float32", "jax-cpu-float32"), "auto", epochs=3)
    assert history.compiled == "jax.jit" and len(reads) == 3


def test_torch_compile_on_request(monkeypatch):
    """compile=True on torch traces the step with torch.compile (here with its quick aot_eager backend:
    the C++ code generation of the default backend takes tens of seconds on a CPU)."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    from conftest import BackendCase

    monkeypatch.setattr(backend_module.Torch, "compile", lambda self, step, donate=(): torch.compile(step, backend="aot_eager", dynamic=False))
    case = BackendCase("torch", "cpu", "float64", "torch-cpu-float64")
    _, h_auto = _fit(case, "auto")
    assert h_auto.compiled == "eager: torch.compile only with compile=True"
    compiled, h_compiled = _fit(case, True)
    eager, h_eager = _fit(case, False)
    assert h_compiled.compiled == "torch.compile"
    np.testing.assert_allclose(h_compiled.loss, h_eager.loss, rtol=1e-10)
    for p, q in zip(compiled.parameters(), eager.parameters()):
        np.testing.assert_allclose(ann.to_numpy(p), ann.to_numpy(q), rtol=1e-10, atol=1e-12)


def test_compile_is_checked():
    with pytest.raises(ValueError, match="`compile` must be 'auto', True or False"):
        ann.Settings(compile="yes")
    with pytest.raises(ValueError, match="`compile`"):
        ann.Settings(compile=1)


def test_epoch_figures_of_a_compiled_fit(any_backend):
    """Mean loss, share of correct decisions and weight checksum, as one array (one compiled call on JAX)."""
    from anyarray_nn.step import make_epoch_figures

    b = any_backend.make()
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    figures = make_epoch_figures(xp=b.xp)
    compiled, _ = b.compile(figures, "auto")
    sums = tuple(b.xp.asarray(v, dtype=b.dtype, device=b.device) for v in (12.5, 30.0, 50.0))
    on_device = [b.asarray(p) for p in params]
    got = ann.to_numpy(b.materialize(compiled(on_device, sums, 40.0)))
    expected = [12.5 / 50.0, 30.0 / 40.0, sum(p.sum() for p in params)]
    np.testing.assert_allclose(got, expected, rtol=any_backend.rtol, atol=any_backend.atol)
    # Nothing was donated: the parameters are still the model's (JAX refuses to read a donated buffer).
    for p, q in zip(on_device, params):
        np.testing.assert_allclose(ann.to_numpy(p), q, rtol=any_backend.rtol, atol=any_backend.atol)


@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_compiled_figures_with_validation_match_the_eager_fit(task):
    """The compiled epoch figures (one call) and the validation figures read with them, against eager."""
    pytest.importorskip("jax", reason="jax is not installed")
    from conftest import BackendCase

    X, y = _data(60)
    case = BackendCase("jax", "cpu", "float64", "jax-cpu-float64")
    n_out, output, loss = (3, "softmax", "crossentropy") if task == "classifier" else (1, "linear", "mse")
    if task == "regressor":
        y = y.astype(float)
    histories = []
    for compile in ("auto", False):
        model = case.model([ann.Layer(4, 8, "tanh"), ann.Layer(8, n_out, output)])
        solver = ann.Solver(loss=loss, optimizer="sgd", learning_rate=0.05)
        settings = ann.Settings(epochs=3, batch_size=16, verbose=0, compile=compile)
        histories.append(model.fit(X[:40], y[:40], solver, settings, validation_data=(X[40:], y[40:])))
    compiled, eager = histories
    assert compiled.compiled == "jax.jit" and eager.compiled == "eager: compile=False"
    keys = ["loss", "val_loss"] + (["accuracy", "val_accuracy"] if task == "classifier" else [])
    for key in keys:
        np.testing.assert_allclose(getattr(compiled, key), getattr(eager, key), rtol=1e-10, err_msg=key)
    if task == "regressor":
        assert not compiled.accuracy and not eager.accuracy


def test_the_compiled_batch_step_donates_the_first_layer_and_the_state_only():
    """Later layers' weights are read again by the backward product for the layer below: XLA would copy
    them before writing into them, so they are not donated; the first layer's parameters are."""
    pytest.importorskip("jax", reason="jax is not installed")
    from anyarray_nn.step import DONATE, make_batch_step, make_train_step

    model = ann.Model([ann.Layer(4, 6, "relu"), ann.Layer(6, 3, "softmax")], backend="jax", dtype="float32", seed=0)
    b, xp = model.backend, model.xp
    solver = ann.training.default_solver(model, ann.Solver(optimizer="momentum", learning_rate=0.1))
    step = make_train_step(model.layers, solver, xp=xp)
    batch_step, how = b.compile(make_batch_step(step, xp=xp), "auto", donate=DONATE)
    assert how == "jax.jit"
    X, y = _data(8)
    Xd, T = b.asarray(X), b.asarray(np.eye(3)[y])
    truth = xp.asarray(y)
    params = [xp.asarray(p, copy=True) for p in model.parameters()]
    state = solver.optimizer.init_state(params, xp=xp)
    state = {**state, "t": xp.asarray(0)}
    zero = xp.zeros((), dtype=b.dtype)
    head, tail = params[:2], params[2:]
    lr = xp.asarray(0.1, dtype=b.dtype)
    new_head, new_tail, new_state, sums = batch_step(head, tail, state, (zero, zero, zero), Xd, T, truth, None, 0,
                                                     xp.arange(8), None, lr)
    assert all(p.is_deleted() for p in head)
    assert all(leaf.is_deleted() for leaf in state["velocity"])
    assert not any(p.is_deleted() for p in tail)
    assert [tuple(p.shape) for p in new_head + new_tail] == [tuple(p.shape) for p in model.parameters()]
