"""The runners behind the training loop (anyarray_nn.runner): one interface, three ways to take a step."""

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import runner
from anyarray_nn._validation import check_targets
from anyarray_nn.feed import DeviceFeed
from anyarray_nn.step import is_classifier, make_batch_step, make_epoch_figures, make_train_step
from anyarray_nn.training import default_solver


def _data(n=96):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1.0)


def _layers():
    return [ann.Layer(4, 8, "relu"), ann.Layer(8, 3, "softmax")]


def _setup(backend="numpy", optimizer="sgd"):
    X, y = _data()
    model = ann.Model(_layers(), backend=backend, dtype="float64", seed=0)
    solver = default_solver(model, ann.Solver(optimizer=optimizer, learning_rate=0.05))
    xp, b = model.xp, model.backend
    T = check_targets(y, b, solver.loss, 3, len(y))
    truth = solver.loss.fused_activation and model.layers[-1].activation.decide(T, xp=xp)
    feed = DeviceFeed(b.asarray(X), T, truth)
    step = make_train_step(model.layers, solver, xp=xp, matmul_add=b.library.matmul_add)
    return X, y, model, solver, feed, step


def _epoch(run, feed, params, state, lr, rows=16):
    steps = -(-feed.n_rows // rows)
    params, state = run.begin(params, state, lr, None)
    for batch in feed.epoch(None, rows, steps):
        params, state = run(params, state, batch)
    (loss_sum, hits, n), labels = run.sums()
    return params, state, float(loss_sum) / float(n), float(hits) / labels


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_eager_runner_takes_the_steps_fit_takes(optimizer):
    X, y, model, solver, feed, step = _setup(optimizer=optimizer)
    params = [model.xp.asarray(p, copy=True) for p in model.parameters()]
    state = solver.optimizer.init_state(params, xp=model.xp)
    run = runner.Eager(step, model.backend, model.layers, feed, 0.0, is_classifier(model.layers, solver))
    assert isinstance(run, runner.Runner) and not run.compiled and run.figures is None and run.start is None
    params, state, loss, accuracy = _epoch(run, feed, params, state, 0.05)

    fitted = ann.Model(_layers(), backend="numpy", dtype="float64", seed=0)
    history = fitted.fit(X, y, ann.Solver(optimizer=optimizer, learning_rate=0.05),
                         ann.Settings(epochs=1, batch_size=16, shuffle=False, verbose=0))
    assert loss == history.loss[0] and accuracy == history.accuracy[0]
    for p, q in zip(params, fitted.parameters()):
        np.testing.assert_array_equal(p, q)
    assert state["t"] == 6


def test_a_data_parallel_runner_takes_part_in_the_update_of_a_step_without_rows():
    _, _, model, solver, feed, step = _setup()
    xp = model.xp
    params = [xp.asarray(p, copy=True) for p in model.parameters()]
    state = solver.optimizer.init_state(params, xp=xp)
    run = runner.DataParallel(step, model.backend, model.layers, feed, 0.0, True)
    params, state = run.begin(params, state, 0.05, None)
    before = [np.array(p, copy=True) for p in params]
    params, state = run(params, state, None)  # this process's shard is used up
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)  # a zero gradient: SGD leaves the weights
    assert state["t"] == 1  # ... but the step was taken, as on the other processes
    (batch,) = list(feed.epoch(None, 96, 1))
    params, state = run(params, state, batch)
    assert not np.array_equal(params[0], before[0]) and state["t"] == 2


def test_a_compiled_runner_gives_the_eager_runners_figures():
    pytest.importorskip("jax")
    _, _, model, solver, feed, step = _setup("jax")
    xp, b = model.xp, model.backend
    batch_step, how = b.compile(make_batch_step(step, xp=xp), "auto")
    assert how == "jax.jit"
    figures, _ = b.compile(make_epoch_figures(xp=xp), "auto")
    t_host = {"t": 0}
    run = runner.Compiled(
        batch_step, b, model.layers, 0.0, figures, on_labels=False,
        keep=lambda p, s: ([xp.asarray(a, copy=True) for a in p], s, t_host["t"]), t_host=lambda: t_host["t"],
        untraceable=lambda exc: pytest.fail(f"traced: {exc}"),
    )
    assert run.compiled
    params = [xp.asarray(p, copy=True) for p in model.parameters()]
    state = solver.optimizer.init_state(params, xp=xp)
    params_c, _, loss_c, acc_c = _epoch(run, feed, params, state, 0.05)
    assert run.start is not None  # the epoch's start, kept for an interruption inside a call

    eager = runner.Eager(step, b, model.layers, feed, 0.0, True)
    params = [xp.asarray(p, copy=True) for p in model.parameters()]
    params_e, _, loss_e, acc_e = _epoch(eager, feed, params, solver.optimizer.init_state(params, xp=xp), 0.05)
    np.testing.assert_allclose(loss_c, loss_e, rtol=1e-12)
    assert acc_c == acc_e
    for p, q in zip(params_c, params_e):
        np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-12, atol=1e-14)


def test_an_untraceable_step_is_handed_to_the_eager_runner_with_the_same_dropout_masks():
    pytest.importorskip("jax")
    _, _, model, solver, feed, step = _setup("jax")
    xp, b = model.xp, model.backend
    eager = runner.Eager(step, b, model.layers, feed, 0.5, True)
    handed, seen = [], []

    def untraceable(exc):
        handed.append(exc)
        eager.begin(None, None, 0.05, None)
        return eager

    import jax

    def refuses(*args):
        seen.append(args[10])  # the masks the compiled runner drew
        return jax.jit(lambda x: x if float(x) > 0 else -x)(args[4][0, 0])  # a Python decision on a value

    real_step = eager.step
    eager.step = lambda p, s, Xb, Tb, masks, lr, wb: seen.append(masks) or real_step(p, s, Xb, Tb, masks, lr, wb)
    run = runner.Compiled(refuses, b, model.layers, 0.5, None, on_labels=False, keep=lambda p, s: None,
                          t_host=lambda: None, untraceable=untraceable)
    params = [xp.asarray(p, copy=True) for p in model.parameters()]
    state = solver.optimizer.init_state(params, xp=xp)
    params, state = run.begin(params, state, 0.05, None)
    (batch,) = list(feed.epoch(None, 96, 1))
    params, state = run(params, state, batch)
    assert len(handed) == 1 and len(seen) == 2 and seen[0] is seen[1] and seen[0] is not None
    (_, _, rows), _ = eager.sums()
    assert rows == 96.0  # the eager runner counted the step
