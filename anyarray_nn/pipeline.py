"""A trained pipeline: the model with what prepares its inputs and reads its outputs, in one file.

The command line's ``train`` writes one, and ``predict``, ``evaluate`` and ``export`` read it: the
feature columns by name, the standardization fitted on the training rows, the class names or the
target's scaling, the ID column, and how the rows were split. It is saved as a model file
(:mod:`anyarray_nn.io`: arrays plus a JSON header, never pickle, written atomically) whose header has a
``pipeline`` entry; :func:`anyarray_nn.load` reads the same file as a plain model.

::

    pipe = Pipeline(model, ["temperature", "humidity"], scaler_mean=[15.0, 60.0], scaler_scale=[5.0, 10.0],
                    task="classification", target="rain", class_names=["dry", "rain"])
    pipe.save("rain.npz")
    pipe = Pipeline.load("rain.npz", backend="numpy")
    pipe.predict_names(X_raw)            # ["dry", "rain", ...] from the raw feature columns

Every field is checked when a pipeline is made and when it is loaded; a file that does not fit raises
:class:`~anyarray_nn.ModelFileError` naming the file and the field.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import io
from .backend import to_numpy
from .model import Model

#: The version of the ``pipeline`` header entry this library writes and reads.
PIPELINE_VERSION = 1
TASKS = ("classification", "regression")
_MAX_NAME = 10_000  # characters of a column or class name
_RECORD_KEYS = {
    "version", "task", "target", "feature_names", "class_names", "scaler", "target_scaling", "id_column", "split",
}
_SPLIT_KEYS = {"source", "rows", "seed", "test_size", "val_size", "drop_missing"}


class Pipeline:
    """A model with the steps around it: raw feature columns in, class names or values in the target's units out.

    Parameters
    ----------
    model : Model
    feature_names : list of str
        The input columns, in the model's order; one per input of the model.
    scaler_mean, scaler_scale : sequence of float, optional
        The standardization ``(X - mean) / scale`` fitted on the training rows; default none (0 and 1).
    task : {"classification", "regression"}, optional
        Default: classification for a softmax or sigmoid output, regression otherwise.
    target : str, default "target"
        The name of the column the model predicts.
    class_names : list of str, optional
        Classification: the name of each class index (at least two). Default ``"0"``, ``"1"``, ...
    target_mean, target_scale : float, default 0.0 and 1.0
        Regression: the model learnt ``(y - target_mean) / target_scale``; predictions are scaled back.
    id_column : str, optional
        A column that identifies rows; ``predict`` carries it into its output.
    split : dict, optional
        How the training rows were chosen, so the held-out test rows can be found again:
        ``{"source", "rows", "seed", "test_size", "val_size", "drop_missing"}``.

    Raises
    ------
    TypeError, ValueError
        Naming the parameter that does not fit.
    """

    def __init__(self, model, feature_names, scaler_mean=None, scaler_scale=None, *, task=None, target="target",
                 class_names=None, target_mean=0.0, target_scale=1.0, id_column=None, split=None):
        if not isinstance(model, Model):
            raise TypeError(f"`model` must be a Model, got {type(model).__name__}.")
        n = model.n_features
        if task is None:
            task = "classification" if model.output_activation in ("softmax", "sigmoid") else "regression"
        if class_names is None and task == "classification":
            class_names = [str(i) for i in range(max(2, model.n_outputs))]
        record = {
            "version": PIPELINE_VERSION,
            "task": task,
            "target": target,
            "feature_names": _as_list(feature_names),
            "class_names": _as_list(class_names),
            "scaler": {
                "mean": [0.0] * n if scaler_mean is None else _floats(scaler_mean),
                "scale": [1.0] * n if scaler_scale is None else _floats(scaler_scale),
            },
            "target_scaling": {"mean": target_mean, "scale": target_scale} if task == "regression" else None,
            "id_column": id_column,
            "split": split,
        }
        why = _record_mismatch(record, model)
        if why:
            raise ValueError(f"Pipeline: {why}.")
        self._set(model, record)

    def _set(self, model, record):
        self.model = model
        self.task = record["task"]
        self.target = record["target"]
        self.feature_names = list(record["feature_names"])
        self.class_names = None if record["class_names"] is None else list(record["class_names"])
        self.scaler_mean = np.asarray(record["scaler"]["mean"], dtype=np.float64)
        self.scaler_scale = np.asarray(record["scaler"]["scale"], dtype=np.float64)
        scaling = record["target_scaling"] or {"mean": 0.0, "scale": 1.0}
        self.target_mean, self.target_scale = float(scaling["mean"]), float(scaling["scale"])
        self.id_column = record["id_column"]
        self.split = None if record["split"] is None else dict(record["split"])

    # ----------------------------------------------------------------------------------------------
    def to_record(self):
        """The ``pipeline`` header entry: a JSON-able dict."""
        return {
            "version": PIPELINE_VERSION,
            "task": self.task,
            "target": self.target,
            "feature_names": list(self.feature_names),
            "class_names": None if self.class_names is None else list(self.class_names),
            "scaler": {"mean": [float(v) for v in self.scaler_mean], "scale": [float(v) for v in self.scaler_scale]},
            "target_scaling": (
                {"mean": self.target_mean, "scale": self.target_scale} if self.task == "regression" else None
            ),
            "id_column": self.id_column,
            "split": None if self.split is None else dict(self.split),
        }

    @classmethod
    def from_record(cls, record, model, source="pipeline"):
        """A pipeline from :meth:`to_record`'s dict and its model; every field is checked.

        Raises
        ------
        ModelFileError
            Naming ``source`` and the field that does not fit.
        """
        why = _record_mismatch(record, model)
        if why:
            raise io.ModelFileError(f"{source!r} is not a valid anyarray_nn pipeline: {why}.")
        pipe = cls.__new__(cls)
        pipe._set(model, record)
        return pipe

    def save(self, path):
        """Write the model and the pipeline into one model file (``.npz``), atomically."""
        path = io.check_writable_path(path, "path")
        header, arrays = self.model.get_state()
        header["pipeline"] = self.to_record()
        io.write_model_file(path, header, arrays)

    @classmethod
    def load(cls, path, backend="auto", device=None, dtype=None):
        """Read a pipeline written by :meth:`save` (or by the command line's ``train``).

        Parameters
        ----------
        path : str or os.PathLike
        backend, device, dtype
            Where the model goes, as for :func:`anyarray_nn.load`.

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ModelFileError
            For a file that is not a valid model file, or whose ``pipeline`` entry is absent or does not
            fit, naming the field.
        """
        source = os.fspath(path)
        header, arrays = io.read_model_file(path)
        record = header.get("pipeline")
        if record is None:
            raise io.ModelFileError(
                f"{source!r} holds a model but no pipeline (no feature names, scaler or class names): it was written "
                f"by anyarray_nn.save, not by the command line's train or Pipeline.save; load it with "
                f"anyarray_nn.load."
            )
        model = Model.from_state(header, arrays, backend=backend, device=device, dtype=dtype, source=source)
        return cls.from_record(record, model, source)

    # ----------------------------------------------------------------------------------------------
    def transform(self, X):
        """Standardize raw feature columns ``(n_samples, n_features)`` as the training rows were."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(
                f"`X` must have shape (n_samples, {len(self.feature_names)}) (the columns "
                f"{', '.join(self.feature_names)}), got {X.shape}."
            )
        return (X - self.scaler_mean) / self.scaler_scale

    def predict_proba(self, X):
        """Classification: the probability of each class, ``(n_samples, n_classes)`` (two columns for a
        sigmoid output), as a NumPy array."""
        if self.task != "classification":
            raise ValueError("predict_proba needs a classification pipeline; this one is a regression.")
        proba = to_numpy(self.model.predict_proba(self.transform(X)))
        if proba.shape[1] == 1:
            proba = np.concatenate([1.0 - proba, proba], axis=1)
        return proba

    def predict(self, X):
        """Class indices into ``class_names`` ``(n_samples,)``, or values in the target's units
        ``(n_samples, n_outputs)``, as a NumPy array."""
        Xs = self.transform(X)
        if self.task == "classification":
            return to_numpy(self.model.predict(Xs)).reshape(-1).astype(np.int64)
        values = to_numpy(self.model.predict(Xs)).reshape(Xs.shape[0], -1)
        return values * self.target_scale + self.target_mean

    def predict_names(self, X):
        """Classification: the class name of each row, a list of str."""
        return [self.class_names[int(i)] for i in self.predict(X)]

    def __repr__(self):
        out = f"classes {self.class_names}" if self.task == "classification" else "values"
        return (
            f"Pipeline({', '.join(self.feature_names)} -> {self.target!r} ({self.task}: {out}), "
            f"model={self.model!r})"
        )


# --------------------------------------------------------------------------------------------------
# checks: every field of a record, against its model
def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _floats(values):
    """A list of Python floats from a sequence or an array of any backend; ``values`` itself if it has none."""
    try:
        host = values if isinstance(values, (list, tuple)) else to_numpy(values)
        return [float(v) for v in np.asarray(host, dtype=np.float64).reshape(-1)]
    except (TypeError, ValueError):
        return values


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value, positive=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return ok and (value > 0 or not positive)


def _is_name(value):
    return isinstance(value, str) and 0 < len(value) <= _MAX_NAME


def _record_mismatch(record, model):
    """Why ``record`` is not a pipeline for ``model`` ('' when it is); the message names the field."""
    if not isinstance(record, dict):
        return f"the pipeline must be a dict, got {type(record).__name__}"
    if set(record) != _RECORD_KEYS:
        missing, unknown = sorted(_RECORD_KEYS - set(record)), sorted(set(record) - _RECORD_KEYS)
        return (
            f"its entries differ from {sorted(_RECORD_KEYS)}" + (f"; it lacks {missing}" if missing else "")
            + (f"; it has unknown {unknown}" if unknown else "")
        )
    if record["version"] != PIPELINE_VERSION or isinstance(record["version"], bool):
        return f"'version' must be {PIPELINE_VERSION}, got {_short(record['version'])}"
    task = record["task"]
    if task not in TASKS:
        return f"'task' must be one of {list(TASKS)}, got {_short(task)}"
    if not _is_name(record["target"]):
        return f"'target' must be a column name (a non-empty string), got {_short(record['target'])}"
    n = model.n_features
    names = record["feature_names"]
    if not isinstance(names, list) or len(names) != n or not all(_is_name(v) for v in names):
        return f"'feature_names' must be a list of {n} column names (one per input of the model), got {_short(names)}"
    if len(set(names)) != n:
        return f"'feature_names' must be distinct, got {_short(names)}"
    scaler = record["scaler"]
    if not isinstance(scaler, dict) or set(scaler) != {"mean", "scale"}:
        return f"'scaler' must be {{'mean': [...], 'scale': [...]}}, got {_short(scaler)}"
    for key, positive in (("mean", False), ("scale", True)):
        values = scaler[key]
        if not isinstance(values, list) or len(values) != n or not all(_is_number(v, positive) for v in values):
            wanted = "positive finite numbers" if positive else "finite numbers"
            return f"'scaler.{key}' must be a list of {n} {wanted} (one per feature), got {_short(values)}"
    classes = record["class_names"]
    scaling = record["target_scaling"]
    if task == "classification":
        if model.output_activation not in ("softmax", "sigmoid"):
            return (
                f"'task' is classification, but the model's output activation is {model.output_activation!r} "
                f"(a classifier ends in softmax or sigmoid)"
            )
        k = max(2, model.n_outputs)
        if not isinstance(classes, list) or len(classes) != k or not all(_is_name(v) for v in classes):
            return f"'class_names' must be a list of {k} class names (one per output of the model), got {_short(classes)}"
        if len(set(classes)) != k:
            return f"'class_names' must be distinct, got {_short(classes)}"
        if scaling is not None:
            return f"'target_scaling' must be None for a classification, got {_short(scaling)}"
    else:
        if classes is not None:
            return f"'class_names' must be None for a regression, got {_short(classes)}"
        ok = (
            isinstance(scaling, dict) and set(scaling) == {"mean", "scale"}
            and _is_number(scaling["mean"]) and _is_number(scaling["scale"], positive=True)
        )
        if not ok:
            return f"'target_scaling' must be {{'mean': finite number, 'scale': positive finite number}}, got {_short(scaling)}"
    id_column = record["id_column"]
    if id_column is not None and (not _is_name(id_column) or id_column in names or id_column == record["target"]):
        return f"'id_column' must be None or a column name other than the features and the target, got {_short(id_column)}"
    split = record["split"]
    if split is not None:
        why = _split_mismatch(split)
        if why:
            return f"'split' {why}"
    return ""


def _split_mismatch(split):
    if not isinstance(split, dict) or set(split) != _SPLIT_KEYS:
        return f"must be a dict with the entries {sorted(_SPLIT_KEYS)}, got {_short(split)}"
    if not _is_name(split["source"]):
        return f"'source' must be a data set name or a path, got {_short(split['source'])}"
    for key, low in (("rows", 1), ("seed", 0)):
        value = split[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 2**63:
            return f"'{key}' must be an integer >= {low}, got {_short(value)}"
    if not (_is_number(split["test_size"]) and 0 < split["test_size"] < 1):
        return f"'test_size' must be a fraction in (0, 1), got {_short(split['test_size'])}"
    if not (_is_number(split["val_size"]) and 0 <= split["val_size"] < 1):
        return f"'val_size' must be a fraction in [0, 1), got {_short(split['val_size'])}"
    if not isinstance(split["drop_missing"], bool):
        return f"'drop_missing' must be True or False, got {_short(split['drop_missing'])}"
    return ""
