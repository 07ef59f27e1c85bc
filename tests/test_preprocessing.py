"""Preprocessing: the scaler against scikit-learn on every backend, one-hot encoding, stratified splits."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler as SkScaler

import anyarray_nn as ann
from anyarray_nn.preprocessing import (
    StandardScaler,
    inverse_one_hot,
    one_hot,
    train_test_split,
    train_val_test_split,
)


def _data(seed):
    rng = np.random.default_rng(seed)
    X_train = rng.normal(size=(40, 5)) * np.array([1.0, 10.0, 0.1, 1000.0, 3.0]) + np.array([0.0, 5.0, -2.0, 1e4, 1.0])
    X_test = rng.normal(size=(15, 5)) * 2.0
    return X_train, X_test


@pytest.mark.parametrize("seed", [0, 1])
def test_scaler_matches_sklearn(bk, seed):
    X_train, X_test = _data(seed)
    ref = SkScaler().fit(X_train)
    scaler = StandardScaler().fit(bk.asarray(X_train))
    backend = bk.make()
    for attr in ("mean_", "scale_"):
        ours = getattr(scaler, attr)
        assert backend.owns(ours) and ours.device == backend.device
        np.testing.assert_allclose(ann.to_numpy(ours), getattr(ref, attr), rtol=bk.rtol)
    # Fitted on the training rows, applied unchanged to the test rows.
    Z = scaler.transform(bk.asarray(X_test))
    assert backend.owns(Z) and Z.device == backend.device and Z.dtype == backend.dtype
    np.testing.assert_allclose(ann.to_numpy(Z), ref.transform(X_test), rtol=bk.rtol * 10, atol=bk.atol * 10)
    back = scaler.inverse_transform(Z)
    assert back.dtype == backend.dtype
    np.testing.assert_allclose(ann.to_numpy(back), X_test, rtol=bk.rtol * 10, atol=bk.atol * 100)


def test_scaler_constant_column_keeps_scale_one(bk):
    X = np.column_stack([np.full(10, 3.0), np.arange(10.0)])
    scaler = StandardScaler().fit(bk.asarray(X))
    np.testing.assert_allclose(ann.to_numpy(scaler.scale_), SkScaler().fit(X).scale_)
    Z = ann.to_numpy(scaler.transform(bk.asarray(X)))
    assert np.all(Z[:, 0] == 0.0) and np.all(np.isfinite(Z))


def test_scaler_fit_transform_of_float32_keeps_float32():
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    assert StandardScaler().fit_transform(X).dtype == np.float32


def test_scaler_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(np.zeros((2, 2)))
    scaler = StandardScaler().fit(np.random.default_rng(0).normal(size=(5, 3)))
    with pytest.raises(ValueError, match="3"):
        scaler.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        StandardScaler().fit(np.zeros(5))


def test_one_hot_round_trip(bk):
    labels = np.array([2, 0, 1, 2, 1])
    Y = one_hot(bk.asarray(labels), 4)
    backend = bk.make()
    assert backend.owns(Y) and Y.device == backend.device and Y.shape == (5, 4)
    np.testing.assert_array_equal(ann.to_numpy(Y), np.eye(4)[labels])
    np.testing.assert_array_equal(ann.to_numpy(inverse_one_hot(Y)), labels)


def test_stratified_split_keeps_rows_paired_and_proportions(bk):
    y = np.repeat([0, 1, 2], [30, 60, 90])
    X = np.column_stack([np.arange(180.0), y * 1000.0])  # each row knows its label
    X_tr, X_te, y_tr, y_te = train_test_split(bk.asarray(X), bk.asarray(y), test_size=0.25, stratify=y, seed=3)
    X_tr, X_te, y_tr, y_te = (ann.to_numpy(a) for a in (X_tr, X_te, y_tr, y_te))
    np.testing.assert_array_equal(X_tr[:, 1], y_tr * 1000.0)
    np.testing.assert_array_equal(X_te[:, 1], y_te * 1000.0)
    np.testing.assert_array_equal(np.bincount(y_te), [8, 15, 22])  # 25 % of each class, rounded
    assert sorted(np.concatenate([X_tr[:, 0], X_te[:, 0]]).tolist()) == list(range(180))


def test_split_is_reproducible_by_seed():
    X = np.arange(50.0)[:, None]
    a = train_test_split(X, test_size=0.2, seed=7)
    b = train_test_split(X, test_size=0.2, seed=7)
    c = train_test_split(X, test_size=0.2, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_three_way_split(bk):
    y = np.repeat([0, 1], [40, 60])
    X = np.column_stack([np.arange(100.0), y])
    parts = train_val_test_split(bk.asarray(X), bk.asarray(y), val_size=0.2, test_size=0.3, stratify=y, seed=0)
    X_tr, X_va, X_te, y_tr, y_va, y_te = (ann.to_numpy(p) for p in parts)
    assert (len(X_tr), len(X_va), len(X_te)) == (50, 20, 30)
    for Xp, yp in ((X_tr, y_tr), (X_va, y_va), (X_te, y_te)):
        np.testing.assert_array_equal(Xp[:, 1], yp)
    np.testing.assert_array_equal(np.bincount(y_te), [12, 18])
    np.testing.assert_array_equal(np.bincount(y_va), [8, 12])
    ids = np.concatenate([X_tr[:, 0], X_va[:, 0], X_te[:, 0]])
    assert sorted(ids.tolist()) == list(range(100))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(val_size=0.5, test_size=0.5), "below 1"),
        (dict(val_size=0.0, test_size=0.2), "val_size"),
        (dict(val_size=0.2, test_size=1), "test_size"),
    ],
)
def test_three_way_split_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_val_test_split(np.zeros((10, 2)), **kwargs)


def test_split_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same number of rows"):
        train_test_split(np.zeros((10, 2)), np.zeros(9))
