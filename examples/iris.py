"""Iris flowers: a 3-class softmax network, 4 -> 8 (tanh) -> 3 (softmax), trained with SGD.

    python examples/iris.py --backend numpy --out out/iris

Prints the model, its dimension table, the training progress and the test report (confusion matrix,
precision, recall and F1 per class); saves report.txt, history.png and confusion_matrix.png in --out.
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
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    parser.add_argument("--out", default=os.path.join("examples", "output", "iris"), help="folder for report and plots")
    args = parser.parse_args(argv)

    data = ann.datasets.load_iris()
    # 60 % training, 15 % validation (the curves), 25 % test (the report); every part has all species.
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
        data.X, data.y, val_size=0.15, test_size=0.25, stratify=data.y, seed=args.seed
    )
    scaler = StandardScaler().fit(X_train)  # training rows only
    X_train, X_val, X_test = (scaler.transform(X) for X in (X_train, X_val, X_test))

    model = ann.Model(
        [ann.Layer(4, 8, "tanh", init="xavier"), ann.Layer(8, 3, "softmax", init="xavier")],
        backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed,
    )
    print(model)
    print(model.summary(batch_size=args.batch_size))
    solver = ann.Solver(loss="crossentropy", optimizer="sgd", learning_rate=args.learning_rate)
    settings = ann.Settings(epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    history = model.fit(X_train, y_train, solver, settings, validation_data=(X_val, y_val))

    y_pred = model.predict(X_test)  # class indices, an array of the model's backend
    report = metrics.classification_report(y_test, y_pred, class_names=data.target_names)
    accuracy = metrics.accuracy(y_test, y_pred)
    text = f"{model}\n\nTest set ({len(y_test)} flowers)\n{report}\n\ntest accuracy: {accuracy:.4f}\n"
    print()
    print(text)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.txt"), "w") as f:
        f.write(text)
    plotting.plot_history(history, os.path.join(args.out, "history.png"), title="iris")
    C = metrics.confusion_matrix(y_test, y_pred, n_classes=3)
    plotting.plot_confusion_matrix(C, os.path.join(args.out, "confusion_matrix.png"), data.target_names)
    print(f"saved report.txt, history.png and confusion_matrix.png in {args.out}")
    return accuracy


if __name__ == "__main__":
    main()
