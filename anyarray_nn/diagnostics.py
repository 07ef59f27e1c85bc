"""Training diagnostics: what each layer's gradients, updates and units do, recorded once per epoch.

Three figures tell a healthy network from a sick one (Karpathy's cs231n notes, "Babysitting the
learning process"), measured per layer ``l`` at the end of every epoch:

=================  =========================================================  ==============================
figure             definition                                                 what to look for
=================  =========================================================  ==============================
``grad_norm``      ``||dL/dW_l||`` (Frobenius norm), the gradient of the      orders of magnitude smaller in
                   loss (with the weight penalty) on the probe rows, at the   the first layers than in the
                   weights the epoch ended with                               last: vanishing gradients
``update_ratio``   ``||W_l(end) - W_l(start)|| / ||W_l(start)||``, how far    about 1e-3 per step is the
                   the epoch moved the weights, relative to their size        classic rule; far below: the
                                                                              layer does not learn
``dead_relu``      share of the layer's ReLU units whose output is 0 for     a share near 1: the layer is
                   every probe row (NaN for other activations)                dead, no gradient gets through
=================  =========================================================  ==============================

plus ``weight_norm``, ``||W_l||`` at the end of the epoch. ``update_ratio`` covers the whole epoch;
divided by the number of steps per epoch (``steps_per_epoch``) it gives the mean step's ratio when
the steps point the same way, and less when they zigzag, so compare it with about
``1e-3 * steps_per_epoch``.

The figures are computed on the device from one forward and one backward pass over the probe rows,
stacked into one vector and read with one host transfer per epoch; nothing is read during the
epoch's batches. The weights at the start of the epoch are kept as a device copy.
"""

from __future__ import annotations

import math

import numpy as np

from . import network
from ._validation import check_positive_int, check_targets, check_X
from .callbacks import Callback

FIGURES = ("grad_norm", "update_ratio", "dead_relu", "weight_norm")


class TrainingDiagnostics(Callback):
    """Per layer, once per epoch: gradient norm, update-to-weight ratio and share of dead ReLU units.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Probe rows: the gradient and the dead units are measured on them (a few hundred rows of the
        training set are plenty). Any backend; moved to the model's device once, when the fit starts.
    y : array-like
        Their targets, as for :meth:`~anyarray_nn.Model.fit`.
    max_samples : int, default 1024
        Only the first ``max_samples`` rows of ``X`` are used, which bounds the cost of the probe.

    Attributes
    ----------
    epochs : list of int
        The epochs recorded, counted from 1.
    grad_norm, update_ratio, dead_relu, weight_norm : list of list of float
        ``figure[e][l]``: the value for the ``e``-th recorded epoch and layer ``l`` (from 0).
    layer_names : list of str
        ``"1 relu (4->16)"`` ... , one per layer, for legends.
    steps_per_epoch : int or None
        Optimizer steps per epoch in the last fit.

    Examples
    --------
    >>> diagnostics = TrainingDiagnostics(X_train[:256], y_train[:256])   # doctest: +SKIP
    >>> model.fit(X_train, y_train, callbacks=[diagnostics])              # doctest: +SKIP
    >>> anyarray_nn.plotting.plot_diagnostics(diagnostics, "diagnostics.png")   # doctest: +SKIP
    """

    def __init__(self, X, y, max_samples=1024):
        super().__init__()
        if X is None or y is None:
            raise TypeError("TrainingDiagnostics needs probe rows `X` and their targets `y`.")
        self.max_samples = check_positive_int(max_samples, "max_samples")
        self._X_given, self._y_given = X, y
        self.reset()

    def reset(self):
        """Forget what a previous fit recorded."""
        self.epochs = []
        for name in FIGURES:
            setattr(self, name, [])
        self.layer_names = []
        self.steps_per_epoch = None
        self._start = None

    # -- the hooks ---------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        backend = model.backend
        solver = model.solver_
        X, y = self._X_given, self._y_given
        n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        rows = min(n, self.max_samples)
        X_probe = X[:rows] if rows < n else X
        y_probe = y[:rows] if rows < n else y
        # One upload and one check, when the fit starts; nothing moves between epochs after this.
        self._X = check_X(X_probe, backend, model.n_features, name="X (diagnostics probe)")
        self._T = check_targets(y_probe, backend, solver.loss, model.n_outputs, self._X.shape[0], name="y (diagnostics probe)")
        self.reset()
        self.steps_per_epoch = (logs or {}).get("batches")
        self.layer_names = [
            f"{i} {layer.activation.name} ({layer.n_in}->{layer.n_out})" for i, layer in enumerate(model.layers, start=1)
        ]

    def on_epoch_begin(self, epoch):
        xp = self.model.xp
        # A copy: the optimizers update the weights in place where the library allows it.
        self._start = [xp.asarray(layer.W, copy=True) for layer in self.model.layers]

    def on_epoch_end(self, epoch, logs):
        values = self.backend_figures()
        k = len(self.model.layers)
        host = np.asarray(self.model.backend.to_numpy(values), dtype=np.float64)  # the one read of the epoch
        self.epochs.append(int(epoch))
        for j, name in enumerate(FIGURES):
            getattr(self, name).append([float(v) for v in host[j * k : (j + 1) * k]])
        self._start = None

    # -- the figures, on the device ----------------------------------------------------------------
    def backend_figures(self):
        """The epoch's figures as one device vector: ``[grad_norm..., update_ratio..., dead_relu..., weight_norm...]``.

        Each block has one entry per layer. Computed from the model's current weights, the weights
        copied when the epoch began and one forward and backward pass over the probe rows.
        """
        model = self.model
        xp, layers = model.xp, model.layers
        solver = model.solver_
        params = model.parameters()
        cache = network.forward(layers, params, self._X, xp=xp)
        _, grads_W, _ = network.backward(layers, params, cache, self._T, solver.loss, solver.regularization, xp=xp)
        dtype = params[0].dtype
        nan = xp.asarray(math.nan, dtype=dtype, device=model.device)
        grad_norm, update_ratio, dead, weight_norm = [], [], [], []
        for i, layer in enumerate(layers):
            W = params[2 * i]
            grad_norm.append(_norm(grads_W[i], xp))
            weight_norm.append(_norm(W, xp))
            if self._start is None:
                update_ratio.append(nan)
            else:
                W0 = self._start[i]
                update_ratio.append(_norm(W - W0, xp) / _norm(W0, xp))
            if getattr(layer.activation, "name", None) == "relu":
                Z = cache[i][0]
                # A unit is dead when its input is <= 0 for every probe row: ReLU passes no gradient back.
                silent = xp.all(Z <= 0, axis=0)
                dead.append(xp.mean(xp.astype(silent, dtype)))
            else:
                dead.append(nan)
        return xp.stack(grad_norm + update_ratio + dead + weight_norm)

    # -- reading the record ------------------------------------------------------------------------
    def as_dict(self):
        """The record as plain lists: ``{"epoch": [...], "layers": [...], "grad_norm": [[...], ...], ...}``."""
        out = {"epoch": list(self.epochs), "layers": list(self.layer_names), "steps_per_epoch": self.steps_per_epoch}
        for name in FIGURES:
            out[name] = [list(row) for row in getattr(self, name)]
        return out

    def __repr__(self):
        return f"TrainingDiagnostics(epochs recorded={len(self.epochs)}, layers={len(self.layer_names)})"


def _norm(A, xp):
    """The Frobenius norm of ``A`` as a 0-d array."""
    return xp.sqrt(xp.sum(A * A))
