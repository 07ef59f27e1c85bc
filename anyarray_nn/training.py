"""The training loop: Solver (what to minimize and how), Settings (how long, what batches), History.

One epoch, for ``n`` samples and batch size ``m``::

    idx = a permutation of range(n), on the device
    for each slice of m indices:
        Xb, Yb = take(X, idx), take(Y, idx)       # rows stay paired: one index for both
        cache = forward(Xb)                         # (Z, A) per layer
        loss, grads = backward(cache, Yb)           # fused output gradient where possible
        params = optimizer.step(params, grads)
    read the summed loss and accuracy from the device, once

Nothing inside the batch loop waits for the device: losses and correct counts are summed as device
arrays, and the host reads one small vector per epoch.
"""

from __future__ import annotations

import copy
import math
import sys
import time

from . import losses, optimizers
from . import regularization as regularization_module
from ._validation import check_positive_int, check_targets, check_X


class Solver:
    """What training minimizes and how.

    Parameters
    ----------
    loss : str or Loss, optional
        ``mae``, ``mse``, ``rmse``, ``binary_crossentropy`` or ``crossentropy``. Default: from the output
        activation (softmax -> crossentropy, sigmoid -> binary_crossentropy, otherwise mse).
    optimizer : str or Optimizer, default "sgd"
    learning_rate : float, default 0.01
    regularization : Regularization, str or dict, optional
        Weight penalty and dropout; none by default.
    """

    def __init__(self, loss=None, optimizer="sgd", learning_rate=0.01, regularization=None):
        self.loss = None if loss is None else losses.get(loss)
        self.optimizer = optimizers.get(optimizer)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not math.isfinite(learning_rate):
            raise TypeError(f"`learning_rate` must be a finite number, got {learning_rate!r}.")
        if learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
        self.learning_rate = float(learning_rate)
        self.regularization = regularization_module.get(regularization)

    def __repr__(self):
        loss = self.loss.name if self.loss is not None else None
        return (
            f"Solver(loss={loss!r}, optimizer={self.optimizer!r}, learning_rate={self.learning_rate}, "
            f"regularization={self.regularization!r})"
        )


def default_solver(model, solver=None):
    """``solver`` with its loss filled in from the model's output activation (a copy when changed)."""
    solver = Solver() if solver is None else solver
    if not isinstance(solver, Solver):
        raise TypeError(f"`solver` must be a Solver, got {type(solver).__name__}.")
    if solver.loss is None:
        solver = copy.copy(solver)
        solver.loss = losses.get(losses.default_for(model.output_activation))
    return solver


class Settings:
    """How long and on what batches to train.

    Parameters
    ----------
    epochs : int, default 100
    batch_size : int, default 32
        Samples per gradient step; the last batch of an epoch may be smaller.
    shuffle : bool, default True
        Draw a new order of the samples every epoch (from the model's seeded generator).
    verbose : int, default 1
        0 silent, 1 about twenty progress lines per fit, 2 one line per epoch.
    """

    def __init__(self, epochs=100, batch_size=32, shuffle=True, verbose=1):
        self.epochs = check_positive_int(epochs, "epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if not isinstance(shuffle, bool):
            raise TypeError(f"`shuffle` must be True or False, got {shuffle!r}.")
        self.shuffle = shuffle
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"`verbose` must be 0, 1 or 2, got {verbose!r}.")
        self.verbose = verbose

    def __repr__(self):
        return f"Settings(epochs={self.epochs}, batch_size={self.batch_size}, shuffle={self.shuffle}, verbose={self.verbose})"


class History:
    """Per-epoch record of a fit.

    Attributes
    ----------
    loss, val_loss : list of float
        Mean training loss over each epoch's batches (with the penalty) and validation loss.
    accuracy, val_accuracy : list of float
        For classifiers; empty otherwise.
    epoch_time : list of float
        Seconds per epoch.
    stop_reason : str
        Why training ended.
    """

    KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "epoch_time")

    def __init__(self):
        for key in self.KEYS:
            setattr(self, key, [])
        self.stop_reason = ""

    @property
    def epochs(self):
        return len(self.loss)

    def __getitem__(self, key):
        if key not in self.KEYS:
            raise KeyError(f"Unknown history key {key!r}; expected one of {list(self.KEYS)}.")
        return getattr(self, key)

    def as_dict(self):
        return {**{key: list(getattr(self, key)) for key in self.KEYS}, "stop_reason": self.stop_reason}

    def __repr__(self):
        last = f", last loss={self.loss[-1]:.4g}" if self.loss else ""
        return f"History(epochs={self.epochs}{last})"


def _correct(A, T, activation_name, xp):
    """Number of correct predictions in a batch, as a 0-d device array."""
    if activation_name == "softmax":
        hits = xp.argmax(A, axis=1) == xp.argmax(T, axis=1)
        return xp.sum(xp.astype(hits, A.dtype))
    hits = (A >= 0.5) == (T >= 0.5)
    # Multi-label sigmoid outputs: the fraction of labels right in each row.
    return xp.sum(xp.astype(hits, A.dtype)) / A.shape[1]


def _is_classifier(model, solver):
    return solver.loss.name in losses.CLASSIFICATION and model.output_activation in ("softmax", "sigmoid")


def evaluate(model, X, T, solver, batch_size=None):
    """Loss and (for classifiers) accuracy of ``model`` on validated device arrays, as Python floats."""
    loss, correct = _evaluate_device(model, X, T, solver, batch_size)
    values = model.backend.to_numpy(model.xp.stack([loss, correct]))
    acc = float(values[1]) / X.shape[0] if _is_classifier(model, solver) else None
    return float(values[0]), acc


def _evaluate_device(model, X, T, solver, batch_size=None):
    """Loss (with penalty) and correct count on the device, chunked like prediction."""
    xp = model.xp
    loss_fn, act = solver.loss, model.layers[-1].activation
    n = X.shape[0]
    size = batch_size or 8192
    loss_sum = xp.zeros((), dtype=model.backend.dtype, device=model.device)
    correct = xp.zeros((), dtype=model.backend.dtype, device=model.device)
    for start in range(0, n, size):
        Xb, Tb = X[start : min(start + size, n), :], T[start : min(start + size, n), :]
        A = Xb
        Z = Xb
        for layer in model.layers:
            Z = A @ layer.W + layer.b
            A = layer.activation.forward(Z, xp=xp)
        loss_sum = loss_sum + loss_fn.forward(Z, A, Tb, act, xp=xp) * Xb.shape[0]
        if _is_classifier(model, solver):
            correct = correct + _correct(A, Tb, model.output_activation, xp)
    loss = loss_sum / n
    reg = solver.regularization
    if reg.active:
        loss = loss + reg.penalty([layer.W for layer in model.layers], xp=xp)
    return loss, correct


class _Progress:
    """Prints epoch lines with timing and an estimate of the time left; silent at verbose=0."""

    def __init__(self, epochs, verbose, stream=None):
        self.epochs = epochs
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.every = 1 if verbose == 2 else max(1, epochs // 20)
        self.start = time.perf_counter()

    def epoch(self, epoch, history):
        if self.verbose == 0:
            return
        if not (epoch == 1 or epoch == self.epochs or epoch % self.every == 0):
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / epoch * (self.epochs - epoch)
        parts = [f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}", f"loss {history.loss[-1]:.4f}"]
        if history.accuracy:
            parts.append(f"acc {history.accuracy[-1]:.4f}")
        if history.val_loss:
            parts.append(f"val_loss {history.val_loss[-1]:.4f}")
        if history.val_accuracy:
            parts.append(f"val_acc {history.val_accuracy[-1]:.4f}")
        parts.append(f"{history.epoch_time[-1]:.3f}s/epoch")
        parts.append(f"ETA {left:.1f}s")
        print("  ".join(parts), file=self.stream, flush=True)


def fit(model, X, y, solver=None, settings=None, validation_data=None, verbose=None):
    """Train ``model`` on ``(X, y)`` with mini-batch gradient descent.

    Parameters
    ----------
    model : Model
    X : array-like, shape (n_samples, n_features)
    y : array-like
        Class labels ``(n_samples,)`` or one-hot ``(n_samples, n_classes)`` for softmax; 0/1
        ``(n_samples,)`` or ``(n_samples, n_outputs)`` for sigmoid; values for regression.
    solver : Solver, optional
        Default: SGD at 0.01 with the loss that suits the output activation.
    settings : Settings, optional
        Default: 100 epochs, batches of 32, shuffled.
    validation_data : tuple (X_val, y_val), optional
        Evaluated at the end of every epoch.
    verbose : int, optional
        Overrides ``settings.verbose``.

    Returns
    -------
    History
    """
    solver = default_solver(model, solver)
    settings = Settings() if settings is None else settings
    if not isinstance(settings, Settings):
        raise TypeError(f"`settings` must be a Settings, got {type(settings).__name__}.")
    verbose = settings.verbose if verbose is None else verbose
    backend, xp = model.backend, model.xp

    # Validate and move the data to the device once; everything after this stays there.
    X = check_X(X, backend, model.n_features)
    T = check_targets(y, backend, solver.loss.name, model.n_outputs, X.shape[0])
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("`validation_data` must be a tuple (X_val, y_val).")
        X_val = check_X(validation_data[0], backend, model.n_features, name="validation_data[0]")
        T_val = check_targets(
            validation_data[1], backend, solver.loss.name, model.n_outputs, X_val.shape[0], name="validation_data[1]"
        )
        val = (X_val, T_val)

    optimizer = solver.optimizer
    params = model.parameters()
    # Fitting again with the same Solver continues the optimizer's state (a warm start).
    if model.optimizer_state_ is None or model.solver_ is not solver:
        model.optimizer_state_ = optimizer.init_state(params, xp=xp)
    state = model.optimizer_state_
    model.solver_ = solver

    n, m = X.shape[0], settings.batch_size
    classifier = _is_classifier(model, solver)
    dropout = solver.regularization.dropout
    history = History()
    progress = _Progress(settings.epochs, verbose)
    zero = xp.zeros((), dtype=backend.dtype, device=backend.device)

    for epoch in range(1, settings.epochs + 1):
        t0 = time.perf_counter()
        order = backend.permutation(n) if settings.shuffle else None
        loss_sum, correct = zero, zero
        for start in range(0, n, m):
            if order is None:
                Xb, Tb = X[start : min(start + m, n), :], T[start : min(start + m, n), :]
            else:
                idx = order[start : min(start + m, n)]
                Xb, Tb = xp.take(X, idx, axis=0), xp.take(T, idx, axis=0)
            cache = model._forward(Xb, dropout)
            loss, grads_W, grads_b = model._backward(cache, Tb, solver.loss, solver.regularization)
            loss_sum = loss_sum + loss * Xb.shape[0]
            if classifier:
                correct = correct + _correct(cache.output, Tb, model.output_activation, xp)
            grads = [g for pair in zip(grads_W, grads_b) for g in pair]
            params, state = optimizer.step(params, grads, state, solver.learning_rate, xp=xp)
            model._set_parameters_unchecked(params)

        stats = [loss_sum / n, correct / n]
        if val is not None:
            val_loss, val_correct = _evaluate_device(model, val[0], val[1], solver)
            stats += [val_loss, val_correct / val[0].shape[0]]
        # The one host read of the epoch.
        values = [float(v) for v in backend.to_numpy(xp.stack(stats))]
        history.loss.append(values[0])
        if classifier:
            history.accuracy.append(values[1])
        if val is not None:
            history.val_loss.append(values[2])
            if classifier:
                history.val_accuracy.append(values[3])
        history.epoch_time.append(time.perf_counter() - t0)
        progress.epoch(epoch, history)

    model.optimizer_state_ = state
    history.stop_reason = f"completed {settings.epochs} epochs"
    model.history_ = history
    return history
