"""Plots saved as PNG files: training curves, the confusion matrix, predicted against true values.

matplotlib is optional (``pip install "anyarray-nn[plot]"``). Figures are drawn on matplotlib's Agg
canvas directly, without pyplot, so saving a plot never opens a window nor changes the backend of an
interactive session.
"""

from __future__ import annotations

import os

import numpy as np

from .backend import to_numpy

DPI = 100


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        msg = 'Plotting needs matplotlib, which is not installed: pip install "anyarray-nn[plot]".'
        raise ImportError(msg) from exc
    return Figure, FigureCanvasAgg, MaxNLocator


def _save(fig, canvas_cls, path):
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    canvas_cls(fig)
    # No bbox_inches="tight": the file keeps the size asked for (figsize * dpi).
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _history_dict(history):
    if hasattr(history, "as_dict"):
        return history.as_dict()
    if isinstance(history, dict):
        return history
    raise TypeError(f"`history` must be a History (from model.fit) or a dict of lists, got {type(history).__name__}.")


def plot_history(history, path, title=None, figsize=None):
    """Loss per epoch (training and validation) and, for classifiers, accuracy per epoch.

    Parameters
    ----------
    history : History or dict
        What :meth:`Model.fit` returned (keys ``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``).
    path : str or path-like
        Where the PNG goes; missing folders are created.
    title : str, optional
    figsize : (float, float), optional
        Inches; the PNG is ``figsize * 100`` pixels. Default (10, 4) with the accuracy panel, (6, 4)
        without.

    Returns
    -------
    str
        The path written.
    """
    Figure, Canvas, MaxNLocator = _matplotlib()
    h = _history_dict(history)
    if not h.get("loss"):
        raise ValueError("`history` has no recorded epochs; fit the model first.")
    has_acc = bool(h.get("accuracy"))
    if figsize is None:
        figsize = (10.0, 4.0) if has_acc else (6.0, 4.0)
    fig = Figure(figsize=figsize)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    _curves(axes[0], h["loss"], h.get("val_loss"), "loss", MaxNLocator)
    if has_acc:
        _curves(axes[1], h["accuracy"], h.get("val_accuracy"), "accuracy", MaxNLocator)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, Canvas, path)


def _curves(ax, train, val, name, locator):
    """Training (and validation) values of one quantity against the epoch, on ``ax``."""
    ax.plot(np.arange(1, len(train) + 1), train, label="training")
    if val:
        ax.plot(np.arange(1, len(val) + 1), val, label="validation")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(locator(integer=True))
    ax.set_ylabel(name)
    ax.set_title(f"{name.capitalize()} per epoch")
    ax.grid(alpha=0.3)
    ax.legend()


def plot_confusion_matrix(confusion, path, class_names=None, title="Confusion matrix", figsize=None):
    """The confusion matrix as a heatmap with the count in every cell (actual rows, predicted columns).

    Parameters
    ----------
    confusion : array, shape (n_classes, n_classes)
        From :func:`anyarray_nn.metrics.confusion_matrix` (any backend).
    path : str or path-like
    class_names : list of str, optional
    title : str, optional
    figsize : (float, float), optional
        Default grows with the number of classes, from 5 x 4.5 inches.

    Returns
    -------
    str
        The path written.
    """
    Figure, Canvas, _ = _matplotlib()
    C = np.asarray(to_numpy(confusion))
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"`confusion` must be a square matrix (n_classes, n_classes), got shape {C.shape}.")
    k = C.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"`class_names` has {len(names)} names for {k} classes.")
    if figsize is None:
        side = max(4.5, 0.45 * k + 2.5)
        figsize = (side + 0.5, side)
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    image = ax.imshow(C, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=names, rotation=45 if max(len(n) for n in names) > 3 else 0)
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    if title:
        ax.set_title(title)
    # Dark text on light cells, light text on dark ones.
    threshold = C.max() / 2.0 if C.size else 0
    for i in range(k):
        for j in range(k):
            value = C[i, j]
            text = f"{int(value)}" if float(value).is_integer() else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", color="white" if value > threshold else "black", fontsize=9)
    fig.tight_layout()
    return _save(fig, Canvas, path)


def plot_predictions(y_true, y_pred, path, title="Predicted against true values", figsize=(5.0, 5.0)):
    """Scatter of predicted against true values for a regression, with the line ``y = x``.

    Parameters
    ----------
    y_true, y_pred : array, shape (n_samples,) or (n_samples, 1)
    path : str or path-like

    Returns
    -------
    str
        The path written.
    """
    Figure, Canvas, _ = _matplotlib()
    t = np.asarray(to_numpy(y_true), dtype=np.float64).reshape(-1)
    p = np.asarray(to_numpy(y_pred), dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"`y_true` and `y_pred` must have the same number of values, got {t.size} and {p.size}.")
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    ax.scatter(t, p, s=10, alpha=0.6)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="y = x")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, Canvas, path)
