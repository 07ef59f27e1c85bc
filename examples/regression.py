"""Regression: a smooth nonlinear function of four inputs, 4 -> 32 (tanh) -> 32 (tanh) -> 1 (linear).

    python examples/regression.py --backend numpy --out out/regression

The data come from ``anyarray_nn.datasets.make_regression`` (y = sin(pi x0) + x1^2 - 0.5 x2 + 0.5 x0 x3
+ noise; the best possible R² is about 0.986). The target is standardized like the inputs and the
predictions mapped back before R², MAE and RMSE are computed. Saves report.txt, history.png and
predictions.png in --out.
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
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    parser.add_argument("--out", default=os.path.join("examples", "output", "regression"), help="report and plots folder")
    args = parser.parse_args(argv)

    data = ann.datasets.make_regression(args.samples, noise=0.1, seed=args.seed)
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
        data.X, data.y, val_size=0.15, test_size=0.2, seed=args.seed
    )
    x_scaler = StandardScaler().fit(X_train)
    X_train, X_val, X_test = (x_scaler.transform(X) for X in (X_train, X_val, X_test))
    y_scaler = StandardScaler().fit(y_train[:, None])  # targets as a column (n, 1)
    t_train, t_val = y_scaler.transform(y_train[:, None]), y_scaler.transform(y_val[:, None])

    model = ann.Model(
        [ann.Layer(4, 32, "tanh"), ann.Layer(32, 32, "tanh"), ann.Layer(32, 1, "linear")],
        backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed,
    )
    print(model)
    print(model.summary(batch_size=args.batch_size))
    solver = ann.Solver(loss="mse", optimizer=args.optimizer, learning_rate=args.learning_rate)
    settings = ann.Settings(epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    history = model.fit(X_train, t_train, solver, settings, validation_data=(X_val, t_val))

    # Back to the target's own units: (n, 1) standardized outputs -> (n, 1) values.
    y_pred = y_scaler.inverse_transform(ann.to_numpy(model.predict_proba(X_test)))
    report = metrics.regression_report(y_test, y_pred)
    r2 = metrics.r2_score(y_test, y_pred)
    text = f"{model}\n\nTest set ({len(y_test)} samples)\n{report}\n\ntest R2: {r2:.4f}\n"
    print()
    print(text)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.txt"), "w") as f:
        f.write(text)
    plotting.plot_history(history, os.path.join(args.out, "history.png"), title="regression")
    plotting.plot_predictions(y_test, y_pred, os.path.join(args.out, "predictions.png"))
    print(f"saved report.txt, history.png and predictions.png in {args.out}")
    return r2


if __name__ == "__main__":
    main()
