"""Will it rain? Binary classification of weather readings with a sigmoid output unit.

    python examples/rain.py --backend numpy --out out/rain

Temperature, humidity and atmospheric pressure come from ``anyarray_nn.datasets.make_rain``, whose
generating rule is documented (the best possible accuracy is about 0.9, as rain is drawn at random from
the rule's probability). The network is 3 -> 16 (relu) -> 1 (sigmoid), trained with binary
cross-entropy. Saves report.txt, history.png and confusion_matrix.png in --out.
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
    parser.add_argument("--samples", type=int, default=2000, help="weather readings to generate")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    parser.add_argument("--out", default=os.path.join("examples", "output", "rain"), help="folder for report and plots")
    args = parser.parse_args(argv)

    data = ann.datasets.make_rain(args.samples, seed=args.seed)
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
        data.X, data.y, val_size=0.15, test_size=0.25, stratify=data.y, seed=args.seed
    )
    scaler = StandardScaler().fit(X_train)  # hPa and percent on one scale, from training rows only
    X_train, X_val, X_test = (scaler.transform(X) for X in (X_train, X_val, X_test))

    model = ann.Model(
        [ann.Layer(3, 16, "relu", init="he"), ann.Layer(16, 1, "sigmoid", init="xavier")],
        backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed,
    )
    print(model)
    print(model.summary(batch_size=args.batch_size))
    solver = ann.Solver(loss="binary_crossentropy", optimizer=args.optimizer, learning_rate=args.learning_rate)
    settings = ann.Settings(epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    history = model.fit(X_train, y_train, solver, settings, validation_data=(X_val, y_val))

    y_pred = model.predict(X_test)  # 0/1, shape (n,)
    p_rain = model.predict_proba(X_test)  # P(rain), shape (n, 1)
    report = metrics.classification_report(y_test, y_pred, class_names=data.target_names)
    accuracy = metrics.accuracy(y_test, y_pred)
    text = (
        f"{model}\n\nTest set ({len(y_test)} days)\n{report}\n\n"
        f"test accuracy: {accuracy:.4f}   log loss: {metrics.log_loss(y_test, p_rain):.4f}\n"
    )
    print()
    print(text)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.txt"), "w") as f:
        f.write(text)
    plotting.plot_history(history, os.path.join(args.out, "history.png"), title="rain")
    C = metrics.confusion_matrix(y_test, y_pred, n_classes=2)
    plotting.plot_confusion_matrix(C, os.path.join(args.out, "confusion_matrix.png"), data.target_names)
    print(f"saved report.txt, history.png and confusion_matrix.png in {args.out}")
    return accuracy


if __name__ == "__main__":
    main()
