"""Training results stay the same across refactorings of the training code.

``data/reference_training.npz`` holds the weights and per-epoch losses of three NumPy float64 fits
(SGD, Adam and Nesterov, each with dropout, a penalty and a learning-rate schedule) recorded with an
earlier version of the library. Any change to the order of random draws, the arithmetic of the step or
the bookkeeping of an epoch shows up here.

The comparison allows a few units in the last place and no more: OpenBLAS picks its matrix-product
kernel by CPU (Haswell, SkylakeX, ...), and two kernels round the same product differently, so the
recorded run is bit-identical only on a CPU that takes the recording's kernel. A changed draw or step
differs by many orders of magnitude more than that.
"""

import os

import numpy as np
import pytest

import anyarray_nn as ann

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "reference_training.npz")


def _solvers():
    return {
        "sgd": ann.Solver(
            optimizer="sgd",
            learning_rate=0.05,
            regularization=ann.Regularization("l2", lam=1e-3, dropout=0.2),
            schedule=ann.schedules.get("step", step_size=3, gamma=0.5),
        ),
        "adam": ann.Solver(
            optimizer="adam",
            learning_rate=0.01,
            regularization=ann.Regularization(dropout=0.2),
            schedule=ann.schedules.get("exponential", gamma=0.9),
        ),
        "nesterov": ann.Solver(
            optimizer="nesterov",
            learning_rate=0.02,
            regularization=ann.Regularization("elasticnet", lam=1e-3, r=0.3, dropout=0.1),
            schedule=ann.schedules.get("cosine"),
        ),
    }


@pytest.mark.parametrize("name", ["sgd", "adam", "nesterov"])
def test_training_is_bit_identical_to_the_recorded_run(name):
    X, y = ann.datasets.load_iris()
    X = (X - X.mean(0)) / X.std(0)
    model = ann.Model(
        [ann.Layer(4, 16, "relu"), ann.Layer(16, 8, "tanh"), ann.Layer(8, 3, "softmax")],
        backend="numpy",
        dtype="float64",
        seed=3,
    )
    history = model.fit(X, y, solver=_solvers()[name], settings=ann.Settings(epochs=8, batch_size=16, verbose=0))
    with np.load(REFERENCE) as ref:
        np.testing.assert_allclose(np.asarray(history.loss), ref[f"{name}_loss"], rtol=1e-13, atol=0)
        for i, p in enumerate(model.parameters()):
            np.testing.assert_allclose(ann.to_numpy(p), ref[f"{name}_{i}"], rtol=1e-12, atol=1e-15)
