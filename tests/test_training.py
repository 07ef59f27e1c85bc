"""Training end to end: XOR, iris, regression, reproducibility, and rows staying paired in batches."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anyarray_nn as ann
from anyarray_nn.preprocessing import StandardScaler, train_test_split


def _accuracy(model, X, y):
    return float(np.mean(ann.to_numpy(model.predict(X)) == y))


def test_xor_is_learned(bk):
    X, y = ann.datasets.make_xor()
    model = bk.model([ann.Layer(2, 8, "tanh"), ann.Layer(8, 1, "sigmoid")], seed=0)
    history = model.fit(X, y, ann.Solver(learning_rate=0.5), ann.Settings(epochs=1000, batch_size=4, verbose=0))
    assert _accuracy(model, X, y) == 1.0
    assert history.accuracy[-1] == 1.0
    assert history.loss[-1] < 0.1


def test_iris_hold_out_accuracy(bk, iris_split):
    """At least 95% on a stratified 30% hold-out, on every backend."""
    Xtr, Xte, ytr, yte = iris_split
    model = bk.model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], seed=0)
    history = model.fit(
        Xtr, ytr, ann.Solver(learning_rate=0.1), ann.Settings(epochs=200, batch_size=16, verbose=0),
        validation_data=(Xte, yte),
    )
    assert _accuracy(model, Xte, yte) >= 0.95
    assert len(history.loss) == len(history.val_loss) == len(history.val_accuracy) == 200
    assert history.loss[-1] < history.loss[0]


def test_iris_over_many_splits():
    """Not one lucky split: the mean hold-out accuracy over ten stratified splits is at least 95%."""
    X, y = ann.datasets.load_iris()
    accs = []
    for seed in range(10):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, seed=seed)
        scaler = StandardScaler().fit(Xtr)
        model = ann.Model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], backend="numpy", seed=seed)
        model.fit(scaler.transform(Xtr), ytr, ann.Solver(learning_rate=0.1), ann.Settings(epochs=200, batch_size=16, verbose=0))
        accs.append(_accuracy(model, scaler.transform(Xte), yte))
    assert np.mean(accs) >= 0.95, accs
    assert min(accs) >= 0.85, accs


def test_iris_labels_stay_with_their_rows():
    """The shipped iris pairs each flower with its species (a mis-paired loader caps accuracy near 83%)."""
    X, y = ann.datasets.load_iris()
    assert X.shape == (150, 4) and y.shape == (150,)
    assert np.bincount(y).tolist() == [50, 50, 50]
    # Setosa is separable by petal length alone: every setosa is below 2 cm, every other flower above 2.9.
    assert X[y == 0, 2].max() < 2.0 < 2.9 < X[y != 0, 2].min()


def test_regression(bk):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(256, 2))
    y = X[:, 0] * 2.0 - X[:, 1] + 0.5
    model = bk.model([ann.Layer(2, 16, "tanh"), ann.Layer(16, 1, "linear")], seed=0)
    history = model.fit(X, y, ann.Solver(learning_rate=0.05), ann.Settings(epochs=100, batch_size=32, verbose=0))
    pred = ann.to_numpy(model.predict(X))
    assert pred.shape == (256,)
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.1
    assert history.accuracy == []


def test_same_seed_same_history_numpy_and_strict(iris_split):
    pytest.importorskip("array_api_strict")
    Xtr, Xte, ytr, yte = iris_split
    runs = []
    for backend, device in (("numpy", None), ("array_api_strict", "device1")):
        model = ann.Model([ann.Layer(4, 6, "relu"), ann.Layer(6, 3, "softmax")], backend=backend, device=device,
                          dtype="float64", seed=7)
        W0 = ann.to_numpy(model.layers[0].W).copy()
        history = model.fit(Xtr, ytr, ann.Solver(learning_rate=0.1, regularization=ann.Regularization(dropout=0.2)),
                            ann.Settings(epochs=15, batch_size=10, verbose=0))
        runs.append((W0, history.loss, ann.to_numpy(model.layers[1].W)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-12)
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-10)


def test_same_seed_same_initial_weights_everywhere(bk):
    layers = lambda: [ann.Layer(5, 7, "relu", distribution="uniform"), ann.Layer(7, 2, "softmax")]  # noqa: E731
    reference = ann.Model(layers(), backend="numpy", dtype="float64", seed=42)
    model = bk.model(layers(), seed=42)
    for a, b in zip(reference.parameters(), model.parameters()):
        np.testing.assert_allclose(ann.to_numpy(b), ann.to_numpy(a), rtol=bk.rtol, atol=bk.atol)
    other = bk.model(layers(), seed=43)
    assert not np.allclose(ann.to_numpy(other.layers[0].W), ann.to_numpy(model.layers[0].W))


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=60),
    batch_size=st.integers(min_value=1, max_value=70),
    seed=st.integers(min_value=0, max_value=2**16),
    shuffle=st.booleans(),
)
def test_batches_keep_rows_paired(n, batch_size, seed, shuffle):
    """Every mini-batch row of X meets its own target, and every sample is seen once per epoch."""
    X = np.stack([np.arange(n, dtype=float), -np.arange(n, dtype=float)], axis=1)
    y = np.arange(n, dtype=float) * 10.0
    model = ann.Model([ann.Layer(2, 1, "linear")], backend="numpy", dtype="float64", seed=seed)
    seen = []
    original = ann.network.backward

    def spy(layers, params, cache, T, *args, **kwargs):
        seen.append((cache.X.copy(), np.asarray(T).copy()))
        return original(layers, params, cache, T, *args, **kwargs)

    # hypothesis runs the body many times: patch by hand rather than with a function-scoped fixture
    ann.network.backward = spy
    try:
            model.fit(X, y, ann.Solver(learning_rate=1e-6), ann.Settings(epochs=2, batch_size=batch_size, shuffle=shuffle, verbose=0))
    finally:
        ann.network.backward = original
    per_epoch = -(-n // batch_size)
    assert len(seen) == 2 * per_epoch
    for epoch in range(2):
        rows = []
        for Xb, Tb in seen[epoch * per_epoch : (epoch + 1) * per_epoch]:
            assert Xb.shape[0] == Tb.shape[0] <= batch_size
            np.testing.assert_array_equal(Tb[:, 0], Xb[:, 0] * 10.0)
            np.testing.assert_array_equal(Xb[:, 1], -Xb[:, 0])
            rows += Xb[:, 0].tolist()
        assert sorted(rows) == list(range(n))


def test_shuffling_changes_the_order_between_epochs(monkeypatch):
    X = np.arange(40, dtype=float)[:, None]
    model = ann.Model([ann.Layer(1, 1, "linear")], backend="numpy", dtype="float64", seed=0)
    orders = []
    original = ann.network.backward
    monkeypatch.setattr(
        ann.network, "backward", lambda ls, ps, cache, *a, **k: (orders.append(cache.X[:, 0].tolist()), original(ls, ps, cache, *a, **k))[1]
    )
    model.fit(X, X[:, 0], ann.Solver(learning_rate=1e-6), ann.Settings(epochs=2, batch_size=40, verbose=0))
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])


def test_one_host_read_per_epoch(monkeypatch, iris_split):
    """Losses and accuracies accumulate on the device; the host reads them once per epoch."""
    from anyarray_nn import backend as backend_module

    Xtr, Xte, ytr, yte = iris_split
    model = ann.Model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], backend="numpy", seed=0)
    model.fit(Xtr, ytr, settings=ann.Settings(epochs=1, verbose=0))  # warm up
    calls = []
    real = backend_module.Backend.to_numpy
    monkeypatch.setattr(backend_module.Backend, "to_numpy", lambda self, x: (calls.append(1), real(self, x))[1])
    model.fit(Xtr, ytr, settings=ann.Settings(epochs=5, batch_size=8, verbose=0), validation_data=(Xte, yte))
    assert len(calls) == 5


def test_default_solver_follows_the_output_activation():
    for act, loss in (("softmax", "crossentropy"), ("sigmoid", "binary_crossentropy"), ("linear", "mse")):
        model = ann.Model([ann.Layer(2, 2, act)], backend="numpy")
        from anyarray_nn.training import default_solver

        assert default_solver(model).loss.name == loss


def test_forward_cache_and_backward_shapes(bk):
    model = bk.model([ann.Layer(4, 5, "relu"), ann.Layer(5, 6, "tanh"), ann.Layer(6, 3, "softmax")])
    X = np.random.default_rng(0).normal(size=(7, 4))
    cache = model.forward(X)
    assert [tuple(Z.shape) for Z, _ in cache] == [(7, 5), (7, 6), (7, 3)]
    assert [tuple(A.shape) for _, A in cache] == [(7, 5), (7, 6), (7, 3)]
    loss, grads_W, grads_b = model.backward(cache, np.array([0, 1, 2, 0, 1, 2, 0]))
    assert [tuple(g.shape) for g in grads_W] == [(4, 5), (5, 6), (6, 3)]
    assert [tuple(g.shape) for g in grads_b] == [(5,), (6,), (3,)]
    assert float(ann.to_numpy(loss)) > 0
    # Arrays stay on the model's backend, device and dtype.
    for g in grads_W + grads_b + [cache.output]:
        assert g.dtype == model.backend.dtype
        assert g.device == model.device
    probs = ann.to_numpy(model.predict_proba(X))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert ann.to_numpy(model.predict(X)).shape == (7,)


def test_predict_in_chunks_matches_one_pass():
    model = ann.Model([ann.Layer(3, 4, "relu"), ann.Layer(4, 2, "softmax")], backend="numpy", dtype="float64", seed=0)
    X = np.random.default_rng(1).normal(size=(103, 3))
    np.testing.assert_allclose(model.predict_proba(X, batch_size=10), model.predict_proba(X), rtol=1e-12)


def test_weights_are_assignable(bk):
    model = bk.model([ann.Layer(2, 2, "linear")])
    model.layers[0].W = np.array([[1.0, 2.0], [3.0, 4.0]])
    model.layers[0].b = np.array([0.5, -0.5])
    out = ann.to_numpy(model.predict(np.array([[1.0, 1.0]])))
    np.testing.assert_allclose(out, [[4.5, 5.5]], rtol=1e-6)
    assert model.layers[0].W.device == model.device
    with pytest.raises(ValueError, match="Layer.W must have shape"):
        model.layers[0].W = np.zeros((3, 2))


def test_move_model_between_backends(bk):
    X = np.random.default_rng(0).normal(size=(5, 3))
    model = ann.Model([ann.Layer(3, 4, "tanh"), ann.Layer(4, 2, "softmax")], backend="numpy", dtype=bk.dtype, seed=0)
    before = ann.to_numpy(model.predict_proba(X))
    model.to(bk.backend, device=bk.device)
    assert model.backend.name == bk.backend
    after = ann.to_numpy(model.predict_proba(X))
    np.testing.assert_allclose(after, before, rtol=bk.rtol, atol=bk.atol)
