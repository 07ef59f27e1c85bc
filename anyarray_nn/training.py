"""Training: Solver (what to minimize and how), Settings (how long, what batches) and the epoch driver.

One epoch, for ``n`` samples and batch size ``m``::

    idx = a permutation of range(n), on the device
    for each slice of m indices:
        Xb, Tb = take(X, idx), take(T, idx)          # rows stay paired: one index for both
        params, state, loss, pred = step(params, state, Xb, Tb, masks, lr)     # anyarray_nn.step
    read the summed loss and accuracy from the device, once
    callbacks: History, progress, divergence guard, schedule, checkpoints, early stopping, yours

Nothing inside the batch loop waits for the device: each batch's loss and predictions stay device
arrays, summed and compared once per epoch, and the host reads one small vector per epoch.

The driver knows the model only through what it asks of it (``layers``, ``backend``, ``parameters()``,
``set_parameters(..., check=False)``, ``optimizer_state_``, ``solver_``, ``history_``), so this module
does not import the Model.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import threading
import time
import warnings
import weakref

from array_api_compat import is_writeable_array

from . import distributed, lbfgs, losses, network, optimizers, runner, schedules
from . import regularization as regularization_module
from ._validation import check_number, check_positive_int
from .callbacks import (
    Callback,
    DivergenceGuard,
    EarlyStopping,
    History,
    LearningRateSchedule,
    ModelCheckpoint,
    ProgressLogger,
    best_epoch,
    checkpoint_plan,
)
from .feed import SourceFeed, feeds
from .step import DONATE, Packing, is_classifier, make_batch_step, make_epoch_figures, make_train_step


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
    fuse : bool, default True
        Let plain SGD take its step inside backpropagation (the learning rate folded into the output
        gradient, the update added by the weight-gradient product): faster, and equal to the separate
        update up to rounding. False keeps the textbook ``W - lr * grad`` arithmetic.
    """

    def __init__(
        self, loss=None, optimizer="sgd", learning_rate=0.01, regularization=None, schedule=None, clip_norm=None,
        fuse=True,
    ):
        self.loss = None if loss is None else losses.get(loss)
        self.optimizer = optimizers.get(optimizer)
        self.learning_rate = check_number(learning_rate, "learning_rate", low=0.0, low_open=True)
        self.regularization = regularization_module.get(regularization)
        self.schedule = schedules.get(schedule)
        if clip_norm is not None:
            clip_norm = check_number(clip_norm, "clip_norm", low=0.0, low_open=True, high=None)
        self.clip_norm = clip_norm
        if not isinstance(fuse, bool):
            raise TypeError(f"`fuse` must be True or False, got {fuse!r}.")
        self.fuse = fuse

    def get_config(self):
        """The Solver as JSON-able values (components by registered name); :meth:`from_config` rebuilds it.

        Raises
        ------
        ValueError
            When a component is not in its registry, so that a saved Solver could not be rebuilt.
        """
        opt, schedule = self.optimizer, self.schedule
        for registry, obj, what in (
            (losses.REGISTRY, self.loss, "loss"),
            (optimizers.REGISTRY, opt, "optimizer"),
            (schedules.REGISTRY, schedule, "schedule"),
        ):
            if obj is not None and not registry.is_registered(obj):
                raise ValueError(
                    f"The Solver's {what} {obj!r} is not in the {what} registry, so a saved model could not rebuild "
                    f"it; register it under its name (or use one of {registry.names()})."
                )
        return {
            "loss": None if self.loss is None else self.loss.name,
            "optimizer": opt.name,
            "optimizer_config": opt.get_config(),
            "learning_rate": self.learning_rate,
            "regularization": self.regularization.get_config(),
            "schedule": {"name": schedule.name, "config": schedule.get_config(), "state": schedule.state_dict()},
            "options": {"clip_norm": self.clip_norm, "fuse": self.fuse},
        }

    @classmethod
    def from_config(cls, config):
        """A Solver from :meth:`get_config`'s dict; every field is checked (TypeError / ValueError naming it)."""
        if not isinstance(config, dict):
            raise TypeError(f"A Solver configuration must be a dict, got {type(config).__name__}.")
        expected = {"loss", "optimizer", "optimizer_config", "learning_rate", "regularization", "schedule", "options"}
        if not set(config) <= expected or not {"loss", "optimizer", "learning_rate"} <= set(config):
            raise ValueError(f"A Solver configuration has the fields {sorted(expected)}, got {sorted(config)}.")
        optimizer = optimizers.REGISTRY.rebuild(config["optimizer"], config.get("optimizer_config", {}))
        regularization = config.get("regularization", {})
        if not isinstance(regularization, dict):
            raise TypeError(f"The Solver's regularization must be a dict, got {type(regularization).__name__}.")
        options = config.get("options", {})
        if not isinstance(options, dict) or not set(options) <= {"clip_norm", "fuse"}:
            raise ValueError(f"The Solver's options may only hold 'clip_norm' and 'fuse', got {options!r}.")
        schedule = None
        spec = config.get("schedule")
        if spec is not None:
            if not isinstance(spec, dict) or not set(spec) <= {"name", "config", "state"} or "name" not in spec:
                raise ValueError(f"The Solver's schedule must be a dict with 'name', 'config' and 'state', got {spec!r}.")
            schedule = schedules.REGISTRY.rebuild(spec["name"], spec.get("config", {}))
            if spec.get("state") is not None:
                schedule.load_state_dict(spec["state"])
        loss = config["loss"]
        return cls(
            loss=None if loss is None else losses.REGISTRY.rebuild(loss, {}),
            optimizer=optimizer,
            learning_rate=config["learning_rate"],
            regularization=regularization_module.Regularization(**regularization),
            schedule=schedule,
            clip_norm=options.get("clip_norm"),
            fuse=options.get("fuse", True),
        )

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
        solver.loss = losses.get(getattr(model.layers[-1].activation, "default_loss", "mse"))
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
    shuffle : bool or callable, default True
        Draw a new order of the samples every epoch (from the model's seeded generator). A callable
        ``shuffle(n) -> order`` gives each epoch's order itself: a NumPy permutation of ``range(n)`` (the
        scikit-learn estimators pass their ``random_state``'s shuffling this way).
    verbose : int, default 1
        0 silent, 1 about twenty progress lines per fit, 2 one line per epoch (with a batch counter
        inside epochs that take more than two seconds).
    early_stopping : EarlyStopping, optional
        Stop when the monitored loss stops improving (and restore the best weights).
    compile : {"auto", True, False}, default "auto"
        Compile the training step with the backend's compiler: "auto" does where that is the
        library's way (``jax.jit`` on JAX), True also where it is optional (``torch.compile`` on torch),
        False never. The learning rate and dropout masks are inputs of the compiled step, so schedules
        and dropout do not recompile it; the last, smaller batch of an epoch compiles once more. On a
        library without a compiler it changes nothing. ``history.compiled`` says what ran. A step the
        compiler cannot trace (a custom activation that decides in Python on array values) is named in a
        RuntimeWarning and trained uncompiled under "auto", and raises a ValueError naming its layer
        under True.
    """

    def __init__(self, epochs=100, batch_size=32, shuffle=True, verbose=1, early_stopping=None, compile="auto"):
        self.epochs = check_positive_int(epochs, "epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if not isinstance(shuffle, bool) and not callable(shuffle):
            raise TypeError(f"`shuffle` must be True, False or a callable shuffle(n) -> order, got {shuffle!r}.")
        self.shuffle = shuffle
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"`verbose` must be 0, 1 or 2, got {verbose!r}.")
        self.verbose = verbose
        if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"`early_stopping` must be None or an EarlyStopping, got {type(early_stopping).__name__}.")
        self.early_stopping = early_stopping
        if compile not in ("auto", True, False) or isinstance(compile, int) and not isinstance(compile, bool):
            raise ValueError(f"`compile` must be 'auto', True or False, got {compile!r}.")
        self.compile = compile

    def __repr__(self):
        return (
            f"Settings(epochs={self.epochs}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"verbose={self.verbose}, early_stopping={self.early_stopping!r}, compile={self.compile!r})"
        )


def evaluate(model, X, T, solver, batch_size=None):
    """Loss and (for classifiers) accuracy of ``model`` on validated device arrays, as Python floats."""
    loss, correct = evaluate_device(model, X, T, solver, batch_size)
    values = model.backend.to_numpy(model.xp.stack([loss, correct]))
    acc = float(values[1]) / X.shape[0] if is_classifier(model.layers, solver) else None
    return float(values[0]), acc


def _slices(X, T, size):
    n = X.shape[0]
    for start in range(0, n, size):
        yield X[start : min(start + size, n), :], T[start : min(start + size, n), ...]


def evaluate_device(model, X, T, solver, batch_size=None, params=None):
    """Loss (with penalty) and correct count on the device, chunked like prediction."""
    size = batch_size or network.PREDICT_BATCH_SIZE
    loss, correct, _ = evaluate_chunks(model, _slices(X, T, size), solver, params)
    return loss, correct


def evaluate_chunks(model, chunks, solver, params=None):
    """Loss (with penalty), correct count and rows over ``chunks`` of ``(X, T)``: device arrays but the rows.

    ``chunks`` may come from memory or be read from a source; only one chunk's activations exist at a time.
    """
    xp, layers = model.xp, model.layers
    params = model.parameters() if params is None else params
    loss_fn, act = solver.loss, layers[-1].activation
    classifier = is_classifier(layers, solver)
    loss_sum = xp.zeros((), dtype=model.backend.dtype, device=model.device)
    correct = xp.zeros((), dtype=model.backend.dtype, device=model.device)
    n = 0
    for Xb, Tb in chunks:
        Z, A = network.forward_output(layers, params, Xb, xp=xp)
        loss_sum = loss_sum + loss_fn.forward(Z, A, Tb, act, xp=xp) * Xb.shape[0]
        n += Xb.shape[0]
        if classifier:
            hits = xp.astype(act.decide(A, xp=xp) == act.decide(Tb, xp=xp), A.dtype)
            # Multi-label sigmoid outputs: the fraction of labels right in each row.
            correct = correct + (xp.sum(hits) if hits.ndim == 1 else xp.sum(hits) / hits.shape[1])
    loss = loss_sum / max(n, 1)
    reg = solver.regularization
    if reg.active and reg.per_sample:
        loss = loss + reg.batch_scale(max(n, 1), xp=xp) * reg.unit().penalty(params[0::2], xp=xp)
    elif reg.active:
        loss = loss + reg.penalty(params[0::2], xp=xp)
    return loss, correct, n


def fit(
    model,
    X,
    y,
    solver=None,
    settings=None,
    validation_data=None,
    *,
    callbacks=None,
    verbose=None,
    checkpoint=None,
    checkpoint_every=None,
    checkpoint_best=False,
    start_epoch=0,
    eval_batch_size=None,
    comm=None,
    sample_weight=None,
    class_weight=None,
    validation_split=None,
):
    """Train ``model`` on ``(X, y)`` with mini-batch gradient descent; see :meth:`anyarray_nn.Model.fit`.

    ``start_epoch`` is the number of epochs a resumed fit already did (the model holds their state).
    With ``comm`` (an mpi4py communicator of more than one process) ``(X, y)`` is this process's shard
    and training is data-parallel (:mod:`anyarray_nn.distributed`).

    Returns
    -------
    History
    """
    with _one_fit_at_a_time(model):
        checkpoints = (checkpoint, checkpoint_every, checkpoint_best)
        run = _Run(
            model, X, y, solver, settings, validation_data, eval_batch_size, comm, start_epoch, checkpoints, callbacks,
            sample_weight=sample_weight, class_weight=class_weight, validation_split=validation_split,
        )
        try:
            return _train(run, verbose, start_epoch)
        except KeyboardInterrupt as exc:
            if hasattr(exc, "add_note"):  # Python 3.11+: the traceback ends with where training stands
                exc.add_note(run.interruption_note())
            raise


# The models being fitted now, by any thread: a second concurrent fit of one model is refused.
_FITTING = weakref.WeakSet()
_FITTING_GUARD = threading.Lock()


@contextlib.contextmanager
def _one_fit_at_a_time(model):
    with _FITTING_GUARD:
        if model in _FITTING:
            raise RuntimeError(
                "This model is already being fitted (by another thread, or by a callback of its own fit): two fits "
                "would update the same weights in turn and give a model of neither. Wait for the first fit to end, "
                "or fit a copy (copy.deepcopy(model)). Predicting while it trains is fine."
            )
        _FITTING.add(model)
    try:
        yield
    finally:
        with _FITTING_GUARD:
            _FITTING.discard(model)


def _train(run, verbose, start_epoch):
    """The fit's callbacks around its epochs (mini-batch or full-batch); the History."""
    callbacks = run.callbacks(verbose)
    epochs = run.settings.epochs
    for callback in callbacks:
        callback.on_train_begin({"epochs": epochs, "first_epoch": start_epoch + 1, "batches": run.n_batches})

    train = run.train_full_batch if run.full_batch else run.train_epochs
    stop_reason, epochs_done = train(callbacks, start_epoch)

    end = {"stop_reason": stop_reason, "epochs_done": epochs_done}
    # Progress is told last, so that its closing line says what the others did at the end (early
    # stopping's restored weights).
    for callback in sorted(callbacks, key=lambda c: isinstance(c, ProgressLogger)):
        callback.on_train_end(end)
    history, early = run.history, run.settings.early_stopping
    history.stop_reason = end["stop_reason"]
    history.best_epoch = early.best_epoch if early is not None else best_epoch(history)
    return history


def _stop_reason(callback, epoch):
    """Why ``callback`` stopped training (a callback that skipped ``Callback.__init__`` may not say)."""
    return getattr(callback, "stop_reason", None) or f"stopped by {type(callback).__name__} at epoch {epoch}"


# Compiled steps by what they compute: fitting again (a warm start, one epoch per call, a new Solver with
# the same settings) reuses the compiled code instead of compiling it anew. A few are kept.
_COMPILED = {}
_COMPILED_KEPT = 8


def _compiled_figures(backend, when):
    """The compiled epoch figures (:func:`anyarray_nn.step.make_epoch_figures`), or None when eager."""
    key = ("figures", backend.name, backend.device_str, backend.dtype_name, when)
    if key not in _COMPILED:
        eager = make_epoch_figures(xp=backend.xp)
        compiled, _ = backend.compile(eager, when)
        _COMPILED[key] = None if compiled is eager else compiled
    return _COMPILED[key]


def _compiled_step(solver, layers, backend, when, step, labels=False):
    """The compiled batch step (:func:`anyarray_nn.step.make_batch_step`) and how it runs; None when eager.

    ``labels``: ``step`` takes class labels as its targets (see ``make_batch_step``).
    """
    try:
        what = json.dumps(
            [
                [layer.get_config() for layer in layers],
                solver.loss.name,
                type(solver.loss).__name__,
                solver.loss.get_config(),
                solver.fuse,
                solver.optimizer.name,
                solver.optimizer.get_config(),
                solver.regularization.get_config(),
                solver.clip_norm,
            ],
            sort_keys=True,
        )
    except (TypeError, ValueError, AttributeError):  # components without a plain configuration
        what = (tuple(id(layer) for layer in layers), id(getattr(solver, "_origin", solver)))
    key = (what, backend.name, backend.device_str, backend.dtype_name, when, labels)
    if key not in _COMPILED:
        eager = make_batch_step(step, xp=backend.xp, labels=labels)
        compiled, how = backend.compile(eager, when, donate=DONATE)
        if len(_COMPILED) >= _COMPILED_KEPT:
            del _COMPILED[next(iter(_COMPILED))]
        _COMPILED[key] = (None if compiled is eager else compiled, how)
    return _COMPILED[key]


def _acts_on_batches(callback):
    """Whether ``callback`` has an ``on_batch_end`` of its own (the base class's does nothing) and, where it
    says so (``listens_to_batches``), wants it called in this fit."""
    overridden = getattr(type(callback), "on_batch_end", Callback.on_batch_end) is not Callback.on_batch_end
    return overridden and getattr(callback, "listens_to_batches", True)


def _ends(callback, epoch, logs):
    """Hand ``logs`` to ``callback``; whether it asks training to stop (the later ones are then skipped)."""
    callback.on_epoch_end(epoch, logs)
    return bool(getattr(callback, "stop_training", False))


class _Run:
    """One fit's set-up and its epochs: the feed of batches, the step, the optimizer state.

    Everything that can be refused is checked here, before the model changes.
    """

    def __init__(
        self, model, X, y, solver, settings, validation_data, eval_batch_size, comm, start_epoch, checkpoints, callbacks,
        sample_weight=None, class_weight=None, validation_split=None,
    ):
        self.model = model
        self.solver = solver = default_solver(model, solver)
        self.settings = settings = Settings() if settings is None else settings
        if not isinstance(settings, Settings):
            raise TypeError(f"`settings` must be a Settings, got {type(settings).__name__}.")
        backend, xp, layers = model.backend, model.xp, model.layers
        self.backend, self.xp, self.layers = backend, xp, layers
        comm = distributed.check_communicator(comm)
        # One process is no data parallelism: the plain path, bit for bit.
        comm = comm if comm is not None and comm.Get_size() > 1 else None
        self.classifier = is_classifier(layers, solver)
        self.full_batch = getattr(solver.optimizer, "full_batch", False)

        self.feed, self.val, self.y_shape = feeds(
            X, y, model, solver.loss, self.classifier, sample_weight=sample_weight, class_weight=class_weight,
            validation_data=validation_data, validation_split=validation_split,
        )
        self.user_callbacks = _check_callbacks(callbacks)
        recorded = {"loss"} | ({"accuracy"} if self.classifier else set())
        if self.val is not None:
            recorded |= {"val_" + key for key in recorded}
        for callback in [settings.early_stopping, *self.user_callbacks]:
            if isinstance(callback, EarlyStopping):
                callback.check_monitor(recorded)
        self.eval_batch_size = None if eval_batch_size is None else check_positive_int(eval_batch_size, "eval_batch_size")
        self.plan = checkpoint_plan(*checkpoints, self.val is not None)
        if self.full_batch:
            for bad, what in (
                (solver.regularization.dropout > 0, "dropout (its objective changes at every evaluation)"),
                (solver.clip_norm is not None, "clip_norm (the line search sets the step)"),
                (comm is not None, "data-parallel training (`comm`)"),
                (not self.feed.by_rows, "a batch iterable (it evaluates the whole training set at every step)"),
            ):
                if bad:
                    raise ValueError(f"optimizer {solver.optimizer.name!r} works on the full batch and cannot take {what}.")
        if comm is not None and not self.feed.by_rows:
            raise ValueError("Data-parallel training (`comm`) needs data read by rows: arrays or a data set, not a batch iterable.")

        self.n, self.m = self.feed.n_rows, settings.batch_size
        dist = None
        if comm is not None:
            # Everything the ranks must agree on, compared before any other exchange: a misconfigured job
            # raises the same error on every rank instead of failing inside MPI or training a mixture.
            agreed = distributed.fingerprint(
                layers, solver, settings, dtype=backend.dtype_name, n_features=model.n_features,
                n_outputs=model.n_outputs, start_epoch=start_epoch, weighted=self.feed.weighted,
            )
            dist = distributed.DataParallel(comm, backend, self.n, self.m, self.val is not None, fingerprint=agreed)
            comm = dist.comm  # its collectives wait a bounded time
        self.dist, self.comm = dist, comm
        if comm is not None and solver.regularization.per_sample and solver.regularization.active:
            # After the fingerprint, so that every process raises it. Each process would divide the penalty by
            # its own rows, and the sum over processes would count it once per process.
            raise ValueError(
                "Data-parallel training (`comm`) cannot take Regularization(per_sample=True): the penalty scaled "
                "by a batch's rows is not split between processes. Use per_sample=False (the penalty once per step)."
            )
        if not self.feed.by_rows:
            self.n_batches = None  # the iterable's own batches, counted as they come
        else:
            self.n_batches = -(-self.n // self.m) if dist is None else dist.steps
        self.local = self.m if dist is None else dist.local_batch

        optimizer, schedule = solver.optimizer, solver.schedule
        # The optimizers may update in place: own the arrays, so arrays a user assigned to layer.W are not changed.
        params = [xp.asarray(p, copy=True) for p in model.parameters()]
        if dist is not None and start_epoch == 0:
            params = dist.broadcast_parameters(params)
        model.set_parameters(params, check=False)
        # Fitting again with the same Solver continues the optimizer's state and schedule (a warm start).
        same_solver = getattr(model.solver_, "_origin", model.solver_) is getattr(solver, "_origin", solver)
        if model.optimizer_state_ is None or not same_solver:
            model.optimizer_state_ = optimizer.init_state(params, xp=xp)
            schedule.reset()
        self.params, self.state = params, model.optimizer_state_
        model.solver_ = solver
        schedule.begin(settings.epochs)
        self.history = model.history_ if start_epoch and model.history_ is not None else History()
        model.history_ = self.history

        self.current = {"step": 0}
        reduce_gradients = None if dist is None else dist.reducer(lambda: self.current["step"])
        # Data-parallel steps call MPI inside: they stay eager.
        when = settings.compile if dist is None else False
        # An eager step of an elementwise optimizer updates one flat array (see step.Packing).
        self.packing = None
        compiles = backend.compile_plan(when)[0]
        self.can_pack = (
            dist is None and not self.full_batch and not compiles
            and getattr(optimizer, "elementwise", False) and is_writeable_array(params[0])
        )
        self._pack()
        self.step = make_train_step(
            layers, solver, xp=xp, reduce_gradients=reduce_gradients, matmul_add=backend.library.matmul_add,
            packing=self.packing,
        )
        # Given class labels, a compiled step takes them (``truth``) as its targets where the loss has that form.
        labels_loss = None
        if self.classifier and compiles and self.y_shape is not None:
            labels_loss = solver.loss.on_labels(self.y_shape, model.n_outputs, backend.subtract_one_hot)
        compiled_step = self.step
        if labels_loss is not None:
            compiled_step = make_train_step(layers, solver, xp=xp, matmul_add=backend.library.matmul_add, loss=labels_loss)
        batch_step, self.history.compiled = _compiled_step(
            solver, layers, backend, when, compiled_step, labels=labels_loss is not None
        )
        self._epoch_order = None
        # A compiled step counts the optimizer's steps on the device; the host keeps its own count.
        self.t_host = self.state.get("t") if isinstance(self.state, dict) else None
        dropout = solver.regularization.dropout
        if batch_step is not None:
            if self.feed.prefetches and backend.compiled_takes_host:
                self.feed.host_batches = True
            # Where compiling pays by default (JAX: each eager call is dispatched on its own), the epoch's
            # figures are one compiled call too.
            self.runner = runner.Compiled(
                batch_step, backend, layers, dropout, _compiled_figures(backend, "auto"),
                on_labels=labels_loss is not None, keep=self._keep, t_host=lambda: self.t_host,
                untraceable=self._uncompile,
            )
        else:
            self.runner = self._eager(self.step)

    def _val_figures(self, params):
        """Validation loss, correct decisions (device) and rows, from memory or read from its source."""
        size = self.eval_batch_size or network.PREDICT_BATCH_SIZE
        if isinstance(self.val, SourceFeed):
            chunks = ((b.X, b.T) for b in self.val.chunks(size))
        else:
            chunks = _slices(*self.val, size)
        return evaluate_chunks(self.model, chunks, self.solver, params)

    def interruption_note(self):
        """One line for an interrupted fit: where it stopped, the last checkpoint and how to resume."""
        done = self.history.epochs
        line = f"anyarray_nn: training was interrupted during epoch {done + 1} of {self.settings.epochs}; the model " \
               f"holds the weights of its last finished step."
        saved = next((c.saved for c in getattr(self, "_callbacks", []) if isinstance(c, ModelCheckpoint) and c.saved), None)
        if saved is None:
            return line + " No checkpoint was written by this fit (fit(..., checkpoint=path) writes one to resume from)."
        path, epoch = saved
        return line + f" The last checkpoint is epoch {epoch} in {str(path)!r}: resume with fit(..., resume_from={str(path)!r})."

    def callbacks(self, verbose):
        """The built-in callbacks in their order, then the user's, all attached to the model."""
        history, solver, settings = self.history, self.solver, self.settings
        verbose = settings.verbose if verbose is None else verbose
        rank = 0 if self.dist is None else self.dist.rank
        # Progress is printed by rank 0 only.
        built_in = [
            history,
            ProgressLogger(verbose if rank == 0 else 0),
            DivergenceGuard(solver.learning_rate),
            LearningRateSchedule(solver.schedule),
        ]
        if self.plan is not None:
            best_val = min([v for v in history.val_loss if math.isfinite(v)], default=math.inf)
            built_in.append(ModelCheckpoint(*self.plan, last_epoch=settings.epochs, best_val=best_val, comm=self.comm))
        if settings.early_stopping is not None:
            built_in.append(settings.early_stopping)
        callbacks = built_in + self.user_callbacks
        for callback in callbacks:
            callback.set_model(self.model)
            callback.stop_training = False
        self._callbacks = callbacks
        return callbacks

    def train_epochs(self, callbacks, start_epoch):
        """Epochs of mini-batch steps until the last one or a callback's stop: ``(stop_reason, epochs_done)``."""
        epochs = self.settings.epochs
        for epoch in range(start_epoch + 1, epochs + 1):
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            logs = self.train_epoch(epoch, callbacks)
            stopper = next((c for c in callbacks if _ends(c, epoch, logs)), None)
            if stopper is not None:
                return _stop_reason(stopper, epoch), epoch
            self.reload()  # a callback may have changed the weights or dropped the optimizer state
        return f"completed {epochs} epochs", max(epochs, start_epoch)

    def _order(self):
        """The epoch's order of the rows, drawn from the model's generator: on the device for in-memory
        data, on the host for a source (the same draw). None without shuffling or for batch iterables."""
        feed, backend, shuffle = self.feed, self.backend, self.settings.shuffle
        if shuffle is False or not feed.by_rows:
            return None
        if shuffle is True:
            return backend.permutation(self.n, host=True) if feed.prefetches else backend.permutation(self.n)
        order = shuffle(self.n)
        shape, kind = getattr(order, "shape", None), getattr(getattr(order, "dtype", None), "kind", None)
        if shape != (self.n,) or kind not in ("i", "u"):
            raise ValueError(
                f"`shuffle` ({shuffle!r}) must return a NumPy permutation of range({self.n}), got "
                f"{type(order).__name__} of shape {shape}."
            )
        return order if feed.prefetches else backend.index_array(order)

    def train_epoch(self, epoch, callbacks):
        """One epoch of steps, then its one host read; the epoch's figures as ``logs``."""
        t0 = time.perf_counter()
        backend, dist, feed = self.backend, self.dist, self.feed
        if dist is not None:
            dist.start_epoch(epoch)
        backend.start_epoch()
        lr = self.solver.schedule.learning_rate(self.solver.learning_rate)
        order = self._epoch_order = self._order()
        params, state = self.runner.begin(self.params, self.state, lr, order)
        batches, steps = feed.epoch(order, self.local, self.n_batches), 0
        # Only the callbacks that do something after a batch are called there.
        batch_callbacks = [c for c in callbacks if _acts_on_batches(c)]
        user_batch_callbacks = any(_acts_on_batches(c) for c in self.user_callbacks)
        current = self.current
        try:
            for batch in batches:
                current["step"] = steps
                # Looked up at each step: a compiled runner whose step cannot be traced hands over to an eager one.
                params, state = self.runner(params, state, batch)
                steps += 1
                if not batch_callbacks:
                    continue
                # A callback of the user's may read the model (it holds the last finished step) or replace
                # its weights; the built-in ones do neither.
                bound = self._bind(params, state, steps) if user_batch_callbacks else None
                for callback in batch_callbacks:
                    callback.on_batch_end(steps)
                if user_batch_callbacks:
                    params, state = self._adopt(params, state, bound)
        except BaseException:
            self._recover(self.runner.start, params, state, steps)
            raise
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        if steps == 0:
            raise ValueError("The training source gave no batches in this epoch.")

        # Lazy libraries get their parameters and state computed now, so graphs do not grow over epochs.
        params, state = backend.materialize([params, state])
        if isinstance(self.t_host, int):
            self.t_host += steps
            state = {**state, "t": self.t_host}
        self.model.set_parameters(params, check=False)
        self.model.optimizer_state_ = state
        self.params, self.state = params, state
        values = self._figures(*self.runner.sums())
        logs = {"loss": values[0]}
        if self.classifier:
            logs["accuracy"] = values[1]
        if self.val is not None:
            logs["val_loss"] = values[2]
            if self.classifier:
                logs["val_accuracy"] = values[3]
        logs["epoch_time"] = time.perf_counter() - t0
        logs["learning_rate"] = lr
        logs["weights_finite"] = math.isfinite(values[-1])
        return logs

    def _bind(self, params, state, steps=0):
        """Put ``params`` and ``state`` on the model; the state it holds (with the host's step count)."""
        self.model.set_parameters(params, check=False)
        if self.runner.compiled and isinstance(self.t_host, int) and isinstance(state, dict):
            # A compiled step counts on the device; the model holds a state it can save and load.
            state = {**state, "t": self.t_host + steps}
        self.model.optimizer_state_ = state
        return state

    def _adopt(self, params, state, bound=None):
        """Arrays a callback put on the model (``set_parameters``, ``layer.W = ...``), as copies of their own.

        The step may update its arrays in place (NumPy, torch) or give them to the compiler (JAX): the
        caller's arrays are never trained in place, as for those given before ``fit``.
        """
        model, xp = self.model, self.xp
        bound = state if bound is None else bound
        current = model.parameters()
        if any(a is not b for a, b in zip(current, params)):
            params = [p if p is q else xp.asarray(p, copy=True) for p, q in zip(current, params)]
            model.set_parameters(params, check=False)
        if model.optimizer_state_ is not bound:
            state = model.optimizer_state_
            if state is None:  # dropped by a callback: the optimizer starts afresh
                state = self.solver.optimizer.init_state(params, xp=xp)
            model.optimizer_state_ = state
            if self.runner.compiled and isinstance(state, dict) and isinstance(state.get("t"), int):
                self.t_host = state["t"] - self.current["step"] - 1
                state = {**state, "t": xp.asarray(state["t"], device=self.backend.device)}
        return params, state

    def _keep(self, params, state):
        """Copies of what a compiled step may overwrite: the parameters and the optimizer state."""
        copy_ = lambda a: self.xp.asarray(a, copy=True) if hasattr(a, "shape") else a  # noqa: E731
        return [copy_(p) for p in params], optimizers.map_state(state, copy_), self.t_host

    def _recover(self, start, params, state, done):
        """After an exception or an interruption in an epoch: the model must hold weights that exist.

        They are those of the last finished step (``params``, ``state``, ``done`` steps into the epoch),
        unless the interruption came while a compiled call held their buffers (JAX donation): then those
        of the epoch's start.
        """
        model, backend = self.model, self.backend
        self._bind(params, state, done)
        if start is None:
            return
        leaves = model.parameters()
        optimizers.map_state(model.optimizer_state_, leaves.append)
        if any(backend.is_deleted(a) for a in leaves):
            params, state, t = start
            model.set_parameters(params, check=False)
            model.optimizer_state_ = state if not isinstance(t, int) else {**state, "t": t}

    def _uncompile(self, exc):
        """The compiled step cannot be traced: name the layers whose activation is the cause, then go on
        eagerly (``compile="auto"``) or raise (``compile=True``)."""
        backend, xp = self.backend, self.xp
        culprits = []
        for i, layer in enumerate(self.layers):
            act = layer.activation

            def probe(Z, act=act):
                A = act.forward(Z, xp=xp)
                return act.backward(Z, A, xp.ones_like(A), xp=xp)

            compiled, _ = backend.compile(probe, True)
            try:
                compiled(xp.zeros((2, layer.n_out), dtype=backend.dtype, device=backend.device))
            except backend.trace_errors():
                culprits.append(f"layer {i} ({layer.n_in} -> {layer.n_out}) with activation {act.name!r} ({type(act).__name__})")
        what = "; ".join(culprits) if culprits else "a component of the step (loss, optimizer or schedule)"
        message = (
            f"The training step cannot be compiled with {backend.compiler}: {what} decides in Python on array values "
            f"({type(exc).__name__}), which a compiler cannot trace. Write it with xp.where instead of if / "
            f"comparisons on values, or pass Settings(compile=False)"
        )
        if self.settings.compile is True:
            raise ValueError(message + ".") from exc
        warnings.warn(message + " to train without compiling and silence this warning; training goes on uncompiled.",
                      RuntimeWarning, stacklevel=5)
        if self.feed.prefetches:
            self.feed.host_batches = False  # batches read from now on go to the device for eager steps
        self.history.compiled = f"eager: {what} cannot be traced by {backend.compiler}"
        # The eager runner goes on from where the compiled one began the epoch: nothing has run yet.
        compiled, self.runner = self.runner, self._eager(self.step)
        self.runner.begin(None, None, compiled.lr, self._epoch_order)
        return self.runner

    def _eager(self, step):
        """The eager runner of this fit (data-parallel under ``comm``)."""
        kind = runner.Eager if self.dist is None else runner.DataParallel
        return kind(step, self.backend, self.layers, self.feed, self.solver.regularization.dropout, self.classifier)

    def _figures(self, sums, labels):
        """Loss, accuracy, [val_loss, val_accuracy,] weight checksum of the epoch: the one host read.

        ``sums = (loss_sum, hits, rows)``: each batch's loss times its rows, the correct decisions and the
        rows; ``labels`` the decisions made.
        """
        xp, val = self.xp, self.val
        if self.runner.figures is not None and self.dist is None:
            figures = self.runner.figures(self.params, sums, float(max(labels, 1)))
            if val is None:
                return [float(v) for v in self.backend.to_numpy(figures)]
            stats, checksum = [figures[0], figures[1]], figures[2]
        else:
            # A finite loss can come before a last step that made the weights non-finite: their sum, read
            # with the rest, tells (the divergence guard).
            checksum = sum(xp.sum(p) for p in self.params)
            if self.dist is not None:
                return self._exchange(sums, labels, checksum)
            loss_sum, hits, rows = sums
            stats = [loss_sum / rows, hits / float(max(labels, 1))]
        if val is not None:
            val_loss, val_correct, val_rows = self._val_figures(self.params)
            stats += [val_loss, val_correct / float(max(val_rows, 1))]
        stats.append(checksum)
        return [float(v) for v in self.backend.to_numpy(xp.stack(stats))]

    def _exchange(self, sums, labels, checksum):
        """The epoch's figures over all ranks, from one exchange of each rank's sums (data-parallel).

        Returns what the single-process path reads: loss, accuracy, [val_loss, val_accuracy,] checksum.
        """
        xp, backend = self.xp, self.backend
        loss_sum, hits, rows = sums
        zero = xp.zeros((), dtype=backend.dtype, device=backend.device)
        val_loss_sum = val_correct = zero
        val_rows = 0
        if self.val is not None:
            val_loss, val_correct, val_rows = self._val_figures(self.params)
            val_loss_sum = val_loss * float(val_rows)
        device_figures = backend.to_numpy(xp.stack([loss_sum, hits, val_loss_sum, val_correct, checksum]))
        mine = [float(v) for v in device_figures] + [float(rows), float(labels), float(val_rows)]
        every = self.dist.exchange(mine)  # one list of 8 figures per rank: the one exchange of the epoch
        checksums = [figures[4] for figures in every]
        if not all(c == checksums[0] or (math.isnan(c) and math.isnan(checksums[0])) for c in checksums):
            raise RuntimeError(
                f"The weights differ between the processes of `comm` (checksums {checksums}); "
                f"data-parallel training cannot go on."
            )
        loss_sum, hits, val_loss_sum, val_correct, _, rows_all, labels_all, val_all = (sum(col) for col in zip(*every))
        values = [loss_sum / rows_all, hits / labels_all if labels_all else 0.0]
        if self.val is not None:
            values += [val_loss_sum / val_all, val_correct / val_all]
        return values + [float(checksums[0])]

    def train_full_batch(self, callbacks, start_epoch):
        """L-BFGS over the whole training set: each iteration is an epoch for History and the callbacks.

        Returns ``(stop_reason, epochs_done)``.
        """
        xp, layers, solver, optimizer = self.xp, self.layers, self.solver, self.solver.optimizer
        feed, n = self.feed, self.feed.n_rows
        size = network.PREDICT_BATCH_SIZE
        # The sum of the sample weights (one pass over a source), for their shares r = n w / sum(w).
        total = None
        if feed.weighted and feed.prefetches:
            total = sum(xp.sum(b.w) for b in feed.chunks(size))
        elif feed.weighted:
            total = xp.sum(feed.w)
        epochs = self.settings.epochs
        reg = solver.regularization
        per_sample = reg.per_sample and reg.active
        penalty = reg.unit() if per_sample else reg
        penalty_scale = reg.batch_scale(n, total, xp=xp) if per_sample else None
        no_penalty = regularization_module.Regularization()

        # In memory, the weights' shares of the whole set once; read from a source, chunk by chunk.
        shares = None if total is None or feed.prefetches else network.sample_shares(feed.w, xp=xp, total=total)

        def chunks():
            """``(X, T, shares)`` of consecutive rows: slices of memory, or read from the source."""
            if feed.prefetches:
                for b in feed.chunks(size):
                    yield b.X, b.T, None if total is None else network.sample_shares(b.w, xp=xp, total=total, rows=n)
                return
            for start in range(0, n, size):
                stop = min(start + size, n)
                yield feed.X[start:stop, :], feed.T[start:stop, ...], None if shares is None else shares[start:stop]

        def fun_and_grad(params):
            # Chunks of rows bound the activations held at once; each adds its share of the mean.
            value = grads = None
            for Xc, Tc, rc in chunks():
                v, grads_W, grads_b, _ = network.value_and_grad(
                    layers, params, Xc, Tc, solver.loss, no_penalty, xp=xp, weights=rc
                )
                share = Xc.shape[0] / n
                g = [gi * share for pair in zip(grads_W, grads_b) for gi in pair]
                value = v * share if value is None else value + v * share
                grads = g if grads is None else [a + b for a, b in zip(grads, g)]
            if penalty.active:
                Ws = params[0::2]
                penalty_value = penalty.penalty(Ws, xp=xp)
                value = value + (penalty_value if penalty_scale is None else penalty_scale * penalty_value)
                for i, W in enumerate(Ws):
                    gradient = penalty.gradient(W, xp=xp)
                    grads[2 * i] = grads[2 * i] + (gradient if penalty_scale is None else penalty_scale * gradient)
            return value, grads

        outcome = {"stop": None, "epoch": start_epoch, "t0": time.perf_counter()}

        def iteration(n_iter, value, x, step):
            epoch = start_epoch + n_iter
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            self.params, self.state = x, {**(self.state or {}), "t": (self.t_host or 0) + n_iter}
            self.model.set_parameters(x, check=False)
            self.model.optimizer_state_ = self.state
            # The loss is the objective the line search computed (penalty and weights included); a
            # classifier's accuracy and the validation figures take one host read per iteration.
            logs = {"loss": float(value)}
            if self.classifier:
                _, correct, rows = evaluate_chunks(self.model, ((Xc, Tc) for Xc, Tc, _ in chunks()), solver, x)
                logs["accuracy"] = float(self.backend.to_numpy(correct)) / rows
            if self.val is not None:
                val_loss, val_correct, val_rows = self._val_figures(self.params)
                values = self.backend.to_numpy(xp.stack([val_loss, val_correct]))
                logs["val_loss"] = float(values[0])
                if self.classifier:
                    logs["val_accuracy"] = float(values[1]) / val_rows
            now = time.perf_counter()
            logs["epoch_time"], outcome["t0"] = now - outcome["t0"], now
            # No learning rate: the History records the step length the line search chose.
            logs["learning_rate"] = float(step)
            logs["weights_finite"] = math.isfinite(value)
            outcome["epoch"] = epoch
            stopper = next((c for c in callbacks if _ends(c, epoch, logs)), None)
            if stopper is not None:
                outcome["stop"] = _stop_reason(stopper, epoch)
                return True
            self.reload()
            return False

        result = lbfgs.minimize(
            fun_and_grad,
            self.params,
            xp=xp,
            max_iter=max(epochs - start_epoch, 0),
            max_fun=optimizer.max_fun,
            tol=optimizer.tol,
            history_size=optimizer.history_size,
            callback=iteration,
        )
        self.history.converged = result.converged
        if outcome["stop"] is not None:
            return outcome["stop"], outcome["epoch"]
        if outcome["epoch"] >= epochs:
            return f"completed {epochs} epochs", outcome["epoch"]
        return f"L-BFGS ended after {result.n_iter} iterations: {result.message}", outcome["epoch"]

    def reload(self):
        """Take the model's parameters and optimizer state back (callbacks may have replaced them: their
        arrays are copied, so that training never updates a caller's arrays)."""
        self.params, self.state = self._adopt(self.params, self.state)
        if self.packing is not None and not self.packing.holds(self.params, self.state):
            self._pack()

    def _pack(self):
        """Parameters and optimizer state as views of flat arrays, held by the model too (eager steps)."""
        if not self.can_pack or not isinstance(self.state, dict):
            return
        if self.packing is None:
            self.packing = Packing(self.params, self.state, xp=self.xp)
        else:
            self.packing.pack(self.params, self.state)  # the step holds this Packing
        self.params, self.state = self.packing.params, self.packing.state
        self.model.set_parameters(self.params, check=False)
        self.model.optimizer_state_ = self.state


def _check_callbacks(callbacks):
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"`callbacks` must be a list of Callback, got {type(callbacks).__name__}.")
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(f"`callbacks[{i}]` must be a Callback, got {type(callback).__name__}.")
    return list(callbacks)
