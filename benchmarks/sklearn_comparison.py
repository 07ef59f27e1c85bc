"""anyarray_nn.sklearn.MLPClassifier / MLPRegressor against scikit-learn's own MLP, same settings, same split.

Both estimators get the same hyperparameters (Adam, learning rate 1e-3, L2 alpha 1e-4, batches of
min(200, n), at most 200 epochs, stopping when the training loss stalls for 10 epochs) and the same
standardized 70/30 stratified split; each row is the mean (and standard deviation) over several seeds.
The weight initialization differs: He for ReLU here, Glorot-uniform in scikit-learn.

Run::

    python benchmarks/sklearn_comparison.py              # the README table (5 seeds)
    python benchmarks/sklearn_comparison.py --seeds 2 --max-iter 50 --hidden 32   # quicker
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import _common  # noqa: F401  (from a checkout, puts the package next to this folder on the path)
from anyarray_nn.sklearn import MLPClassifier, MLPRegressor

DATASETS = {
    "digits": (load_digits, "classification"),
    "breast_cancer": (load_breast_cancer, "classification"),
    "diabetes": (load_diabetes, "regression"),
}


def split(name, seed=0):
    """The standardized 70/30 split (stratified for classification) every estimator gets."""
    loader, task = DATASETS[name]
    X, y = loader(return_X_y=True)
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=stratify)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test, task


def estimators(task, hidden, max_iter, seed, backend="numpy", dtype="float32"):
    """The scikit-learn estimator and ours, with matching settings."""
    common = dict(
        hidden_layer_sizes=hidden,
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=max_iter,
        tol=1e-4,
        n_iter_no_change=10,
        random_state=seed,
    )
    if task == "classification":
        return SkMLPClassifier(**common), MLPClassifier(**common, backend=backend, dtype=dtype)
    # Targets in the hundreds: both regressors learn the standardized target.
    wrap = lambda est: TransformedTargetRegressor(est, transformer=StandardScaler())  # noqa: E731
    return wrap(SkMLPRegressor(**common)), wrap(MLPRegressor(**common, backend=backend, dtype=dtype))


def n_iter(est):
    return getattr(est, "regressor_", est).n_iter_


def run(name, hidden, max_iter, seeds, backend="numpy", dtype="float32"):
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
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--hidden", type=int, nargs="+", default=[100])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (small matrices: 1 is fastest)")
    args = parser.parse_args(argv)
    with threadpool_limits(args.threads):
        table(args)


def table(args):
    print(
        f"hidden={tuple(args.hidden)}, adam lr=1e-3, alpha=1e-4, max_iter={args.max_iter}, {args.seeds} seeds, "
        f"anyarray_nn backend={args.backend} dtype={args.dtype}; scikit-learn in float64; "
        f"{args.threads} BLAS thread(s)\n"
    )
    print(
        "| data set | metric (test) | scikit-learn | anyarray_nn | difference "
        "| epochs sklearn / ours | fit s sklearn / ours |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets:
        task, res = run(name, tuple(args.hidden), args.max_iter, args.seeds, args.backend, args.dtype)
        sk, ours = res["scikit-learn"], res["anyarray_nn"]
        metric = "accuracy" if task == "classification" else "R²"
        scale, unit = (100.0, " %") if task == "classification" else (1.0, "")
        diff = (ours[:, 0].mean() - sk[:, 0].mean()) * scale
        print(
            f"| {name} | {metric} | {sk[:, 0].mean() * scale:.2f} ± {sk[:, 0].std() * scale:.2f}{unit} "
            f"| {ours[:, 0].mean() * scale:.2f} ± {ours[:, 0].std() * scale:.2f}{unit} | {diff:+.2f}{unit and ' pt'} "
            f"| {sk[:, 1].mean():.0f} / {ours[:, 1].mean():.0f} | {sk[:, 2].mean():.2f} / {ours[:, 2].mean():.2f} |"
        )


if __name__ == "__main__":
    main()
