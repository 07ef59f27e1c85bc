"""Plots saved as PNG files: training curves, the confusion matrix, predicted against true values.

matplotlib is optional (``pip install ".[plot]" in the anyarray_nn checkout``). Figures are drawn on matplotlib's Agg
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
        msg = 'Plotting needs matplotlib, which is not installed: pip install ".[plot]" in the anyarray_nn checkout.'
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


# ------------------------------------------------------------------------------------------------------
# Pictures for learners: decision boundaries, the network with its shapes, training diagnostics.

# Class colours (matplotlib's tab10), as RGB in [0, 1].
_CLASS_COLORS = np.array(
    [
        [0.122, 0.467, 0.706], [1.000, 0.498, 0.055], [0.173, 0.627, 0.173], [0.839, 0.153, 0.157],
        [0.580, 0.404, 0.741], [0.549, 0.337, 0.294], [0.890, 0.467, 0.761], [0.498, 0.498, 0.498],
        [0.737, 0.741, 0.133], [0.090, 0.745, 0.812],
    ]
)


def _class_color(k):
    return _CLASS_COLORS[k % len(_CLASS_COLORS)]


def _labels_from(y, name="y"):
    """Class labels (n,) from labels or one-hot / probability rows (n, k), on the host."""
    labels = np.asarray(to_numpy(y))
    if labels.ndim == 2 and labels.shape[1] > 1:
        return np.argmax(labels, axis=1)
    labels = labels.reshape(-1)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"`{name}` must hold class labels (whole numbers) or one-hot rows.")
    return labels.astype(np.int64)


def _class_probabilities(model, points):
    """``(P, k)``: per grid point the probability of each class ``(g, k)``, from ``model.predict_proba``.

    One sigmoid unit gives two classes (``1 - p`` and ``p``); a softmax output, or any model whose
    ``predict_proba`` returns rows that sum to 1 (scikit-learn's), gives ``k`` classes.
    """
    activation = getattr(model, "output_activation", None)
    if activation is not None and activation not in ("softmax", "sigmoid"):
        raise ValueError(
            f"plot_decision_boundary needs a classifier (a softmax or sigmoid output), but the model's output "
            f"activation is {activation!r}."
        )
    P = np.asarray(to_numpy(model.predict_proba(points)), dtype=np.float64)
    if P.ndim == 1 or P.shape[1] == 1:
        p = P.reshape(-1)
        return np.stack([1.0 - p, p], axis=1), 2
    if activation == "sigmoid":
        raise ValueError(
            f"plot_decision_boundary draws one label per point: a sigmoid output of {P.shape[1]} units is "
            f"multi-label; plot one unit at a time or use a softmax output."
        )
    return P, P.shape[1]


def plot_decision_boundary(
    model,
    X,
    y=None,
    path=None,
    *,
    ax=None,
    resolution=200,
    padding=0.2,
    class_names=None,
    feature_names=("x0", "x1"),
    title=None,
    figsize=(5.5, 5.0),
    mark_errors=True,
):
    """The regions a classifier gives each class over the plane, with the samples on top.

    Every point of a ``resolution x resolution`` grid covering ``X`` goes through ``model.predict_proba``
    (any backend: the grid is moved to the model's device in chunks and the probabilities read back
    once). Each point is painted in the colour of its most probable class, paler where the model is
    less sure (white where all classes are equally likely), and the boundaries are drawn as lines: for a
    single sigmoid unit the line ``p = 0.5``.

    Parameters
    ----------
    model : Model or any classifier with ``predict_proba``
        Two input features. Its output is a softmax over ``k`` classes, one sigmoid unit (two classes),
        or probability rows that sum to 1 (scikit-learn classifiers).
    X : array-like, shape (n_samples, 2)
        Any backend.
    y : array-like, shape (n_samples,) or (n_samples, k), optional
        Class labels or one-hot rows; colours the samples, and with ``mark_errors`` the samples the model
        gets wrong get a black edge and the title reports the accuracy on them.
    path : str or path-like, optional
        Where the PNG goes. Give ``path``, ``ax`` or both.
    ax : matplotlib Axes, optional
        Draw on it (a panel of a larger figure) instead of a new figure.
    resolution : int, default 200
        Grid points per axis, 10 to 2000.
    padding : float, default 0.2
        Margin around the samples, as a fraction of their range on each axis.
    class_names : list of str, optional
    feature_names : (str, str), default ("x0", "x1")
    title : str, optional
    figsize : (float, float), default (5.5, 5.0)
    mark_errors : bool, default True

    Returns
    -------
    str or Axes
        The path written, or ``ax`` when no path was given.
    """
    Figure, Canvas, _ = _matplotlib()
    if path is None and ax is None:
        raise ValueError("plot_decision_boundary needs `path` (a PNG file) or `ax` (a matplotlib Axes) to draw on.")
    if not hasattr(model, "predict_proba"):
        raise TypeError(f"`model` must have a predict_proba method (a classifier), got {type(model).__name__}.")
    points = np.asarray(to_numpy(X), dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"`X` must have shape (n_samples, 2): a decision boundary is drawn in the plane, got shape {points.shape}.")
    if points.shape[0] == 0 or not np.all(np.isfinite(points)):
        raise ValueError("`X` must hold at least one sample and only finite values.")
    n_features = getattr(model, "n_features", 2)
    if n_features != 2:
        raise ValueError(f"The model takes {n_features} features; plot_decision_boundary needs a model of 2 inputs.")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 10 <= resolution <= 2000:
        raise ValueError(f"`resolution` must be an integer in [10, 2000], got {resolution!r}.")
    if isinstance(padding, bool) or not isinstance(padding, (int, float)) or not 0 <= padding <= 10:
        raise ValueError(f"`padding` must be a number in [0, 10], got {padding!r}.")
    labels = None
    if y is not None:
        labels = _labels_from(y)
        if labels.shape[0] != points.shape[0]:
            raise ValueError(f"`X` and `y` have different numbers of samples: {points.shape[0]} and {labels.shape[0]}.")

    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - padding * span, hi + padding * span
    gx = np.linspace(lo[0], hi[0], resolution)
    gy = np.linspace(lo[1], hi[1], resolution)
    GX, GY = np.meshgrid(gx, gy)
    grid = np.stack([GX.ravel(), GY.ravel()], axis=1)
    P, k = _class_probabilities(model, grid)
    if labels is not None and labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"`y` holds labels outside 0..{k - 1}, the classes of the model's output.")
    names = [str(c) for c in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"`class_names` has {len(names)} names for the model's {k} classes.")

    winner = np.argmax(P, axis=1)
    # Sureness 0 where all classes are equally likely, 1 where one has probability 1.
    sure = np.clip((P.max(axis=1) - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)
    colors = np.array([_class_color(c) for c in range(k)])[winner]
    strength = (0.2 + 0.45 * sure)[:, None]
    image = (1.0 - strength) + strength * colors
    image = image.reshape(resolution, resolution, 3)

    fig = None
    if ax is None:
        fig = Figure(figsize=figsize)
        ax = fig.subplots()
    ax.imshow(image, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto", interpolation="bilinear")
    if k == 2:
        ax.contour(GX, GY, P[:, 1].reshape(GX.shape), levels=[0.5], colors="black", linewidths=1.2)
    else:
        ax.contour(GX, GY, winner.reshape(GX.shape), levels=np.arange(k - 1) + 0.5, colors="black", linewidths=0.8)
    accuracy = None
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=14, c="0.2", edgecolors="white", linewidths=0.4)
    else:
        predicted = np.argmax(_class_probabilities(model, points)[0], axis=1)
        wrong = predicted != labels
        accuracy = float(np.mean(~wrong))
        for c in range(k):
            mine = labels == c
            ax.scatter(
                points[mine, 0], points[mine, 1], s=16, color=_class_color(c), edgecolors="white",
                linewidths=0.5, label=names[c], zorder=3,
            )
        if mark_errors and wrong.any():
            ax.scatter(
                points[wrong, 0], points[wrong, 1], s=34, facecolors="none", edgecolors="black",
                linewidths=1.1, label=f"wrong ({int(wrong.sum())})", zorder=4,
            )
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    if title is not None or accuracy is not None:
        parts = [title] if title else []
        if accuracy is not None:
            parts.append(f"accuracy {accuracy:.3f}")
        ax.set_title(" - ".join(parts), fontsize=10)
    if path is None:
        return ax
    if fig is None:
        fig = ax.figure
    fig.tight_layout()
    return _save(fig, Canvas, path)


# The colour of a layer's units in plot_network, by activation (indices into _CLASS_COLORS).
_ACTIVATION_COLOR = {"relu": 0, "leaky_relu": 9, "tanh": 2, "sigmoid": 1, "softmax": 3, "linear": 7}


def _shapes(layer, m, columns):
    """(W, b, A) shapes of ``layer`` for ``m`` samples, as the layout writes them."""
    if columns:
        return f"({layer.n_out}, {layer.n_in})", f"({layer.n_out}, 1)", f"({layer.n_out}, {m})"
    return f"({layer.n_in}, {layer.n_out})", f"({layer.n_out},)", f"({m}, {layer.n_out})"


def plot_network(model, path, *, batch_size=None, layout="rows", max_units=8, title=None, figsize=None):
    """The network drawn layer by layer, each labelled with the shapes of its W, b and A.

    Units are circles (at most ``max_units`` per layer: the first ones, a gap, the last one), joined to
    the units of the next layer as the weights join them. Under every layer: its activation and the
    shapes of ``W``, ``b`` and its output ``A`` for a batch of ``m`` samples, in the model's layout (samples
    as rows) or the tutorials' (samples as columns).

    Parameters
    ----------
    model : Model
    path : str or path-like
    batch_size : int, optional
        The ``m`` of the shapes; shown as the letter ``m`` when omitted.
    layout : {"rows", "columns"}, default "rows"
    max_units : int, default 8
        Largest number of circles drawn per layer, >= 3.
    title : str, optional
    figsize : (float, float), optional
        Default grows with the number of layers.

    Returns
    -------
    str
        The path written.
    """
    Figure, Canvas, _ = _matplotlib()
    layers = getattr(model, "layers", None)
    if not layers:
        raise TypeError(f"`model` must be a Model with layers, got {type(model).__name__}.")
    if layout not in ("rows", "columns"):
        raise ValueError(f"`layout` must be 'rows' or 'columns', got {layout!r}.")
    if isinstance(max_units, bool) or not isinstance(max_units, int) or max_units < 3:
        raise ValueError(f"`max_units` must be an integer >= 3, got {max_units!r}.")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` must be None or a positive integer, got {batch_size!r}.")
    m = "m" if batch_size is None else str(batch_size)
    columns = layout == "columns"
    sizes = [layers[0].n_in] + [layer.n_out for layer in layers]
    n_cols = len(sizes)
    if figsize is None:
        figsize = (max(6.0, (2.3 if n_cols <= 5 else 1.75) * n_cols), 5.2 if n_cols <= 5 else 4.4)
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    ax.set_axis_off()
    top, bottom = 1.0, 0.0

    def positions(n):
        """Vertical positions of the drawn units of a layer of ``n`` units, and the index labels."""
        if n <= max_units:
            shown = list(range(n))
        else:
            shown = list(range(max_units - 2)) + [None, n - 1]
        step = (top - bottom) / max_units
        middle = (top + bottom) / 2.0
        ys = [middle + ((len(shown) - 1) / 2.0 - i) * step for i in range(len(shown))]
        return list(zip(shown, ys))

    drawn = [positions(n) for n in sizes]
    for c in range(n_cols - 1):
        for i, y0 in drawn[c]:
            for j, y1 in drawn[c + 1]:
                if i is not None and j is not None:
                    ax.plot([c, c + 1], [y0, y1], color="0.75", linewidth=0.5, zorder=1)
    for c, units in enumerate(drawn):
        face = "0.85" if c == 0 else _class_color(_ACTIVATION_COLOR.get(layers[c - 1].activation.name, 4))
        for i, y0 in units:
            if i is None:
                ax.text(c, y0, "\u22ee", ha="center", va="center", fontsize=14, zorder=3)
            else:
                ax.scatter([c], [y0], s=260, color=face, edgecolors="black", linewidths=0.8, zorder=2)
        if c == 0:
            shape = f"({layers[0].n_in}, {m})" if columns else f"({m}, {layers[0].n_in})"
            text = f"input\n{sizes[0]} features\nX = A0 {shape}"
        else:
            layer = layers[c - 1]
            W, b, A = _shapes(layer, m, columns)
            text = f"layer {c}: {layer.activation.name}\n{layer.n_out} units\nW{c} {W}\nb{c} {b}\nA{c} {A}"
        ax.text(c, bottom - 0.04, text, ha="center", va="top", fontsize=9, family="monospace")
    equation = "Z = W @ A_prev + b (samples are columns)" if columns else "Z = A_prev @ W + b (samples are rows)"
    ax.set_xlim(-0.6, n_cols - 0.4)
    ax.set_ylim(-0.55, 1.05)
    ax.set_title(title or f"{' -> '.join(str(s) for s in sizes)}:  {equation}", fontsize=10)
    fig.tight_layout()
    return _save(fig, Canvas, path)


def plot_diagnostics(diagnostics, path, title=None, figsize=(12.0, 7.5)):
    """Per layer and epoch: gradient norm, update-to-weight ratio, share of dead ReLU units, weight norm.

    Parameters
    ----------
    diagnostics : TrainingDiagnostics or dict
        The callback after a fit (:class:`anyarray_nn.diagnostics.TrainingDiagnostics`) or its
        ``as_dict()``.
    path : str or path-like
    title : str, optional
    figsize : (float, float), default (12, 7.5)

    Returns
    -------
    str
        The path written.
    """
    Figure, Canvas, MaxNLocator = _matplotlib()
    record = diagnostics.as_dict() if hasattr(diagnostics, "as_dict") else diagnostics
    if not isinstance(record, dict) or "grad_norm" not in record:
        raise TypeError(
            f"`diagnostics` must be a TrainingDiagnostics (after a fit) or its as_dict(), got {type(diagnostics).__name__}."
        )
    if not record.get("epoch"):
        raise ValueError("`diagnostics` has no recorded epochs; pass it to model.fit(callbacks=[...]) first.")
    epochs = np.asarray(record["epoch"])
    names = record.get("layers") or [f"layer {i + 1}" for i in range(len(record["grad_norm"][0]))]
    # Up to ten layers in distinct colours; deeper networks along a colour scale, first layer dark.
    if len(names) <= len(_CLASS_COLORS):
        colors = [_class_color(j) for j in range(len(names))]
    else:
        colors = [_viridis(j / (len(names) - 1)) for j in range(len(names))]
    fig = Figure(figsize=figsize)
    axes = fig.subplots(2, 2).ravel()
    panels = [
        ("grad_norm", "gradient norm ||dW||", True),
        ("update_ratio", "update / weight over the epoch  ||W_end - W_start|| / ||W_start||", True),
        ("dead_relu", "share of dead ReLU units", False),
        ("weight_norm", "weight norm ||W||", True),
    ]
    handles = {}
    for ax, (key, label, log) in zip(axes, panels):
        values = np.asarray(record[key], dtype=np.float64)
        drew = False
        for j, name in enumerate(names):
            column = values[:, j]
            keep = np.isfinite(column) & ((column > 0) if log else True)
            if not keep.any():
                continue
            (line,) = ax.plot(epochs[keep], column[keep], marker="o" if len(epochs) < 25 else None, markersize=3,
                              color=colors[j], label=name)
            handles.setdefault(name, line)
            drew = True
        if log and drew:
            ax.set_yscale("log")
        if key == "update_ratio" and drew:
            steps = record.get("steps_per_epoch") or 1
            reference = f"1e-3 x {steps} steps per epoch (rule of thumb)" if steps > 1 else "1e-3 per step (rule of thumb)"
            ax.axhline(1e-3 * steps, color="black", linestyle="--", linewidth=0.8, label=reference)
            ax.legend(handles=[ax.lines[-1]], fontsize=7, loc="best")
        if key == "dead_relu":
            ax.set_ylim(-0.03, 1.03)
            if not drew:
                ax.text(0.5, 0.5, "no ReLU layer", transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    # One legend for the four panels, right of them.
    ordered = [name for name in names if name in handles]
    fig.legend([handles[n] for n in ordered], ordered, loc="center right", fontsize=8, title="layer", title_fontsize=8)
    fig.suptitle(title or "Training diagnostics per layer (measured once per epoch)")
    fig.tight_layout(rect=(0.0, 0.0, 0.83, 1.0))
    return _save(fig, Canvas, path)


def _viridis(t):
    """A colour of matplotlib's viridis scale at ``t`` in [0, 1]."""
    from_scale = np.array([[0.267, 0.005, 0.329], [0.229, 0.322, 0.546], [0.128, 0.567, 0.551], [0.369, 0.789, 0.383], [0.993, 0.906, 0.144]])
    position = t * (len(from_scale) - 1)
    low = int(np.floor(position))
    high = min(low + 1, len(from_scale) - 1)
    return from_scale[low] + (position - low) * (from_scale[high] - from_scale[low])
