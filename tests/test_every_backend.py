"""One workflow on every backend of ``any_backend`` (NumPy, array_api_strict on both devices, torch,
JAX, Dask): construct, train with dropout, predict on host and native inputs, save and load both ways,
move, copy and the scikit-learn estimator, with the losses of NumPy to float tolerance.
"""

import copy

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.backend import to_numpy


def _iris():
    X, y = ann.datasets.load_iris()
    return (X - X.mean(0)) / X.std(0), y


def _layers():
    return [ann.Layer(4, 8, "relu"), ann.Layer(8, 3, "softmax")]


def _solver(optimizer):
    return ann.Solver(optimizer=optimizer, learning_rate=0.05, regularization=ann.Regularization(dropout=0.2))


SETTINGS = dict(epochs=2, batch_size=32, verbose=0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
def test_training_matches_numpy(any_backend, optimizer):
    X, y = _iris()
    reference = ann.Model(_layers(), backend="numpy", dtype=any_backend.dtype, seed=0)
    ref = reference.fit(X, y, _solver(optimizer), ann.Settings(**SETTINGS))
    model = any_backend.model(_layers())
    history = model.fit(any_backend.asarray(X), y, _solver(optimizer), ann.Settings(**SETTINGS))
    np.testing.assert_allclose(history.loss, ref.loss, rtol=any_backend.rtol, atol=any_backend.atol)
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(to_numpy(p), to_numpy(q), rtol=any_backend.rtol * 10, atol=any_backend.atol * 10)


def test_construct_by_namespace(any_backend):
    backend = any_backend.make()
    model = ann.Model(_layers(), backend=backend.xp, device=any_backend.device, dtype=any_backend.dtype, seed=0)
    assert model.backend.name == any_backend.backend


def test_predict_save_load_move_and_copy(any_backend, tmp_path):
    X, y = _iris()
    model = any_backend.model(_layers())
    model.fit(X, y, _solver("adam"), ann.Settings(**SETTINGS))
    host_proba = to_numpy(model.predict_proba(X))
    native_proba = to_numpy(model.predict_proba(any_backend.asarray(X)))
    np.testing.assert_allclose(native_proba, host_proba, rtol=any_backend.rtol, atol=any_backend.atol)
    labels = to_numpy(model.predict(any_backend.asarray(X)))
    assert labels.shape == (150,) and (labels == y).mean() > 0.6

    ann.save(model, tmp_path / "m.npz")
    on_numpy = ann.load(tmp_path / "m.npz", backend="numpy")
    np.testing.assert_allclose(to_numpy(on_numpy.predict_proba(X)), host_proba, rtol=any_backend.rtol, atol=any_backend.atol)
    ann.save(on_numpy, tmp_path / "n.npz")
    back = ann.load(tmp_path / "n.npz", backend=any_backend.backend, device=any_backend.device)
    np.testing.assert_allclose(to_numpy(back.predict_proba(X)), host_proba, rtol=any_backend.rtol, atol=any_backend.atol)
    # A loaded model goes on training where it stopped.
    back.fit(X, y, settings=ann.Settings(**SETTINGS))

    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(to_numpy(twin.predict_proba(X)), host_proba)
    model.to("numpy")
    np.testing.assert_allclose(to_numpy(model.predict_proba(X)), host_proba, rtol=any_backend.rtol, atol=any_backend.atol)
    assert model.optimizer_state_ is not None
    model.fit(X, y, settings=ann.Settings(**SETTINGS))  # the moved optimizer state fits


def test_sklearn_estimator_on_the_backend(any_backend):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from anyarray_nn.sklearn import MLPClassifier

    X, y = _iris()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, backend=any_backend.backend, device=any_backend.device,
                        dtype=any_backend.dtype, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 5 iterations
        clf.fit(X, y)
    assert clf.predict(X).shape == (150,) and clf.predict_proba(X).shape == (150, 3)


def test_ndonnx_predicts_and_loads(tmp_path):
    ndx = pytest.importorskip("ndonnx", reason="ndonnx is not installed")
    X, y = _iris()
    model = ann.Model(_layers(), backend="numpy", dtype="float64", seed=0)
    model.fit(X, y, _solver("adam"), ann.Settings(**SETTINGS))
    ann.save(model, tmp_path / "m.npz")
    onnx_model = ann.load(tmp_path / "m.npz", backend="ndonnx")
    assert onnx_model.backend.name == "ndonnx"
    rows = X[:5]
    np.testing.assert_allclose(to_numpy(onnx_model.predict_proba(rows)), to_numpy(model.predict_proba(rows)), rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(onnx_model.predict(ndx.asarray(rows))), to_numpy(model.predict(rows)))
