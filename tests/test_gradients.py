"""Backpropagation against central finite differences, in float64, for every activation and loss."""

import numpy as np
import pytest

import anyarray_nn as ann

HIDDEN = ann.activations.names()

# Output activation x loss pairings that make sense (the first two are the fused ones).
PAIRINGS = [
    ("softmax", "crossentropy"),
    ("sigmoid", "binary_crossentropy"),
    ("linear", "mse"),
    ("linear", "mae"),
    ("linear", "rmse"),
    ("sigmoid", "mse"),
    ("tanh", "mse"),
    ("softmax", "mse"),
    ("sigmoid", "crossentropy"),
    ("exponential", "poisson"),
]


def _targets(loss, n, k, rng):
    if loss == "crossentropy":
        return rng.integers(0, k, size=n)
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, size=(n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, size=(n, k)).astype(float)
    return rng.normal(size=(n, k))


def _layers(sizes, hidden, output):
    acts = [hidden] * (len(sizes) - 2) + [output]
    return [ann.Layer(a, b, act) for a, b, act in zip(sizes[:-1], sizes[1:], acts)]


@pytest.mark.parametrize("output,loss", PAIRINGS, ids=[f"{o}+{l}" for o, l in PAIRINGS])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 5])
def test_pairings_every_backend(bk64, output, loss, depth, n):
    rng = np.random.default_rng(depth * 10 + n)
    k = 3
    sizes = [4] + [5] * (depth - 1) + [k]
    model = bk64.model(_layers(sizes, "tanh", output), seed=depth)
    X = rng.normal(size=(n, 4))
    y = _targets(loss, n, k, rng)
    result = ann.gradcheck(model, X, y, ann.Solver(loss=loss))
    assert result.max_relative_error < 1e-6, result


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", PAIRINGS[:3], ids=["softmax+ce", "sigmoid+bce", "linear+mse"])
def test_every_hidden_activation(hidden, output, loss):
    rng = np.random.default_rng(0)
    model = ann.Model(_layers([3, 6, 4, 2], hidden, output), backend="numpy", dtype="float64", seed=1)
    X = rng.normal(size=(7, 3))
    y = _targets(loss, 7, 2, rng)
    result = ann.gradcheck(model, X, y, ann.Solver(loss=loss))
    assert result.max_relative_error < 1e-6, result


@pytest.mark.parametrize("method", ["l1", "l2", "elasticnet"])
def test_penalties(method):
    rng = np.random.default_rng(3)
    model = ann.Model(_layers([3, 5, 3], "tanh", "softmax"), backend="numpy", dtype="float64", seed=2)
    solver = ann.Solver(regularization=ann.Regularization(method, lam=0.1, r=0.3))
    result = ann.gradcheck(model, rng.normal(size=(6, 3)), rng.integers(0, 3, size=6), solver)
    assert result.max_relative_error < 1e-6, result


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    """The check is not vacuous: a derivative that is off by a factor fails it."""
    model = ann.Model(_layers([3, 4, 2], "tanh", "softmax"), backend="numpy", dtype="float64", seed=0)
    act = model.layers[0].activation
    monkeypatch.setattr(act, "derivative", lambda Z, A, *, xp: 1.1 * (1.0 - A * A))
    rng = np.random.default_rng(0)
    result = ann.gradcheck(model, rng.normal(size=(5, 3)), rng.integers(0, 2, size=5))
    assert not result.passed
    assert result.max_relative_error > 1e-3


def test_gradcheck_refuses_float32():
    model = ann.Model([ann.Layer(2, 2, "softmax")], backend="numpy", dtype="float32")
    with pytest.raises(ValueError, match="float64"):
        ann.gradcheck(model, np.zeros((2, 2)), np.array([0, 1]))


@pytest.mark.parametrize("output,loss", PAIRINGS[:2] + [("linear", "mse")], ids=["softmax+ce", "sigmoid+bce", "linear+mse"])
def test_huge_preactivations_stay_finite(bk, output, loss):
    """Pre-activations of magnitude 1e4 give finite losses and gradients."""
    model = bk.model([ann.Layer(2, 3, output)])
    model.layers[0].W = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    rng = np.random.default_rng(0)
    y = _targets(loss, 3, 3, rng)
    cache = model.forward(X)
    value, grads_W, grads_b = model.backward(cache, y, ann.Solver(loss=loss))
    assert np.isfinite(float(ann.to_numpy(value)))
    for g in grads_W + grads_b:
        assert np.all(np.isfinite(ann.to_numpy(g)))
    for Z, A in cache:
        assert np.all(np.isfinite(ann.to_numpy(A)))


def test_fused_gradient_is_a_minus_y():
    model = ann.Model([ann.Layer(3, 4, "softmax")], backend="numpy", dtype="float64", seed=0)
    X = np.random.default_rng(0).normal(size=(6, 3))
    y = np.array([0, 1, 2, 3, 0, 1])
    cache = model.forward(X)
    _, grads_W, grads_b = model.backward(cache, y)
    A = cache.output
    Y = np.eye(4)[y]
    np.testing.assert_allclose(grads_b[0], (A - Y).sum(axis=0) / 6, rtol=1e-12)
    np.testing.assert_allclose(grads_W[0], X.T @ (A - Y) / 6, rtol=1e-12)


def test_kinks_are_where_the_derivative_jumps():
    A = ann.activations
    assert A.get("relu").kink == 0.0 and A.get("leaky_relu").kink == 0.0
    assert A.get("elu").kink is None and A.ELU(alpha=0.5).kink == 0.0  # alpha 1: g' is 1 on both sides
    assert all(A.get(name).kink is None for name in ("linear", "sigmoid", "tanh", "softplus", "silu", "softmax"))


def test_rows_away_from_kinks_keep_clear_of_them(bk64):
    from anyarray_nn.gradcheck import rows_away_from_kinks

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    X[5] = 0.0  # with zero biases every ReLU pre-activation of this row sits on the kink
    model = bk64.model([ann.Layer(3, 6, "relu"), ann.Layer(6, 4, "leaky_relu"), ann.Layer(4, 2, "softmax")])
    for layer in model.layers:
        layer.b = np.zeros(layer.n_out)
    rows = rows_away_from_kinks(model, bk64.asarray(X), margin=0.05)
    Zs = [ann.to_numpy(Z) for Z, _ in model.forward(bk64.asarray(X))[:2]]
    far = np.all(np.abs(Zs[0]) > 0.05, axis=1) & np.all(np.abs(Zs[1]) > 0.05, axis=1)
    np.testing.assert_array_equal(rows, np.flatnonzero(far))
    assert 5 not in rows and 0 < len(rows) < 40
    np.testing.assert_array_equal(rows_away_from_kinks(model, X, 3, margin=0.05), rows[:3])
    smooth = bk64.model([ann.Layer(3, 4, "tanh"), ann.Layer(4, 2, "softmax")])
    np.testing.assert_array_equal(rows_away_from_kinks(smooth, X, 7), np.arange(7))
    assert ann.gradcheck(model, X[rows[:10]], rng.integers(0, 2, 10))
