"""``Solver(optimizer="lbfgs")``: full-batch L-BFGS through the library's own fit, on every backend."""

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.backend import to_numpy


def _iris():
    X, y = ann.datasets.load_iris()
    return (X - X.mean(0)) / X.std(0), y


def test_lbfgs_trains_iris_through_fit(bk):
    X, y = _iris()
    model = bk.model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")])
    history = model.fit(X, y, ann.Solver(optimizer="lbfgs"), ann.Settings(epochs=60, verbose=0), validation_data=(X, y))
    assert history.epochs >= 10 and history.loss[-1] < 0.2 * history.loss[0]
    assert all(b <= a + 1e-6 for a, b in zip(history.loss, history.loss[1:]))  # every step decreases the loss
    assert history.accuracy[-1] > 0.95 and len(history.val_loss) == history.epochs
    assert model.optimizer_state_["t"] == history.epochs


def test_lbfgs_matches_numpy_on_every_backend(any_backend):
    X, y = _iris()
    layers = lambda: [ann.Layer(4, 6, "tanh"), ann.Layer(6, 3, "softmax")]  # noqa: E731
    reference = ann.Model(layers(), backend="numpy", dtype=any_backend.dtype, seed=0)
    histories = [
        model.fit(X, y, ann.Solver(optimizer="lbfgs"), ann.Settings(epochs=5, verbose=0)).loss
        for model in (reference, any_backend.model(layers()))
    ]
    tol = 1e-8 if any_backend.dtype == "float64" else 1e-3
    np.testing.assert_allclose(histories[1], histories[0], rtol=tol)


def test_lbfgs_callbacks_stop_it_and_it_saves(tmp_path):
    X, y = _iris()
    model = ann.Model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], backend="numpy", dtype="float64", seed=0)
    settings = ann.Settings(epochs=200, verbose=0, early_stopping=ann.EarlyStopping(patience=2, monitor="loss", min_delta=0.05))
    history = model.fit(X, y, ann.Solver(optimizer="lbfgs", regularization=ann.Regularization("l2", lam=1e-3)), settings)
    assert history.stop_reason.startswith("early stopping") and history.epochs < 200
    ann.save(model, tmp_path / "m.npz")
    loaded = ann.load(tmp_path / "m.npz")
    assert loaded.solver_.optimizer.name == "lbfgs"
    np.testing.assert_array_equal(to_numpy(loaded.predict_proba(X)), to_numpy(model.predict_proba(X)))


def test_lbfgs_refuses_what_does_not_apply():
    X, y = _iris()
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="cannot take dropout"):
        model.fit(X, y, ann.Solver(optimizer="lbfgs", regularization=ann.Regularization(dropout=0.1)))
    with pytest.raises(ValueError, match="cannot take clip_norm"):
        model.fit(X, y, ann.Solver(optimizer="lbfgs", clip_norm=1.0))
    with pytest.raises(TypeError, match="no mini-batch steps"):
        ann.optimizers.get("lbfgs").step([], [], {"t": 0}, 0.1, xp=np)
