"""The command line ``anyarray-nn``: train a model on a named data set or a CSV file, evaluate it, predict
with it and export it.

::

    anyarray-nn train iris                                   # the demo: a softmax network on iris
    anyarray-nn train data.csv --target species --layers 16,16 --epochs 200 --out run1
    anyarray-nn evaluate run1/model.npz test.csv             # a report on labelled rows
    anyarray-nn predict run1/model.npz new.csv --out predictions.csv
    anyarray-nn export run1/model.npz run1/model.onnx        # for onnxruntime

``train`` writes into ``--out``: the trained pipeline (``model.npz``: the model with its feature columns,
scaler, class names or target scaling and ID column, see :mod:`anyarray_nn.pipeline`), the report
(``report.txt``), the history (``history.json``) and the plots (``history.png``, ``confusion_matrix.png``
or ``predictions.png``). Reading CSV files is :mod:`anyarray_nn.csvdata`'s work.

Every mistake is one line on stderr and exit status 2; Ctrl-C ends with one line saying where training
stopped and how to resume, and exit status 130.
"""

from __future__ import annotations

import argparse
import csv
import io as text_io
import json
import math
import os
import shlex
import sys
import textwrap
import time
import warnings

import numpy as np

from . import activations, csvdata, datasets, export, io, metrics, optimizers, plotting
from ._version import __version__
from .backend import to_numpy
from .callbacks import Callback, EarlyStopping
from .layers import Layer
from .model import Model
from .pipeline import Pipeline
from .preprocessing import StandardScaler, train_test_split, train_val_test_split
from .regularization import Regularization
from .training import Settings, Solver, default_solver

PROG = "anyarray-nn"
#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED = 130
# A run folder of versions before the pipeline file kept its description here.
_LEGACY_META = "model.meta.json"
_DROP_HINT = "drop those rows with --drop-missing, or fill the cells in."
_IGNORE_HINT = "leave the column out with --ignore {name}, or encode it as numbers."


class CLIError(Exception):
    """A mistake in the command line or its files, shown as a one-line error without a traceback."""


class _Interrupted(Exception):
    """Ctrl-C, with the line that says what was kept and how to go on."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line of stderr (exit status 2), like every other error here."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


# --------------------------------------------------------------------------------------------------
# values on the command line: each option's type refuses what the option cannot take
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


def _registry_choice(kind, names):
    """An argparse type: one of the registered ``names`` of a kind of component."""

    def parse(text):
        if text not in names():
            raise argparse.ArgumentTypeError(f"Unknown {kind} {text!r}; expected one of {', '.join(names())}")
        return text

    parse.__name__ = kind
    return parse


def _columns(text):
    """An argparse type: column names separated by commas."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got {text!r}")
    return names


def _delimiter(text):
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(text, text)
    if len(value) != 1 or value in "\r\n\"":
        raise argparse.ArgumentTypeError(f"expected one character (or tab, comma, semicolon, pipe), got {text!r}")
    return value


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
# files and folders
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


def _check_output_file(path, option, force):
    """``path`` may be written: not a folder, its folder can be made, and not an existing file unless ``force``."""
    if os.path.isdir(path):
        raise CLIError(f"{option} {path!r} is a folder; give the file to write.")
    _check_folder_argument(os.path.dirname(os.path.abspath(path)), option, path)
    if os.path.lexists(path) and not force:
        raise CLIError(f"{option} {path!r} already exists; pass --force to replace it, or choose another {option}.")


def _write_csv(path, header, rows):
    """Write a CSV file atomically: a reader never sees half of it, and a failure keeps the old file."""
    buffer = text_io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    io.atomic_write(path, lambda f: f.write(buffer.getvalue().encode("utf-8")))


def _model_file(path):
    if not os.path.exists(path):
        raise CLIError(f"Model file not found: {path!r}.")
    if os.path.isdir(path):
        raise CLIError(f"{path!r} is a folder, not a model file.")


def _load_pipeline(path, backend="numpy", device=None, required=True):
    """The pipeline in the model file ``path``; None for a file of ``anyarray_nn.save`` unless ``required``."""
    _model_file(path)
    header, arrays = io.read_model_file(path)
    if header.get("pipeline") is None:
        legacy = os.path.join(os.path.dirname(os.path.abspath(path)), _LEGACY_META)
        if os.path.lexists(legacy):
            raise CLIError(
                f"{path!r} was written by an earlier version of anyarray-nn, which kept its feature columns and "
                f"scaler in {_LEGACY_META}; train it again to get a model file that holds them."
            )
        if required:
            raise CLIError(
                f"{path!r} holds a model without its feature columns, scaler or class names (it was written by "
                f"anyarray_nn.save, not by 'anyarray-nn train'); evaluate it in Python, or train it with the command line."
            )
        return None, Model.from_state(header, arrays, backend=backend, device=device, source=os.fspath(path))
    model = Model.from_state(header, arrays, backend=backend, device=device, source=os.fspath(path))
    return Pipeline.from_record(header["pipeline"], model, os.fspath(path)), model


# --------------------------------------------------------------------------------------------------
# data
def _csv_options_only(args, source):
    for option, value in (("--target", args.target), ("--ignore", args.ignore), ("--id-column", args.id_column),
                          ("--delimiter", args.delimiter), ("--drop-missing", args.drop_missing)):
        if value:
            raise CLIError(f"{option} applies to CSV files; {source!r} is a named data set.")


def _load_data(args):
    source = args.data
    if source in datasets.NAMES:
        _csv_options_only(args, source)
        data = datasets.load(source, seed=args.seed)
        y = np.asarray(data.y)
        classification = y.dtype.kind in "iub"
        return dict(X=np.asarray(data.X), y=y, feature_names=list(data.feature_names),
                    class_names=[str(n) for n in data.target_names] if classification else None,
                    task="classification" if classification else "regression",
                    target=data.target_names[0] if not classification else "class", name=source,
                    preset=source if source in PRESETS else "csv", source=source, ids=None, id_column=None,
                    drop_missing=False)
    if not (source.lower().endswith(".csv") or os.path.exists(source)):
        expected = list(datasets.NAMES)
        raise CLIError(f"Unknown data set {source!r}: expected one of {expected} or the path of a CSV file.")
    ignore = [name for group in (args.ignore or []) for name in group]
    data = csvdata.load_csv(source, target=args.target, task=args.task, ignore=ignore, id_column=args.id_column,
                            drop_missing=args.drop_missing, delimiter=args.delimiter,
                            drop_hint=_DROP_HINT, ignore_hint=_IGNORE_HINT)
    _report_csv(data, args)
    return dict(X=data.X, y=data.y, feature_names=data.feature_names, class_names=data.class_names, task=data.task,
                target=data.target, name=os.path.splitext(os.path.basename(source))[0], preset="csv",
                source=os.path.basename(source), ids=data.ids, id_column=data.id_column, drop_missing=args.drop_missing)


def _report_csv(data, args):
    """Say what was decided about a CSV file without being asked."""
    if data.delimiter != ",":
        print(f"columns separated by {data.delimiter!r} (numbers may have a decimal comma)")
    if data.target_guessed:
        print(f"target column: {data.target!r} (the last one; choose another with --target)")
    if data.task_guessed:
        print(f"task: {data.task} (from the values of {data.target!r}; choose with --task)")
    if data.ignored:
        print(f"ignored columns: {', '.join(data.ignored)}")
    if data.dropped_lines:
        print(f"dropped {len(data.dropped_lines)} row(s) with missing cells: lines {_lines_text(data.dropped_lines)}")


def _lines_text(lines, most=12):
    return ", ".join(str(n) for n in lines[:most]) + (f", ... ({len(lines)} in all)" if len(lines) > most else "")


def _split(X, y, classification, test_size, val_size, seed):
    """Training, validation (None without) and test rows, as ``train`` splits them."""
    stratify = y if classification else None
    if val_size > 0:
        X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
            X, y, val_size=val_size, test_size=test_size, stratify=stratify, seed=seed
        )
        return (X_train, y_train), (X_val, y_val), (X_test, y_test)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, stratify=stratify, seed=seed)
    return (X_train, y_train), None, (X_test, y_test)


# --------------------------------------------------------------------------------------------------
# train
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
    with warnings.catch_warnings():
        # The choice of backend="auto" is printed with the model (its note), once.
        warnings.filterwarnings("ignore", message="backend='auto' fell back", category=RuntimeWarning)
        return Model(layers, backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed)


def _model_line(model):
    """``repr(model)`` without the backend note, which the dimension table's first line already shows."""
    note = model.backend.note
    return repr(model).replace(f", note={note!r}", "") if note else repr(model)


class _EpochTracker(Callback):
    """Which epoch is running and which one ended last, for the line printed after Ctrl-C."""

    def __init__(self):
        super().__init__()
        self.running = self.done = None

    def on_epoch_begin(self, epoch):
        self.running = epoch

    def on_epoch_end(self, epoch, logs):
        self.done = epoch


def _checkpoint_plan(args, out):
    """``(path, every, mode)`` of the checkpoints of ``train``, or None without any; ``mode`` is fit's
    ``checkpoint_exists``."""
    wanted = args.checkpoint is not None or args.checkpoint_every is not None or args.resume
    if not wanted:
        return None
    path = args.checkpoint or os.path.join(out, "checkpoint.npz")
    if os.path.isdir(path):
        raise CLIError(f"--checkpoint {path!r} is a folder; give the file to write.")
    _check_folder_argument(os.path.dirname(os.path.abspath(path)), "--checkpoint", path)
    if args.resume and args.force:
        raise CLIError("--resume continues the checkpoint and --force starts afresh over it: give one of them.")
    if args.resume and args.resume_from is not None:
        raise CLIError("--resume continues from the checkpoint, --resume-from from the file it names: give one of them.")
    mode = "resume" if args.resume else "overwrite" if args.force else "error"
    if mode == "error" and args.resume_from is None and os.path.lexists(path):
        raise CLIError(
            f"the checkpoint {path!r} already holds an earlier run; continue it with --resume, start afresh "
            f"over it with --force, or choose another --checkpoint."
        )
    if mode == "error" and args.resume_from is not None and not _same_file(args.resume_from, path):
        if os.path.lexists(path):
            raise CLIError(
                f"the checkpoint {path!r} already holds an earlier run, and --resume-from {args.resume_from!r} is "
                f"another file; pass --force to write over it, or choose another --checkpoint."
            )
    if mode == "error" and args.resume_from is not None:
        mode = "overwrite"  # continuing from --resume-from: its own file, or checked just above
    return path, args.checkpoint_every or 1, mode


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _checkpoint_epoch(path):
    """The epoch count of the checkpoint ``path`` (None when there is no readable one)."""
    try:
        header, _ = io.read_model_file(path)
    except (OSError, ValueError):
        return None
    training = header.get("training")
    return None if training is None else training["epoch"]


def _resume_command(args, checkpoint):
    """The command line that continues the run from ``checkpoint``."""
    argv, skip = [], 0
    for i, token in enumerate(args.argv):
        if skip:
            skip -= 1
            continue
        if token in ("--resume", "--force"):
            continue
        if token == "--resume-from":
            skip = 1
            continue
        if token.startswith("--resume-from="):
            continue
        argv.append(token)
    if args.checkpoint is None and not any(t == "--checkpoint" or t.startswith("--checkpoint=") for t in argv):
        argv += ["--checkpoint", checkpoint]
    return shlex.join([PROG, "train", *argv, "--resume"])


def _interrupted_line(args, tracker, epochs, plan):
    running, done = tracker.running, tracker.done
    if running is None:
        where = "before the first epoch"
    elif done == running:
        where = f"after epoch {done} of {epochs}"
    else:
        where = f"at epoch {running} of {epochs}"
    if plan is None:
        return (
            f"interrupted: stopped {where}; nothing was saved (no checkpoint): to be able to resume, train with "
            f"--checkpoint-every N."
        )
    path = plan[0]
    saved = _checkpoint_epoch(path) if os.path.lexists(path) else None
    if saved is None:
        return f"interrupted: stopped {where}; no checkpoint was written yet ({path!r}); start again to train."
    return (
        f"interrupted: stopped {where}; last checkpoint: epoch {saved} in {path!r}; resume with: "
        f"{_resume_command(args, path)}"
    )


def train(args):
    out = args.out or os.path.join("anyarray-nn-runs", os.path.splitext(os.path.basename(args.data))[0])
    _check_folder_argument(out, "--out")
    plan = _checkpoint_plan(args, out)
    if args.resume_from is not None:
        _model_file(args.resume_from)
    data = _load_data(args)
    cfg = _settings_for(args, data)
    X, y, task = data["X"], data["y"], data["task"]
    classification = task == "classification"
    class_names = data["class_names"]
    (X_train, y_train), val, (X_test, y_test) = _split(X, y, classification, cfg["test_size"], cfg["val_size"], args.seed)
    X_val, y_val = (None, None) if val is None else val
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
    early = None
    if args.early_stopping is not None:
        monitor = args.monitor or ("val_loss" if X_val is not None else "loss")
        early = EarlyStopping(patience=args.early_stopping, min_delta=args.min_delta, monitor=monitor)
    elif args.monitor is not None or args.min_delta:
        raise CLIError("--monitor and --min-delta set up early stopping: give --early-stopping PATIENCE too.")
    settings = Settings(epochs=cfg["epochs"], batch_size=cfg["batch_size"], verbose=args.verbose, early_stopping=early)

    print(f"data: {data['name']}  {X.shape[0]} samples x {X.shape[1]} features  task: {task}"
          f"  split: {len(y_train)} train / {0 if y_val is None else len(y_val)} validation / {len(y_test)} test")
    print(_model_line(model))
    print(model.summary(batch_size=cfg["batch_size"]))
    print(f"{solver}  epochs={cfg['epochs']}  batch_size={cfg['batch_size']}")
    if early is not None:
        print(f"early stopping: {early.monitor}, patience {early.patience}, min_delta {early.min_delta:g}; the best "
              f"epoch's weights are kept")
    resume_from = args.resume_from
    checkpoint = dict(checkpoint=None)
    if plan is not None:
        path, every, mode = plan
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # OUT/ by default: made now
        checkpoint = dict(checkpoint=path, checkpoint_every=every, checkpoint_exists=mode)
        if mode == "resume" and os.path.lexists(path):
            print(f"resuming from {path!r} (epoch {_checkpoint_epoch(path)} of {cfg['epochs']})")
        elif mode == "resume":
            print(f"no checkpoint at {path!r} yet: starting afresh")
        print(f"checkpoint: {path!r} every {every} epoch(s) and after the last")
    if resume_from is not None:
        print(f"resuming from {resume_from!r}")

    tracker = _EpochTracker()
    start = time.perf_counter()
    try:
        history = model.fit(
            X_train,
            fit_y(y_train),
            solver,
            settings,
            validation_data=None if X_val is None else (X_val, fit_y(y_val)),
            callbacks=[tracker],
            resume_from=resume_from,
            **checkpoint,
        )
    except KeyboardInterrupt:
        raise _Interrupted(_interrupted_line(args, tracker, cfg["epochs"], plan)) from None
    seconds = time.perf_counter() - start

    lines = [f"{PROG} train {shlex.join(args.argv)}".rstrip(), "", _model_line(model), "",
             model.summary(batch_size=cfg["batch_size"]), "", repr(solver),
             f"epochs {history.epochs} of {cfg['epochs']} ({history.stop_reason}), batch size {cfg['batch_size']}, "
             f"{seconds:.1f} s of training", ""]
    report, headline, pred = _report(model, X_test, y_test, classification, class_names, y_mean, y_scale)
    lines += [f"Test set ({len(y_test)} samples)", report, "", headline]
    text = "\n".join(lines) + "\n"
    print()
    print(report)
    print()
    print(headline)

    os.makedirs(out, exist_ok=True)
    written = []
    with open(os.path.join(out, "report.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    written.append("report.txt")
    with open(os.path.join(out, "history.json"), "w", encoding="utf-8") as f:
        json.dump(history.as_dict(), f, indent=1)
    written.append("history.json")
    split = {"source": data["source"], "rows": int(X.shape[0]), "seed": int(args.seed),
             "test_size": float(cfg["test_size"]), "val_size": float(cfg["val_size"]),
             "drop_missing": bool(data["drop_missing"])}
    pipeline = Pipeline(model, data["feature_names"], scaler.mean_, scaler.scale_, task=task, target=data["target"],
                        class_names=class_names, target_mean=y_mean, target_scale=y_scale,
                        id_column=data["id_column"], split=split)
    pipeline.save(os.path.join(out, "model.npz"))
    written.append("model.npz")
    if not args.no_plots:
        written += _save_plots(out, history, classification, y_test, pred, class_names, data["name"])
    print(f"wrote {', '.join(written)} to {out}/")
    return 0


def _report(model, X, y, classification, class_names, y_mean=0.0, y_scale=1.0):
    """The report, its headline and the predictions, for standardized rows ``X`` and their targets ``y``."""
    if classification:
        proba = model.predict_proba(X)
        pred = model.predict(X)
        report = metrics.classification_report(y, pred, class_names=class_names)
        acc = metrics.accuracy(y, pred)
        ll = metrics.log_loss(y, proba)
        headline = f"test accuracy: {acc:.4f} on {len(y)} held-out samples   (log loss {ll:.4f})"
    else:
        pred = to_numpy(model.predict(X)).reshape(len(y), -1)[:, 0] * y_scale + y_mean
        report = metrics.regression_report(y, pred)
        headline = (f"test R2: {metrics.r2_score(y, pred):.4f}  RMSE: "
                    f"{metrics.root_mean_squared_error(y, pred):.4f} on {len(y)} held-out samples")
    return report, headline, pred


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
def _rows_to_use(table, names, drop_missing):
    """The rows with every column of ``names`` filled in; the others are an error unless ``drop_missing``."""
    missing = csvdata.missing_rows(table, names)
    if missing and not drop_missing:
        raise csvdata.missing_error(table, names, missing, _DROP_HINT)
    if missing:
        print(f"skipped {len(missing)} row(s) with missing cells: lines {_lines_text([table.lines[i] for i in missing])}")
    dropped = set(missing)
    return [i for i in range(len(table.rows)) if i not in dropped]


def predict(args):
    _model_file(args.model)
    _check_output_file(args.out, "--out", args.force)
    pipe, model = _load_pipeline(args.model, backend=args.backend, device=args.device, required=False)
    table = csvdata.read_csv(args.csv, args.delimiter)
    ignore = [name for group in (args.ignore or []) for name in group]
    for name in ignore:
        table.index(name, "a column to ignore")
    id_column = args.id_column
    if id_column is not None:
        table.index(id_column, "the ID column")
    elif pipe is not None and pipe.id_column in table.header:
        id_column = pipe.id_column
    if pipe is not None:
        feature_names = pipe.feature_names
        missing = [n for n in feature_names if n not in table.header]
        if missing:
            raise CLIError(
                f"{args.csv!r} lacks the feature column(s) {missing} the model was trained on; "
                f"its columns are: {', '.join(table.header)}."
            )
    else:
        # A model saved without the command line: every column but the ID and the ignored ones is a
        # feature, used as it is.
        feature_names = [h for h in table.header if h != id_column and h not in ignore]
        if len(feature_names) != model.n_features:
            raise CLIError(
                f"{args.model!r} holds no feature names (it was written by anyarray_nn.save), so every column of "
                f"{args.csv!r} but --id-column and --ignore is a feature: it has {len(feature_names)} "
                f"({', '.join(feature_names)}), the model expects {model.n_features}."
            )
    rows = _rows_to_use(table, feature_names, args.drop_missing)
    X = csvdata.feature_matrix(table, feature_names, rows, _IGNORE_HINT)
    if pipe is None:
        task = "classification" if model.output_activation in ("softmax", "sigmoid") else "regression"
        pipe = Pipeline(model, feature_names, task=task)

    out_header = [] if id_column is None else [id_column]
    ids = [[] if id_column is None else [table.rows[i][table.index(id_column)]] for i in rows]
    if pipe.task == "classification":
        labels = pipe.predict(X)
        out_header.append("prediction")
        out_rows = [i + [pipe.class_names[int(k)]] for i, k in zip(ids, labels)]
        if args.proba:
            proba = pipe.predict_proba(X)
            out_header += [f"p_{n}" for n in pipe.class_names]
            out_rows = [row + [f"{p:.6g}" for p in ps] for row, ps in zip(out_rows, proba.tolist())]
    else:
        if args.proba:
            raise CLIError("--proba gives class probabilities; this model is a regression.")
        values = pipe.predict(X)
        out_header += ["prediction"] if values.shape[1] == 1 else [f"prediction_{i}" for i in range(values.shape[1])]
        out_rows = [i + [f"{v:.6g}" for v in row] for i, row in zip(ids, values.tolist())]
    _write_csv(args.out, out_header, out_rows)
    print(f"wrote {len(out_rows)} predictions to {args.out}" + (f" (with the column {id_column!r})" if id_column else ""))

    # When the file also holds the answers, say how well the model did.
    if pipe.target in table.header:
        report = _labelled_report(pipe, table, rows, X)
        if report is not None:
            print(report[0])
    return 0


def _labelled_report(pipe, table, rows, X):
    """The report of ``pipe`` on the rows whose target cells are filled in, or None when none is usable."""
    j = table.index(pipe.target)
    usable = [k for k, i in enumerate(rows) if not csvdata.is_missing(table.rows[i][j])]
    if not usable:
        return None
    cells = [table.rows[rows[k]][j] for k in usable]
    Xs = pipe.transform(X[usable])
    if pipe.task == "classification":
        lookup = {n: i for i, n in enumerate(pipe.class_names)}
        truth = [lookup.get(csvdata.canonical_label(c, pipe.class_names, table.decimal_comma)) for c in cells]
        if any(t is None for t in truth):
            unknown = sorted({c for c, t in zip(cells, truth) if t is None})
            print(f"no report: the target column {pipe.target!r} holds classes the model does not know: "
                  f"{', '.join(map(repr, unknown[:5]))}")
            return None
        report, headline, _ = _report(pipe.model, Xs, np.array(truth), True, pipe.class_names)
    else:
        truth = [csvdata.parse_number(c, table.decimal_comma) for c in cells]
        if any(t is None or not math.isfinite(t) for t in truth):
            return None
        report, headline, _ = _report(pipe.model, Xs, np.array(truth), False, None, pipe.target_mean, pipe.target_scale)
    return report, headline, len(usable)


# --------------------------------------------------------------------------------------------------
# evaluate
def evaluate(args):
    pipe, model = _load_pipeline(args.model, backend=args.backend, device=args.device)
    split = pipe.split or {}
    source = args.data
    seed = split.get("seed", 0) if args.seed is None else args.seed
    if source in datasets.NAMES:
        if args.delimiter or args.drop_missing:
            raise CLIError(f"--delimiter and --drop-missing apply to CSV files; {source!r} is a named data set.")
        data = datasets.load(source, seed=seed)
        if list(data.feature_names) != pipe.feature_names:
            raise CLIError(
                f"The data set {source!r} has the features {', '.join(data.feature_names)}, but the model was trained "
                f"on {', '.join(pipe.feature_names)}."
            )
        X, y_raw = np.asarray(data.X), np.asarray(data.y)
        if pipe.task == "classification":
            names = [str(n) for n in data.target_names]
            if names != pipe.class_names:
                raise CLIError(f"The data set {source!r} has the classes {names}, the model {pipe.class_names}.")
        name = source
        kept = len(y_raw)
    else:
        drop = args.drop_missing or split.get("drop_missing", False)
        table = csvdata.read_csv(source, args.delimiter)
        if pipe.target not in table.header:
            raise CLIError(
                f"{source!r} has no column {pipe.target!r} (the target the model predicts), so there is nothing to "
                f"compare with; its columns are: {', '.join(table.header)}. Use 'predict' for unlabelled rows."
            )
        missing = [n for n in pipe.feature_names if n not in table.header]
        if missing:
            raise CLIError(
                f"{source!r} lacks the feature column(s) {missing} the model was trained on; "
                f"its columns are: {', '.join(table.header)}."
            )
        rows = _rows_to_use(table, pipe.feature_names + [pipe.target], drop)
        X = csvdata.feature_matrix(table, pipe.feature_names, rows, _IGNORE_HINT)
        cells = [table.rows[i][table.index(pipe.target)] for i in rows]
        if pipe.task == "classification":
            lookup = {n: i for i, n in enumerate(pipe.class_names)}
            y_raw = [lookup.get(csvdata.canonical_label(c, pipe.class_names, table.decimal_comma)) for c in cells]
            unknown = sorted({c for c, t in zip(cells, y_raw) if t is None})
            if unknown:
                raise CLIError(
                    f"The target column {pipe.target!r} of {source!r} holds classes the model does not know: "
                    f"{', '.join(map(repr, unknown[:5]))}; it knows {', '.join(pipe.class_names)}."
                )
            y_raw = np.array(y_raw, dtype=np.int64)
        else:
            values = [csvdata.parse_number(c, table.decimal_comma) for c in cells]
            bad = next((k for k, v in enumerate(values) if v is None or not math.isfinite(v)), None)
            if bad is not None:
                raise CLIError(f"The target column {pipe.target!r} of {source!r} holds {cells[bad]!r} at line "
                               f"{table.lines[rows[bad]]}, not a number.")
            y_raw = np.array(values, dtype=np.float64)
        name = os.path.basename(source)
        kept = len(rows)

    same_data = split.get("source") == name and split.get("rows") == kept
    rows_mode = args.rows
    if rows_mode == "auto":
        rows_mode = "test" if same_data else "all"
    if rows_mode == "test":
        if not same_data:
            raise CLIError(
                f"--rows test takes the held-out rows of the training split, but the model was trained on "
                f"{split.get('source')!r} ({split.get('rows')} rows), not on {name!r} ({kept} rows); use --rows all."
            )
        classification = pipe.task == "classification"
        _, _, (X, y_raw) = _split(X, y_raw, classification, split["test_size"], split["val_size"], split["seed"])
        which = (f"the {len(y_raw)} test rows held out when the model was trained on {name!r} (seed {split['seed']}, "
                 f"test size {split['test_size']:g})")
    else:
        which = f"all {len(y_raw)} rows of {name!r}" + (" (training rows included)" if same_data else "")
    print(f"evaluating {os.path.basename(args.model)} on {which}")
    Xs = pipe.transform(X)
    report, headline, _ = _report(model, Xs, y_raw, pipe.task == "classification", pipe.class_names,
                                  pipe.target_mean, pipe.target_scale)
    if rows_mode == "all":
        headline = headline.replace("test ", "", 1).replace("held-out samples", "rows")
    else:
        headline = headline.replace("held-out samples", "held-out rows")
    print(report)
    print()
    print(headline)
    return 0


# --------------------------------------------------------------------------------------------------
# export
def export_model(args):
    """Write the model as ONNX; with the pipeline of ``train``, taking the raw feature columns."""
    _model_file(args.model)
    # Checked before the model file is read, so a typo costs no loading.
    export.check_path(args.out)
    dtype = export.check_dtype(args.dtype, "float32")
    ndx, _ = export._require()
    pipe, model = _load_pipeline(args.model, backend="numpy", required=False)
    dtype = model.dtype if args.dtype is None else dtype
    X = ndx.argument(shape=("N", model.n_features), dtype=getattr(ndx, dtype))
    metadata = {}
    if pipe is None:
        # Saved without the command line: the graph is the network alone, like Model.predict.
        proto = export.export_onnx(model, args.out, dtype=dtype)
        labels = "label" in {o.name for o in proto.graph.output}
        what = "the network alone (no feature columns or scaler in the file): X is fed as to Model.predict_proba"
    else:
        # Standardized as in training, inside the graph: the file takes the raw feature columns.
        mean = ndx.asarray(np.asarray(pipe.scaler_mean, dtype=dtype))
        scale = ndx.asarray(np.asarray(pipe.scaler_scale, dtype=dtype))
        A = export.network_output(model, (X - mean) / scale, dtype, ndx=ndx)
        outputs = {"output": A}
        shapes = {"output": ("N", model.n_outputs)}
        if pipe.task == "classification":
            outputs["label"] = export._decide(model, A, ndx=ndx)
            shapes["label"] = export._output_shapes(model)["label"]
            metadata["class_names"] = json.dumps(pipe.class_names)
        else:
            # Values in the target's units, as predict writes them.
            outputs["output"] = A * float(pipe.target_scale) + float(pipe.target_mean)
        metadata["feature_names"] = json.dumps(pipe.feature_names)
        proto = export.build(model, {"X": X}, outputs, None, output_shapes=shapes, metadata=metadata)
        export.write_bytes(args.out, proto)
        labels = "label" in outputs
        what = (
            f"X holds the raw columns {', '.join(pipe.feature_names)} (standardized inside the graph, "
            f"as in training)"
        )
    outs = "output, label" if labels else "output"
    print(f"wrote {args.out}: input X (N, {model.n_features}) {dtype}, outputs {outs}; {what}")
    if pipe is not None and pipe.task == "classification":
        print(f"label holds indices into the class names: {', '.join(pipe.class_names)}")
    return 0


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
    lines += [
        "",
        "Ctrl-C stops training with one line: the epoch reached, the last checkpoint and the command that resumes.",
        "Checkpoints: --checkpoint-every 5 writes OUT/checkpoint.npz; run the same command with --resume to go on.",
    ]
    return "\n".join(lines)


_BACKEND_HELP = ("array library: numpy, cupy, torch, jax, dask, array_api_strict, any installed Array API library, "
                 "or auto (default: CuPy with a CUDA device, else NumPy)")


def _csv_arguments(p, train=False):
    p.add_argument("--delimiter", type=_delimiter, metavar="CHAR",
                   help="CSV field separator (default: recognised from the file among , ; tab |)")
    p.add_argument("--drop-missing", action="store_true", dest="drop_missing",
                   help="leave out rows with empty or missing cells (NA, NaN, null, ?) instead of stopping with an error "
                        "naming their line and column")
    if train:
        p.add_argument("--ignore", type=_columns, action="append", metavar="COLUMNS",
                       help="CSV only: columns that are not features, separated by commas (may be repeated)")
        p.add_argument("--id-column", dest="id_column", metavar="COLUMN",
                       help="CSV only: a column that identifies rows (not a feature); predict copies it into its output")


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Train multilayer perceptrons on any Array API backend (NumPy, CuPy, torch, JAX, ...), "
        "evaluate them, predict with them and export them to ONNX.",
        epilog="Start with: anyarray-nn train iris.  Help on a command: anyarray-nn train --help.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict,export}")
    fmt = argparse.RawDescriptionHelpFormatter
    activation_names = activations.names()
    optimizer_names = optimizers.names()

    t = sub.add_parser(
        "train",
        help="train a model on a named data set or a CSV file",
        description=textwrap.fill(
            "Train a model, print its dimension table, progress and a test report, and save the trained pipeline "
            "(model, feature columns, scaler, class names), the report and the plots into --out. Rows are split into "
            "training, validation and test parts (stratified for classification) and standardized with statistics "
            "of the training rows only.",
            88,
        ),
        epilog=_presets_text(),
        formatter_class=fmt,
    )
    t.add_argument(
        "data", help=f"a named data set ({', '.join(datasets.NAMES)}) or the path of a CSV file with a header row"
    )
    g = t.add_argument_group("data (CSV files)")
    g.add_argument("--target", help="CSV only: the column to predict (default: the last column)")
    g.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="CSV only: 'auto' (default) takes text or a few distinct integers as classes, other numbers "
                        "as regression")
    _csv_arguments(g, train=True)
    g = t.add_argument_group("model")
    g.add_argument("--layers", type=_parse_layers, metavar="SIZES",
                   help="hidden layer sizes, e.g. 16,16 ('none': no hidden layer)")
    g.add_argument("--activation", type=_registry_choice("activation", activations.names), metavar="NAME",
                   help=f"activation of the hidden layers, one of: {', '.join(activation_names)}")
    g.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="float type (default: float32)")
    g = t.add_argument_group("training")
    g.add_argument("--optimizer", type=_registry_choice("optimizer", optimizers.names), metavar="NAME",
                   help=f"one of: {', '.join(optimizer_names)}")
    g.add_argument("--learning-rate", type=_positive_float, dest="learning_rate", metavar="RATE",
                   help="step size of the optimizer, > 0 (lbfgs ignores it)")
    g.add_argument("--epochs", type=_positive_int, metavar="N",
                   help="passes over the training rows; after --resume, the total count of the run")
    g.add_argument("--batch-size", type=_positive_int, dest="batch_size", metavar="N",
                   help="training rows per step (lbfgs uses them all)")
    g.add_argument("--l2", type=_non_negative_float, help="strength of an L2 weight penalty (0: none)")
    g.add_argument("--dropout", type=_dropout, help="dropout rate of the hidden layers, in [0, 1) (0: none)")
    g.add_argument("--early-stopping", type=_positive_int, dest="early_stopping", metavar="PATIENCE",
                   help="stop after this many epochs without improvement, keeping the best epoch's weights")
    g.add_argument("--monitor", choices=sorted(EarlyStopping.MONITORS),
                   help="what early stopping watches (default: val_loss, or loss with --val-size 0)")
    g.add_argument("--min-delta", type=_non_negative_float, default=0.0, dest="min_delta", metavar="DELTA",
                   help="smallest change early stopping counts as an improvement (default: 0)")
    g = t.add_argument_group("split")
    g.add_argument("--test-size", type=_test_fraction, dest="test_size", metavar="FRACTION",
                   help="fraction of rows held out for the test report, in (0, 1)")
    g.add_argument("--val-size", type=_val_fraction, dest="val_size", metavar="FRACTION",
                   help="fraction of rows for validation, in [0, 1) (0: none)")
    g.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seeds the split, the initial weights and the shuffling (default: 0)")
    g = t.add_argument_group("checkpoints")
    g.add_argument("--checkpoint", metavar="PATH",
                   help="checkpoint file, written atomically (default with --checkpoint-every or --resume: "
                        "OUT/checkpoint.npz)")
    g.add_argument("--checkpoint-every", type=_positive_int, dest="checkpoint_every", metavar="N",
                   help="write the checkpoint every N epochs and after the last (default with --checkpoint: 1)")
    g.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint when it exists (start afresh when not); same data and options")
    g.add_argument("--resume-from", dest="resume_from", metavar="PATH",
                   help="continue from this checkpoint or saved model file")
    g.add_argument("--force", action="store_true",
                   help="start afresh even though the checkpoint holds an earlier run, and write over it")
    g = t.add_argument_group("where and how")
    g.add_argument("--backend", default="auto", help=_BACKEND_HELP)
    g.add_argument("--device", help="device on the backend: cpu, cuda:0, device1, ... (default: the backend's)")
    g.add_argument("--out", help="output folder (default: anyarray-nn-runs/NAME)")
    g.add_argument("--no-plots", action="store_true", dest="no_plots", help="do not draw the PNG plots")
    g.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                   help="0 silent, 1 about twenty epoch lines and how training ended (default), 2 every epoch")

    ev = sub.add_parser(
        "evaluate",
        help="report how a trained model does on labelled data",
        description=textwrap.fill(
            "Print the report (confusion matrix, precision, recall and F1 per class; or R2, MAE and RMSE) of a model "
            "written by 'train' on labelled rows: a named data set or a CSV file that holds the target column. On "
            "the data it was trained on, the test rows held out in training are used (--rows auto).",
            88,
        ),
        formatter_class=fmt,
    )
    ev.add_argument("model", help="a model file written by 'train' (OUT/model.npz)")
    ev.add_argument("data", help=f"a named data set ({', '.join(datasets.NAMES)}) or a CSV file with the target column")
    ev.add_argument("--rows", choices=["auto", "all", "test"], default="auto",
                    help="'test': the rows held out when training on this data; 'all': every row; 'auto' (default): "
                         "'test' on the training data, 'all' on other data")
    ev.add_argument("--seed", type=_non_negative_int,
                    help="seed of a generated data set (rain, regression; default: the one used in training)")
    _csv_arguments(ev)
    ev.add_argument("--backend", default="auto", help=_BACKEND_HELP)
    ev.add_argument("--device", help="device on the backend (default: the backend's)")

    p = sub.add_parser(
        "predict",
        help="predict with a trained model on a CSV file",
        description=textwrap.fill(
            "Load a model written by 'train' and write one prediction per row of a CSV file. The columns the "
            "model was trained on are picked by name and standardized as in training; an ID column is copied into "
            "the output; when the file also holds the target column, a report is printed.",
            88,
        ),
        formatter_class=fmt,
    )
    p.add_argument("model", help="a model file written by 'train' (OUT/model.npz)")
    p.add_argument("csv", help="CSV file with a header row holding the feature columns")
    p.add_argument("--out", default="predictions.csv", help="CSV file to write (default: predictions.csv)")
    p.add_argument("--force", action="store_true", help="replace --out when it exists")
    p.add_argument("--proba", action="store_true", help="classification: add one probability column per class")
    p.add_argument("--id-column", dest="id_column", metavar="COLUMN",
                   help="a column to copy into the output beside each prediction (default: the ID column of "
                        "training, when the file has it)")
    p.add_argument("--ignore", type=_columns, action="append", metavar="COLUMNS",
                   help="for a model saved without feature names: columns that are not features")
    _csv_arguments(p)
    p.add_argument("--backend", default="auto", help=_BACKEND_HELP)
    p.add_argument("--device", help="device on the backend (default: the backend's)")

    e = sub.add_parser(
        "export",
        help="write a trained model as an ONNX file (needs: pip install \".[onnx]\")",
        description=textwrap.fill(
            "Write a saved model as an ONNX file for onnxruntime or any ONNX runtime: input 'X' (N, "
            "n_features), output 'output' (the network output, probabilities for classifiers) and, for "
            "classifiers, 'label' (class indices). For a model written by 'train', the graph standardizes the raw "
            "feature columns as in training, and regression outputs are in the target's units, as 'predict' writes "
            "them.",
            88,
        ),
        formatter_class=fmt,
    )
    e.add_argument("model", help="a model file (OUT/model.npz of 'train', or one written by anyarray_nn.save)")
    e.add_argument("out", help="the ONNX file to write, e.g. model.onnx")
    e.add_argument("--dtype", metavar="{float32,float64}",
                   help="float type of the input and the weights (default: the model's)")
    return parser


#: The function each command runs (looked up when it runs, so it can be replaced).
COMMANDS = {"train": "train", "evaluate": "evaluate", "predict": "predict", "export": "export_model"}


def main(argv=None):
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv[argv.index(args.command) + 1:] if args.command in argv else argv[1:]
    where = f"{PROG} {args.command}"
    try:
        return globals()[COMMANDS[args.command]](args)
    except _Interrupted as exc:
        print(f"{where}: {exc}", file=sys.stderr, flush=True)
        return INTERRUPTED
    except KeyboardInterrupt:
        print(f"{where}: interrupted.", file=sys.stderr, flush=True)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``anyarray-nn ... | head``): stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except MemoryError as exc:
        # The last resort: sizes are checked before allocating where they can be.
        print(
            f"{where}: error: out of memory ({exc or 'MemoryError'}); choose smaller --layers "
            f"or --batch-size, or use less data.",
            file=sys.stderr,
        )
        return 2
    except (CLIError, ValueError, TypeError, ImportError, OSError, RuntimeError) as exc:
        # Errors of this library name the argument and what was expected: show them without a traceback.
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        print(f"{where}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
