"""TrainingDiagnostics: per-layer gradient norm, update-to-weight ratio and dead ReLU share, once per epoch.

The values are checked against a hand computation in NumPy on a tiny network; the callback reads the
device once per epoch and never during the batches.
"""

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.diagnostics import TrainingDiagnostics


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _hand_gradients(W1, b1, W2, b2, X, Y):
    """Loss gradients of a relu -> softmax network with mean cross-entropy, by hand."""
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0.0)
    A2 = _softmax(A1 @ W2 + b2)
    dZ2 = (A2 - Y) / X.shape[0]
    dW2, db2 = A1.T @ dZ2, dZ2.sum(axis=0)
    dZ1 = (dZ2 @ W2.T) * (Z1 > 0)
    dW1, db1 = X.T @ dZ1, dZ1.sum(axis=0)
    return Z1, (dW1, db1, dW2, db2)


def _tiny(bk):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2))
    y = np.array([0, 1, 2, 0, 1, 2])
    model = bk.model([ann.Layer(2, 4, "relu"), ann.Layer(4, 3, "softmax")], seed=0)
    b1 = np.zeros(4)
    b1[0] = -50.0  # unit 1 is dead on every row, and stays dead: no gradient reaches it
    model.layers[0].b = b1
    return model, X, y


def test_values_match_a_hand_computation(bk):
    model, X, y = _tiny(bk)
    Y = np.eye(3)[y]
    params = [ann.to_numpy(p).astype(np.float64) for p in model.parameters()]
    lr = 0.5
    diagnostics = TrainingDiagnostics(X, y)
    # One full batch per epoch, in order: each epoch is one plain gradient step.
    model.fit(X, y, ann.Solver(optimizer="sgd", learning_rate=lr), ann.Settings(epochs=2, batch_size=6, shuffle=False, verbose=0),
              callbacks=[diagnostics])
    assert diagnostics.epochs == [1, 2]
    assert diagnostics.steps_per_epoch == 1
    assert diagnostics.layer_names == ["1 relu (2->4)", "2 softmax (4->3)"]
    rtol = 1e-10 if bk.dtype == "float64" else 2e-4
    W1, b1, W2, b2 = params
    for e in range(2):
        _, (dW1, db1, dW2, db2) = _hand_gradients(W1, b1, W2, b2, X, Y)
        new = (W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2)
        expected_ratio = [np.linalg.norm(new[0] - W1) / np.linalg.norm(W1), np.linalg.norm(new[2] - W2) / np.linalg.norm(W2)]
        W1, b1, W2, b2 = new
        Z1, (gW1, _, gW2, _) = _hand_gradients(W1, b1, W2, b2, X, Y)  # at the weights the epoch ended with
        np.testing.assert_allclose(diagnostics.grad_norm[e], [np.linalg.norm(gW1), np.linalg.norm(gW2)], rtol=rtol)
        np.testing.assert_allclose(diagnostics.update_ratio[e], expected_ratio, rtol=rtol)
        np.testing.assert_allclose(diagnostics.weight_norm[e], [np.linalg.norm(W1), np.linalg.norm(W2)], rtol=rtol)
        dead = np.mean(np.all(Z1 <= 0, axis=0))
        assert dead >= 0.25  # the silenced unit at least
        assert diagnostics.dead_relu[e][0] == pytest.approx(dead)
        assert np.isnan(diagnostics.dead_relu[e][1])  # softmax layer: not a ReLU


def test_probe_is_capped_and_penalty_counts():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    model = ann.Model([ann.Layer(3, 5, "tanh"), ann.Layer(5, 1, "sigmoid")], backend="numpy", dtype="float64", seed=0)
    solver = ann.Solver(learning_rate=0.1, regularization=ann.Regularization("l2", lam=0.3))
    diagnostics = TrainingDiagnostics(X, y, max_samples=10)
    model.fit(X, y, solver, ann.Settings(epochs=1, batch_size=50, shuffle=False, verbose=0), callbacks=[diagnostics])
    # The gradient is the one of the first 10 rows, with the penalty's lam * W.
    cache = model.forward(X[:10])
    _, grads_W, _ = model.backward(cache, y[:10], solver)
    np.testing.assert_allclose(diagnostics.grad_norm[0], [np.linalg.norm(g) for g in grads_W], rtol=1e-12)
    assert all(np.isnan(v) for v in diagnostics.dead_relu[0])
    record = diagnostics.as_dict()
    assert record["epoch"] == [1] and record["layers"] == diagnostics.layer_names and record["steps_per_epoch"] == 1


def test_one_host_read_per_epoch_and_none_per_batch(monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(64, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)

    def reads(callbacks):
        model = ann.Model([ann.Layer(2, 8, "relu"), ann.Layer(8, 2, "softmax")], backend="numpy", seed=0)
        count = {"n": 0}
        original = model.backend.to_numpy

        def counting(x):
            count["n"] += 1
            return original(x)

        monkeypatch.setattr(model.backend, "to_numpy", counting)
        model.fit(X, y, ann.Solver(learning_rate=0.1), ann.Settings(epochs=3, batch_size=8, verbose=0), callbacks=callbacks)
        return count["n"]

    # 8 batches per epoch, 3 epochs: the callback adds exactly one read per epoch.
    assert reads([TrainingDiagnostics(X[:32], y[:32])]) - reads([]) == 3


def test_runs_on_a_device_without_implicit_host_transfers():
    pytest.importorskip("array_api_strict")
    X, y = ann.datasets.make_moons(60, seed=0)
    model = ann.Model([ann.Layer(2, 6, "relu"), ann.Layer(6, 1, "sigmoid")], backend="array_api_strict", device="device1", seed=0)
    diagnostics = TrainingDiagnostics(X, y)
    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=2, batch_size=16, verbose=0),
              callbacks=[diagnostics])
    assert len(diagnostics.grad_norm) == 2 and all(np.isfinite(diagnostics.grad_norm[-1]))
    assert diagnostics.steps_per_epoch == 4


def test_plot_diagnostics_writes_a_png(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    X, y = ann.datasets.make_spirals(90, seed=0)
    model = ann.Model([ann.Layer(2, 8, "relu"), ann.Layer(8, 8, "relu"), ann.Layer(8, 3, "softmax")], backend="numpy", seed=0)
    diagnostics = TrainingDiagnostics(X, y)
    model.fit(X, y, ann.Solver(learning_rate=0.1), ann.Settings(epochs=3, batch_size=30, verbose=0), callbacks=[diagnostics])
    path = ann.plotting.plot_diagnostics(diagnostics, tmp_path / "d.png")
    image = matplotlib_image.imread(path)
    assert image.shape[:2] == (750, 1200) and float(np.var(image[..., :3])) > 0
    ann.plotting.plot_diagnostics(diagnostics.as_dict(), tmp_path / "from_dict.png")
    with pytest.raises(ValueError, match="no recorded epochs"):
        ann.plotting.plot_diagnostics(TrainingDiagnostics(X, y), tmp_path / "empty.png")
    with pytest.raises(TypeError, match="`diagnostics` must be a TrainingDiagnostics"):
        ann.plotting.plot_diagnostics([1, 2], tmp_path / "bad.png")


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="`max_samples` must be a positive integer"):
        TrainingDiagnostics(np.zeros((2, 2)), [0, 1], max_samples=0)
    with pytest.raises(TypeError, match="probe rows `X` and their targets `y`"):
        TrainingDiagnostics(None, [0, 1])
    model = ann.Model([ann.Layer(2, 3, "relu"), ann.Layer(3, 2, "softmax")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="diagnostics probe"):
        model.fit(np.zeros((4, 2)), [0, 1, 0, 1], settings=ann.Settings(epochs=1, verbose=0),
                  callbacks=[TrainingDiagnostics(np.zeros((4, 3)), [0, 1, 0, 1])])
