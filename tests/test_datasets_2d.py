"""The 2-D teaching data sets: moons and spirals follow their documented rules, are seeded and check their arguments."""

import numpy as np
import pytest

from anyarray_nn import datasets


def test_moons_shapes_labels_and_seed():
    data = datasets.make_moons(101, noise=0.1, seed=3)
    X, y = data
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [51, 50]
    assert data.feature_names == ["x0", "x1"] and len(data.target_names) == 2
    np.testing.assert_array_equal(X, datasets.make_moons(101, noise=0.1, seed=3).X)
    assert not np.array_equal(X, datasets.make_moons(101, noise=0.1, seed=4).X)
    # Rows are shuffled: the first half is not one class.
    assert 0 < y[:50].sum() < 50


def test_moons_without_noise_lie_on_their_half_circles():
    X, y = datasets.make_moons(400, noise=0.0, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-12)
    assert upper[:, 1].min() >= -1e-12 and lower[:, 1].max() <= 0.5 + 1e-12
    # The noise is Gaussian with the given standard deviation.
    noisy, _ = datasets.make_moons(400, noise=0.2, seed=0)
    clean, _ = datasets.make_moons(400, noise=0.0, seed=0)
    assert 0.17 < np.std(noisy - clean) < 0.23


def test_spirals_shapes_rule_and_seed():
    X, y = datasets.make_spirals(302, n_classes=3, noise=0.0, seed=1)
    assert X.shape == (302, 2) and y.shape == (302,) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [101, 101, 100]
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() <= 1.0 + 1e-12
    # Without noise every point sits at angle 4 k + 4 r on its arm k (x = r sin t, y = r cos t).
    t = np.arctan2(X[:, 0], X[:, 1])
    expected = 4.0 * y + 4.0 * r
    wrapped = np.angle(np.exp(1j * (t - expected)))
    np.testing.assert_allclose(wrapped[r > 1e-9], 0.0, atol=1e-9)
    np.testing.assert_array_equal(X, datasets.make_spirals(302, 3, 0.0, seed=1).X)
    noisy = datasets.make_spirals(302, 3, 0.2, seed=1).X
    assert not np.array_equal(noisy, datasets.make_spirals(302, 3, 0.2, seed=2).X)
    assert set(np.unique(datasets.make_spirals(50, n_classes=5, seed=0).y)) == set(range(5))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: datasets.make_moons(1), ValueError, "`n_samples` must be an integer >= 2"),
        (lambda: datasets.make_moons(10.5), ValueError, "`n_samples`"),
        (lambda: datasets.make_moons(True), ValueError, "`n_samples`"),
        (lambda: datasets.make_moons(10, noise=-0.1), ValueError, "`noise` must be a finite number >= 0"),
        (lambda: datasets.make_moons(10, noise=float("nan")), ValueError, "`noise`"),
        (lambda: datasets.make_moons(10, noise="high"), TypeError, "`noise` must be a number"),
        (lambda: datasets.make_moons(10, seed=-1), ValueError, "`seed` must be None or an integer >= 0"),
        (lambda: datasets.make_spirals(10, n_classes=1), ValueError, "`n_classes` must be an integer >= 2"),
        (lambda: datasets.make_spirals(2, n_classes=3), ValueError, "`n_samples` must be an integer >= 3"),
        (lambda: datasets.make_spirals(30, noise=-1), ValueError, "`noise`"),
        (lambda: datasets.make_spirals(30, seed=1.5), ValueError, "`seed`"),
    ],
)
def test_generators_name_the_bad_argument(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()
