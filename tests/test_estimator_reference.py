"""The scikit-learn estimators' results stay the same across refactorings of their training.

``data/estimator_reference.npz`` holds ``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_`` (and
``validation_scores_`` with early stopping) of NumPy float64 fits in sixteen configurations: the three
solvers, sample weights, sparse input, early stopping, ``partial_fit``, the learning-rate rules,
dropout and multi-label outputs. ``python tests/test_estimator_reference.py`` records them anew; only
do that for a change meant to alter results.

As in ``test_reference_training.py``, a few units in the last place are allowed for another BLAS
kernel's rounding; a changed draw or step differs by many orders of magnitude more.
"""

import os
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from anyarray_nn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "estimator_reference.npz")


def _data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((90, 5))
    y_class = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.7)
    y_reg = np.stack([X[:, 0] * 2 + X[:, 3], np.sin(X[:, 1])], axis=1)
    weights = rng.uniform(0.0, 2.0, size=90)
    weights[:10] = 0.0
    labels = np.stack([X[:, 0] > 0, X[:, 1] > 0.3], axis=1).astype(int)
    return X, y_class, y_reg, weights, labels


def _configurations():
    X, y_class, y_reg, w, labels = _data()
    common = dict(hidden_layer_sizes=(7, 5), random_state=1, max_iter=25, dtype="float64")
    c, r = MLPClassifier, MLPRegressor
    return {
        "clf_sgd_nesterov": (c(solver="sgd", learning_rate_init=0.05, **common), X, y_class, {}),
        "clf_adam": (c(solver="adam", learning_rate_init=0.01, **common), X, y_class, {}),
        "clf_lbfgs": (c(solver="lbfgs", alpha=1e-3, **common), X, y_class, {}),
        "reg_sgd_invscaling": (r(solver="sgd", learning_rate="invscaling", learning_rate_init=0.01, **common), X, y_reg, {}),
        "reg_adam": (r(solver="adam", learning_rate_init=0.01, activation="tanh", **common), X, y_reg, {}),
        "reg_lbfgs": (r(solver="lbfgs", **common), X, y_reg, {}),
        "clf_adam_weights": (c(solver="adam", learning_rate_init=0.01, batch_size=16, **common), X, y_class, {"sample_weight": w}),
        "clf_lbfgs_weights": (c(solver="lbfgs", **common), X, y_class, {"sample_weight": w}),
        "reg_sgd_weights": (r(solver="sgd", momentum=0.0, learning_rate_init=0.01, alpha=0.01, **common), X, y_reg, {"sample_weight": w}),
        "clf_sgd_adaptive_early": (
            c(solver="sgd", learning_rate="adaptive", early_stopping=True, n_iter_no_change=2, tol=1e-3,
              learning_rate_init=0.02, activation="tanh", **{**common, "max_iter": 40}), X, y_class, {},
        ),
        "reg_adam_early_weights": (
            r(solver="adam", early_stopping=True, n_iter_no_change=4, learning_rate_init=0.01, **common), X, y_reg,
            {"sample_weight": w},
        ),
        "clf_adam_sparse": (c(solver="adam", learning_rate_init=0.01, **common), scipy.sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0)), y_class, {}),
        "clf_adam_dropout": (c(solver="adam", learning_rate_init=0.01, dropout=0.2, **common), X, y_class, {}),
        "clf_multilabel_sgd": (c(solver="sgd", learning_rate_init=0.1, nesterovs_momentum=False, **common), X, labels, {}),
        "clf_sgd_partial_fit": (c(solver="sgd", learning_rate_init=0.05, **common), X, y_class, {"partial_fit": 3}),
        "reg_adam_partial_fit_weights": (r(solver="adam", learning_rate_init=0.01, **common), X, y_reg, {"partial_fit": 3, "sample_weight": w}),
    }


def _run(name):
    estimator, X, y, kwargs = _configurations()[name]
    kwargs = dict(kwargs)
    rounds = kwargs.pop("partial_fit", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if rounds:
            for _ in range(rounds):
                if isinstance(estimator, MLPClassifier) and y.ndim == 1:
                    estimator.partial_fit(X, y, classes=np.unique(y), **kwargs)
                else:
                    estimator.partial_fit(X, y, **kwargs)
        else:
            estimator.fit(X, y, **kwargs)
    out = {"loss_curve": np.asarray(estimator.loss_curve_), "n_iter": np.asarray(estimator.n_iter_)}
    for i, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        out[f"W{i}"], out[f"b{i}"] = W, b
    if getattr(estimator, "validation_scores_", None) is not None:
        out["validation_scores"] = np.asarray(estimator.validation_scores_)
    return out


NAMES = sorted(_configurations())


@pytest.mark.parametrize("name", NAMES)
def test_estimator_results_are_those_recorded(name):
    got = _run(name)
    with np.load(REFERENCE) as ref:
        keys = sorted(k[len(name) + 1 :] for k in ref.files if k.startswith(name + ":"))
        assert keys == sorted(got), (keys, sorted(got))
        for key in keys:
            np.testing.assert_allclose(got[key], ref[f"{name}:{key}"], rtol=1e-12, atol=1e-14, err_msg=key)


if __name__ == "__main__":  # record the reference anew
    record = {f"{name}:{key}": value for name in NAMES for key, value in _run(name).items()}
    np.savez(REFERENCE, **record)
    print(f"recorded {len(NAMES)} configurations in {REFERENCE}", file=sys.stderr)
