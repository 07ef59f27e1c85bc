"""The command line ``anyarray-nn``: train a model on a named data set or a CSV file, then predict.

::

    anyarray-nn train iris                                   # the demo: a softmax network on iris
    anyarray-nn train data.csv --target species --layers 16,16 --epochs 200 --out run1
    anyarray-nn predict run1/model.npz new.csv --out predictions.csv
    anyarray-nn export run1/model.npz run1/model.onnx                # for onnxruntime

``train`` writes into ``--out``: the model (``model.npz``), what ``predict`` needs to prepare new data
(``model.meta.json``: feature columns, scaler, class names), the report (``report.txt``), the history
(``history.json``) and the plots (``history.png``, ``confusion_matrix.png`` or ``predictions.png``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import stat
import sys
import textwrap
import time

import numpy as np

from . import datasets, export, io, metrics, optimizers, plotting, saving
from .backend import to_numpy
from .layers import Layer
from .model import Model
from .regularization import Regularization
from .preprocessing import StandardScaler, train_test_split, train_val_test_split
from .training import Settings, Solver, default_solver

META_SUFFIX = ".meta.json"
# Numeric targets with at most this many distinct integer values are taken as class labels.
MAX_CLASSES_AUTO = 20


class CLIError(Exception):
    """A mistake in the command line or its files, shown as a one-line error without a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line of stderr (exit status 2), like every other error here."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


# --------------------------------------------------------------------------------------------------
# numbers on the command line: each option's type refuses what the option cannot take
def _number(text, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _ranged(kind, low, high=None, low_open=False, high_open=True, what=None):
    """An argparse type: a number of ``kind`` in the interval from ``low`` to ``high``."""

    def parse(text):
        value = _number(text, kind)
        below = value <= low if low_open else value < low
        above = high is not None and (value >= high if high_open else value > high)
        if below or above:
            if high is None:
                wanted = f"{'>' if low_open else '>='} {low:g}"
            else:
                wanted = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"expected {what or ('an integer' if kind is int else 'a number')} {wanted}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


_positive_float = _ranged(float, 0.0, low_open=True)
_non_negative_float = _ranged(float, 0.0)
_positive_int = _ranged(int, 1)
_non_negative_int = _ranged(int, 0)
_dropout = _ranged(float, 0.0, 1.0, what="a rate")
_test_fraction = _ranged(float, 0.0, 1.0, low_open=True, what="a fraction")
_val_fraction = _ranged(float, 0.0, 1.0, what="a fraction")


def _best_optimizer():
    return "adam" if "adam" in optimizers.names() else "sgd"


# Settings that train each named data set well; every one can be overridden on the command line.
_COMMON = dict(optimizer=None, batch_size=32, test_size=0.2, val_size=0.15, l2=0.0, dropout=0.0)
PRESETS = {
    "iris": {**_COMMON, **dict(layers=[8], activation="tanh", optimizer="sgd", learning_rate=0.1, epochs=200,
                               batch_size=16, test_size=0.3, val_size=0.1)},
    "rain": {**_COMMON, **dict(layers=[16], activation="relu", learning_rate=0.01, epochs=100)},
    "digits": {**_COMMON, **dict(layers=[256], activation="relu", learning_rate=0.001, epochs=100, l2=1e-3,
                                 dropout=0.2)},
    "regression": {**_COMMON, **dict(layers=[32, 32], activation="tanh", learning_rate=0.003, epochs=200)},
    "csv": {**_COMMON, **dict(layers=[16], activation="relu", learning_rate=0.01, epochs=100)},
}


# --------------------------------------------------------------------------------------------------
# CSV files
def read_csv(path):
    """The header and the rows (lists of stripped strings) of a CSV file, with clear errors."""
    if not os.path.exists(path):
        raise CLIError(f"CSV file not found: {path!r}.")
    if os.path.isdir(path):
        raise CLIError(f"{path!r} is a folder, not a CSV file.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f) if row and any(c.strip() for c in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CLIError(f"Could not read {path!r} as a CSV text file: {exc}.") from None
    if len(rows) < 2:
        raise CLIError(f"{path!r} needs a header row and at least one data row; it has {len(rows)} row(s).")
    header = rows[0]
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CLIError(f"{path!r} line {i} has {len(row)} values, but the header has {len(header)} columns.")
    return header, rows[1:]


def _column_index(header, name, path):
    if name not in header:
        raise CLIError(f"Column {name!r} is not in {path!r}; its columns are: {', '.join(header)}.")
    return header.index(name)


def _numeric_column(rows, j, name, path):
    try:
        return np.array([float(r[j]) for r in rows], dtype=np.float64)
    except ValueError:
        bad = next(r[j] for r in rows if not _is_number(r[j]))
        raise CLIError(
            f"Column {name!r} of {path!r} must hold numbers to be a feature, found {bad!r}. "
            f"Drop or encode it first."
        ) from None


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _features(header, rows, names, path):
    """The feature matrix (n_samples, len(names)) from the named columns."""
    cols = [_numeric_column(rows, _column_index(header, name, path), name, path) for name in names]
    X = np.stack(cols, axis=1)
    if not np.all(np.isfinite(X)):
        raise CLIError(f"{path!r} has missing, NaN or infinite feature values; clean or impute them first.")
    return X


def load_csv(path, target, task="auto"):
    """A data set from a CSV file: every column but ``target`` is a feature.

    Returns
    -------
    dict with X, y, feature_names, class_names (None for regression), task, target
    """
    header, rows = read_csv(path)
    if target is None:
        target = header[-1]
        print(f"target column: {target!r} (the last one; choose another with --target)")
    j = _column_index(header, target, path)
    feature_names = [h for h in header if h != target]
    if not feature_names:
        raise CLIError(f"{path!r} has no feature columns besides the target {target!r}.")
    X = _features(header, rows, feature_names, path)
    raw = [r[j] for r in rows]
    if any(v == "" for v in raw):
        raise CLIError(f"The target column {target!r} of {path!r} has empty values.")
    numeric = all(_is_number(v) for v in raw)
    if task == "auto":
        if not numeric:
            task = "classification"
        else:
            values = np.array([float(v) for v in raw])
            distinct = np.unique(values)
            integral = bool(np.all(values == np.round(values)))
            task = "classification" if integral and len(distinct) <= MAX_CLASSES_AUTO else "regression"
        print(f"task: {task} (from the values of {target!r}; choose with --task)")
    if task == "regression":
        if not numeric:
            bad = next(v for v in raw if not _is_number(v))
            raise CLIError(f"--task regression needs a numeric target, but {target!r} holds {bad!r}.")
        return dict(X=X, y=np.array([float(v) for v in raw]), feature_names=feature_names, class_names=None,
                    task=task, target=target)
    if numeric:
        keys = sorted({float(v) for v in raw})
        class_names = [_number_name(v) for v in keys]
        lookup = {v: i for i, v in enumerate(keys)}
        y = np.array([lookup[float(v)] for v in raw], dtype=np.int64)
    else:
        class_names = sorted(set(raw))
        lookup = {v: i for i, v in enumerate(class_names)}
        y = np.array([lookup[v] for v in raw], dtype=np.int64)
    if len(class_names) < 2:
        raise CLIError(f"The target column {target!r} holds a single class ({class_names[0]!r}); nothing to learn.")
    return dict(X=X, y=y, feature_names=feature_names, class_names=class_names, task=task, target=target)


def _number_name(value):
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _write_csv(path, header, rows):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


# --------------------------------------------------------------------------------------------------
# train
def _parse_layers(text):
    text = text.strip()
    if text in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.replace(" ", ",").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected hidden layer sizes like '16,16', got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _memory_bytes():
    """The machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _size_text(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def _check_model_size(sizes, hidden, dtype, memory=None):
    """A CLIError naming ``--layers`` when the weights of the network ``sizes`` cannot fit in memory.

    Checked before anything is allocated: the weights in ``dtype``, plus the float64 draw of the
    largest weight matrix (initial weights are drawn on the host), against the physical memory.
    """
    memory = _memory_bytes() if memory is None else memory
    pairs = list(zip(sizes[:-1], sizes[1:]))
    n_params = sum(a * b + b for a, b in pairs)
    weights = n_params * np.dtype(dtype).itemsize
    need = weights + max(a * b for a, b in pairs) * 8
    if memory is not None and need > memory:
        layers = ",".join(str(n) for n in hidden)
        raise CLIError(
            f"the layers {layers} need {_size_text(weights)} of {dtype} weights ({n_params:,} parameters), more "
            f"than the {_size_text(memory)} of memory of this machine; choose smaller --layers."
        )


def _check_folder_argument(folder, option, given=None):
    """Fail now, not after training, when ``folder`` can neither be found nor be created.

    ``given`` is what the user typed for ``option`` (default: ``folder`` itself), for the message.
    """
    given = folder if given is None else given
    probe = os.path.abspath(folder)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise CLIError(f"{option} {given!r}: {probe!r} is a file, not a folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {given!r}: the folder {probe!r} is not writable.")


def _load_data(args):
    source = args.data
    if source in datasets.NAMES:
        if args.target is not None:
            raise CLIError(f"--target applies to CSV files; {source!r} is a named data set.")
        data = datasets.load(source, seed=args.seed)
        task = "regression" if source == "regression" else "classification"
        return dict(X=data.X, y=data.y, feature_names=data.feature_names,
                    class_names=data.target_names if task == "classification" else None,
                    task=task, target=data.target_names[0] if task == "regression" else "class", name=source,
                    preset=source)
    if not (source.lower().endswith(".csv") or os.path.exists(source)):
        expected = list(datasets.NAMES)
        raise CLIError(f"Unknown data set {source!r}: expected one of {expected} or the path of a CSV file.")
    data = load_csv(source, args.target, args.task)
    data["name"] = os.path.splitext(os.path.basename(source))[0]
    data["preset"] = "csv"
    return data


def _settings_for(args, data):
    preset = dict(PRESETS[data["preset"]])
    for key in preset:
        value = getattr(args, key, None)
        if value is not None:
            preset[key] = value
    if preset["optimizer"] is None:
        preset["optimizer"] = _best_optimizer()
    return preset


def _build_model(n_features, n_outputs, output_activation, cfg, args):
    sizes = [n_features] + list(cfg["layers"]) + [n_outputs]
    _check_model_size(sizes, cfg["layers"], args.dtype)
    layers = [Layer(a, b, cfg["activation"]) for a, b in zip(sizes[:-2], sizes[1:-1])]
    layers.append(Layer(sizes[-2], sizes[-1], output_activation))
    return Model(layers, backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed)


def train(args):
    out = args.out or os.path.join("anyarray-nn-runs", os.path.splitext(os.path.basename(args.data))[0])
    _check_folder_argument(out, "--out")
    data = _load_data(args)
    cfg = _settings_for(args, data)
    X, y, task = data["X"], data["y"], data["task"]
    classification = task == "classification"
    class_names = data["class_names"]
    stratify = y if classification else None
    if cfg["val_size"] > 0:
        X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
            X, y, val_size=cfg["val_size"], test_size=cfg["test_size"], stratify=stratify, seed=args.seed
        )
    else:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=cfg["test_size"], stratify=stratify, seed=args.seed
        )
        X_val = y_val = None
    scaler = StandardScaler().fit(X_train)  # training rows only: nothing leaks from the others
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    X_val = None if X_val is None else scaler.transform(X_val)
    y_mean, y_scale = 0.0, 1.0
    if classification:
        k = len(class_names)
        n_outputs, output = (1, "sigmoid") if k == 2 else (k, "softmax")
    else:
        # Regression targets are standardized too, so one learning rate suits every unit of measure.
        y_mean, y_scale = float(np.mean(y_train)), float(np.std(y_train)) or 1.0
        n_outputs, output = 1, "linear"
    fit_y = (lambda v: v) if classification else (lambda v: (v - y_mean) / y_scale)

    regularization = Regularization("l2" if cfg["l2"] > 0 else "none", lam=cfg["l2"], dropout=cfg["dropout"])
    solver = Solver(optimizer=cfg["optimizer"], learning_rate=cfg["learning_rate"], regularization=regularization)
    model = _build_model(X.shape[1], n_outputs, output, cfg, args)
    solver = default_solver(model, solver)
    print(f"data: {data['name']}  {X.shape[0]} samples x {X.shape[1]} features  task: {task}"
          f"  split: {len(y_train)} train / {0 if y_val is None else len(y_val)} validation / {len(y_test)} test")
    print(model)
    print(model.summary(batch_size=cfg["batch_size"]))
    print(f"{solver}  epochs={cfg['epochs']}  batch_size={cfg['batch_size']}")
    start = time.perf_counter()
    history = model.fit(
        X_train,
        fit_y(y_train),
        solver,
        Settings(epochs=cfg["epochs"], batch_size=cfg["batch_size"], verbose=args.verbose),
        validation_data=None if X_val is None else (X_val, fit_y(y_val)),
    )
    seconds = time.perf_counter() - start

    lines = [f"anyarray-nn train {' '.join(args.argv)}".rstrip(), "", repr(model), "",
             model.summary(batch_size=cfg["batch_size"]), "", repr(solver),
             f"epochs {cfg['epochs']}, batch size {cfg['batch_size']}, {seconds:.1f} s of training", ""]
    if classification:
        proba = model.predict_proba(X_test)
        pred = model.predict(X_test)
        report = metrics.classification_report(y_test, pred, class_names=class_names)
        acc = metrics.accuracy(y_test, pred)
        ll = metrics.log_loss(y_test, proba)
        headline = f"test accuracy: {acc:.4f} on {len(y_test)} held-out samples   (log loss {ll:.4f})"
    else:
        pred = to_numpy(model.predict(X_test)) * y_scale + y_mean
        report = metrics.regression_report(y_test, pred)
        headline = (f"test R2: {metrics.r2_score(y_test, pred):.4f}  RMSE: "
                    f"{metrics.root_mean_squared_error(y_test, pred):.4f} on {len(y_test)} held-out samples")
    lines += [f"Test set ({len(y_test)} samples)", report, "", headline]
    text = "\n".join(lines) + "\n"
    print()
    print(report)
    print()
    print(headline)

    out = args.out or os.path.join("anyarray-nn-runs", data["name"])
    os.makedirs(out, exist_ok=True)
    written = []
    with open(os.path.join(out, "report.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    written.append("report.txt")
    with open(os.path.join(out, "history.json"), "w", encoding="utf-8") as f:
        json.dump(history.as_dict(), f, indent=1)
    written.append("history.json")
    written += _save_model(model, out, data, scaler, y_mean, y_scale)
    if not args.no_plots:
        written += _save_plots(out, history, classification, y_test, pred, class_names, data["name"])
    print(f"wrote {', '.join(written)} to {out}/")
    return 0


def _save_model(model, out, data, scaler, y_mean, y_scale):
    path = os.path.join(out, "model.npz")
    saving.save(model, path)
    meta = {
        "format": "anyarray-nn-cli",
        "version": 1,
        "task": data["task"],
        "target": data["target"],
        "feature_names": list(data["feature_names"]),
        "class_names": None if data["class_names"] is None else list(data["class_names"]),
        "scaler_mean": [float(v) for v in to_numpy(scaler.mean_)],
        "scaler_scale": [float(v) for v in to_numpy(scaler.scale_)],
        "target_mean": y_mean,
        "target_scale": y_scale,
    }
    with open(os.path.splitext(path)[0] + META_SUFFIX, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return ["model.npz", "model" + META_SUFFIX]


def _save_plots(out, history, classification, y_test, pred, class_names, name):
    try:
        files = [plotting.plot_history(history, os.path.join(out, "history.png"), title=name)]
        if classification:
            C = metrics.confusion_matrix(y_test, pred, n_classes=len(class_names))
            files.append(plotting.plot_confusion_matrix(C, os.path.join(out, "confusion_matrix.png"), class_names))
        else:
            files.append(plotting.plot_predictions(y_test, pred, os.path.join(out, "predictions.png")))
    except ImportError as exc:
        print(f"plots skipped: {exc}", file=sys.stderr)
        return []
    return [os.path.basename(f) for f in files]


# --------------------------------------------------------------------------------------------------
# predict
def predict(args):
    if not os.path.exists(args.model):
        raise CLIError(f"Model file not found: {args.model!r}.")
    if os.path.isdir(args.out):
        raise CLIError(f"--out {args.out!r} is a folder; give the CSV file to write.")
    _check_folder_argument(os.path.dirname(os.path.abspath(args.out)), "--out", args.out)
    model = saving.load(args.model, backend=args.backend, device=args.device)
    meta_path = os.path.splitext(args.model)[0] + META_SUFFIX
    meta = _read_meta(args.model, model)
    header, rows = read_csv(args.csv)
    if meta is not None:
        feature_names = meta["feature_names"]
        missing = [n for n in feature_names if n not in header]
        if missing:
            raise CLIError(
                f"{args.csv!r} lacks the feature column(s) {missing} the model was trained on; "
                f"its columns are: {', '.join(header)}."
            )
        X = _features(header, rows, feature_names, args.csv)
        X = (X - np.asarray(meta["scaler_mean"])) / np.asarray(meta["scaler_scale"])
    else:
        # A model saved without the command line: every column is a feature, used as it is.
        if len(header) != model.n_features:
            raise CLIError(
                f"No {os.path.basename(meta_path)!r} beside the model, so every column of {args.csv!r} is a "
                f"feature: it has {len(header)} columns ({', '.join(header)}), the model expects {model.n_features}."
            )
        feature_names = header
        X = _features(header, rows, header, args.csv)
    if meta:
        task = meta["task"]
    else:
        task = "classification" if model.output_activation in ("softmax", "sigmoid") else "regression"
    class_names = meta["class_names"] if meta else None

    if task == "classification":
        proba = to_numpy(model.predict_proba(X))
        labels = to_numpy(model.predict(X)).reshape(-1)
        names = class_names or [str(i) for i in range(max(2, proba.shape[1]))]
        out_header = ["prediction"]
        out_rows = [[names[int(i)]] for i in labels]
        if args.proba:
            if proba.shape[1] == 1:
                proba = np.concatenate([1.0 - proba, proba], axis=1)
            out_header += [f"p_{n}" for n in names]
            out_rows = [row + [f"{p:.6g}" for p in ps] for row, ps in zip(out_rows, proba.tolist())]
    else:
        values = to_numpy(model.predict(X)).reshape(len(rows), -1)
        if meta:
            values = values * meta["target_scale"] + meta["target_mean"]
        out_header = ["prediction"] if values.shape[1] == 1 else [f"prediction_{i}" for i in range(values.shape[1])]
        out_rows = [[f"{v:.6g}" for v in row] for row in values.tolist()]
    _write_csv(args.out, out_header, out_rows)
    print(f"wrote {len(out_rows)} predictions to {args.out}")

    # When the file also holds the answers, say how well the model did.
    target = meta["target"] if meta else None
    if target is not None and target in header:
        j = header.index(target)
        if task == "classification":
            lookup = {n: i for i, n in enumerate(class_names)}
            truth = [lookup.get(_canonical_label(r[j], class_names)) for r in rows]
            if all(t is not None for t in truth):
                print(metrics.classification_report(np.array(truth), labels, class_names=class_names))
        else:
            truth = _numeric_column(rows, j, target, args.csv)
            print(metrics.regression_report(truth, values[:, 0]))
    return 0


# --------------------------------------------------------------------------------------------------
# export
def export_model(args):
    """Write the model as ONNX; with the ``.meta.json`` of ``train`` beside it, as ``predict`` uses it."""
    if not os.path.exists(args.model):
        raise CLIError(f"Model file not found: {args.model!r}.")
    if os.path.isdir(args.model):
        raise CLIError(f"{args.model!r} is a folder, not a model file.")
    # Checked before the model file is read, so a typo costs no loading.
    export.check_path(args.out)
    dtype = export.check_dtype(args.dtype, "float32")
    ndx, _ = export._require()
    model = saving.load(args.model, backend="numpy")
    dtype = model.dtype if args.dtype is None else dtype
    meta = _read_meta(args.model, model)
    X = ndx.argument(shape=("N", model.n_features), dtype=getattr(ndx, dtype))
    metadata = {}
    if meta is None:
        # Saved without the command line: the graph is the network alone, like Model.predict.
        proto = export.export_onnx(model, args.out, dtype=dtype)
        labels = "label" in {o.name for o in proto.graph.output}
        what = "the network alone (no model.meta.json beside it): X is fed as to Model.predict_proba"
    else:
        # Standardized as in training, inside the graph: the file takes the raw feature columns.
        mean = ndx.asarray(np.asarray(meta["scaler_mean"], dtype=dtype))
        scale = ndx.asarray(np.asarray(meta["scaler_scale"], dtype=dtype))
        A = export.network_output(model, (X - mean) / scale, dtype, ndx=ndx)
        outputs = {"output": A}
        shapes = {"output": ("N", model.n_outputs)}
        if meta["task"] == "classification":
            outputs["label"] = export._decide(model, A, ndx=ndx)
            shapes["label"] = export._output_shapes(model)["label"]
            metadata["class_names"] = json.dumps(meta["class_names"])
        else:
            # Values in the target's units, as predict writes them.
            outputs["output"] = A * float(meta["target_scale"]) + float(meta["target_mean"])
        metadata["feature_names"] = json.dumps(meta["feature_names"])
        proto = export.build(model, {"X": X}, outputs, None, output_shapes=shapes, metadata=metadata)
        export.write_bytes(args.out, proto)
        labels = "label" in outputs
        what = (
            f"X holds the raw columns {', '.join(meta['feature_names'])} (standardized inside the graph, "
            f"as in training)"
        )
    outs = "output, label" if labels else "output"
    print(f"wrote {args.out}: input X (N, {model.n_features}) {dtype}, outputs {outs}; {what}")
    if meta is not None and meta["task"] == "classification":
        print(f"label holds indices into the class names: {', '.join(meta['class_names'])}")
    return 0


def _read_meta(model_path, model):
    """The ``.meta.json`` that ``train`` wrote beside ``model_path`` (None when there is none), checked
    against ``model``: only a regular file is opened, and every entry is checked before it is used."""
    meta_path = os.path.splitext(model_path)[0] + META_SUFFIX
    if not os.path.lexists(meta_path):
        return None

    def bad(why):
        raise CLIError(f"{meta_path!r} is not a valid model description: {why}.")

    try:
        info = os.stat(meta_path)
        if not stat.S_ISREG(info.st_mode):
            bad("it is not a regular file (a folder, FIFO or device)")
        if info.st_size > io.MAX_HEADER_BYTES:
            bad(f"it has {info.st_size} bytes, more than the {io.MAX_HEADER_BYTES} a description may have")
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError, RecursionError) as exc:
        bad(f"{type(exc).__name__}: {exc}")
    _check_meta(meta, model, bad)
    return meta


def _check_meta(meta, model, bad):
    if not isinstance(meta, dict):
        bad(f"it holds a JSON {type(meta).__name__}, not an object")
    keys = {"format", "version", "task", "target", "feature_names", "class_names", "scaler_mean", "scaler_scale",
            "target_mean", "target_scale"}
    if set(meta) != keys:
        missing, unknown = sorted(keys - set(meta)), sorted(set(meta) - keys)
        bad(f"its entries differ from {sorted(keys)}" + (f"; it lacks {missing}" if missing else "")
            + (f"; it has unknown {unknown}" if unknown else ""))
    if meta["format"] != "anyarray-nn-cli" or meta["version"] != 1:
        bad(f"it is format {meta['format']!r} version {meta['version']!r}, not 'anyarray-nn-cli' version 1")
    if meta["task"] not in ("classification", "regression"):
        bad(f"its task must be 'classification' or 'regression', got {meta['task']!r}")
    if not isinstance(meta["target"], str):
        bad(f"its target must be a column name, got {meta['target']!r}")
    n = model.n_features

    def strings(key, count):
        value = meta[key]
        if not isinstance(value, list) or len(value) != count or not all(isinstance(v, str) for v in value):
            bad(f"{key!r} must be a list of {count} strings, got {_short(value)}")

    def numbers(key, count, positive=False):
        value = meta[key]
        ok = isinstance(value, list) and len(value) == count and all(_finite(v, positive) for v in value)
        if not ok:
            wanted = "positive finite numbers" if positive else "finite numbers"
            bad(f"{key!r} must be a list of {count} {wanted} (one per feature of the model), got {_short(value)}")

    strings("feature_names", n)
    numbers("scaler_mean", n)
    numbers("scaler_scale", n, positive=True)
    if not _finite(meta["target_mean"]) or not _finite(meta["target_scale"], positive=True):
        bad(f"'target_mean' and 'target_scale' must be finite numbers (scale > 0), got {meta['target_mean']!r} "
            f"and {meta['target_scale']!r}")
    if meta["task"] == "classification":
        if model.output_activation not in ("softmax", "sigmoid"):
            bad(f"it describes a classifier, but the model's output activation is {model.output_activation!r}")
        strings("class_names", max(2, model.n_outputs))
    elif meta["class_names"] is not None:
        bad("a regression has no class names ('class_names' must be null)")


def _finite(value, positive=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return ok and (value > 0 or not positive)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _canonical_label(text, class_names):
    if text in class_names:
        return text
    return _number_name(float(text)) if _is_number(text) else text


# --------------------------------------------------------------------------------------------------
def _presets_text():
    lines = ["options left out take the preset of the data set (a CSV file takes 'csv'):"]
    for name, cfg in PRESETS.items():
        layers = ",".join(str(n) for n in cfg["layers"]) or "none"
        optimizer = cfg["optimizer"] or f"{_best_optimizer()}"
        extra = "".join(f" --{k} {cfg[k]:g}" for k in ("l2", "dropout") if cfg[k])
        lines.append(
            f"  {name:<11} --layers {layers} --activation {cfg['activation']} --optimizer {optimizer} "
            f"--learning-rate {cfg['learning_rate']:g} --epochs {cfg['epochs']} --batch-size {cfg['batch_size']}{extra}"
        )
    return "\n".join(lines)


def build_parser():
    parser = _Parser(
        prog="anyarray-nn",
        description="Train multilayer perceptrons on any Array API backend (NumPy, CuPy, torch, ...), "
        "evaluate them and predict with them.",
        epilog="Start with: anyarray-nn train iris.  Help on a command: anyarray-nn train --help.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,predict,export}")
    fmt = argparse.RawDescriptionHelpFormatter

    t = sub.add_parser(
        "train",
        help="train a model on a named data set or a CSV file",
        description=textwrap.fill(
            "Train a model, print its dimension table, progress and a test report, and save the model, the "
            "report and the plots into --out. Rows are split into training, validation and test parts "
            "(stratified for classification) and standardized with statistics of the training rows only.",
            88,
        ),
        epilog=_presets_text(),
        formatter_class=fmt,
    )
    t.add_argument(
        "data", help=f"a named data set ({', '.join(datasets.NAMES)}) or the path of a CSV file with a header row"
    )
    t.add_argument("--target", help="CSV only: the column to predict (default: the last column)")
    t.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="CSV only: 'auto' (default) takes text or few distinct integers as classes")
    t.add_argument("--layers", type=_parse_layers, help="hidden layer sizes, e.g. 16,16 ('none': no hidden layer)")
    t.add_argument("--activation", help="activation of the hidden layers: relu, tanh, sigmoid, leaky_relu, ...")
    t.add_argument("--optimizer", help=f"one of {', '.join(optimizers.names())}")
    t.add_argument("--learning-rate", type=_positive_float, dest="learning_rate")
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--batch-size", type=_positive_int, dest="batch_size")
    t.add_argument("--l2", type=_non_negative_float, help="strength of an L2 weight penalty (0: none)")
    t.add_argument("--dropout", type=_dropout, help="dropout rate of the hidden layers, in [0, 1) (0: none)")
    t.add_argument("--test-size", type=_test_fraction, dest="test_size",
                   help="fraction of rows held out for the test report, in (0, 1)")
    t.add_argument("--val-size", type=_val_fraction, dest="val_size",
                   help="fraction of rows for validation, in [0, 1) (0: none)")
    t.add_argument("--backend", default="auto", help="numpy, cupy, torch, jax, dask, array_api_strict, any installed Array API library, or auto (default)")
    t.add_argument("--device", help="device on the backend: cpu, cuda:0, device1, ...")
    t.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="default: float32")
    t.add_argument("--seed", type=_non_negative_int, default=0, help="seeds the split, initial weights and shuffling (default: 0)")
    t.add_argument("--out", help="output folder (default: anyarray-nn-runs/NAME)")
    t.add_argument("--no-plots", action="store_true", dest="no_plots", help="do not draw the PNG plots")
    t.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                   help="0 silent, 1 about twenty lines (default), 2 every epoch")

    p = sub.add_parser(
        "predict",
        help="predict with a saved model on a CSV file",
        description=textwrap.fill(
            "Load a model saved by 'train' and write one prediction per row of a CSV file. The columns the "
            "model was trained on are picked by name and standardized as in training; when the file also "
            "holds the target column, a report is printed.",
            88,
        ),
        formatter_class=fmt,
    )
    p.add_argument("model", help="a model file written by 'train' (OUT/model.npz)")
    p.add_argument("csv", help="CSV file with a header row holding the feature columns")
    p.add_argument("--out", default="predictions.csv", help="CSV file to write (default: predictions.csv)")
    p.add_argument("--proba", action="store_true", help="classification: add one probability column per class")
    p.add_argument("--backend", default="auto", help="numpy, cupy, torch, jax, dask, array_api_strict, any installed Array API library, or auto (default)")
    p.add_argument("--device", help="device on the backend")

    e = sub.add_parser(
        "export",
        help="write a saved model as an ONNX file (needs: pip install \"anyarray-nn[onnx]\")",
        description=textwrap.fill(
            "Write a saved model as an ONNX file for onnxruntime or any ONNX runtime: input 'X' (N, "
            "n_features), output 'output' (the network output, probabilities for classifiers) and, for "
            "classifiers, 'label' (class indices). With the model.meta.json that 'train' writes beside the "
            "model, the graph standardizes the raw feature columns as in training, and regression outputs "
            "are in the target's units, as 'predict' writes them.",
            88,
        ),
        formatter_class=fmt,
    )
    e.add_argument("model", help="a model file (OUT/model.npz of 'train', or one written by anyarray_nn.save)")
    e.add_argument("out", help="the ONNX file to write, e.g. model.onnx")
    e.add_argument("--dtype", metavar="{float32,float64}",
                   help="float type of the input and the weights (default: the model's)")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv[1:]
    try:
        if args.command == "train":
            return train(args)
        if args.command == "export":
            return export_model(args)
        return predict(args)
    except MemoryError as exc:
        # The last resort: sizes are checked before allocating where they can be.
        print(
            f"anyarray-nn {args.command}: error: out of memory ({exc or 'MemoryError'}); choose smaller --layers "
            f"or --batch-size, or use less data.",
            file=sys.stderr,
        )
        return 2
    except (CLIError, ValueError, TypeError, ImportError, OSError, RuntimeError) as exc:
        # Errors of this library name the argument and what was expected: show them without a traceback.
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        print(f"anyarray-nn {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
