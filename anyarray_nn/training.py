"""The training loop: Solver (what to minimize and how), Settings (how long, what batches), History.

One epoch, for ``n`` samples and batch size ``m``::

    idx = a permutation of range(n), on the device
    for each slice of m indices:
        Xb, Yb = take(X, idx), take(Y, idx)       # rows stay paired: one index for both
        cache = forward(Xb)                         # (Z, A) per layer
        loss, grads = backward(cache, Yb)           # fused output gradient where possible
        params = optimizer.step(params, grads)
    read the summed loss and accuracy from the device, once

Plain SGD (without clipping) takes a shortcut: backward scales the output gradient by ``-lr``, which
makes every gradient the update itself, and the step is ``p += update`` with no temporary.

Nothing inside the batch loop waits for the device: each batch's loss and predictions stay device
arrays, summed and compared once per epoch, and the host reads one small vector per epoch.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
import warnings

from . import losses, optimizers, schedules
from . import regularization as regularization_module
from ._validation import check_number, check_positive_int, check_targets, check_X
from .model import PREDICT_BATCH_SIZE


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
    schedule : str or Schedule, optional
        Learning-rate schedule over the epochs (``constant``, ``step``, ``exponential``, ``cosine``,
        ``plateau``; see :mod:`anyarray_nn.schedules`). Default: constant.
    clip_norm : float, optional
        When set, the gradients of each step are scaled together so that their global L2 norm is at
        most ``clip_norm`` (see :func:`anyarray_nn.optimizers.clip_by_global_norm`).
    """

    def __init__(self, loss=None, optimizer="sgd", learning_rate=0.01, regularization=None, schedule=None, clip_norm=None):
        self.loss = None if loss is None else losses.get(loss)
        self.optimizer = optimizers.get(optimizer)
        self.learning_rate = check_number(learning_rate, "learning_rate", low=0.0, low_open=True)
        self.regularization = regularization_module.get(regularization)
        self.schedule = schedules.get(schedule)
        if clip_norm is not None:
            clip_norm = check_number(clip_norm, "clip_norm", low=0.0, low_open=True, high=None)
        self.clip_norm = clip_norm

    def __repr__(self):
        loss = self.loss.name if self.loss is not None else None
        return (
            f"Solver(loss={loss!r}, optimizer={self.optimizer!r}, learning_rate={self.learning_rate}, "
            f"regularization={self.regularization!r}, schedule={self.schedule!r}, clip_norm={self.clip_norm!r})"
        )


def default_solver(model, solver=None):
    """``solver`` with its loss filled in from the model's output activation (a copy when changed)."""
    solver = Solver() if solver is None else solver
    if not isinstance(solver, Solver):
        raise TypeError(f"`solver` must be a Solver, got {type(solver).__name__}.")
    if solver.loss is None:
        original, solver = solver, copy.copy(solver)
        solver.loss = losses.get(losses.default_for(model.output_activation))
        # Remembered so that fitting again with the same Solver is recognized as a warm start.
        solver._origin = original
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
    early_stopping : EarlyStopping, optional
        Stop when the monitored loss stops improving (and restore the best weights).
    """

    def __init__(self, epochs=100, batch_size=32, shuffle=True, verbose=1, early_stopping=None):
        self.epochs = check_positive_int(epochs, "epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if not isinstance(shuffle, bool):
            raise TypeError(f"`shuffle` must be True or False, got {shuffle!r}.")
        self.shuffle = shuffle
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"`verbose` must be 0, 1 or 2, got {verbose!r}.")
        self.verbose = verbose
        if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"`early_stopping` must be None or an EarlyStopping, got {type(early_stopping).__name__}.")
        self.early_stopping = early_stopping

    def __repr__(self):
        return (
            f"Settings(epochs={self.epochs}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"verbose={self.verbose}, early_stopping={self.early_stopping!r})"
        )


class EarlyStopping:
    """Stop training when the monitored quantity has stopped improving.

    After every epoch the monitored value is compared with the best so far; an improvement is a
    decrease (an increase for accuracies) of more than ``min_delta``. After ``patience`` epochs in a row
    without one, training stops. The weights of the best epoch are copied on the device when it happens
    (no extra host transfer), and put back at the end when ``restore_best_weights``.

    Parameters
    ----------
    patience : int, default 10
        Epochs without improvement before stopping, >= 1.
    min_delta : float, default 0.0
        Smallest change that counts as an improvement, >= 0.
    restore_best_weights : bool, default True
        End the fit with the weights of the best epoch rather than the last one.
    monitor : {"val_loss", "loss", "val_accuracy", "accuracy"}, default "val_loss"
        A ``val_`` quantity needs ``validation_data``.

    Attributes
    ----------
    best : float or None
        Best monitored value of the last fit.
    best_epoch : int or None
        Its epoch, counted from 1.
    wait : int
        Epochs since the last improvement.
    """

    MONITORS = {"val_loss": "min", "loss": "min", "val_accuracy": "max", "accuracy": "max"}

    def __init__(self, patience=10, min_delta=0.0, restore_best_weights=True, monitor="val_loss"):
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = check_number(min_delta, "min_delta", low=0.0, high=None)
        if not isinstance(restore_best_weights, bool):
            raise TypeError(f"`restore_best_weights` must be True or False, got {restore_best_weights!r}.")
        self.restore_best_weights = restore_best_weights
        if monitor not in self.MONITORS:
            raise ValueError(f"Unknown quantity {monitor!r} for `monitor`; expected one of {list(self.MONITORS)}.")
        self.monitor = monitor
        self.reset()

    def reset(self):
        """Forget the previous fit (called when a fit starts)."""
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.best_weights = None

    def update(self, epoch, value, params, *, xp):
        """Record the value of ``epoch``; True when training should stop.

        ``params`` are copied (on the device) when the epoch is the best so far: the optimizers update
        the parameters in place, so a reference would not keep them.
        """
        sign = 1.0 if self.MONITORS[self.monitor] == "min" else -1.0
        improved = math.isfinite(value) and (self.best is None or sign * (self.best - value) > self.min_delta)
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = [xp.asarray(p, copy=True) for p in params]
            return False
        self.wait += 1
        return self.wait >= self.patience

    def get_config(self):
        return {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "restore_best_weights": self.restore_best_weights,
            "monitor": self.monitor,
        }

    def __repr__(self):
        return "EarlyStopping(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


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
    learning_rate : list of float
        The learning rate of each epoch (it changes under a schedule).
    stop_reason : str
        Why training ended.
    best_epoch : int or None
        The best epoch, counted from 1: the one early stopping kept, else the one with the lowest
        validation loss (training loss without validation data).
    """

    KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "epoch_time", "learning_rate")

    def __init__(self):
        for key in self.KEYS:
            setattr(self, key, [])
        self.stop_reason = ""
        self.best_epoch = None

    @property
    def epochs(self):
        return len(self.loss)

    def __getitem__(self, key):
        if key not in self.KEYS:
            raise KeyError(f"Unknown history key {key!r}; expected one of {list(self.KEYS)}.")
        return getattr(self, key)

    def as_dict(self):
        return {
            **{key: list(getattr(self, key)) for key in self.KEYS},
            "stop_reason": self.stop_reason,
            "best_epoch": self.best_epoch,
        }

    def __repr__(self):
        last = f", last loss={self.loss[-1]:.4g}" if self.loss else ""
        return f"History(epochs={self.epochs}{last})"


def _correct(A, T, activation_name, xp):
    """Number of correct predictions in a batch, as a 0-d device array."""
    hits = xp.astype(_predictions(A, activation_name, xp) == _true_predictions(T, activation_name, xp), A.dtype)
    # Multi-label sigmoid outputs: the fraction of labels right in each row.
    return xp.sum(hits) if hits.ndim == 1 else xp.sum(hits) / hits.shape[1]


def _predictions(A, activation_name, xp):
    """What a batch's outputs predict: class indices (softmax) or 0/1 decisions per label (sigmoid)."""
    if activation_name == "softmax":
        return xp.argmax(A, axis=1)
    return A >= 0.5


def _true_predictions(T, activation_name, xp):
    """The ``_predictions`` a perfect model would make for the targets ``T``."""
    if activation_name == "softmax":
        return xp.argmax(T, axis=1)
    return T >= 0.5


def _epoch_statistics(batch_losses, batch_predictions, truth, order, n, m, xp):
    """Mean loss and fraction of correct predictions of an epoch, as 0-d device arrays.

    The batch loop only keeps each batch's loss and predictions; summing and comparing them here, once
    an epoch, saves several tiny device operations per batch. Every batch holds ``m`` samples but the
    last.
    """
    losses = xp.stack(batch_losses)
    last = n - m * (len(batch_losses) - 1)
    loss = (xp.sum(losses[:-1]) * float(m) + losses[-1] * float(last)) / float(n)
    if not batch_predictions:
        return loss, xp.zeros_like(loss)
    predicted = xp.concat(batch_predictions, axis=0)
    expected = truth if order is None else xp.take(truth, order, axis=0)
    hits = xp.astype(predicted == expected, loss.dtype)
    # Multi-label sigmoid outputs: the fraction of labels right.
    return loss, xp.sum(hits) / float(math.prod(hits.shape))


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
    size = batch_size or PREDICT_BATCH_SIZE
    loss_sum = xp.zeros((), dtype=model.backend.dtype, device=model.device)
    correct = xp.zeros((), dtype=model.backend.dtype, device=model.device)
    for start in range(0, n, size):
        Xb, Tb = X[start : min(start + size, n), :], T[start : min(start + size, n), :]
        Z, A = model._forward_output(Xb)
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

    def __init__(self, epochs, verbose, stream=None, first=1):
        self.epochs = epochs
        self.first = first  # after a resume, the first epoch this run trains
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.every = 1 if verbose == 2 else max(1, epochs // 20)
        self.start = time.perf_counter()

    def epoch(self, epoch, history):
        if self.verbose == 0:
            return
        if not (epoch == self.first or epoch == self.epochs or epoch % self.every == 0):
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / (epoch - self.first + 1) * (self.epochs - epoch)
        parts = [f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}", f"loss {history.loss[-1]:.4f}"]
        if history.accuracy:
            parts.append(f"acc {history.accuracy[-1]:.4f}")
        if history.val_loss:
            parts.append(f"val_loss {history.val_loss[-1]:.4f}")
        if history.val_accuracy:
            parts.append(f"val_acc {history.val_accuracy[-1]:.4f}")
        parts.append(f"{history.epoch_time[-1]:.3f}s/epoch")
        parts.append(f"elapsed {elapsed:.1f}s")
        parts.append(f"ETA {left:.1f}s")
        print("  ".join(parts), file=self.stream, flush=True)


def _best_epoch(history):
    """The epoch (from 1) with the lowest finite validation loss, else training loss; None if none is finite."""
    series = history.val_loss or history.loss
    finite = [(v, i) for i, v in enumerate(series, start=1) if math.isfinite(v)]
    return min(finite)[1] if finite else None


def fit(
    model,
    X,
    y,
    solver=None,
    settings=None,
    validation_data=None,
    verbose=None,
    checkpoint=None,
    checkpoint_every=None,
    checkpoint_best=False,
    resume_from=None,
    eval_batch_size=None,
):
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
    checkpoint : str or os.PathLike, optional
        File the model is saved to during training (see :func:`anyarray_nn.save`), atomically, with
        everything a resumed fit needs: optimizer state, schedule position, History, random state.
    checkpoint_every : int, optional
        Save every this many epochs, and after the last one. Default 1 when ``checkpoint`` is given
        without ``checkpoint_best``.
    checkpoint_best : bool, default False
        Save the epoch with the lowest validation loss so far (needs ``validation_data``): to
        ``checkpoint``, or to ``<checkpoint stem>.best.npz`` when ``checkpoint_every`` is also given.
    resume_from : str or os.PathLike, optional
        A checkpoint to continue from: its weights, optimizer state, schedule, History and random
        state replace the model's, and training goes on from the epoch after the saved one up to
        ``settings.epochs``. With the same data, settings and backend the result equals an
        uninterrupted run. Without ``solver``, the checkpoint's Solver is used.
    eval_batch_size : int, optional
        Rows per chunk when evaluating ``validation_data`` (default 8192), which bounds the memory
        its activations take.

    Returns
    -------
    History

    Notes
    -----
    When the training loss of an epoch is NaN or infinite, training stops after that epoch with a
    RuntimeWarning, ``history.stop_reason`` says so, and the model keeps the weights of the previous
    epoch (the optimizer state is dropped). The check reads the epoch's loss, once per epoch.
    """
    start_epoch, resumed = 0, None
    if resume_from is not None:
        start_epoch, solver = _resume(model, resume_from, solver)
        resumed = model.history_
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

    optimizer, schedule = solver.optimizer, solver.schedule
    # The optimizers update in place: own the arrays, so arrays a user assigned to layer.W are not changed.
    params = [xp.asarray(p, copy=True) for p in model.parameters()]
    # Fitting again with the same Solver continues the optimizer's state and schedule (a warm start).
    same_solver = getattr(model.solver_, "_origin", model.solver_) is getattr(solver, "_origin", solver)
    if model.optimizer_state_ is None or not same_solver:
        model.optimizer_state_ = optimizer.init_state(params, xp=xp)
        schedule.reset()
    state = model.optimizer_state_
    model.solver_ = solver
    schedule.begin(settings.epochs)
    early = settings.early_stopping
    if early is not None:
        if early.monitor.startswith("val_") and val is None:
            raise ValueError(
                f"EarlyStopping(monitor={early.monitor!r}) needs `validation_data`; pass validation_data=(X_val, y_val) "
                f"or monitor='loss'."
            )
        early.reset()

    n, m = X.shape[0], settings.batch_size
    # Plain SGD gets its updates straight from backpropagation (Solver's clipping needs true gradients).
    fold = optimizers.folds_learning_rate(optimizer) and solver.clip_norm is None
    classifier = _is_classifier(model, solver)
    dropout = solver.regularization.dropout
    history = History() if resumed is None else resumed
    plan = _checkpoint_plan(checkpoint, checkpoint_every, checkpoint_best, val is not None)
    if eval_batch_size is not None:
        eval_batch_size = check_positive_int(eval_batch_size, "eval_batch_size")
    best_val = min([v for v in history.val_loss if math.isfinite(v)], default=math.inf)
    last_good = [xp.asarray(p, copy=True) for p in params]
    progress = _Progress(settings.epochs, verbose, first=start_epoch + 1)
    truth = _true_predictions(T, model.output_activation, xp) if classifier else None

    stop_reason = f"completed {settings.epochs} epochs"
    for epoch in range(start_epoch + 1, settings.epochs + 1):
        t0 = time.perf_counter()
        backend.start_epoch()
        lr = schedule.learning_rate(solver.learning_rate)
        scale = -float(lr) if fold else None
        order = backend.permutation(n) if settings.shuffle else None
        batch_losses, batch_predictions = [], []
        for start in range(0, n, m):
            if order is None:
                Xb, Tb = X[start : min(start + m, n), :], T[start : min(start + m, n), :]
            else:
                idx = order[start : min(start + m, n)]
                Xb, Tb = xp.take(X, idx, axis=0), xp.take(T, idx, axis=0)
            cache = model._forward(Xb, dropout)
            loss, grads_W, grads_b = model._backward(cache, Tb, solver.loss, solver.regularization, scale)
            batch_losses.append(loss)
            if classifier:
                batch_predictions.append(_predictions(cache.output, model.output_activation, xp))
            # Let go of this batch's activations before the next batch makes its own: the peak memory
            # of an epoch holds one batch's activations, not two.
            del cache, Xb, Tb
            grads = [g for pair in zip(grads_W, grads_b) for g in pair]
            if solver.clip_norm is not None:
                grads = optimizers.clip_by_global_norm(grads, solver.clip_norm, xp=xp)
            if fold:
                params, state = optimizer.apply_updates(params, grads, state, xp=xp)
            else:
                params, state = optimizer.step(params, grads, state, lr, xp=xp)
            model._set_parameters_unchecked(params)

        stats = list(_epoch_statistics(batch_losses, batch_predictions, truth, order, n, m, xp))
        if val is not None:
            val_loss, val_correct = _evaluate_device(model, val[0], val[1], solver, eval_batch_size)
            stats += [val_loss, val_correct / val[0].shape[0]]
        # A finite loss can come before a last step that made the weights non-finite: their sum, read
        # with the rest, tells (the divergence guard below).
        stats.append(sum(xp.sum(p) for p in params))
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
        history.learning_rate.append(lr)
        progress.epoch(epoch, history)
        if not (math.isfinite(history.loss[-1]) and math.isfinite(values[-1])):
            # Divergence: keep the last finite weights; the optimizer state is spoiled too.
            model._set_parameters_unchecked(last_good)
            state = None
            what = f"the training loss is {history.loss[-1]}" if not math.isfinite(history.loss[-1]) else (
                "the weights became NaN or infinite"
            )
            stop_reason = (
                f"diverged at epoch {epoch}: {what}; kept the weights "
                + (f"of epoch {epoch - 1}" if epoch > 1 else "from before it")
                + f". Try a lower learning rate (now {solver.learning_rate:g})"
            )
            warnings.warn(stop_reason + ".", RuntimeWarning, stacklevel=3)
            break
        last_good = [xp.asarray(p, copy=True) for p in params]
        schedule.step(history.val_loss[-1] if val is not None else history.loss[-1])
        if plan is not None:
            best_val = _save_checkpoints(model, plan, epoch, settings.epochs, state, history, best_val)
        if early is not None and early.update(epoch, history[early.monitor][-1], params, xp=xp):
            stop_reason = (
                f"early stopping at epoch {epoch}: {early.monitor} did not improve by more than {early.min_delta:g} "
                f"for {early.patience} epochs (best {early.best:.6g} at epoch {early.best_epoch})"
            )
            break

    model.optimizer_state_ = state
    if early is not None and early.best_weights is not None:
        if early.best_epoch != history.epochs:
            model._set_parameters_unchecked(early.best_weights)
            stop_reason += f"; restored the weights of epoch {early.best_epoch}"
        early.best_weights = None
    history.stop_reason = stop_reason
    history.best_epoch = early.best_epoch if early is not None else _best_epoch(history)
    model.history_ = history
    return history


def _resume(model, path, solver):
    """Load the checkpoint ``path`` into ``model``; the epochs it had done and the Solver to go on with."""
    from .io import restore_checkpoint

    epoch = restore_checkpoint(model, path)
    saved = model.solver_
    if solver is None or saved is None:
        solver = saved if solver is None else solver
        if saved is None:
            model.optimizer_state_ = None
    else:
        if not isinstance(solver, Solver):
            raise TypeError(f"`solver` must be a Solver, got {type(solver).__name__}.")
        if solver.optimizer.name != saved.optimizer.name:
            raise ValueError(
                f"`resume_from` {os.fspath(path)!r} was trained with optimizer {saved.optimizer.name!r}, but "
                f"`solver` uses {solver.optimizer.name!r}; its optimizer state would not fit."
            )
        solver.schedule.load_state_dict(saved.schedule.state_dict())
    if solver is not None:
        # The Solver the state belongs to: fit then continues it instead of starting afresh.
        solver = default_solver(model, solver)
        model.solver_ = solver
    return epoch, solver


def _checkpoint_plan(checkpoint, every, best, has_validation):
    """``(path, every, best_path)`` for the checkpoints of a fit, or None without ``checkpoint``."""
    if checkpoint is None:
        if every is not None or best:
            raise ValueError("`checkpoint_every` and `checkpoint_best` need a `checkpoint` path.")
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"`checkpoint` must be a path (str or os.PathLike), got {type(checkpoint).__name__}.")
    if not isinstance(best, bool):
        raise TypeError(f"`checkpoint_best` must be True or False, got {best!r}.")
    if best and not has_validation:
        raise ValueError("`checkpoint_best=True` saves the best validation loss and needs `validation_data`.")
    path = os.fspath(checkpoint)
    if every is not None:
        every = check_positive_int(every, "checkpoint_every")
    elif not best:
        every = 1
    best_path = None
    if best:
        stem, ext = os.path.splitext(path)
        best_path = path if every is None else f"{stem}.best{ext or '.npz'}"
    return path, every, best_path


def _save_checkpoints(model, plan, epoch, epochs, state, history, best_val):
    """Write the checkpoints due after ``epoch``; the best validation loss so far."""
    from .io import save_checkpoint

    path, every, best_path = plan
    model.optimizer_state_, model.history_ = state, history
    if every is not None and (epoch % every == 0 or epoch == epochs):
        save_checkpoint(model, path, epoch)
    if best_path is not None and history.val_loss[-1] < best_val:
        best_val = history.val_loss[-1]
        save_checkpoint(model, best_path, epoch)
    return best_val
