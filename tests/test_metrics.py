"""Metrics against scikit-learn on random inputs, on every backend of the fixture."""

import numpy as np
import pytest
from sklearn import metrics as skm

import anyarray_nn as ann
from anyarray_nn import metrics


def _labels(seed, n=80, k=4):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    # Mostly right, sometimes wrong, so every figure is away from 0 and 1.
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
    return y_true, y_pred


def _proba(seed, n, k):
    Z = np.random.default_rng(seed).normal(size=(n, k))
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_confusion_matrix_matches_sklearn(bk, seed):
    y_true, y_pred = _labels(seed)
    C = metrics.confusion_matrix(bk.asarray(y_true), bk.asarray(y_pred))
    backend = bk.make()
    assert backend.owns(C) and C.device == backend.device
    assert C.shape == (4, 4)
    np.testing.assert_array_equal(ann.to_numpy(C), skm.confusion_matrix(y_true, y_pred))


@pytest.mark.parametrize("seed", [0, 1])
def test_precision_recall_f1_match_sklearn(bk, seed):
    y_true, y_pred = _labels(seed)
    yt, yp = bk.asarray(y_true), bk.asarray(y_pred)
    backend = bk.make()
    p, r, f, support = metrics.precision_recall_f1(yt, yp)
    for ours in (p, r, f, support):
        assert backend.owns(ours) and ours.device == backend.device
    np.testing.assert_allclose(ann.to_numpy(p), skm.precision_score(y_true, y_pred, average=None), rtol=1e-12)
    np.testing.assert_allclose(ann.to_numpy(r), skm.recall_score(y_true, y_pred, average=None), rtol=1e-12)
    np.testing.assert_allclose(ann.to_numpy(f), skm.f1_score(y_true, y_pred, average=None), rtol=1e-12)
    np.testing.assert_array_equal(ann.to_numpy(support), np.bincount(y_true, minlength=4))
    for average in ("macro", "weighted", "micro"):
        for ours, ref in (
            (metrics.precision(yt, yp, average=average), skm.precision_score),
            (metrics.recall(yt, yp, average=average), skm.recall_score),
            (metrics.f1_score(yt, yp, average=average), skm.f1_score),
        ):
            assert isinstance(ours, float)
            assert ours == pytest.approx(ref(y_true, y_pred, average=average), rel=1e-12)


def test_accuracy_matches_sklearn(bk):
    y_true, y_pred = _labels(3)
    acc = metrics.accuracy(bk.asarray(y_true), bk.asarray(y_pred))
    assert isinstance(acc, float)
    assert acc == pytest.approx(skm.accuracy_score(y_true, y_pred), rel=1e-12)


def test_rows_are_read_as_argmax(bk):
    y_true, y_pred = _labels(4)
    proba = _proba(4, len(y_pred), 4)
    proba[np.arange(len(y_pred)), y_pred] += 2.0  # the predicted class has the largest score
    one_hot = np.eye(4)[y_true]
    C = metrics.confusion_matrix(bk.asarray(one_hot), bk.asarray(proba))
    np.testing.assert_array_equal(ann.to_numpy(C), skm.confusion_matrix(y_true, y_pred))


def test_numpy_labels_with_backend_predictions(bk):
    """Test labels usually stay NumPy while predictions live on the model's backend."""
    y_true, y_pred = _labels(5)
    C = metrics.confusion_matrix(y_true, bk.asarray(y_pred))
    assert bk.make().owns(C)
    np.testing.assert_array_equal(ann.to_numpy(C), skm.confusion_matrix(y_true, y_pred))
    assert metrics.accuracy(y_true.tolist(), bk.asarray(y_pred)) == pytest.approx(skm.accuracy_score(y_true, y_pred))


def test_class_never_predicted_scores_zero(bk):
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 0, 1, 1])  # class 2 is never predicted
    p, r, f, _ = metrics.precision_recall_f1(bk.asarray(y_true), bk.asarray(y_pred))
    np.testing.assert_allclose(ann.to_numpy(p), skm.precision_score(y_true, y_pred, average=None, zero_division=0))
    np.testing.assert_allclose(ann.to_numpy(r), skm.recall_score(y_true, y_pred, average=None, zero_division=0))
    np.testing.assert_allclose(ann.to_numpy(f), skm.f1_score(y_true, y_pred, average=None, zero_division=0))


def test_n_classes_adds_empty_rows(bk):
    C = metrics.confusion_matrix(bk.asarray(np.array([0, 1, 1])), bk.asarray(np.array([0, 1, 0])), n_classes=3)
    np.testing.assert_array_equal(ann.to_numpy(C), [[1, 0, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("k", [2, 5])
def test_log_loss_matches_sklearn(bk, k):
    y_true = np.random.default_rng(k).integers(0, k, 50)
    proba = _proba(k, 50, k)
    ours = metrics.log_loss(bk.asarray(y_true), bk.asarray(proba))
    ref = skm.log_loss(y_true, proba, labels=list(range(k)))
    assert isinstance(ours, float)
    assert ours == pytest.approx(ref, rel=bk.rtol)


def test_log_loss_binary_column_of_probabilities(bk):
    y_true = np.random.default_rng(0).integers(0, 2, 40)
    p = np.random.default_rng(1).uniform(0.05, 0.95, 40)
    ref = skm.log_loss(y_true, p)
    assert metrics.log_loss(bk.asarray(y_true), bk.asarray(p)) == pytest.approx(ref, rel=bk.rtol)
    assert metrics.log_loss(bk.asarray(y_true), bk.asarray(p[:, None])) == pytest.approx(ref, rel=bk.rtol)


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regression_metrics_match_sklearn(bk, n_outputs):
    rng = np.random.default_rng(n_outputs)
    y_true = rng.normal(size=(60, n_outputs)) * 3.0 + 1.0
    y_pred = y_true + rng.normal(size=(60, n_outputs))
    if n_outputs == 1:
        y_true = y_true[:, 0]  # (n,) against (n, 1): one output, not a broadcast
    yt, yp = bk.asarray(y_true), bk.asarray(y_pred)
    ref_pred = y_pred[:, 0] if n_outputs == 1 else y_pred
    checks = [
        (metrics.r2_score, skm.r2_score),
        (metrics.mean_absolute_error, skm.mean_absolute_error),
        (metrics.root_mean_squared_error, skm.root_mean_squared_error),
        (metrics.mean_squared_error, skm.mean_squared_error),
    ]
    for ours, ref in checks:
        value = ours(yt, yp)
        assert isinstance(value, float)
        assert value == pytest.approx(ref(y_true, ref_pred), rel=bk.rtol, abs=bk.atol), ours.__name__


def test_r2_of_a_constant_target_is_finite():
    assert metrics.r2_score([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0
    assert metrics.r2_score([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0
    assert skm.r2_score([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0


def test_classification_report_text(bk):
    y_true, y_pred = _labels(6, k=3)
    names = ["setosa", "versicolor", "virginica"]
    text = metrics.classification_report(bk.asarray(y_true), bk.asarray(y_pred), class_names=names)
    lines = text.splitlines()
    assert lines[0] == "Confusion matrix (rows: actual, columns: predicted)"
    assert lines[1].split()[-3:] == names
    C = skm.confusion_matrix(y_true, y_pred)
    for i, name in enumerate(names):
        assert lines[2 + i].split() == [name] + [str(v) for v in C[i]]
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred)
    for i, name in enumerate(names):
        row = next(line for line in lines[5:] if line.startswith(name))
        assert row.split()[1:] == [f"{p[i]:.3f}", f"{r[i]:.3f}", f"{f[i]:.3f}", str(s[i])]
    macro = next(line for line in lines if line.startswith("macro avg")).split()[2:5]
    assert macro == [f"{v:.3f}" for v in skm.precision_recall_fscore_support(y_true, y_pred, average="macro")[:3]]
    weighted = next(line for line in lines if line.startswith("weighted avg")).split()[2:5]
    ref = skm.precision_recall_fscore_support(y_true, y_pred, average="weighted")[:3]
    assert weighted == [f"{v:.3f}" for v in ref]
    accuracy = next(line for line in lines if line.startswith("accuracy")).split()
    assert accuracy[1:] == [f"{skm.accuracy_score(y_true, y_pred):.3f}", str(len(y_true))]


def test_regression_report_text():
    text = metrics.regression_report([1.0, 2.0, 3.0], [1.0, 2.5, 2.5])
    assert text.splitlines()[0].split() == ["R2", f"{skm.r2_score([1, 2, 3], [1, 2.5, 2.5]):.4f}"]
    assert "MAE" in text and "RMSE" in text


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.accuracy([0, 1, 1], [0, 1]), "different numbers of samples"),
        (lambda: metrics.confusion_matrix([0, -1], [0, 1]), ">= 0"),
        (lambda: metrics.confusion_matrix(np.array([0.5, 1.0]), [0, 1]), "integers"),
        (lambda: metrics.confusion_matrix([0, 3], [0, 1], n_classes=3), "outside `n_classes`"),
        (lambda: metrics.precision([0, 1], [0, 1], average="mean"), "Unknown `average`"),
        (lambda: metrics.r2_score(np.zeros((4, 2)), np.zeros((4, 3))), "same shape"),
        (lambda: metrics.accuracy([], []), "empty"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_no_data_dependent_shapes_or_boolean_indexing():
    """Metrics run where a GPU-like library forbids data-dependent shapes and boolean masks."""
    xs = pytest.importorskip("array_api_strict")
    y_true, y_pred = _labels(7, k=3)
    device = xs.Device("device1")
    with xs.ArrayAPIStrictFlags(data_dependent_shapes=False, boolean_indexing=False):
        yt, yp = xs.asarray(y_true, device=device), xs.asarray(y_pred, device=device)
        C = metrics.confusion_matrix(yt, yp)
        f1 = metrics.f1_score(yt, yp, average="weighted")
        report = metrics.classification_report(yt, yp)
        ll = metrics.log_loss(yt, xs.asarray(_proba(7, len(y_true), 3), device=device))
        r2 = metrics.r2_score(xs.astype(yt, xs.float64), xs.astype(yp, xs.float64))
    np.testing.assert_array_equal(ann.to_numpy(C), skm.confusion_matrix(y_true, y_pred))
    assert f1 == pytest.approx(skm.f1_score(y_true, y_pred, average="weighted"))
    assert "macro avg" in report
    assert ll == pytest.approx(skm.log_loss(y_true, _proba(7, len(y_true), 3)))
    assert r2 == pytest.approx(skm.r2_score(y_true, y_pred))
