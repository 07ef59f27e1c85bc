"""Compare the optimizers on iris and digits: final validation loss and epochs to 95% validation accuracy.

Every optimizer trains the same network from the same initial weights (one per seed) on the same
standardized, stratified 70/30 split, with a constant learning rate that is usual for it, and no
regularization or early stopping. Each row gives the mean over the seeds of the validation loss after
the last epoch, and the median number of epochs until the validation accuracy first reached 95%
(with how many seeds got there).

Run::

    python benchmarks/compare_optimizers.py                 # the table in benchmarks/README.md (5 seeds)
    python benchmarks/compare_optimizers.py --seeds 1 --backend torch
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.datasets import load_digits

import _common  # noqa: F401  (from a checkout, puts the package next to this folder on the path)
import anyarray_nn as ann
from anyarray_nn.preprocessing import StandardScaler, train_test_split

# A usual constant learning rate for each optimizer (its library default where one is common).
LEARNING_RATES = {
    "sgd": 0.1,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.05,
    "rmsprop": 0.001,
    "adam": 0.001,
    "adamw": 0.001,
}
ORDER = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]

DATASETS = {
    # name: (loader, hidden units, hidden activation, epochs, batch size)
    "iris": (lambda: ann.datasets.load_iris()[:2], 16, "tanh", 200, 16),
    "digits": (lambda: load_digits(return_X_y=True), 64, "relu", 100, 32),
}


def split(name):
    X, y = DATASETS[name][0]()
    X_train, X_val, y_train, y_val = train_test_split(
        np.asarray(X, dtype=float), np.asarray(y), test_size=0.3, stratify=y, seed=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_val), y_train, y_val


def run(name, optimizer, seed, backend, dtype, data):
    X_train, X_val, y_train, y_val = data
    _, hidden, activation, epochs, batch_size = DATASETS[name]
    n_classes = int(np.max(y_train)) + 1
    model = ann.Model(
        [ann.Layer(X_train.shape[1], hidden, activation), ann.Layer(hidden, n_classes, "softmax")],
        backend=backend,
        dtype=dtype,
        seed=seed,
    )
    solver = ann.Solver(optimizer=optimizer, learning_rate=LEARNING_RATES[optimizer])
    history = model.fit(
        X_train,
        y_train,
        solver=solver,
        settings=ann.Settings(epochs=epochs, batch_size=batch_size, verbose=0),
        validation_data=(X_val, y_val),
    )
    reached = next((e for e, acc in enumerate(history.val_accuracy, start=1) if acc >= 0.95), None)
    return history.val_loss[-1], history.val_accuracy[-1], reached


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="initial weights / shuffling seeds per row (default 5)")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args(argv)

    print(f"backend={args.backend}, dtype={args.dtype}, seeds={args.seeds}")
    print()
    print("| data set | optimizer | learning rate | final val loss | final val accuracy | epochs to 95% val accuracy |")
    print("|---|---|---|---|---|---|")
    start = time.perf_counter()
    for name in args.datasets:
        data = split(name)
        epochs = DATASETS[name][3]
        for optimizer in ORDER:
            results = [run(name, optimizer, seed, args.backend, args.dtype, data) for seed in range(args.seeds)]
            losses = [r[0] for r in results]
            accs = [r[1] for r in results]
            reached = [r[2] for r in results if r[2] is not None]
            loss_text = f"{statistics.mean(losses):.4f}" + (f" ± {statistics.stdev(losses):.4f}" if len(losses) > 1 else "")
            if reached:
                epochs_text = f"{statistics.median(reached):g} ({len(reached)}/{len(results)} runs)"
            else:
                epochs_text = f"not within {epochs} (0/{len(results)} runs)"
            print(
                f"| {name} | {optimizer} | {LEARNING_RATES[optimizer]:g} | {loss_text} | "
                f"{statistics.mean(accs):.3f} | {epochs_text} |",
                flush=True,
            )
    print()
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
