"""Penalties (l1, l2, elastic net) and inverted dropout: values, gradients, statistics, determinism."""

import numpy as np
import pytest

import anyarray_nn as ann

PENALTIES = [("l1", 0.5), ("l2", 0.5), ("elasticnet", 0.3)]


def _model(bk_or_backend="numpy", dtype="float64", seed=3, device=None):
    layers = [ann.Layer(4, 5, "tanh"), ann.Layer(5, 4, "tanh"), ann.Layer(4, 3, "softmax")]
    if isinstance(bk_or_backend, str):
        return ann.Model(layers, backend=bk_or_backend, dtype=dtype, device=device, seed=seed)
    return bk_or_backend.model(layers, seed=seed)


def _data(n=6):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)


@pytest.mark.parametrize("method,r", PENALTIES)
def test_gradcheck_with_each_penalty(bk64, method, r):
    model = _model(bk64)
    X, y = _data()
    # L1 has a kink at 0: the finite differences must not straddle it.
    assert min(float(np.min(np.abs(ann.to_numpy(layer.W)))) for layer in model.layers) > 1e-4
    solver = ann.Solver(regularization=ann.Regularization(method, lam=0.05, r=r))
    result = ann.gradcheck(model, X, y, solver)
    assert result.max_relative_error < 1e-6, result


@pytest.mark.parametrize("method,r", PENALTIES)
def test_penalty_value_and_gradient_by_hand(method, r):
    model = _model()
    X, y = _data()
    lam = 0.05
    plain = ann.Solver()
    penalized = ann.Solver(regularization=ann.Regularization(method, lam=lam, r=r))
    cache = model.forward(X)
    loss0, gW0, gb0 = model.backward(cache, y, plain)
    loss1, gW1, gb1 = model.backward(cache, y, penalized)
    l1_share = {"l1": 1.0, "l2": 0.0, "elasticnet": r}[method]
    Ws = [ann.to_numpy(layer.W) for layer in model.layers]
    expected = lam * sum(l1_share * np.abs(W).sum() + (1 - l1_share) * 0.5 * (W**2).sum() for W in Ws)
    assert float(loss1) - float(loss0) == pytest.approx(expected, rel=1e-12)
    for W, a, b in zip(Ws, gW0, gW1):
        np.testing.assert_allclose(b - a, lam * (l1_share * np.sign(W) + (1 - l1_share) * W), rtol=1e-10, atol=1e-14)
    for a, b in zip(gb0, gb1):
        np.testing.assert_array_equal(a, b)  # biases are never penalized


def test_penalty_is_in_the_reported_losses(iris_split):
    Xtr, Xte, ytr, yte = iris_split
    reg = ann.Regularization("l2", lam=0.1)
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", dtype="float64", seed=0)
    history = model.fit(Xtr, ytr, solver=ann.Solver(regularization=reg), settings=ann.Settings(epochs=1, verbose=0),
                        validation_data=(Xte, yte))
    data_loss, _ = model.evaluate(Xte, yte)
    W = model.layers[0].W
    assert history.val_loss[-1] == pytest.approx(data_loss + 0.05 * float(np.sum(W * W)), rel=1e-10)


def test_l2_shrinks_the_weights(iris_split):
    Xtr, _, ytr, _ = iris_split
    norms = []
    for lam in (0.0, 0.05):
        model = ann.Model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], backend="numpy", seed=0)
        solver = ann.Solver(learning_rate=0.1, regularization=ann.Regularization("l2", lam=lam))
        model.fit(Xtr, ytr, solver=solver, settings=ann.Settings(epochs=60, batch_size=16, verbose=0))
        norms.append(sum(float(np.sum(layer.W**2)) for layer in model.layers))
    assert norms[1] < 0.7 * norms[0]


def test_l1_makes_weights_sparse(iris_split):
    Xtr, _, ytr, _ = iris_split
    small = []
    for lam in (0.0, 0.02):
        model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", dtype="float64", seed=0)
        solver = ann.Solver(learning_rate=0.05, regularization=ann.Regularization("l1", lam=lam))
        model.fit(Xtr, ytr, solver=solver, settings=ann.Settings(epochs=100, batch_size=16, verbose=0))
        small.append(int(np.sum(np.abs(model.layers[0].W) < 0.01)))
    assert small[1] > small[0]


# ---------------------------------------------------------------------------------------------------
# dropout


def test_dropout_keeps_the_expected_activation(bk):
    p = 0.3
    model = bk.model([ann.Layer(4, 50, "sigmoid"), ann.Layer(50, 3, "softmax")])
    X = np.random.default_rng(1).normal(size=(4000, 4))
    cache = model.forward(X, training=True, dropout=p)
    A = ann.to_numpy(cache[0][1])
    dropped = ann.to_numpy(cache.inputs[1])
    mask = ann.to_numpy(cache.masks[0])
    # The mask is 0 or 1 / (1 - p), and about a fraction p of it is 0.
    values = np.unique(np.round(mask, 5))
    np.testing.assert_allclose(values, [0.0, 1.0 / (1.0 - p)], rtol=1e-5)
    assert np.mean(mask == 0) == pytest.approx(p, abs=0.01)  # 200000 draws: std 0.001
    # Inverted scaling: per unit, the mean over samples is unchanged (within sampling noise).
    ratio = dropped.mean(axis=0) / A.mean(axis=0)
    assert np.all(np.abs(ratio - 1.0) < 0.06), ratio
    assert dropped.mean() / A.mean() == pytest.approx(1.0, abs=0.01)
    # The output layer never drops.
    assert cache.masks[-1] is None


def test_dropout_masks_differ_between_batches_and_repeat_with_the_seed(bk):
    X = np.random.default_rng(2).normal(size=(32, 4))

    def masks(seed):
        model = _model(bk, seed=seed)
        return [ann.to_numpy(model.forward(X, training=True, dropout=0.5).masks[0]) for _ in range(2)]

    first, second = masks(seed=11)
    assert not np.array_equal(first, second)
    again = masks(seed=11)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, masks(seed=12)[0])


def test_dropout_masks_are_the_same_on_every_backend():
    X = np.random.default_rng(2).normal(size=(16, 4))
    ref = ann.to_numpy(_model("numpy").forward(X, training=True, dropout=0.4).masks[0])
    other = _model("array_api_strict", device="device1").forward(X, training=True, dropout=0.4).masks[0]
    np.testing.assert_array_equal(ann.to_numpy(other), ref)


def test_prediction_is_deterministic_after_training_with_dropout(bk, iris_split):
    Xtr, Xte, ytr, yte = iris_split
    model = bk.model([ann.Layer(4, 16, "relu"), ann.Layer(16, 3, "softmax")])
    solver = ann.Solver(optimizer="adam", regularization=ann.Regularization(dropout=0.5))
    model.fit(Xtr, ytr, solver=solver, settings=ann.Settings(epochs=3, verbose=0))
    first = ann.to_numpy(model.predict_proba(Xte))
    for _ in range(3):
        np.testing.assert_array_equal(ann.to_numpy(model.predict_proba(Xte)), first)
    np.testing.assert_array_equal(ann.to_numpy(model.forward(Xte).output), first)
    np.testing.assert_array_equal(ann.to_numpy(model.forward(Xte, training=False, dropout=0.5).output), first)


def test_dropout_backward_matches_finite_differences_for_a_fixed_mask():
    model = _model()
    backend = model.backend
    X, y = _data(8)
    solver = ann.Solver(loss="crossentropy", regularization=ann.Regularization("l2", lam=0.01, dropout=0.4))
    T = np.eye(3)[y]
    start = backend.get_rng_state()

    def loss_and_grads():
        backend.set_rng_state(start)  # the same masks on every evaluation
        cache = model._forward(backend.asarray(X), 0.4)
        return ann.network.backward(
            model.layers, model.parameters(), cache, backend.asarray(T), solver.loss, solver.regularization, xp=model.xp
        )

    _, grads_W, grads_b = loss_and_grads()
    assert any(m is not None and np.any(ann.to_numpy(m) == 0) for m in model._forward(backend.asarray(X), 0.4).masks)
    eps = 1e-6
    for layer, gW, gb in zip(model.layers, grads_W, grads_b):
        for name, analytic in (("W", gW), ("b", gb)):
            original = ann.to_numpy(getattr(layer, name)).copy()
            numeric = np.zeros_like(original)
            for idx in np.ndindex(original.shape):
                for sign in (1, -1):
                    shifted = original.copy()
                    shifted[idx] += sign * eps
                    setattr(layer, name, shifted)
                    numeric[idx] += sign * float(loss_and_grads()[0]) / (2 * eps)
            setattr(layer, name, original)
            np.testing.assert_allclose(ann.to_numpy(analytic), numeric, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"r": 1.5}, "r"),
        ({"method": "l2", "lam": -1.0}, "lam"),
        ({"method": "l3"}, "method"),
    ],
)
def test_bad_values_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        ann.Regularization(**kwargs)


def test_method_names():
    with pytest.raises(ValueError, match=r"expected one of \['none', 'l1', 'l2', 'elasticnet'\]"):
        ann.Regularization("ridge")
    with pytest.raises(TypeError, match="`method`"):
        ann.Regularization(2)
    assert ann.Regularization("Elastic_Net").method == "elasticnet"
    assert ann.Regularization("L1").method == "l1"
    assert ann.Regularization(None).method == "none"
    assert ann.Solver(regularization={"method": "l2", "lam": 0.1}).regularization.lam == 0.1


def test_forward_checks_the_dropout_rate():
    model = _model()
    with pytest.raises(ValueError, match="`dropout`"):
        model.forward(np.zeros((2, 4)), training=True, dropout=1.0)
