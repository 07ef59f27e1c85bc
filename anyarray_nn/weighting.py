"""Sample and class weights: how much each training row counts in the loss.

With weights ``w_i`` the loss of a batch is the weighted mean ``sum_i w_i l_i / sum_i w_i`` of its rows'
losses (:meth:`anyarray_nn.losses.Loss.weighted_forward`); a batch whose weights add up to 0 adds
nothing. Class weights give every row of class ``c`` the weight ``class_weight[c]`` (times its sample
weight when both are given); ``"balanced"`` is scikit-learn's ``n_samples / (n_classes * count(c))``
over the classes present in ``y``.
"""

from __future__ import annotations

import numbers

import numpy as np


def labels_of(y, n_outputs, name="y"):
    """Class numbers ``(n,)`` of host targets: labels as given, one-hot rows by their largest column.

    For one sigmoid output, the 0/1 labels themselves. Multi-label targets have no single class.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if n_outputs == 1 or y.shape[1] != n_outputs:
            raise ValueError(f"`class_weight` needs one class per row of `{name}`, got targets of shape {y.shape}.")
        return np.argmax(y, axis=1)
    if y.size and (np.any(y != np.round(y)) or np.min(y) < 0):
        raise ValueError(f"`class_weight` needs class labels 0, 1, ... in `{name}`, got values such as {y[:3].tolist()}.")
    return y.astype(np.int64)


def class_weight_table(class_weight, y, n_outputs, name="y"):
    """Each class's weight, a NumPy array ``(n_classes,)``.

    Parameters
    ----------
    class_weight : dict or "balanced"
        ``{class: weight}`` (classes left out weigh 1), or ``"balanced"``: ``n / (n_present * count(c))``
        as scikit-learn's ``compute_class_weight`` over the classes present in ``y``.
    y : host targets, or None
        Needed for ``"balanced"`` (all of ``y``: a data set's labels are not known before reading it).
    n_outputs : int
        Units of the output layer: its classes, or 2 classes for one sigmoid unit.
    """
    n_classes = max(2, n_outputs)
    table = np.ones(n_classes, dtype=np.float64)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"`class_weight` must be a dict or 'balanced', got {class_weight!r}.")
        if y is None:
            raise ValueError(
                "`class_weight='balanced'` needs every label before training; a data set or batch source is read "
                "a batch at a time, so pass the weights as a dict {class: weight}."
            )
        labels = labels_of(y, n_outputs, name)
        counts = np.bincount(labels, minlength=n_classes)
        present = counts > 0
        table[present] = labels.shape[0] / (np.count_nonzero(present) * counts[present])
        return table
    if not isinstance(class_weight, dict):
        raise TypeError(f"`class_weight` must be a dict or 'balanced', got {type(class_weight).__name__}.")
    for key, value in class_weight.items():
        if not isinstance(key, numbers.Integral) or isinstance(key, bool) or not 0 <= key < n_classes:
            raise ValueError(f"`class_weight` keys must be class numbers 0 .. {n_classes - 1}, got {key!r}.")
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value) or value < 0:
            raise ValueError(f"`class_weight[{key}]` must be a finite number >= 0, got {value!r}.")
        table[int(key)] = float(value)
    return table


def check_sample_weight(sample_weight, n_rows, name="sample_weight"):
    """``sample_weight`` as a NumPy float64 array ``(n_rows,)`` of finite values >= 0."""
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be an array of numbers, got {type(sample_weight).__name__}: {exc}") from None
    if w.shape != (n_rows,):
        raise ValueError(f"`{name}` must have shape ({n_rows},), one weight per row, got shape {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"`{name}` must hold finite weights >= 0.")
    return w


def row_weights(table, y, n_outputs, sample_weight=None, name="y"):
    """Each row's weight: its class's weight from ``table``, times its sample weight when given."""
    w = table[labels_of(y, n_outputs, name)]
    return w if sample_weight is None else w * np.asarray(sample_weight, dtype=np.float64)
