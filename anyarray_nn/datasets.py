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
