"""How batches reach the training step: from arrays on the device, or read from a source as they are needed.

:func:`feeds` checks what ``fit`` was given (arrays, sources, weights, validation data) and makes the
feeds. Both kinds hand the epoch driver the same thing, one :class:`Batch` per step::

    feed = DeviceFeed(X, T, truth, w)            # in memory: rows are taken on the device
    feed = SourceFeed(source, checker, ...)      # read on a background thread, checked, moved to the device
    for batch in feed.epoch(order, local, steps):
        ...                                      # batch.X, batch.T, batch.truth, batch.w, batch.rows

and :class:`EpochSums` keeps what the epoch's figures need (loss and weight sums, correct decisions),
summed on the device a few dozen batches at a time, so that a step adds almost nothing to the host's
work and the memory held does not grow with the data.
"""

from __future__ import annotations

import math

import array_api_compat
import array_api_compat.numpy  # noqa: F401  (the host namespace, for decisions made on the host)
import numpy as np

from . import sources, weighting
from ._validation import _host_numeric, check_number, check_targets, check_X, host_array, shape_of
from .sources import Prefetcher, rows_text


class Batch:
    """One step's rows: rows ``order[start : start + rows]`` of ``X``, ``T``, ``truth`` and ``w``.

    A feed of in-memory data passes the whole arrays and the epoch's ``order`` (None: rows
    ``start .. start + rows``), so that a compiled step takes the rows inside the compiled code; a source
    passes the batch's own arrays, ``order=None`` and ``start=0``.
    """

    __slots__ = ("X", "T", "truth", "w", "order", "start", "rows")

    def __init__(self, X, T, truth, w, order, start, rows):
        self.X, self.T, self.truth, self.w = X, T, truth, w
        self.order, self.start, self.rows = order, start, rows

    def arrays(self, xp, truth=True):
        """``(Xb, Tb, truth_b, wb)``: the batch's rows themselves (``truth_b`` / ``wb`` None when absent or,
        for ``truth=False``, not wanted)."""
        X, T, w = self.X, self.T, self.w
        truth = self.truth if truth else None
        if self.order is None and self.start == 0 and self.rows == X.shape[0]:
            return X, T, truth, w
        if self.order is None:
            s = slice(self.start, self.start + self.rows)
            return (X[s, ...], T[s, ...], None if truth is None else truth[s, ...], None if w is None else w[s, ...])
        idx = self.order[self.start : self.start + self.rows]
        return (
            xp.take(X, idx, axis=0), xp.take(T, idx, axis=0),
            None if truth is None else xp.take(truth, idx, axis=0), None if w is None else xp.take(w, idx, axis=0),
        )


class DeviceFeed:
    """Batches of arrays already on the device: ``X`` ``(n, n_features)``, ``T`` ``(n, n_outputs)``.

    ``truth`` holds the output activation's decisions on ``T`` (classifiers), ``w`` the sample weights.
    """

    by_rows = True
    prefetches = False

    def __init__(self, X, T, truth=None, w=None):
        self.X, self.T, self.truth, self.w = X, T, truth, w
        self.n_rows = X.shape[0]
        self.weighted = w is not None

    def epoch(self, order, local, steps):
        """The epoch's batches: ``steps`` of ``local`` rows each (None for a step with no rows left)."""
        n = self.n_rows
        for k in range(steps):
            start = k * local
            rows = min(start + local, n) - start
            yield None if rows <= 0 else Batch(self.X, self.T, self.truth, self.w, order, start, rows)


class SourceFeed:
    """Batches read from a :class:`~anyarray_nn.sources.Source` on a background thread.

    Parameters
    ----------
    source : Source
    checker : BatchChecker
        Checks a batch on the host and encodes its targets.
    backend : Backend
        The batch goes to its device on the reading thread, so that the copy overlaps the step.
    decide : callable, optional
        ``decide(T, xp=...) -> truth``, the output activation's decisions (classifiers): made on the host, from
        the encoded targets, and moved to the device as 32-bit class numbers.
    weights : callable, optional
        ``(y_host, w_host or None) -> w_host``: class weights (and given sample weights) per row.
    depth : int, default 2
        Batches read ahead.
    """

    prefetches = True

    def __init__(self, source, checker, backend, decide=None, weights=None, depth=2):
        self.source, self.checker, self.backend = source, checker, backend
        self.decide, self.weights, self.depth = decide, weights, depth
        self.by_rows = source.by_rows
        self.n_rows = source.n_rows
        self.weighted = bool(source.weighted) or weights is not None
        #: Hand the batches over as NumPy arrays, for a compiled step that moves them itself (jax.jit).
        self.host_batches = False

    def _device(self, X, y, w, where):
        Xh, Th, wh = self.checker(X, y, w, where)
        if self.weights is not None:
            wh = self.weights(y, wh).astype(self.checker.dtype, copy=False)
        truth = None
        if self.decide is not None:
            # On the host: no device operation on this thread, whose work should be copies only.
            truth = np.asarray(self.decide(Th, xp=array_api_compat.numpy), dtype=np.int32)
        if not self.host_batches:
            upload = self.backend.upload
            Xh, Th = upload(Xh), upload(Th)
            wh = None if wh is None else upload(wh)
            truth = None if truth is None else upload(truth)
        return Batch(Xh, Th, truth, wh, None, 0, Xh.shape[0])

    def epoch(self, order, local, steps):
        """The epoch's batches, read ahead. ``order`` is a host permutation (None: the stored order)."""
        return Prefetcher(lambda: self._produce(order, local, steps), depth=self.depth)

    def _produce(self, order, local, steps):
        source = self.source
        if not source.by_rows:
            for i, (X, y, w) in enumerate(source.batches()):
                yield self._device(X, y, w, f"batch {i}")
            return
        n = self.n_rows
        for k in range(steps):
            start = k * local
            stop = min(start + local, n)
            if stop <= start:
                yield None
                continue
            rows = np.arange(start, stop, dtype=np.int64) if order is None else order[start:stop]
            where = rows_text(rows)
            try:
                X, y, w = source.read(rows)
            except (IndexError, KeyError, OSError) as exc:
                raise type(exc)(f"Reading {where} of the training source failed: {exc}") from exc
            yield self._device(X, y, w, where)

    def chunks(self, size):
        """The rows in their stored order, ``size`` at a time (validation), read ahead."""
        steps = None if not self.by_rows else -(-self.n_rows // size)
        return Prefetcher(lambda: self._produce(None, size, steps), depth=self.depth)


class EpochSums:
    """The epoch's running figures: loss times rows, rows, correct decisions and decisions made.

    Each step's loss and decisions are kept as they come and summed every :attr:`FOLD` steps in a few
    device operations, so a step costs a list append and the memory held stays bounded.

    Parameters
    ----------
    xp, backend
    truth_of : callable, optional
        ``(start, stop) -> truth rows`` of the epoch's order for in-memory data, so that the decisions of
        consecutive steps are compared in one operation; without it each batch brings its own truth.
    """

    FOLD = 64

    def __init__(self, xp, backend, truth_of=None):
        self.xp, self.backend, self.truth_of = xp, backend, truth_of
        zero = xp.zeros((), dtype=backend.dtype, device=backend.device)
        self.loss_sum, self.hits, self.rows = zero, zero, 0.0
        self.labels = 0
        self._losses, self._shares, self._predictions, self._truths = [], [], [], []
        self._covered = [None, None]  # rows of the order whose decisions are pending

    def add(self, loss, predictions, batch):
        """Record a step's loss ``(0-d)``, its decisions (None for regressors) and its Batch."""
        self._losses.append(loss)
        # Each batch's loss (a weighted mean with sample weights) counts by its rows, as Keras reports it.
        self._shares.append(float(batch.rows))
        if predictions is not None:
            self._predictions.append(predictions)
            if self.truth_of is None:
                self._truths.append(batch.truth)  # a batch read from a source holds its own rows
            else:
                lo, hi = self._covered
                self._covered = [batch.start if lo is None else lo, batch.start + batch.rows]
            self.labels += math.prod(predictions.shape)
        if len(self._losses) >= self.FOLD:
            self.fold()

    def fold(self):
        xp = self.xp
        if not self._losses:
            return
        losses = xp.stack(self._losses)
        shares = xp.asarray(self._shares, dtype=losses.dtype, device=self.backend.device)
        self.rows += sum(self._shares)
        self.loss_sum = self.loss_sum + xp.sum(losses * shares)
        if self._predictions:
            predicted = xp.concat(self._predictions, axis=0)
            expected = xp.concat(self._truths, axis=0) if self.truth_of is None else self.truth_of(*self._covered)
            self.hits = self.hits + xp.sum(xp.astype(predicted == expected, losses.dtype))
        self._losses, self._shares, self._predictions, self._truths = [], [], [], []
        self._covered = [None, None]

    def sums(self):
        """``(loss_sum, hits, rows)`` of the epoch so far, as :func:`~anyarray_nn.step.make_batch_step`'s."""
        self.fold()
        return self.loss_sum, self.hits, self.rows


def feeds(X, y, model, loss, classifier, *, sample_weight=None, class_weight=None, validation_data=None,
          validation_split=None):
    """The training feed, the validation data and the shape of ``y``, from what ``fit`` was given.

    In-memory arrays are checked and moved to the device once (:class:`DeviceFeed`); anything else is
    read as a :class:`~anyarray_nn.sources.Source` (:class:`SourceFeed`). Every argument is checked
    here, before the model changes.

    Returns
    -------
    feed : DeviceFeed or SourceFeed
    val : tuple (X_val, T_val) of device arrays, SourceFeed, or None
    y_shape : tuple or None
        The shape of the targets as given (None when a data set or batch iterable holds them).
    """
    backend, n_out = model.backend, model.n_outputs
    if validation_split is not None:
        validation_split = check_number(validation_split, "validation_split", low=0.0, high=1.0, low_open=True)
        if validation_data is not None:
            raise ValueError("Give `validation_data` or `validation_split`, not both.")
    # Arrays of the model's own library stay what they are (a Dask model trains on Dask arrays).
    source = None if backend.owns(X) else sources.as_source(X, y, sample_weight)
    source_y = getattr(source, "y", None)
    y_shape = shape_of(y) if source is None else (None if source_y is None else shape_of(source_y))
    table = labels_y = None
    if class_weight is not None:
        if not classifier:
            raise ValueError("`class_weight` is for classifiers (a classification loss on a deciding output layer).")
        if source is None:
            labels_y = _host_numeric(y, "y")
        elif source_y is not None and class_weight == "balanced":
            labels_y = _host_numeric(source_y, "y")  # the labels only: small beside X
        table = weighting.class_weight_table(class_weight, labels_y, n_out)
    act = model.layers[-1].activation
    decide = act.decide if classifier else None
    checker = sources.BatchChecker(model.n_features, lambda arr, name: loss.encode_targets(arr, n_out, name), backend.dtype_name)
    val = None
    if source is None:
        Xd = check_X(X, backend, model.n_features)
        n = Xd.shape[0]
        T = check_targets(y, backend, loss, n_out, n)
        w = None
        if sample_weight is not None or table is not None:
            host_w = None if sample_weight is None else weighting.check_sample_weight(host_array(sample_weight), n)
            if table is not None:
                host_w = weighting.row_weights(table, labels_y, n_out, host_w)
            w = backend.asarray(host_w)
        if validation_split is not None:
            # As Keras: the last rows, before any shuffling.
            split = _split(n, validation_split)
            val = (Xd[split:, :], T[split:, ...])
            Xd, T = Xd[:split, :], T[:split, ...]
            w = None if w is None else w[:split]
        truth = act.decide(T, xp=model.xp) if classifier else None
        feed = DeviceFeed(Xd, T, truth, w)
    else:
        weights = None
        if table is not None:
            weights = lambda y_rows, w_rows: weighting.row_weights(table, y_rows, n_out, w_rows)  # noqa: E731
        if validation_split is not None:
            if not source.by_rows:
                raise ValueError("`validation_split` needs data read by rows; give a batch iterable `validation_data` instead.")
            split = _split(source.n_rows, validation_split)
            val = SourceFeed(source.subset(split, source.n_rows), checker, backend, decide)
            source = source.subset(0, split)
        feed = SourceFeed(source, checker, backend, decide, weights)
        if feed.by_rows and feed.n_rows == 0:
            raise ValueError("The training source has no rows.")
    if validation_data is not None:
        val = _validation(validation_data, model, loss, checker, decide)
    return feed, val, y_shape


def _split(n, fraction):
    split = n - int(n * fraction)
    if split <= 0 or split >= n:
        raise ValueError(f"`validation_split` {fraction} leaves no rows for training or validation of {n}.")
    return split


def _validation(validation_data, model, loss, checker, decide):
    """``validation_data`` as device arrays ``(X_val, T_val)`` or, read from a source, a feed."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (1, 2):
        raise TypeError("`validation_data` must be a tuple (X_val, y_val), or (dataset,) for a data set or batch source.")
    X_val, y_val = validation_data[0], (validation_data[1] if len(validation_data) == 2 else None)
    source = None
    if not model.backend.owns(X_val):
        source = sources.as_source(X_val, y_val, names=("validation_data[0]", "validation_data[1]"))
    if source is None:
        X_v = check_X(X_val, model.backend, model.n_features, name="validation_data[0]")
        T_v = check_targets(y_val, model.backend, loss, model.n_outputs, X_v.shape[0], name="validation_data[1]")
        return (X_v, T_v)
    return SourceFeed(source, checker, model.backend, decide)

