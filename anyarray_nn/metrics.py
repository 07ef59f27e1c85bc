"""Evaluation on any Array API backend: classification and regression metrics, and a printed report.

Arrays come back in the namespace and on the device of the inputs; a single figure (accuracy, a macro
average, R²) comes back as a Python float. Class labels are integers ``0 .. n_classes - 1``; a 2-D
``y_pred`` with several columns (one-hot rows or probabilities) is read as its ``argmax``.

Counting is done with one-hot matrix products, never with boolean indexing, so every function runs on
devices and libraries where data-dependent shapes are not allowed::

    confusion = one_hot(y_true).T @ one_hot(y_pred)        # (n_classes, n_classes)

When ``y_true`` and ``y_pred`` come from different libraries (NumPy test labels and a model's Dask, JAX
or torch predictions, or two libraries at once), both are taken to the library and device of the first
one that is not NumPy (:func:`anyarray_nn.backend.common_library`). Counts and scores are int64 and
float64 where the library has them there, else int32 and float32 (JAX without 64-bit types), so no
library is asked for a dtype it lacks.
"""

from __future__ import annotations

import array_api_compat

from ._validation import check_known_rows
from .backend import common_library, to_numpy, widest_dtype

AVERAGES = (None, "macro", "weighted", "micro")


# --------------------------------------------------------------------------------------------------
# input handling
def _common(arrays, names):
    """The shared namespace of ``arrays`` and the arrays in it, in one library on one device."""
    for a, name in zip(arrays, names):
        if a is None:
            raise TypeError(f"`{name}` must be an array, got None.")
        check_known_rows(a, name)
    try:
        return common_library(*arrays)
    except TypeError as exc:
        raise TypeError(f"{' and '.join(f'`{n}`' for n in names)} must be arrays of numbers: {exc}") from None


def _int(xp, a):
    """The widest integer dtype of ``a``'s library on its device (int64; int32 on JAX without 64 bits)."""
    return widest_dtype(xp, array_api_compat.device(a), "integral")


def _float(xp, a):
    """The widest float dtype of ``a``'s library on its device (float64; float32 where it has no more)."""
    return widest_dtype(xp, array_api_compat.device(a), "real floating")


def _labels(y, xp, name):
    """Class labels ``(n_samples,)`` as int64 (int32 without 64-bit types) from labels, a column of
    labels, or one-hot / probability rows."""
    if y.ndim == 2 and y.shape[1] > 1:
        return xp.argmax(y, axis=1)
    if y.ndim == 2:
        y = xp.reshape(y, (-1,))
    if y.ndim != 1:
        shape = tuple(y.shape)
        raise ValueError(f"`{name}` must be labels (n_samples,) or rows (n_samples, n_classes), got shape {shape}.")
    if xp.isdtype(y.dtype, "bool"):
        return xp.astype(y, _int(xp, y))
    if xp.isdtype(y.dtype, "real floating"):
        if not bool(xp.all(y == xp.round(y))):
            raise ValueError(f"`{name}` class labels must be integers, got non-integer values.")
    elif not xp.isdtype(y.dtype, "integral"):
        raise TypeError(f"`{name}` must hold integer class labels, got dtype {y.dtype}.")
    dtype = _int(xp, y)
    return y if y.dtype == dtype else xp.astype(y, dtype)


def _class_labels(y_true, y_pred, n_classes=None):
    xp, (y_true, y_pred) = _common([y_true, y_pred], ["y_true", "y_pred"])
    y_true = _labels(xp.asarray(y_true), xp, "y_true")
    y_pred = _labels(xp.asarray(y_pred), xp, "y_pred")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"`y_true` and `y_pred` have different numbers of samples: {y_true.shape[0]} and {y_pred.shape[0]}."
        )
    if y_true.shape[0] == 0:
        raise ValueError("`y_true` is empty: at least one sample is needed.")
    # One host read of the label range, at the boundary.
    both = xp.concat([y_true, y_pred])
    lo, hi = (int(v) for v in to_numpy(xp.stack([xp.min(both), xp.max(both)])))
    if lo < 0:
        raise ValueError(f"Class labels must be integers >= 0, found {lo}.")
    if n_classes is None:
        n_classes = hi + 1
    elif isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"`n_classes` must be a positive integer, got {n_classes!r}.")
    elif hi >= n_classes:
        raise ValueError(f"Found class label {hi}, outside `n_classes`={n_classes} (labels 0..{n_classes - 1}).")
    return xp, y_true, y_pred, n_classes


def _one_hot(labels, n_classes, xp):
    classes = xp.arange(n_classes, dtype=labels.dtype, device=array_api_compat.device(labels))
    return xp.astype(labels[:, None] == classes[None, :], _float(xp, labels))


def _safe_divide(num, den, xp):
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), xp.zeros_like(num))


# --------------------------------------------------------------------------------------------------
# classification
def accuracy(y_true, y_pred):
    """Fraction of correct predictions.

    Parameters
    ----------
    y_true : array, shape (n_samples,) or (n_samples, n_classes)
        Labels, or one-hot rows.
    y_pred : array, shape (n_samples,) or (n_samples, n_classes)
        Predicted labels, or one-hot / probability rows (read as their argmax).

    Returns
    -------
    float
    """
    xp, y_true, y_pred, _ = _class_labels(y_true, y_pred)
    # An integer count, divided on the host: exact where the library has no float64.
    return float(xp.sum(xp.astype(y_true == y_pred, _int(xp, y_true)))) / y_true.shape[0]


def confusion_matrix(y_true, y_pred, n_classes=None):
    """Counts of (actual, predicted) pairs: actual classes in rows, predicted classes in columns.

    Parameters
    ----------
    y_true, y_pred : array, shape (n_samples,) or (n_samples, n_classes)
        Labels ``0 .. n_classes - 1`` (or one-hot / probability rows).
    n_classes : int, optional
        Default: the largest label seen plus one.

    Returns
    -------
    array of the inputs' backend, int64 (int32 without 64-bit types), shape (n_classes, n_classes)
        ``C[i, j]`` is the number of samples of class ``i`` predicted as ``j``.
    """
    xp, y_true, y_pred, k = _class_labels(y_true, y_pred, n_classes)
    return _confusion(y_true, y_pred, k, xp)


def _confusion(y_true, y_pred, k, xp):
    # A float product: integer matmul is missing on some devices; counts stay exact below 2**53 (2**24
    # where the library has no float64).
    counts = _one_hot(y_true, k, xp).T @ _one_hot(y_pred, k, xp)
    return xp.astype(xp.round(counts), _int(xp, counts))


def _scores_from_confusion(C, xp):
    dtype = _float(xp, C)
    C = xp.astype(C, dtype)
    k = C.shape[0]
    tp = xp.sum(C * xp.eye(k, dtype=dtype, device=array_api_compat.device(C)), axis=1)
    support = xp.sum(C, axis=1)
    predicted = xp.sum(C, axis=0)
    precision = _safe_divide(tp, predicted, xp)
    recall = _safe_divide(tp, support, xp)
    # 2 tp / (2 tp + fp + fn): the harmonic mean of precision and recall, 0 where both are 0.
    f1 = _safe_divide(2.0 * tp, support + predicted, xp)
    return precision, recall, f1, support, tp


def _average(per_class, support, tp, average, xp):
    if average is None:
        return per_class
    if average == "macro":
        return float(xp.mean(per_class))
    if average == "weighted":
        return float(xp.sum(per_class * support) / xp.sum(support))
    # micro: every sample counts once; for single-label data precision = recall = F1 = accuracy.
    return float(xp.sum(tp) / xp.sum(support))


def _check_average(average):
    if average not in AVERAGES:
        raise ValueError(f"Unknown `average` {average!r}; expected one of {list(AVERAGES)}.")


def precision_recall_f1(y_true, y_pred, average=None, n_classes=None):
    """Precision, recall and F1 per class or averaged, and the support of every class.

    Parameters
    ----------
    y_true, y_pred : array, shape (n_samples,) or (n_samples, n_classes)
    average : {None, "macro", "weighted", "micro"}, default None
        None: one value per class. ``"macro"``: the plain mean over classes. ``"weighted"``: the mean
        weighted by each class's support (its number of true samples). ``"micro"``: pooled counts.
        A class with no predicted (or no true) samples has precision (recall) 0.
    n_classes : int, optional

    Returns
    -------
    precision, recall, f1 : arrays of shape (n_classes,) float64, or Python floats when averaged
    support : array, shape (n_classes,), int64
        (float32 and int32 where the library has no 64-bit types.)
    """
    _check_average(average)
    xp, y_true, y_pred, k = _class_labels(y_true, y_pred, n_classes)
    precision, recall, f1, support, tp = _scores_from_confusion(_confusion(y_true, y_pred, k, xp), xp)
    out = [_average(s, support, tp, average, xp) for s in (precision, recall, f1)]
    return (*out, xp.astype(support, _int(xp, support)))


def precision(y_true, y_pred, average=None, n_classes=None):
    """Precision ``tp / (tp + fp)`` per class (``average=None``) or averaged; see :func:`precision_recall_f1`."""
    return precision_recall_f1(y_true, y_pred, average, n_classes)[0]


def recall(y_true, y_pred, average=None, n_classes=None):
    """Recall ``tp / (tp + fn)`` per class (``average=None``) or averaged; see :func:`precision_recall_f1`."""
    return precision_recall_f1(y_true, y_pred, average, n_classes)[1]


def f1_score(y_true, y_pred, average=None, n_classes=None):
    """F1, the harmonic mean of precision and recall, per class or averaged; see :func:`precision_recall_f1`."""
    return precision_recall_f1(y_true, y_pred, average, n_classes)[2]


def classification_report(y_true, y_pred, class_names=None, n_classes=None, digits=3):
    """A printable report: the confusion matrix table, then precision, recall, F1 and support per class.

    Parameters
    ----------
    y_true, y_pred : array, shape (n_samples,) or (n_samples, n_classes)
    class_names : list of str, optional
        Names in label order; default the labels ``0, 1, ...``.
    n_classes : int, optional
    digits : int, default 3

    Returns
    -------
    str
        The text; ``print`` it.
    """
    xp, y_true, y_pred, k = _class_labels(y_true, y_pred, n_classes if class_names is None else len(class_names))
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    C = _confusion(y_true, y_pred, k, xp)
    precision_, recall_, f1_, support, tp = _scores_from_confusion(C, xp)
    C_host = to_numpy(C).tolist()
    p, r, f, s = (to_numpy(v).tolist() for v in (precision_, recall_, f1_, support))
    n = int(sum(s))

    lines = ["Confusion matrix (rows: actual, columns: predicted)"]
    head = ["actual \\ predicted"] + names
    cells = [head] + [[names[i]] + [str(c) for c in row] for i, row in enumerate(C_host)]
    widths = [max(len(row[c]) for row in cells) for c in range(len(head))]
    for row in cells:
        lines.append("  ".join([row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:])]))

    lines.append("")
    width = max(len("weighted avg"), *(len(x) for x in names))
    fmt = lambda v: f"{v:.{digits}f}"  # noqa: E731
    col = max(10, digits + 4)
    lines.append(" " * width + "".join(h.rjust(col) for h in ("precision", "recall", "f1-score", "support")))
    for i in range(k):
        figures = "".join(fmt(v).rjust(col) for v in (p[i], r[i], f[i]))
        lines.append(names[i].ljust(width) + figures + str(int(s[i])).rjust(col))
    lines.append("")
    acc = float(sum(to_numpy(tp).tolist())) / n
    lines.append("accuracy".ljust(width) + "".rjust(2 * col) + fmt(acc).rjust(col) + str(n).rjust(col))
    macro = [sum(v) / k for v in (p, r, f)]
    weighted = [sum(vi * si for vi, si in zip(v, s)) / n for v in (p, r, f)]
    lines.append("macro avg".ljust(width) + "".join(fmt(v).rjust(col) for v in macro) + str(n).rjust(col))
    lines.append("weighted avg".ljust(width) + "".join(fmt(v).rjust(col) for v in weighted) + str(n).rjust(col))
    return "\n".join(lines)


def log_loss(y_true, y_proba, eps=None):
    """Mean negative log-likelihood of the true classes (cross-entropy), natural logarithm.

    Parameters
    ----------
    y_true : array, shape (n_samples,) or (n_samples, n_classes)
        Labels ``0 .. n_classes - 1``, or one-hot rows.
    y_proba : array, shape (n_samples, n_classes), (n_samples, 1) or (n_samples,)
        Predicted probabilities; one column (or 1-D) is the probability of class 1 of a binary problem.
    eps : float, optional
        Probabilities are clipped to ``[eps, 1 - eps]``; default the machine epsilon of ``y_proba``'s
        dtype (as scikit-learn does).

    Returns
    -------
    float
    """
    xp, (y_true, y_proba) = _common([y_true, y_proba], ["y_true", "y_proba"])
    y_true, P = xp.asarray(y_true), xp.asarray(y_proba)
    if not xp.isdtype(P.dtype, "real floating"):
        P = xp.astype(P, _float(xp, P))
    if P.ndim == 1:
        P = P[:, None]
    if P.ndim != 2:
        raise ValueError(f"`y_proba` must have shape (n_samples,) or (n_samples, n_classes), got {tuple(P.shape)}.")
    if P.shape[1] == 1:
        P = xp.concat([1.0 - P, P], axis=1)
    k = P.shape[1]
    if y_true.ndim == 2 and y_true.shape[1] == k and k > 1:
        Y = xp.astype(y_true, P.dtype)
    else:
        labels = _labels(y_true, xp, "y_true")
        Y = xp.astype(_one_hot(labels, k, xp), P.dtype)
    if Y.shape[0] != P.shape[0]:
        raise ValueError(f"`y_true` and `y_proba` have different numbers of samples: {Y.shape[0]} and {P.shape[0]}.")
    eps = float(xp.finfo(P.dtype).eps) if eps is None else float(eps)
    P = xp.clip(P, eps, 1.0 - eps)
    return float(-xp.mean(xp.sum(Y * xp.log(P), axis=1)))


# --------------------------------------------------------------------------------------------------
# regression
def _regression_pair(y_true, y_pred):
    xp, (y_true, y_pred) = _common([y_true, y_pred], ["y_true", "y_pred"])
    T, P = xp.asarray(y_true), xp.asarray(y_pred)
    dtype = next((a.dtype for a in (P, T) if xp.isdtype(a.dtype, "real floating")), None)
    dtype = _float(xp, P) if dtype is None else dtype
    T, P = xp.astype(T, dtype), xp.astype(P, dtype)
    # (n,) against (n, 1) is one output, not an (n, n) broadcast.
    T = T[:, None] if T.ndim == 1 else T
    P = P[:, None] if P.ndim == 1 else P
    if T.ndim != 2 or T.shape != P.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape (n_samples,) or (n_samples, n_outputs), "
            f"got {tuple(y_true.shape)} and {tuple(y_pred.shape)}."
        )
    if T.shape[0] == 0:
        raise ValueError("`y_true` is empty: at least one sample is needed.")
    return xp, T, P


def mean_absolute_error(y_true, y_pred):
    """Mean of ``|y_true - y_pred|`` over samples, then over outputs. Returns a float."""
    xp, T, P = _regression_pair(y_true, y_pred)
    return float(xp.mean(xp.abs(T - P)))


def root_mean_squared_error(y_true, y_pred):
    """Square root of the mean squared error of each output, averaged over outputs. Returns a float."""
    xp, T, P = _regression_pair(y_true, y_pred)
    return float(xp.mean(xp.sqrt(xp.mean((T - P) ** 2, axis=0))))


def mean_squared_error(y_true, y_pred):
    """Mean of ``(y_true - y_pred)**2`` over samples, then over outputs. Returns a float."""
    xp, T, P = _regression_pair(y_true, y_pred)
    return float(xp.mean((T - P) ** 2))


def r2_score(y_true, y_pred):
    """Coefficient of determination ``1 - SS_res / SS_tot`` of each output, averaged over outputs.

    An output whose true values are constant scores 1.0 when predicted exactly and 0.0 otherwise (as in
    scikit-learn), instead of dividing by zero.

    Returns
    -------
    float
    """
    xp, T, P = _regression_pair(y_true, y_pred)
    ss_res = xp.sum((T - P) ** 2, axis=0)
    ss_tot = xp.sum((T - xp.mean(T, axis=0)) ** 2, axis=0)
    ok = ss_tot > 0
    r2 = xp.where(ok, 1.0 - ss_res / xp.where(ok, ss_tot, xp.ones_like(ss_tot)), xp.zeros_like(ss_res))
    r2 = xp.where(ok | (ss_res > 0), r2, xp.ones_like(r2))
    return float(xp.mean(r2))


def regression_report(y_true, y_pred, digits=4):
    """A printable summary of R², MAE and RMSE (and the number of samples)."""
    xp, T, _ = _regression_pair(y_true, y_pred)
    figures = [
        ("R2", r2_score(y_true, y_pred)),
        ("MAE", mean_absolute_error(y_true, y_pred)),
        ("RMSE", root_mean_squared_error(y_true, y_pred)),
    ]
    lines = [f"{name:<5}{value:.{digits}f}" for name, value in figures]
    lines.append(f"{'n':<5}{T.shape[0]}")
    return "\n".join(lines)


__all__ = [
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "f1_score",
    "log_loss",
    "mean_absolute_error",
    "mean_squared_error",
    "precision",
    "precision_recall_f1",
    "r2_score",
    "recall",
    "regression_report",
    "root_mean_squared_error",
]
