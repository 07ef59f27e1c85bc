"""Small data sets that ship with the package or are generated: no download ever.

Every loader returns NumPy arrays ``(X, y)`` with samples as rows; move them to a backend with
``model.fit`` / ``model.predict`` (which do it once) or ``Backend.asarray``.
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np


class Dataset(tuple):
    """``(X, y)`` that also carries names: unpack it like a tuple, or read the attributes.

    Attributes
    ----------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    feature_names : list of str
    target_names : list of str
        Class names (classification) or the target's name (regression).
    description : str
    """

    def __new__(cls, X, y, feature_names, target_names, description):
        obj = super().__new__(cls, (X, y))
        obj.X, obj.y = X, y
        obj.feature_names = list(feature_names)
        obj.target_names = list(target_names)
        obj.description = description
        return obj


def load_iris():
    """Fisher's iris flowers: 150 samples, 4 features (cm), 3 balanced classes.

    Returns
    -------
    Dataset
        ``X`` float64 ``(150, 4)``: sepal length, sepal width, petal length, petal width;
        ``y`` int64 ``(150,)``: 0 setosa, 1 versicolor, 2 virginica. Rows keep their labels: each row of
        the shipped CSV holds its features and its species together.
    """
    text = resources.files("anyarray_nn").joinpath("data/iris.csv").read_text()
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], rows[1:]
    species = ["setosa", "versicolor", "virginica"]
    X = np.array([[float(v) for v in r[:4]] for r in body])
    y = np.array([species.index(r[4]) for r in body], dtype=np.int64)
    return Dataset(X, y, header[:4], species, "Fisher (1936) iris data, 3 species x 50 flowers.")


def make_xor(n_repeats=1, noise=0.0, seed=None):
    """The XOR problem: inputs in {0, 1}^2, label 1 when exactly one input is 1.

    Parameters
    ----------
    n_repeats : int, default 1
        Copies of the four points (``4 * n_repeats`` samples).
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to the inputs.
    seed : int, optional

    Returns
    -------
    Dataset
        ``X`` float64 ``(4 n_repeats, 2)``, ``y`` int64 ``(4 n_repeats,)``.
    """
    base = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    X = np.tile(base, (n_repeats, 1))
    if noise:
        X = X + np.random.default_rng(seed).normal(0.0, noise, X.shape)
    y = np.tile(np.array([0, 1, 1, 0], dtype=np.int64), n_repeats)
    return Dataset(X, y, ["x1", "x2"], ["0", "1"], "XOR of two binary inputs.")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def make_rain(n_samples=1000, seed=None):
    """Weather readings and whether it rained: a binary classification problem with a known rule.

    Generating rule (all draws from one generator seeded with ``seed``)::

        temperature ~ Normal(15, 7)                          degrees Celsius
        humidity    ~ Normal(70, 15), clipped to [10, 100]   percent
        pressure    ~ Normal(1013, 8)                        hPa
        z = 0.2 (humidity - 75) - 0.4 (pressure - 1010) - 0.15 (temperature - 15)
            + 0.04 (humidity - 75) (1013 - pressure) / 8
        rain = 1 with probability sigmoid(z), else 0

    Rain comes with humid air and low pressure; the product term makes a humid day rainier when the
    pressure is also low, which bends the boundary slightly. Because labels are drawn
    from ``sigmoid(z)``, no classifier is right every time: the best possible accuracy is the mean of
    ``max(sigmoid(z), 1 - sigmoid(z))``, about 0.9.

    Parameters
    ----------
    n_samples : int, default 1000
    seed : int, optional

    Returns
    -------
    Dataset
        ``X`` float64 ``(n_samples, 3)``: temperature, humidity, pressure; ``y`` int64 ``(n_samples,)``:
        0 dry, 1 rain.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"`n_samples` must be a positive integer, got {n_samples!r}.")
    rng = np.random.default_rng(seed)
    temperature = rng.normal(15.0, 7.0, n_samples)
    humidity = np.clip(rng.normal(70.0, 15.0, n_samples), 10.0, 100.0)
    pressure = rng.normal(1013.0, 8.0, n_samples)
    z = rain_logit(temperature, humidity, pressure)
    y = (rng.random(n_samples) < _sigmoid(z)).astype(np.int64)
    X = np.stack([temperature, humidity, pressure], axis=1)
    return Dataset(
        X,
        y,
        ["temperature_c", "humidity_pct", "pressure_hpa"],
        ["dry", "rain"],
        "Synthetic weather readings; rain drawn with probability sigmoid(z), see make_rain.",
    )


def rain_logit(temperature, humidity, pressure):
    """The log-odds of rain in :func:`make_rain`'s generating rule (NumPy arrays in, out)."""
    return (
        0.2 * (humidity - 75.0)
        - 0.4 * (pressure - 1010.0)
        - 0.15 * (temperature - 15.0)
        + 0.04 * (humidity - 75.0) * (1013.0 - pressure) / 8.0
    )


def load_digits():
    """The 8x8 images of handwritten digits from scikit-learn (bundled with it, no download).

    Returns
    -------
    Dataset
        ``X`` float64 ``(1797, 64)``: pixel intensities 0..16, row by row; ``y`` int64 ``(1797,)``:
        the digit 0..9.

    Raises
    ------
    ImportError
        When scikit-learn is not installed; the message names the extra to install.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:
        msg = 'load_digits() needs scikit-learn, which is not installed: pip install "anyarray-nn[sklearn]".'
        raise ImportError(msg) from exc
    bunch = sklearn_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    features = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Dataset(X, y, features, [str(d) for d in range(10)], "8x8 handwritten digits (UCI, via scikit-learn).")


def make_regression(n_samples=1000, noise=0.1, seed=None):
    """A smooth nonlinear regression problem with four inputs and a known rule.

    Generating rule::

        x0, x1, x2, x3 ~ Uniform(-1, 1), independent
        y = sin(pi x0) + x1**2 - 0.5 x2 + 0.5 x0 x3 + noise * Normal(0, 1)

    A linear model explains only the ``-0.5 x2`` part; the sine, the square and the product need
    hidden units. With ``noise=0.1`` the best possible R² (noise variance against the variance of
    ``y``) is about 0.986.

    Parameters
    ----------
    n_samples : int, default 1000
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to ``y``.
    seed : int, optional

    Returns
    -------
    Dataset
        ``X`` float64 ``(n_samples, 4)``, ``y`` float64 ``(n_samples,)``.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"`n_samples` must be a positive integer, got {n_samples!r}.")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"`noise` must be a number >= 0, got {noise!r}.")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n_samples, 4))
    y = np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2] + 0.5 * X[:, 0] * X[:, 3]
    y = y + float(noise) * rng.standard_normal(n_samples)
    rule = "Synthetic: y = sin(pi x0) + x1^2 - 0.5 x2 + 0.5 x0 x3 + noise."
    return Dataset(X, y, ["x0", "x1", "x2", "x3"], ["y"], rule)


# Loaders by name, as the command line and the examples call them.
NAMES = ("iris", "rain", "digits", "regression")


def load(name, seed=0):
    """The data set called ``name`` (one of :data:`NAMES`); generators use ``seed``."""
    if name == "iris":
        return load_iris()
    if name == "rain":
        return make_rain(1000, seed=seed)
    if name == "digits":
        return load_digits()
    if name == "regression":
        return make_regression(1000, seed=seed)
    raise ValueError(f"Unknown data set {name!r}; expected one of {list(NAMES)}.")
