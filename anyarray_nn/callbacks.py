"""Callbacks: what happens between epochs.

The epoch driver (:func:`anyarray_nn.training.fit`) trains one epoch, reads the epoch's figures from the
device once, then hands them to each callback in turn as ``logs``::

    logs = {"loss": 0.41, "accuracy": 0.88, "val_loss": 0.45, "val_accuracy": 0.86,
            "epoch_time": 0.012, "learning_rate": 0.01, "weights_finite": True}

(``accuracy`` entries only for classifiers, ``val_`` entries only with validation data.) The History,
the progress lines, the divergence guard, the learning-rate schedule, checkpoints and early stopping are
callbacks like a user's own. A callback stops training by setting ``self.stop_training = True`` (and
``self.stop_reason``); the driver then ends after the current epoch and calls ``on_train_end``.

Write your own by subclassing :class:`Callback`::

    class StopAtAccuracy(ann.Callback):
        def __init__(self, target):
            super().__init__()
            self.target, self.seen = target, []

        def on_epoch_end(self, epoch, logs):
            self.seen.append(logs["accuracy"])
            if logs["accuracy"] >= self.target:
                self.stop_training = True
                self.stop_reason = f"accuracy {logs['accuracy']:.3f} reached at epoch {epoch}"

    model.fit(X, y, callbacks=[StopAtAccuracy(0.95)])
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings

from . import distributed, io
from ._validation import check_number, check_positive_int
from .losses import BinaryCrossEntropy, CrossEntropy

try:  # a progress bar inside long epochs when tqdm is installed, plain lines otherwise
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None


class Callback:
    """Base class of callbacks: override the hooks you need; all do nothing by default.

    Attributes
    ----------
    model : Model
        The model being trained, set before ``on_train_begin``.
    stop_training : bool
        Set it to True in a hook to end training after the current epoch.
    stop_reason : str
        Why, for ``history.stop_reason``.
    """

    def __init__(self):
        self.model = None
        self.stop_training = False
        self.stop_reason = ""

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        """A fit starts. ``logs`` has ``epochs`` (the last epoch), ``first_epoch`` and ``batches`` per epoch."""

    def on_epoch_begin(self, epoch):
        """Epoch ``epoch`` (counted from 1) starts."""

    def on_batch_end(self, batch):
        """Batch ``batch`` (counted from 1) of the epoch was dispatched. Nothing is read from the device."""

    def on_epoch_end(self, epoch, logs):
        """Epoch ``epoch`` ended with the figures ``logs`` (Python floats)."""

    def on_train_end(self, logs=None):
        """The fit ends (also after a stop); ``logs`` has ``stop_reason``."""


class History(Callback):
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
    compiled : str
        How the training step ran in the last fit: ``"jax.jit"``, ``"torch.compile"`` or ``"eager: ..."``
        with the reason (see ``Settings(compile=...)``).
    converged : bool or None
        L-BFGS: whether its last fit met its tolerance (None for mini-batch training).
    """

    KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "epoch_time", "learning_rate")

    def __init__(self):
        super().__init__()
        for key in self.KEYS:
            setattr(self, key, [])
        self.stop_reason = ""
        self.best_epoch = None
        self.compiled = ""
        self.converged = None

    @property
    def epochs(self):
        return len(self.loss)

    def __getitem__(self, key):
        if key not in self.KEYS:
            raise KeyError(f"Unknown history key {key!r}; expected one of {list(self.KEYS)}.")
        return getattr(self, key)

    def on_epoch_end(self, epoch, logs):
        for key in self.KEYS:
            if key in logs:
                getattr(self, key).append(logs[key])

    def as_dict(self):
        return {
            **{key: list(getattr(self, key)) for key in self.KEYS},
            "stop_reason": self.stop_reason,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_dict(cls, record):
        """A History from :meth:`as_dict`'s dict; every entry is checked.

        Raises
        ------
        TypeError, ValueError
            Naming the entry that is unknown, missing or not of its kind.
        """
        if not isinstance(record, dict):
            raise TypeError(f"A history must be a dict, got {type(record).__name__}.")
        allowed = set(cls.KEYS) | {"stop_reason", "best_epoch"}
        unknown = sorted(set(record) - allowed)
        if unknown:
            raise ValueError(f"A history has the entries {sorted(allowed)}; unknown entries {unknown}.")
        history = cls()
        for key in cls.KEYS:
            values = record.get(key, [])
            ok = isinstance(values, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and (not isinstance(v, int) or abs(v) < 2**63)
                for v in values
            )
            if not ok:
                raise ValueError(f"The history entry {key!r} must be a list of numbers.")
            values = [float(v) for v in values]
            low, high = _HISTORY_RANGES.get(key, (None, None))
            for i, v in enumerate(values):
                # Losses may be NaN or infinite (a diverged epoch is recorded); the rest are measured.
                if low is not None and not (low <= v <= high) and not (key.endswith("accuracy") and math.isnan(v)):
                    raise ValueError(f"The history entry {key!r}[{i}] must lie in [{low}, {high}], got {v!r}.")
            setattr(history, key, values)
        for key in cls.KEYS[1:]:
            if len(getattr(history, key)) not in (0, history.epochs):
                raise ValueError(
                    f"The history entry {key!r} has {len(getattr(history, key))} values, but 'loss' has "
                    f"{history.epochs}: one value per epoch is needed."
                )
        stop_reason = record.get("stop_reason", "")
        if not isinstance(stop_reason, str):
            raise ValueError("The history entry 'stop_reason' must be a string.")
        history.stop_reason = stop_reason
        best = record.get("best_epoch")
        if best is not None and (isinstance(best, bool) or not isinstance(best, int) or not 1 <= best <= history.epochs):
            raise ValueError(f"The history entry 'best_epoch' must be None or an epoch in 1..{history.epochs}, got {best!r}.")
        history.best_epoch = best
        return history

    def __repr__(self):
        last = f", last loss={self.loss[-1]:.4g}" if self.loss else ""
        return f"History(epochs={self.epochs}{last})"


# The values a History can hold; losses are free (NaN or infinite for a diverged epoch).
_HISTORY_RANGES = {
    "accuracy": (0.0, 1.0),
    "val_accuracy": (0.0, 1.0),
    "epoch_time": (0.0, sys.float_info.max),
    "learning_rate": (0.0, sys.float_info.max),
}


def best_epoch(history):
    """The epoch (from 1) with the lowest finite validation loss, else training loss; None if none is finite."""
    series = history.val_loss or history.loss
    finite = [(v, i) for i, v in enumerate(series, start=1) if math.isfinite(v)]
    return min(finite)[1] if finite else None


class ProgressLogger(Callback):
    """Prints epoch lines with timing and an estimate of the time left, then how training ended.

    ``verbose=1`` prints about twenty epoch lines per fit (the first, every twentieth of the run and the
    last epoch trained, whatever stopped it), ``verbose=2`` one per epoch; both end with one line saying
    why training ended (all epochs done, early stopping, divergence, a callback's reason) and how long it
    took. ``verbose=0`` prints nothing.

    An epoch that runs longer than ``bar_after`` seconds also shows its batch count as it goes: on a
    terminal as a tqdm bar on stderr (when tqdm is installed), elsewhere (a log file, a pipe) as a plain
    line every tenth of the epoch, in the epochs that get a line. The count is of batches handed to the
    device: nothing is read back to follow it.

    Parameters
    ----------
    verbose : {0, 1, 2}, default 1
    stream : file-like, optional
        Where the lines go; default ``sys.stdout``.
    bar_after : float, default 2.0
        Seconds into an epoch before its batch count is shown.
    """

    def __init__(self, verbose=1, stream=None, bar_after=2.0):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.bar_after = bar_after
        self._bar = None

    @property
    def _out(self):
        return self.stream or sys.stdout

    @staticmethod
    def _is_terminal(stream):
        try:
            return bool(stream.isatty())
        except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
            return False

    def on_train_begin(self, logs=None):
        self.epochs = logs["epochs"]
        self.first = logs.get("first_epoch", 1)  # after a resume, the first epoch this run trains
        self.batches = logs.get("batches")
        self.every = 1 if self.verbose == 2 else max(1, self.epochs // 20)
        self.start = time.perf_counter()
        self._last = None  # (epoch, logs) of the last epoch trained, until its line is printed

    def _shows(self, epoch):
        return epoch == self.first or epoch == self.epochs or epoch % self.every == 0

    def on_epoch_begin(self, epoch):
        self._epoch, self._epoch_start, self._next_line = epoch, time.perf_counter(), 0.1

    @property
    def listens_to_batches(self):
        """Whether :meth:`on_batch_end` may show anything: the training loop skips it otherwise."""
        return self.verbose != 0 and bool(getattr(self, "batches", None))

    def on_batch_end(self, batch):
        if self.verbose == 0 or not self.batches or batch == self.batches:
            return
        if self._bar is None and time.perf_counter() - self._epoch_start < self.bar_after:
            return
        if self._bar is None:
            # A bar redraws itself with carriage returns: only a terminal shows that as one line. Progress
            # lines go to stdout, so the bar goes to stderr, where it cannot end up in a captured output.
            bar_stream = sys.stderr if self.stream is None else self.stream
            if _tqdm is not None and self._is_terminal(bar_stream):
                self._bar = _tqdm(
                    total=self.batches, initial=batch - 1, desc=f"epoch {self._epoch}", file=bar_stream, leave=False
                )
            elif self._shows(self._epoch):
                self._bar = True
            else:
                self._bar = False  # a plain line per tenth only in the epochs that get a line
        if self._bar is True or self._bar is False:
            if self._bar and batch >= self._next_line * self.batches:
                print(f"  epoch {self._epoch}: batch {batch}/{self.batches}", file=self._out, flush=True)
                while self._next_line * self.batches <= batch:
                    self._next_line += 0.1
        else:
            self._bar.update(1)

    def _close_bar(self):
        if self._bar is not None and self._bar is not True and self._bar is not False:
            self._bar.close()
        self._bar = None

    def _line(self, epoch, logs):
        elapsed = time.perf_counter() - self.start
        left = elapsed / (epoch - self.first + 1) * (self.epochs - epoch)
        parts = [f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}", f"loss {logs['loss']:.4f}"]
        for key, label in (("accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc")):
            if key in logs:
                parts.append(f"{label} {logs[key]:.4f}")
        parts.append(f"{logs['epoch_time']:.3f}s/epoch")
        parts.append(f"elapsed {elapsed:.1f}s")
        parts.append(f"ETA {left:.1f}s")
        print("  ".join(parts), file=self._out, flush=True)

    def on_epoch_end(self, epoch, logs):
        self._close_bar()
        if self.verbose == 0:
            return
        if self._shows(epoch):
            self._line(epoch, logs)
            self._last = None
        else:
            # Printed at the end if training stops here: the last epoch trained always gets its line.
            self._last = (epoch, dict(logs))

    def on_train_end(self, logs=None):
        self._close_bar()
        if self.verbose == 0:
            return
        if self._last is not None:
            self._line(*self._last)
            self._last = None
        logs = logs or {}
        reason = logs.get("stop_reason", "")
        done = logs.get("epochs_done", self.epochs)
        seconds = time.perf_counter() - self.start
        if done < self.first:
            text = (
                f"nothing to train: the run had done {self.first - 1} epochs and `epochs` is {self.epochs}; "
                f"raise `epochs` to train longer"
            )
        elif reason.startswith("completed"):
            text = f"{reason} in {seconds:.1f}s"
        else:
            text = f"stopped after epoch {done} of {self.epochs} ({seconds:.1f}s): {reason or 'stopped by a callback'}"
        print(text, file=self._out, flush=True)


class DivergenceGuard(Callback):
    """Stops training when the loss or the weights become NaN or infinite, keeping the last finite weights;
    warns once when a finite loss explodes by orders of magnitude.

    The check uses the epoch's loss and a sum over all weights, both read with the epoch's other figures.
    On NaN or infinity the model gets back the weights of the previous epoch, and its optimizer state
    (spoiled as well) is dropped; a RuntimeWarning says what happened.

    A loss can also explode and stay finite (Adam with a learning rate of 1e10 gives losses near 1e20):
    the guard then warns once per fit, with a RuntimeWarning, when the epoch's loss exceeds ``factor``
    times a reference, and training goes on. The reference is

    - for cross-entropy (softmax) and binary cross-entropy (sigmoid) losses, the loss of a classifier
      that gives every class the same probability: ``log(n_classes)``, ``log(2)`` per label. It is known
      before training, so an explosion within the first epoch is caught too: a mean loss of a million
      times that means the true classes get probabilities like ``exp(-1e6)``, which only blown-up
      weights give;
    - for every other loss (regression, where the scale is the targets'), the first positive loss of the
      fit (of its History when resumed). An explosion inside the first epoch of a regression shows only
      when it turns into NaN or infinity.

    Parameters
    ----------
    learning_rate : float, optional
        Named in the messages.
    factor : float, default 1e6
        How many times the reference a finite loss must exceed to count as exploded.

    Attributes
    ----------
    exploded : dict or None
        ``{"epoch", "loss", "reference"}`` of the warning, once given.
    """

    def __init__(self, learning_rate=None, factor=1e6):
        super().__init__()
        self.learning_rate = learning_rate
        self.factor = check_number(factor, "factor", low=1.0, low_open=True, high=None)
        self.exploded = None
        self._reference = self._reference_text = None

    def on_train_begin(self, logs=None):
        self._last_good = self._copy()
        self.exploded = None
        self._reference, self._reference_text = self._chance_level()
        if self._reference is None:
            # A resumed fit keeps the scale its first epochs set.
            history = getattr(self.model, "history_", None)
            earlier = [v for v in getattr(history, "loss", []) if math.isfinite(v) and v > 0]
            if earlier:
                self._reference, self._reference_text = earlier[0], "the first loss of this model's History"

    def _chance_level(self):
        """``(loss, description)`` of uniform predictions for a classification loss, else ``(None, None)``."""
        loss = getattr(getattr(self.model, "solver_", None), "loss", None)
        if isinstance(loss, BinaryCrossEntropy):
            return math.log(2.0), "log(2), the binary cross-entropy of predicting 0.5 for every label"
        if isinstance(loss, CrossEntropy):
            k = max(2, int(getattr(self.model, "n_outputs", 2)))
            return math.log(k), f"log({k}), the cross-entropy of giving each of the {k} classes the same probability"
        return None, None

    def _copy(self):
        xp = self.model.xp
        return [xp.asarray(p, copy=True) for p in self.model.parameters()]

    def on_epoch_end(self, epoch, logs):
        loss = logs["loss"]
        if math.isfinite(loss) and logs.get("weights_finite", True):
            self._last_good = self._copy()
            self._check_explosion(epoch, loss)
            return
        self.model.set_parameters(self._last_good, check=False)
        self.model.optimizer_state_ = None
        what = f"the training loss is {loss}" if not math.isfinite(loss) else "the weights became NaN or infinite"
        self.stop_reason = (
            f"diverged at epoch {epoch}: {what}; kept the weights "
            + (f"of epoch {epoch - 1}" if epoch > 1 else "from before it")
            + (f". Try a lower learning rate (now {self.learning_rate:g})" if self.learning_rate is not None else "")
        )
        warnings.warn(self.stop_reason + ".", RuntimeWarning, stacklevel=4)
        self.stop_training = True

    def _check_explosion(self, epoch, loss):
        """Warn once when the finite ``loss`` exceeds ``factor`` times the reference (see the class)."""
        if self.exploded is not None:
            return
        if self._reference is None:
            if loss > 0:  # a loss of 0 (or below, for a loss that can be negative) sets no scale
                self._reference, self._reference_text = loss, f"the loss of epoch {epoch}, the first of this fit"
            return
        if loss > self.factor * self._reference:
            self.exploded = {"epoch": epoch, "loss": loss, "reference": self._reference}
            warnings.warn(
                f"The training loss exploded at epoch {epoch}: {loss:.3g} is more than {self.factor:g} times "
                f"{self._reference_text} ({self._reference:.3g}). Training goes on, but its weights are likely "
                f"useless"
                + (f"; try a lower learning rate (now {self.learning_rate:g})" if self.learning_rate is not None else "")
                + ".",
                RuntimeWarning,
                stacklevel=5,
            )


class LearningRateSchedule(Callback):
    """Tells the Solver's schedule that an epoch ended, with the loss it monitors."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs):
        self.schedule.step(logs["val_loss"] if "val_loss" in logs else logs["loss"])


class EarlyStopping(Callback):
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
        super().__init__()
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
        self.stop_training = False
        self.stop_reason = ""

    def on_train_begin(self, logs=None):
        self.reset()

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

    def check_monitor(self, recorded):
        """A ValueError, before training starts, when a fit that records ``recorded`` lacks the monitored figure."""
        if self.monitor in recorded:
            return
        if self.monitor.startswith("val_") and "val_loss" not in recorded:
            raise ValueError(
                f"EarlyStopping(monitor={self.monitor!r}) needs `validation_data`; pass validation_data=(X_val, y_val) "
                f"or monitor='loss'."
            )
        raise ValueError(
            f"EarlyStopping(monitor={self.monitor!r}) has nothing to monitor: this fit records {sorted(recorded)} "
            f"(accuracies need a classification loss on a softmax or sigmoid output)."
        )

    def on_epoch_end(self, epoch, logs):
        if self.update(epoch, logs[self.monitor], self.model.parameters(), xp=self.model.xp):
            self.stop_training = True
            self.stop_reason = (
                f"early stopping at epoch {epoch}: {self.monitor} did not improve by more than {self.min_delta:g} "
                f"for {self.patience} epochs (best {self.best:.6g} at epoch {self.best_epoch})"
            )
            if self.best_weights is not None and self.best_epoch != epoch:
                # Said now, with the reason, so that the progress line that reports the stop says it too.
                self.stop_reason += self._restored_note()

    def _restored_note(self):
        return f"; restored the weights of epoch {self.best_epoch}"

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            if self.best_epoch != logs["epochs_done"]:
                self.model.set_parameters(self.best_weights, check=False)
                if not logs["stop_reason"].endswith(self._restored_note()):
                    logs["stop_reason"] += self._restored_note()
            self.best_weights = None

    def get_config(self):
        return {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "restore_best_weights": self.restore_best_weights,
            "monitor": self.monitor,
        }

    def __repr__(self):
        return "EarlyStopping(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


class ModelCheckpoint(Callback):
    """Saves the model during training, atomically, with everything a resumed fit needs.

    Parameters
    ----------
    path : str
        The checkpoint file (written every ``every`` epochs and after the last one).
    every : int or None
        Epochs between checkpoints; None writes no periodic checkpoint.
    best_path : str or None
        Where the epoch with the lowest validation loss so far is saved.
    last_epoch : int
        The fit's last epoch (always checkpointed).
    best_val : float, default inf
        The lowest validation loss already saved (after a resume).
    comm : mpi4py communicator, optional
        Data-parallel training: rank 0 writes, then every rank waits at a barrier until it is written
        (a bounded wait, see :class:`anyarray_nn.distributed.BoundedComm`: a rank 0 that fails to write
        does not leave the others waiting for ever).
    """

    def __init__(self, path, every, best_path=None, last_epoch=None, best_val=math.inf, comm=None):
        super().__init__()
        self.path, self.every, self.best_path = path, every, best_path
        self.last_epoch = last_epoch
        self.best_val = best_val
        self.comm = distributed.bounded(comm)
        self.saved = None  # (path, epoch) of the last checkpoint written by this fit

    def on_epoch_end(self, epoch, logs):
        if self.every is not None and (epoch % self.every == 0 or epoch == self.last_epoch):
            self._save(self.path, epoch)
        if self.best_path is not None and logs["val_loss"] < self.best_val:
            self.best_val = logs["val_loss"]
            self._save(self.best_path, epoch)

    def _save(self, path, epoch):
        if self.comm is None or self.comm.Get_rank() == 0:
            header, arrays = self.model.get_state()
            header["training"] = {"epoch": int(epoch)}
            io.write_model_file(path, header, arrays)
        self.saved = (path, int(epoch))
        if self.comm is not None:
            with self.comm.during(f"the barrier after rank 0 writes the checkpoint {path!r}"):
                self.comm.Barrier()


def checkpoint_plan(checkpoint, every, best, has_validation):
    """``(path, every, best_path)`` for the checkpoints of a fit, or None without ``checkpoint``.

    The folder of each file is checked now, so a wrong path fails before training, naming the argument.
    """
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
    best_path = _best_path(path, every, best)
    io.check_writable_path(path, "checkpoint")
    return path, every, best_path


def _best_path(path, every, best):
    if not best:
        return None
    stem, ext = os.path.splitext(path)
    return path if every is None else f"{stem}.best{ext or '.npz'}"


#: What ``fit(..., checkpoint=path)`` does when ``path`` already exists (``checkpoint_exists=``).
CHECKPOINT_EXISTS = ("error", "resume", "overwrite")


def existing_checkpoint(checkpoint, every, best, resume_from, checkpoint_exists):
    """The ``resume_from`` of a fit under the ``checkpoint_exists`` policy; refuses to destroy a checkpoint.

    A fit writes ``checkpoint`` (and ``<stem>.best.npz`` with ``checkpoint_best``). When one of those files
    already exists, it holds an earlier run, and what happens is the caller's choice:

    - ``"error"`` (default): a FileExistsError, unless the fit resumes from one of those files
      (``resume_from``): continuing a run may write over its own checkpoints, starting afresh may not.
    - ``"resume"``: continue from ``checkpoint`` when it exists, start afresh when it does not; the same
      script can be run again after an interruption (Keras's ``BackupAndRestore`` behaves so).
    - ``"overwrite"``: start afresh and replace the files.

    Parameters
    ----------
    checkpoint, every, best, resume_from
        As ``fit``'s ``checkpoint``, ``checkpoint_every``, ``checkpoint_best`` and ``resume_from``.
    checkpoint_exists : {"error", "resume", "overwrite"}

    Returns
    -------
    str, os.PathLike or None
        The file to resume from.

    Raises
    ------
    ValueError
        For an unknown ``checkpoint_exists``, or ``"resume"`` without ``checkpoint`` or beside ``resume_from``.
    FileExistsError
        Under ``"error"``, naming the file and the ways on.
    """
    if not isinstance(checkpoint_exists, str) or checkpoint_exists not in CHECKPOINT_EXISTS:
        raise ValueError(
            f"`checkpoint_exists` must be one of {list(CHECKPOINT_EXISTS)}, got {checkpoint_exists!r}."
        )
    if checkpoint is None or not isinstance(checkpoint, (str, os.PathLike)):
        if checkpoint_exists == "resume":
            raise ValueError("`checkpoint_exists='resume'` resumes from `checkpoint`; give a `checkpoint` path.")
        return resume_from  # checkpoint_plan reports a wrong `checkpoint`
    path = os.fspath(checkpoint)
    if checkpoint_exists == "resume":
        if resume_from is not None:
            raise ValueError(
                "Give either `resume_from` or `checkpoint_exists='resume'` (which resumes from `checkpoint` when "
                "it exists), not both."
            )
        return path if os.path.isfile(path) else None
    if checkpoint_exists == "overwrite":
        return resume_from
    written = [path]
    if best is True:
        written.append(_best_path(path, every, best))
    # A folder in the way is checkpoint_plan's error to report, naming the argument.
    existing = [p for p in dict.fromkeys(written) if os.path.lexists(p) and not os.path.isdir(p)]
    if not existing or (resume_from is not None and any(_same_file(resume_from, p) for p in written)):
        return resume_from
    run = path if path in existing else existing[0]
    raise FileExistsError(
        f"`checkpoint` would overwrite {existing[0]!r}, which holds an earlier run. Continue that run with "
        f"resume_from={run!r} (or checkpoint_exists='resume'), replace it with checkpoint_exists='overwrite', "
        f"or choose another `checkpoint` path."
    )


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except (OSError, TypeError, ValueError):
        return False
