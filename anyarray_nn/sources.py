"""Batch sources: training data read a batch at a time, so that it never has to fit in memory whole.

``fit`` takes in-memory arrays of any backend as they are (they go to the device once). Everything
else is read here, on the host, one batch of rows at a time:

=======================================  ====================================================================
what ``fit`` is given                    how its rows are read
=======================================  ====================================================================
``X`` (and ``y``) read by rows           ``X[rows]`` with ``rows`` a sorted integer array: a NumPy memmap
                                         (``np.load(path, mmap_mode="r")``), an h5py or zarr array, any
                                         object with ``shape``, ``dtype`` and ``__getitem__``
a Dask array ``X`` (and ``y``)           only the chunks that hold a batch's rows are computed
``fit(dataset, None)``                   ``dataset[rows]`` with ``rows`` a 1-D NumPy integer array returns
                                         ``(X_rows, y_rows)`` or ``(X_rows, y_rows, w_rows)``; ``len(dataset)``
``fit(batches, None)``                   ``for X_b, y_b[, w_b] in batches``: each ``iter()`` is a new epoch
                                         and the batches' order is the iterable's own
=======================================  ====================================================================

Shuffling draws its order from the model's generator exactly as for in-memory data, and a batch's rows
are read in increasing order (what h5py demands and what reads a file forwards) and put back into the
drawn order, so a source fit and an in-memory fit with the same seed give the same model. Every batch is
checked as it is read (numbers, shape, finite values) and an error names the rows it was reading.

:class:`Prefetcher` reads the next batches on a background thread and moves them to the device while
the current step runs: the memory held is a few batches, whatever the size of the data.
"""

from __future__ import annotations

import math
import queue
import threading

import array_api_compat
import numpy as np

from ._validation import _host_numeric, _count_nonfinite


def rows_text(rows):
    """A short description of the rows of a batch, for error messages."""
    rows = np.asarray(rows)
    if rows.size == 0:
        return "no rows"
    if rows.size <= 6:
        return "rows " + ", ".join(str(int(r)) for r in rows)
    lo, hi = int(rows.min()), int(rows.max())
    return f"{rows.size} rows between {lo} and {hi}"


def _length(value, name):
    """The number of rows of an array-like (its first dimension), with a clear error when unknown."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return len(value)
    if len(shape) == 0:
        raise ValueError(f"`{name}` must have one row per sample, got a 0-d array.")
    n = shape[0]
    if n is None or (isinstance(n, float) and math.isnan(n)):
        raise ValueError(
            f"`{name}` has chunks of unknown size (shape {tuple(shape)}), so its rows cannot be counted or "
            f"indexed; compute them first with `{name}.compute_chunk_sizes()`."
        )
    return int(n)


def is_row_readable(value):
    """Whether ``value`` is an array-like read by rows rather than an in-memory array.

    True for NumPy memmaps, h5py / zarr arrays and other objects with ``shape``, ``dtype`` and
    ``__getitem__`` that are not arrays of an Array API library, and for Dask arrays (whose chunks
    are computed as batches need them).
    """
    if isinstance(value, np.memmap) or array_api_compat.is_dask_array(value):
        return True
    if isinstance(value, np.ndarray) or array_api_compat.is_array_api_obj(value):
        return False
    if type(value).__module__.startswith("pandas"):
        return False
    return all(hasattr(value, attr) for attr in ("shape", "dtype", "__getitem__"))


def slices_lazily(value):
    """Whether ``value[start:stop]`` reads nothing yet (a memmap, a Dask array), unlike h5py's datasets."""
    return isinstance(value, np.memmap) or array_api_compat.is_dask_array(value)


def _read_sorted(array, rows):
    """``array[rows]`` as a NumPy array for increasing ``rows``: one slice when they are consecutive."""
    if rows.size and int(rows[-1]) - int(rows[0]) + 1 == rows.size:
        block = array[int(rows[0]) : int(rows[-1]) + 1]
    else:
        block = array[rows]
    if hasattr(block, "toarray"):  # a sparse matrix's rows, made dense one batch at a time
        block = block.toarray()
    # Dask computes here: only the chunks holding these rows.
    return np.asarray(block)


def in_increasing_order(read, rows):
    """``read(sorted_rows)`` (a list of arrays, one row per entry of ``rows``) put back in the order of ``rows``.

    h5py and zarr take only increasing indices, and a file is read fastest forwards.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size < 2 or not np.any(rows[1:] < rows[:-1]):
        return read(rows)
    order = np.argsort(rows, kind="stable")
    parts = []
    for part in read(rows[order]):
        if part is not None:
            out = np.empty_like(part)
            out[order] = part
            part = out
        parts.append(part)
    return parts


def read_rows(array, rows):
    """``array[rows]`` for any order of the distinct integer ``rows``, reading them in increasing order."""
    if isinstance(array, np.ndarray):
        # A NumPy array or memmap takes rows in any order in one copy (the page cache does the rest).
        return np.take(array, np.asarray(rows, dtype=np.int64), axis=0)
    return in_increasing_order(lambda sorted_rows: [_read_sorted(array, sorted_rows)], rows)[0]


class Source:
    """Rows ``(X, y, w)`` that training reads a batch at a time, on the host.

    Attributes
    ----------
    n_rows : int or None
        Rows in the source (None for batch iterables, whose length is known after an epoch).
    weighted : bool
        Whether the rows carry sample weights.
    """

    n_rows = None
    weighted = False
    by_rows = True  # whether rows can be read by index (False for batch iterables)

    def read(self, rows):
        """``(X, y, w)`` of the rows ``rows`` (a 1-D NumPy integer array), as host arrays (``w`` may be None)."""
        raise NotImplementedError

    def subset(self, start, stop):
        """The rows ``[start, stop)`` as a source of their own (a view: nothing is read)."""
        return _RowRange(self, start, stop)

    def batches(self):
        """One epoch of ``(X, y, w)`` batches, for sources that are not read by rows."""
        raise NotImplementedError


class ArraySource(Source):
    """Features ``X`` and targets ``y`` (and weights ``w``) that are array-likes read by rows.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        A NumPy memmap, an h5py / zarr / Dask array, or anything with ``shape``, ``dtype`` and
        ``__getitem__`` on a sorted integer array; an in-memory array is read by rows as well.
    y : array-like, shape (n_samples,) or (n_samples, n_outputs)
    w : array-like, shape (n_samples,), optional
    """

    def __init__(self, X, y, w=None):
        if y is None:
            raise TypeError("`y` must be given with an array-like `X` (a data set passed alone goes as fit(dataset, None)).")
        self.X, self.y, self.w = X, y, w
        self.n_rows = _length(X, "X")
        for value, name in ((y, "y"), (w, "sample_weight")):
            if value is not None and _length(value, name) != self.n_rows:
                raise ValueError(
                    f"`X` and `{name}` have different numbers of samples: X has {self.n_rows}, "
                    f"{name} has {_length(value, name)}."
                )
        self.weighted = w is not None

    def read(self, rows):
        w = None if self.w is None else read_rows(self.w, rows)
        return read_rows(self.X, rows), read_rows(self.y, rows), w


class DatasetSource(Source):
    """A map-style data set: ``len(dataset)`` rows and ``dataset[rows] -> (X, y)`` or ``(X, y, w)``.

    Parameters
    ----------
    dataset : object with ``__len__`` and ``__getitem__``
        ``dataset[rows]`` gets a 1-D NumPy integer array ``rows`` in increasing order and returns host
        arrays of ``len(rows)`` rows each.
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self.n_rows = len(dataset)
        probe = self._get(np.arange(min(1, self.n_rows), dtype=np.int64)) if self.n_rows else None
        self.weighted = probe is not None and len(probe) == 3

    def _get(self, rows):
        item = self.dataset[rows]
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise TypeError(
                f"`dataset[rows]` must return a tuple (X_rows, y_rows) or (X_rows, y_rows, w_rows), got "
                f"{type(item).__name__}" + (f" of length {len(item)}" if isinstance(item, tuple) else "") + "."
            )
        return item

    def read(self, rows):
        X, y, *w = in_increasing_order(self._read_sorted, rows)
        return X, y, w[0] if self.weighted else None

    def _read_sorted(self, rows):
        item = [None if part is None else np.asarray(part) for part in self._get(rows)]
        if (len(item) == 3) != self.weighted:
            raise ValueError(
                f"`dataset[rows]` returned {len(item)} arrays for {rows_text(rows)}, but "
                f"{3 if self.weighted else 2} for the first rows: every batch must carry weights, or none."
            )
        return item


class BatchIterable(Source):
    """A re-iterable of batches ``(X_b, y_b)`` or ``(X_b, y_b, w_b)``: each ``iter()`` is one epoch.

    The batches' sizes and order are the iterable's own (``Settings.batch_size`` and ``shuffle`` do
    not apply). A one-shot iterator (a generator) can give one epoch only.
    """

    by_rows = False

    def __init__(self, batches):
        self.iterable = batches
        # An iterator returns itself from iter(): a second epoch would find it exhausted.
        self.one_shot = iter(batches) is batches
        self.weighted = None  # known from the first batch
        self._epochs = 0

    def batches(self):
        if self.one_shot and self._epochs:
            raise ValueError(
                "The batch source is a one-shot iterator (a generator) and was used up by the first epoch; "
                "pass a re-iterable (an object whose __iter__ starts over, such as a list or a class with "
                "__iter__) to train more than one epoch."
            )
        self._epochs += 1
        for i, item in enumerate(self.iterable):
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                raise TypeError(f"Batch {i} of the batch source must be a tuple (X, y) or (X, y, w), got {type(item).__name__}.")
            weighted = len(item) == 3
            if self.weighted is None:
                self.weighted = weighted
            elif weighted != self.weighted:
                raise ValueError(f"Batch {i} of the batch source has {len(item)} arrays; every batch must carry weights, or none.")
            yield tuple(np.asarray(part) if not array_api_compat.is_array_api_obj(part) else part for part in item) + (
                (None,) if not weighted else ()
            )

    def subset(self, start, stop):
        raise ValueError("A batch iterable cannot be split by rows (validation_split, shard): pass validation_data.")


class _RowRange(Source):
    """Rows ``[start, stop)`` of another source."""

    def __init__(self, source, start, stop):
        self.source, self.start = source, start
        self.n_rows = max(0, stop - start)
        self.weighted = source.weighted

    def read(self, rows):
        return self.source.read(np.asarray(rows, dtype=np.int64) + self.start)

    def subset(self, start, stop):
        return _RowRange(self.source, self.start + start, self.start + min(stop, self.n_rows))


class RowView:
    """Rows ``[start, stop)`` of an array-like read by rows, read only when indexed (a shard of a file).

    Has ``shape``, ``dtype``, ``len`` and ``__getitem__`` like the array it views.
    """

    def __init__(self, array, start, stop):
        self.array, self.start, self.stop = array, start, stop
        self.shape = (stop - start,) + tuple(array.shape[1:])
        self.dtype = array.dtype

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.shape[0])
            return self.array[self.start + lo : self.start + hi : step]
        return self.array[np.asarray(key, dtype=np.int64) + self.start]


def as_source(X, y, sample_weight=None, names=("X", "y")):
    """The :class:`Source` that reads ``(X, y)``, or None when they are in-memory arrays.

    Parameters
    ----------
    X : array-like, Source, map-style data set or batch iterable
    y : array-like or None
        None when ``X`` is a data set or a batch iterable carrying its own targets.
    sample_weight : array-like, optional
    names : (str, str)
        The arguments' names, for errors.
    """
    if isinstance(X, Source):
        return X
    if y is None:
        if X is None or hasattr(X, "shape") or isinstance(X, (str, bytes, dict)):
            raise TypeError(
                f"`{names[1]}` is None: pass the targets, or give a data set (dataset[rows] -> (X, y[, w])) or an "
                f"iterable of (X, y[, w]) batches in place of `{names[0]}`; got {type(X).__name__} of features."
            )
        if sample_weight is not None:
            raise ValueError("`sample_weight` goes with arrays X and y; a data set or batch source carries its own weights.")
        if hasattr(X, "__len__") and hasattr(X, "__getitem__") and not isinstance(X, (list, tuple)):
            return DatasetSource(X)
        if hasattr(X, "__iter__"):
            return BatchIterable(X)
        raise TypeError(
            f"`X` must be an array, a data set (len and dataset[rows]) or an iterable of batches, got {type(X).__name__}."
        )
    if is_row_readable(X) or is_row_readable(y) or (sample_weight is not None and is_row_readable(sample_weight)):
        return ArraySource(X, y, sample_weight)
    return None


class BatchChecker:
    """Checks of each batch read from a source, on the host, with errors that name its rows.

    Parameters
    ----------
    n_features : int
    encode : callable
        ``(y_host, name) -> T_host``, the loss's encoding of targets (:meth:`Loss.encode_targets`).
    dtype : NumPy dtype
        The backend's float dtype: batches are cast to it on the host.
    """

    def __init__(self, n_features, encode, dtype):
        self.n_features, self.encode, self.dtype = n_features, encode, np.dtype(dtype)

    def __call__(self, X, y, w, where):
        X = _host_numeric(X, f"X ({where})")
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"`X` ({where}) must have shape (rows, {self.n_features}), got {X.shape}: the model's first layer "
                f"expects {self.n_features} features."
            )
        y = _host_numeric(y, f"y ({where})")
        if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
            raise ValueError(f"`y` ({where}) must have one row per row of X ({X.shape[0]}), got shape {y.shape}.")
        for arr, name in ((X, "X"), (y, "y")):
            if arr.dtype.kind == "f":
                bad = _count_nonfinite(arr, np)
                if bad:
                    raise ValueError(f"`{name}` ({where}) contains {bad} NaN or infinite value(s); clean or impute them first.")
        T = self.encode(y, f"y ({where})")
        if w is not None:
            w = _host_numeric(w, f"sample weights ({where})")
            if w.shape != (X.shape[0],):
                raise ValueError(f"The sample weights ({where}) must have shape ({X.shape[0]},), got {w.shape}.")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"The sample weights ({where}) must be finite and >= 0.")
            w = w.astype(self.dtype, copy=False)
        with np.errstate(over="ignore"):
            Xc, Tc = X.astype(self.dtype, copy=False), T.astype(self.dtype, copy=False)
        if X.dtype.itemsize > self.dtype.itemsize and X.dtype.kind == "f" and not np.all(np.isfinite(Xc)):
            raise ValueError(f"`X` ({where}) has values beyond the range of {self.dtype}; rescale it or use dtype='float64'.")
        return Xc, Tc, w


class Prefetcher:
    """Runs ``produce`` (a generator function) on a background thread, ``depth`` items ahead.

    Iterating yields what ``produce`` yields, in order; an exception raised there is raised here, in
    the thread that iterates. Closing (or leaving the loop early) stops the thread.
    """

    _DONE = object()

    def __init__(self, produce, depth=2):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), daemon=True, name="anyarray_nn-prefetch")
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, produce):
        try:
            for item in produce():
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            self._put((None, exc))
            return
        self._put((self._DONE, None))

    def __iter__(self):
        try:
            while True:
                item, exc = self._queue.get()
                if exc is not None:
                    raise exc
                if item is self._DONE:
                    return
                yield item
        finally:
            self.close()

    def close(self):
        self._stop.set()
        # Let a producer blocked on a full queue see the stop.
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=5)
