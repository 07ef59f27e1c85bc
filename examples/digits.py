"""Handwritten digits: image classification of 8x8 pictures, 64 -> 256 (relu) -> 10 (softmax), Adam.

    python examples/digits.py --backend numpy --out out/digits

The 1797 images come with scikit-learn (``pip install ".[sklearn]"``); each picture's 64
pixels are one row of X. A small L2 penalty and dropout on the hidden layer keep the wide layer from
memorizing the 1000 training images. Saves report.txt, history.png and confusion_matrix.png in --out.
"""

import argparse
import os

import anyarray_nn as ann
from anyarray_nn import metrics, plotting
from anyarray_nn.preprocessing import StandardScaler, train_val_test_split


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="auto", help="numpy, cupy, torch, array_api_strict or auto")
    parser.add_argument("--device", default=None, help="device on the backend (cuda:0, device1, ...)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--hidden", type=int, default=256, help="units of the hidden layer")
    parser.add_argument("--l2", type=float, default=1e-3, help="strength of the L2 weight penalty")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout rate of the hidden layer")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    parser.add_argument("--out", default=os.path.join("examples", "output", "digits"), help="report and plots folder")
    args = parser.parse_args(argv)

    data = ann.datasets.load_digits()  # X (1797, 64) pixel intensities 0..16, y (1797,) digits
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
        data.X, data.y, val_size=0.15, test_size=0.2, stratify=data.y, seed=args.seed
    )
    scaler = StandardScaler().fit(X_train)  # border pixels that are always 0 keep scale 1
    X_train, X_val, X_test = (scaler.transform(X) for X in (X_train, X_val, X_test))

    model = ann.Model(
        [ann.Layer(64, args.hidden, "relu", init="he"), ann.Layer(args.hidden, 10, "softmax", init="xavier")],
        backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed,
    )
    print(model)
    print(model.summary(batch_size=args.batch_size))
    regularization = ann.Regularization("l2", lam=args.l2, dropout=args.dropout)
    solver = ann.Solver(
        loss="crossentropy", optimizer=args.optimizer, learning_rate=args.learning_rate, regularization=regularization
    )
    settings = ann.Settings(epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    history = model.fit(X_train, y_train, solver, settings, validation_data=(X_val, y_val))

    y_pred = model.predict(X_test)
    report = metrics.classification_report(y_test, y_pred, class_names=data.target_names)
    accuracy = metrics.accuracy(y_test, y_pred)
    text = f"{model}\n\nTest set ({len(y_test)} images)\n{report}\n\ntest accuracy: {accuracy:.4f}\n"
    print()
    print(text)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.txt"), "w") as f:
        f.write(text)
    plotting.plot_history(history, os.path.join(args.out, "history.png"), title="digits")
    C = metrics.confusion_matrix(y_test, y_pred, n_classes=10)
    plotting.plot_confusion_matrix(C, os.path.join(args.out, "confusion_matrix.png"), data.target_names)
    print(f"saved report.txt, history.png and confusion_matrix.png in {args.out}")
    return accuracy


if __name__ == "__main__":
    main()
