"""Cross-entropy on class labels: ``SparseCrossEntropy`` and ``Backend.subtract_one_hot``.

A compiled ``fit`` given class labels takes them as the step's targets instead of their one-hot rows;
the loss, its gradients and the trained weights are those of ``CrossEntropy`` on the one-hot rows.
"""

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import backend as backend_module
from anyarray_nn import losses


def _host(x):
    return ann.to_numpy(x)


def _problem(seed=0, n=7, k=4):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, k)) * 3.0
    labels = rng.integers(0, k, n)
    labels[:k] = np.arange(k)  # every class at least once
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    return Z, P, labels, np.eye(k)[labels]


def test_subtract_one_hot_on_every_backend(any_backend):
    b = any_backend.make()
    _, P, labels, Y = _problem()
    out = b.subtract_one_hot(b.asarray(P), any_backend.asarray(labels))
    assert tuple(out.shape) == P.shape and out.dtype == b.dtype
    np.testing.assert_allclose(_host(out), P - Y, rtol=any_backend.rtol, atol=any_backend.atol)


def test_subtract_one_hot_generic_form_matches_the_jax_scatter():
    pytest.importorskip("jax", reason="jax is not installed")
    import jax

    b = ann.Backend("jax", dtype="float32")
    _, P, labels, _ = _problem(seed=1)
    A, y = b.asarray(P), b.xp.asarray(labels)
    generic = backend_module.Library.subtract_one_hot(b.library, b.xp, A, y)
    scattered = jax.jit(b.subtract_one_hot)(A, y)  # inside compiled code, where it is used
    np.testing.assert_array_equal(_host(scattered), _host(generic))


def test_sparse_crossentropy_is_crossentropy_on_one_hot_rows(any_backend):
    b = any_backend.make()
    xp = b.xp
    Z, P, labels, Y = _problem(seed=2)
    dense = losses.CrossEntropy()
    sparse = dense.on_labels(labels.shape, Y.shape[1], b.subtract_one_hot)
    assert isinstance(sparse, losses.SparseCrossEntropy) and sparse.name == "crossentropy"
    Zb, Pb, Yb, yb = b.asarray(Z), b.asarray(P), b.asarray(Y), any_backend.asarray(labels)
    tol = {"rtol": any_backend.rtol, "atol": any_backend.atol}
    for method, first in (("value", Pb), ("gradient", Pb), ("value_from_logits", Zb), ("fused_gradient", Pb)):
        got = _host(b.materialize(getattr(sparse, method)(first, yb, xp=xp)))
        expected = _host(b.materialize(getattr(dense, method)(first, Yb, xp=xp)))
        np.testing.assert_allclose(got, expected, **tol, err_msg=method)
    # The fused gradient against its formula, worked out on the host: (P - one_hot) / n.
    np.testing.assert_allclose(
        _host(b.materialize(sparse.fused_gradient(Pb, yb, xp=xp))), (P - Y) / len(labels), **tol
    )


@pytest.mark.parametrize(
    "shape, n_outputs, expected",
    [((5,), 3, True), ((5, 1), 3, True), ((5, 3), 3, False), ((5, 1), 1, False)],
)
def test_only_class_labels_take_the_labels_form(shape, n_outputs, expected):
    form = losses.CrossEntropy().on_labels(shape, n_outputs, lambda A, y: A)
    assert isinstance(form, losses.SparseCrossEntropy) is expected
    # Losses without a labels form, a subclass that may compute otherwise, and the form itself: None.
    assert losses.MSE().on_labels(shape, n_outputs, None) is None

    class Smoothed(losses.CrossEntropy):
        pass

    assert Smoothed().on_labels(shape, n_outputs, None) is None
    assert losses.SparseCrossEntropy(None).on_labels(shape, n_outputs, None) is None


def _fit(y, compile="auto", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    model = ann.Model([ann.Layer(5, 8, "relu"), ann.Layer(8, 3, "softmax")], backend="jax", dtype="float64", seed=0)
    solver = ann.Solver(optimizer="sgd", learning_rate=0.1, regularization=ann.Regularization(dropout=0.1))
    history = model.fit(X, y, solver, ann.Settings(epochs=3, batch_size=16, verbose=0, compile=compile))
    return model, history


def _labels(seed=0):
    return np.random.default_rng(seed + 1).integers(0, 3, 40)


def test_compiled_fit_uses_labels_only_when_given_labels(monkeypatch):
    pytest.importorskip("jax", reason="jax is not installed")
    calls = []
    real = ann.Backend.subtract_one_hot
    monkeypatch.setattr(ann.Backend, "subtract_one_hot", lambda self, A, y: calls.append(1) or real(self, A, y))
    ann.training._COMPILED.clear()
    labels = _labels()
    _, h_labels = _fit(labels)
    assert h_labels.compiled == "jax.jit" and calls, "class labels: the compiled step subtracts the one-hot rows"
    calls.clear()
    _, h_rows = _fit(np.eye(3)[labels])
    assert h_rows.compiled == "jax.jit" and not calls, "one-hot rows given as they are keep the dense form"
    calls.clear()
    _fit(labels, compile=False)
    assert not calls, "eager steps keep the one-hot rows"


def test_compiled_fit_on_labels_matches_one_hot_rows_and_the_eager_fit():
    pytest.importorskip("jax", reason="jax is not installed")
    labels = _labels()
    fits = {
        "labels": _fit(labels),
        "rows": _fit(np.eye(3)[labels]),
        "eager": _fit(labels, compile=False),
    }
    ref_model, ref_history = fits["eager"]
    for name, (model, history) in fits.items():
        np.testing.assert_allclose(history.loss, ref_history.loss, rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(history.accuracy, ref_history.accuracy, rtol=0, err_msg=name)
        for p, q in zip(model.parameters(), ref_model.parameters()):
            np.testing.assert_allclose(_host(p), _host(q), rtol=1e-10, atol=1e-12, err_msg=name)


def test_probability_targets_keep_the_dense_form():
    pytest.importorskip("jax", reason="jax is not installed")
    soft = np.random.default_rng(3).dirichlet(np.ones(3), size=40)
    compiled, h_compiled = _fit(soft)
    eager, h_eager = _fit(soft, compile=False)
    np.testing.assert_allclose(h_compiled.loss, h_eager.loss, rtol=1e-10)
    for p, q in zip(compiled.parameters(), eager.parameters()):
        np.testing.assert_allclose(_host(p), _host(q), rtol=1e-10, atol=1e-12)
