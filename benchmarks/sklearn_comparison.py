"""anyarray_nn.sklearn.MLPClassifier / MLPRegressor against scikit-learn's own MLP, both with their defaults.

Each estimator is built with its library's default parameters (only ``random_state`` is set), as a user
swapping the import would; both get the same 70/30 split (stratified for single-label classification),
standardized (the sparse set scaled by its largest magnitude, so it stays sparse). Each row is the mean
(and standard deviation) over several seeds, with the fit time of both in the same run.

Data sets: digits, breast cancer (classification), diabetes (regression, standardized target), a
multi-label set (``make_multilabel_classification``, 5 labels, subset accuracy) and a sparse one (digits as
a SciPy CSR matrix).

Run::

    python benchmarks/sklearn_comparison.py              # the table in benchmarks/README.md (5 seeds)
    python benchmarks/sklearn_comparison.py --seeds 2 --max-iter 50 --hidden 32   # quicker
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import scipy.sparse
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import MaxAbsScaler, StandardScaler
from threadpoolctl import threadpool_limits

import _common  # noqa: F401  (from a checkout, puts the package next to this folder on the path)
from anyarray_nn.sklearn import MLPClassifier, MLPRegressor

def _multilabel(return_X_y=True):
    return make_multilabel_classification(n_samples=1000, n_features=20, n_classes=5, random_state=0)


def _sparse_digits(return_X_y=True):
    X, y = load_digits(return_X_y=True)
    return scipy.sparse.csr_matrix(X), y


DATASETS = {
    "digits": (load_digits, "classification"),
    "breast_cancer": (load_breast_cancer, "classification"),
    "diabetes": (load_diabetes, "regression"),
    "multilabel": (_multilabel, "multilabel"),
    "sparse_digits": (_sparse_digits, "classification"),
}


def split(name, seed=0):
    """The scaled 70/30 split (stratified for single-label classification) every estimator gets."""
    loader, task = DATASETS[name]
    X, y = loader(return_X_y=True)
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=stratify)
    scaler = (MaxAbsScaler() if scipy.sparse.issparse(X) else StandardScaler()).fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test, task


def estimators(task, hidden, max_iter, seed, backend="numpy", dtype=None):
    """The scikit-learn estimator and ours, each with its defaults (``None`` leaves one as it is)."""
    common = {"random_state": seed}
    if hidden is not None:
        common["hidden_layer_sizes"] = hidden
    if max_iter is not None:
        common["max_iter"] = max_iter
    ours = {"backend": backend, **({"dtype": dtype} if dtype else {})}
    if task in ("classification", "multilabel"):
        return SkMLPClassifier(**common), MLPClassifier(**common, **ours)
    # Targets in the hundreds: both regressors learn the standardized target.
    wrap = lambda est: TransformedTargetRegressor(est, transformer=StandardScaler())  # noqa: E731
    return wrap(SkMLPRegressor(**common)), wrap(MLPRegressor(**common, **ours))


def n_iter(est):
    return getattr(est, "regressor_", est).n_iter_


def run(name, hidden, max_iter, seeds, backend="numpy", dtype=None):
    """Test scores, epochs and fit times over ``seeds`` for both estimators on data set ``name``."""
    X_train, X_test, y_train, y_test, task = split(name)
    results = {"scikit-learn": [], "anyarray_nn": []}
    for seed in range(seeds):
        for label, est in zip(results, estimators(task, hidden, max_iter, seed, backend, dtype)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                est.fit(X_train, y_train)
                seconds = time.perf_counter() - start
            results[label].append((est.score(X_test, y_test), n_iter(est), seconds))
    return task, {label: np.array(rows) for label, rows in results.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=None, help="default: each library's (200)")
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="default: each library's (100,)")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--dtype", default=None, help="default: follow the input, as scikit-learn")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (small matrices: 1 is fastest)")
    args = parser.parse_args(argv)
    with threadpool_limits(args.threads):
        table(args)


def table(args):
    hidden = "default" if args.hidden is None else tuple(args.hidden)
    print(
        f"both libraries' defaults (hidden={hidden}, max_iter={args.max_iter or 'default'}), {args.seeds} seeds, "
        f"anyarray_nn backend={args.backend} dtype={args.dtype or 'of the input'}; {args.threads} BLAS thread(s)\n"
    )
    print(
        "| data set | metric (test) | scikit-learn | anyarray_nn | difference "
        "| epochs sklearn / ours | fit s sklearn / ours |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets:
        hidden = None if args.hidden is None else tuple(args.hidden)
        task, res = run(name, hidden, args.max_iter, args.seeds, args.backend, args.dtype)
        sk, ours = res["scikit-learn"], res["anyarray_nn"]
        metric = {"classification": "accuracy", "multilabel": "subset accuracy", "regression": "R²"}[task]
        scale, unit = (1.0, "") if task == "regression" else (100.0, " %")
        diff = (ours[:, 0].mean() - sk[:, 0].mean()) * scale
        print(
            f"| {name} | {metric} | {sk[:, 0].mean() * scale:.2f} ± {sk[:, 0].std() * scale:.2f}{unit} "
            f"| {ours[:, 0].mean() * scale:.2f} ± {ours[:, 0].std() * scale:.2f}{unit} | {diff:+.2f}{unit and ' pt'} "
            f"| {sk[:, 1].mean():.0f} / {ours[:, 1].mean():.0f} | {sk[:, 2].mean():.2f} / {ours[:, 2].mean():.2f} |"
        )


if __name__ == "__main__":
    main()
