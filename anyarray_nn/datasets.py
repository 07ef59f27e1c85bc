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
        msg = 'load_digits() needs scikit-learn, which is not installed: pip install ".[sklearn]" in the anyarray_nn checkout.'
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


def _check_generator_arguments(n_samples, noise, seed, least=1):
    """Errors naming the argument for the 2-D generators' common arguments."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < least:
        raise ValueError(f"`n_samples` must be an integer >= {least}, got {n_samples!r}.")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)):
        raise TypeError(f"`noise` must be a number >= 0, got {type(noise).__name__}.")
    if not noise >= 0 or not np.isfinite(noise):
        raise ValueError(f"`noise` must be a finite number >= 0, got {noise!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"`seed` must be None or an integer >= 0, got {seed!r}.")


def make_moons(n_samples=200, noise=0.1, seed=None):
    """Two interleaving half circles in the plane: the smallest problem a straight line cannot solve.

    Generating rule (all draws from one generator seeded with ``seed``)::

        class 0: (cos t, sin t)               t evenly spaced in [0, pi]   (the upper moon)
        class 1: (1 - cos t, 0.5 - sin t)     t evenly spaced in [0, pi]   (the lower moon)
        then Gaussian noise of standard deviation ``noise`` on both coordinates, and the rows shuffled

    Class 0 gets ``ceil(n_samples / 2)`` points, class 1 the rest. Without noise the two moons do not
    touch, so a classifier with a curved boundary can be right everywhere; a linear one cannot (a logistic
    regression reaches about 0.88 accuracy with the default noise, 0.89 without noise).

    Parameters
    ----------
    n_samples : int, default 200
        Number of points, >= 2.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to each coordinate, >= 0.
    seed : int, optional
        Seeds the noise and the order of the rows.

    Returns
    -------
    Dataset
        ``X`` float64 ``(n_samples, 2)``, ``y`` int64 ``(n_samples,)`` with labels 0 and 1.
    """
    _check_generator_arguments(n_samples, noise, seed, least=2)
    n_samples = int(n_samples)
    rng = np.random.default_rng(seed)
    n_upper = n_samples - n_samples // 2
    n_lower = n_samples // 2
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_lower)
    upper = np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1)
    lower = np.stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1)
    X = np.concatenate([upper, lower], axis=0)
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    X = X + float(noise) * rng.standard_normal(X.shape)
    order = rng.permutation(n_samples)
    return Dataset(X[order], y[order], ["x0", "x1"], ["upper moon", "lower moon"], "Two interleaving half circles.")


def make_spirals(n_samples=300, n_classes=3, noise=0.2, seed=None):
    """Interleaved spiral arms in the plane, one per class (the spiral of Stanford's cs231n notes).

    Generating rule (all draws from one generator seeded with ``seed``), for class ``k`` with ``n_k``
    points::

        r = evenly spaced in [0, 1]                                    radius, from the centre out
        t = 4 k + 4 r + noise * Normal(0, 1)                           angle in radians
        x = (r sin t, r cos t)
        then the rows shuffled

    Each arm turns through 4 radians (about 230 degrees) and starts where the previous one ends, so
    the classes wind around each other: a linear classifier gets little more than one point in two
    right (a logistic regression reaches about 0.53 for three arms with the default noise), while a
    network with one hidden layer of a hundred units separates them. The noise is on the angle, so a
    point moves by ``r * noise`` on average: little near the centre, where the arms meet.

    Parameters
    ----------
    n_samples : int, default 300
        Number of points, >= ``n_classes``; shared evenly, the first classes get one more when it does
        not divide.
    n_classes : int, default 3
        Number of arms, >= 2.
    noise : float, default 0.2
        Standard deviation of the Gaussian noise added to each point's angle (radians), >= 0.
    seed : int, optional
        Seeds the noise and the order of the rows.

    Returns
    -------
    Dataset
        ``X`` float64 ``(n_samples, 2)`` inside the unit disc, ``y`` int64 ``(n_samples,)`` with labels
        ``0 .. n_classes - 1``.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"`n_classes` must be an integer >= 2, got {n_classes!r}.")
    _check_generator_arguments(n_samples, noise, seed, least=int(n_classes))
    n_samples, n_classes = int(n_samples), int(n_classes)
    rng = np.random.default_rng(seed)
    counts = [n_samples // n_classes + (1 if k < n_samples % n_classes else 0) for k in range(n_classes)]
    parts, labels = [], []
    for k, n_k in enumerate(counts):
        r = np.linspace(0.0, 1.0, n_k)
        t = 4.0 * k + 4.0 * r + float(noise) * rng.standard_normal(n_k)
        parts.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        labels.append(np.full(n_k, k, dtype=np.int64))
    X, y = np.concatenate(parts, axis=0), np.concatenate(labels)
    order = rng.permutation(n_samples)
    names = [f"arm {k}" for k in range(n_classes)]
    return Dataset(X[order], y[order], ["x0", "x1"], names, f"{n_classes} interleaved spiral arms.")


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
