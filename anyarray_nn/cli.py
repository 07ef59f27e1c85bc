"""Command line: ``anyarray-nn train iris`` trains a first model without writing code."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import datasets
from .layers import Layer
from .model import Model
from .preprocessing import StandardScaler, train_test_split
from .training import Settings, Solver


def _train_iris(args):
    X, y = datasets.load_iris()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, seed=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    model = Model(
        [Layer(4, 8, "tanh"), Layer(8, 3, "softmax")],
        backend=args.backend,
        seed=args.seed,
    )
    print(model)
    print(model.summary(batch_size=args.batch_size))
    solver = Solver(optimizer=args.optimizer, learning_rate=args.learning_rate)
    model.fit(
        X_train, y_train, solver, Settings(epochs=args.epochs, batch_size=args.batch_size), validation_data=(X_test, y_test)
    )
    accuracy = float(np.mean(model.backend.to_numpy(model.predict(X_test)) == y_test))
    print(f"test accuracy: {accuracy:.4f} on {len(y_test)} held-out flowers")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="anyarray-nn", description="Train multilayer perceptrons on any Array API backend.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model on a named data set")
    train.add_argument("dataset", choices=["iris"], help="data set to train on")
    train.add_argument("--backend", default="auto", help="numpy, cupy, torch, array_api_strict or auto (default)")
    train.add_argument("--epochs", type=int, default=200)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--optimizer", default="sgd")
    train.add_argument("--learning-rate", type=float, default=0.1)
    train.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return _train_iris(args)


if __name__ == "__main__":
    sys.exit(main())
