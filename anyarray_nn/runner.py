"""How a fit runs its steps: eagerly, compiled, or data-parallel, behind one interface.

The training loop (:mod:`anyarray_nn.training`) reads batches from a feed and hands each to a runner::

    params, state = runner.begin(params, state, lr, order)    # once an epoch
    for batch in feed.epoch(order, rows, steps):
        params, state = runner(params, state, batch)           # one training step
    sums, labels = runner.sums()                               # the epoch's (loss_sum, hits, rows)

The runners differ only in how a step is taken:

- :class:`Eager` calls the pure step (:func:`anyarray_nn.step.make_train_step`) on the batch's rows and
  adds its loss and decisions to :class:`~anyarray_nn.feed.EpochSums`;
- :class:`DataParallel` is the eager runner whose step sums the gradients over the processes; a process
  whose shard is used up still takes part in every update, with a zero gradient;
- :class:`Compiled` calls the compiled batch step (:func:`anyarray_nn.step.make_batch_step`), which takes
  the batch's rows and keeps the running sums inside the compiled code, so that a step costs one call.

None of them reads a value back to the host: the epoch's figures are read once, from :meth:`Runner.sums`.
"""

from __future__ import annotations

import math

from . import network
from .feed import EpochSums


class Runner:
    """The interface: :meth:`begin` an epoch, call once per batch, then :meth:`sums`.

    Attributes
    ----------
    compiled : bool
        Whether the steps are compiled (they count the optimizer's steps on the device, and may have
        been given the parameters' buffers: see :attr:`start`).
    figures : callable or None
        A compiled ``figures(params, sums, labels)`` (:func:`anyarray_nn.step.make_epoch_figures`) for
        the epoch's figures in one call, or None to compute them eagerly.
    start : tuple or None
        What :meth:`begin` kept of the epoch's start, for a compiled call interrupted after it took the
        buffers of its arguments.
    """

    compiled = False
    figures = None
    start = None

    def begin(self, params, state, lr, order):
        """Start an epoch at learning rate ``lr`` with row ``order`` (None: in order); the parameters and
        state as the steps take them."""
        raise NotImplementedError

    def __call__(self, params, state, batch):
        """One step on ``batch`` (a :class:`~anyarray_nn.feed.Batch`): the new ``(params, state)``."""
        raise NotImplementedError

    def sums(self):
        """``((loss_sum, hits, rows), labels)`` of the epoch so far: device values, and the decisions made."""
        raise NotImplementedError


class Eager(Runner):
    """The pure step called on each batch's rows, its loss and decisions added up in :class:`EpochSums`.

    Parameters
    ----------
    step : callable
        From :func:`~anyarray_nn.step.make_train_step`.
    backend : Backend
    layers : list of Layer
    feed : DeviceFeed or SourceFeed
        Where the batches come from (its ``truth`` holds the decisions on the targets of in-memory data).
    dropout : float
        The dropout rate: masks are drawn for each batch.
    classifier : bool
        Whether the decisions are counted.
    """

    def __init__(self, step, backend, layers, feed, dropout, classifier):
        self.step, self.backend, self.xp = step, backend, backend.xp
        self.layers, self.feed, self.dropout, self.classifier = layers, feed, dropout, classifier
        self.lr, self.epoch_sums = None, None

    def begin(self, params, state, lr, order):
        xp, feed = self.xp, self.feed
        truth_of = None
        if not feed.prefetches and self.classifier:
            # In-memory data: the decisions are compared once per fold of steps, on the epoch's order.
            truth = feed.truth
            if order is None:
                truth_of = lambda lo, hi: truth[lo:hi, ...]  # noqa: E731
            else:
                truth_of = lambda lo, hi: xp.take(truth, order[lo:hi], axis=0)  # noqa: E731
        self.lr, self.epoch_sums = lr, EpochSums(xp, self.backend, truth_of)
        return params, state

    def __call__(self, params, state, batch, masks=None):
        """One step on ``batch``; ``masks``: its dropout masks when already drawn (else drawn here)."""
        backend = self.backend
        if masks is None and self.dropout > 0.0:
            masks = network.dropout_masks(self.layers, batch.rows, self.dropout, backend)
        Xb, Tb, _, wb = batch.arrays(self.xp, truth=False)
        if self.feed.prefetches and not backend.owns(Xb):  # read ahead as host arrays for a compiled step
            Xb, Tb, wb = (a if a is None or backend.owns(a) else backend.upload(a) for a in (Xb, Tb, wb))
        params, state, loss, predictions = self.step(params, state, Xb, Tb, masks, self.lr, wb)
        self.epoch_sums.add(loss, predictions, batch)
        return params, state

    def sums(self):
        return self.epoch_sums.sums(), self.epoch_sums.labels


class DataParallel(Eager):
    """The eager runner of a data-parallel fit: the step's gradients are summed over the processes.

    Every process takes the same number of steps; one whose shard is used up gets ``None`` batches and
    takes part in the update with a zero gradient (and a weight sum of 0 under sample weights), which
    keeps the all-reduces in step.
    """

    def __call__(self, params, state, batch, masks=None):
        if batch is None:
            xp = self.xp
            # Under sample weights the ranks sum their weights with their gradients: this one has none.
            weight_sum = xp.zeros((), dtype=self.backend.dtype, device=self.backend.device) if self.feed.weighted else None
            return self.step.update(params, state, [xp.zeros_like(p) for p in params], self.lr, weight_sum)
        return super().__call__(params, state, batch, masks)


class Compiled(Runner):
    """The compiled batch step: it takes the batch's rows and adds up the epoch's sums itself.

    Parameters
    ----------
    batch_step : callable
        The compiled :func:`~anyarray_nn.step.make_batch_step`.
    backend : Backend
    layers : list of Layer
    dropout : float
    figures : callable or None
        See :attr:`Runner.figures`.
    on_labels : bool
        The step takes the class labels (the batch's ``truth``) as its targets, not ``T``.
    keep : callable
        ``keep(params, state) -> start``: copies of what a call may overwrite, taken at each epoch's start.
    t_host : callable
        ``() -> int or None``: the optimizer's step count the host keeps (the step counts on the device).
    untraceable : callable
        ``untraceable(exc) -> Eager``: called when the compiler cannot trace the step (on the first call,
        before anything ran); it returns the runner that takes the batch instead, begun for this epoch.
    """

    compiled = True

    def __init__(self, batch_step, backend, layers, dropout, figures, on_labels, keep, t_host, untraceable):
        self.batch_step, self.backend, self.xp = batch_step, backend, backend.xp
        self.layers, self.dropout, self.figures, self.on_labels = layers, dropout, figures, on_labels
        self.keep, self.t_host, self.untraceable = keep, t_host, untraceable
        self._templates = {}
        self.lr = self.running = None
        self.labels = 0

    def begin(self, params, state, lr, order):
        xp, backend = self.xp, self.backend
        # The learning rate and the step count are device scalars, so that neither a schedule nor the
        # count recompiles the step.
        self.lr = xp.asarray(lr, dtype=backend.dtype, device=backend.device)
        t = self.t_host()
        if isinstance(t, int):
            # The library's default integer type (JAX without 64-bit types has no int64).
            state = {**state, "t": xp.asarray(t, device=backend.device)}
        zero = xp.zeros((), dtype=backend.dtype, device=backend.device)
        self.running, self.labels = (zero, zero, zero), 0
        # A call may be given the first layer and the optimizer state to overwrite (JAX's donation): the
        # epoch's start is kept, for an interruption that comes in the middle of a call.
        self.start = self.keep(params, state)
        return params, state

    def __call__(self, params, state, batch):
        masks = None
        if self.dropout > 0.0:
            masks = network.dropout_masks(self.layers, batch.rows, self.dropout, self.backend)
        try:
            head, tail, state, self.running = self.batch_step(
                params[:2], params[2:], state, self.running, batch.X, None if self.on_labels else batch.T,
                batch.truth, batch.order, batch.start, self._template(batch.rows), masks, self.lr, batch.w,
            )
        except self.backend.trace_errors() as exc:
            # Only the first call traces; nothing has run yet, so the eager runner takes the batch.
            return self.untraceable(exc)(params, state, batch, masks)
        if batch.truth is not None:
            self.labels += batch.rows * math.prod(batch.truth.shape[1:])
        return head + tail, state

    def sums(self):
        return self.running, self.labels

    def _template(self, rows):
        """``arange(rows)`` on the device, which fixes the compiled step's batch shape (kept per size)."""
        if rows not in self._templates:
            self._templates[rows] = self.xp.arange(rows, device=self.backend.device)
        return self._templates[rows]

