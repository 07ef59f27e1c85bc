"""Data sets: shapes, seeds, the documented generating rules, and the message when scikit-learn is missing."""

import sys

import numpy as np
import pytest

from anyarray_nn import datasets


def test_iris():
    X, y = datasets.load_iris()
    assert X.shape == (150, 4) and y.shape == (150,)
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])


def test_rain_shapes_and_seed():
    data = datasets.make_rain(500, seed=1)
    X, y = data
    assert X.shape == (500, 3) and X.dtype == np.float64
    assert y.shape == (500,) and y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert data.feature_names == ["temperature_c", "humidity_pct", "pressure_hpa"]
    assert data.target_names == ["dry", "rain"]
    np.testing.assert_array_equal(X, datasets.make_rain(500, seed=1).X)
    assert not np.array_equal(X, datasets.make_rain(500, seed=2).X)
    assert X[:, 1].min() >= 10.0 and X[:, 1].max() <= 100.0


def test_rain_follows_its_documented_rule():
    X, y = datasets.make_rain(20000, seed=0)
    p = 1.0 / (1.0 + np.exp(-datasets.rain_logit(X[:, 0], X[:, 1], X[:, 2])))
    # Labels are drawn with probability sigmoid(z): calibrated in every band of p.
    for lo, hi in ((0.0, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1.0)):
        band = (p >= lo) & (p < hi)
        assert abs(y[band].mean() - p[band].mean()) < 0.03
    # Humid, low-pressure days rain more often.
    assert y[(X[:, 1] > 85) & (X[:, 2] < 1005)].mean() > 0.9
    assert y[(X[:, 1] < 55) & (X[:, 2] > 1020)].mean() < 0.05
    bayes = np.maximum(p, 1 - p).mean()
    assert 0.85 < bayes < 0.95  # "about 0.9" in the docstring


def test_regression_rule_without_noise():
    X, y = datasets.make_regression(200, noise=0.0, seed=0)
    assert X.shape == (200, 4) and y.shape == (200,)
    expected = np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2] + 0.5 * X[:, 0] * X[:, 3]
    np.testing.assert_allclose(y, expected)
    assert np.all(np.abs(X) <= 1.0)


def test_digits():
    pytest.importorskip("sklearn")
    data = datasets.load_digits()
    assert data.X.shape == (1797, 64) and data.y.shape == (1797,)
    assert data.X.min() == 0.0 and data.X.max() == 16.0
    assert sorted(np.unique(data.y).tolist()) == list(range(10))


def test_digits_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match=r'pip install "\.\[sklearn\]" in the anyarray_nn checkout'):
        datasets.load_digits()


def test_load_by_name():
    for name in datasets.NAMES:
        X, y = datasets.load(name)
        assert X.shape[0] == y.shape[0] > 100
    with pytest.raises(ValueError, match="Unknown data set 'mnist'"):
        datasets.load("mnist")


@pytest.mark.parametrize("make", [datasets.make_rain, datasets.make_regression])
def test_bad_sample_count(make):
    with pytest.raises(ValueError, match="n_samples"):
        make(0)
