"""Data-parallel training over MPI: each process trains on its own shard, gradients are summed.

The rules, for ``P`` processes (ranks) of a communicator and a global batch of ``B`` rows
(``Settings.batch_size``):

- Every step, every rank takes ``m = B / P`` rows of its own shard (``B`` must be a multiple of ``P``).
  With ``shuffle=False`` rank ``r``'s ``k``-th local batch is rows ``[k m, (k + 1) m)`` of its shard, so
  the global batch is the concatenation of the ranks' local batches in rank order.
- Each rank scales its gradients by its share of the global batch (its rows / all rows of the step) and
  the ranks sum them with one all-reduce of one flat buffer per step. Clipping comes after the
  reduction; every rank then runs the same optimizer step, so the weights stay identical everywhere
  without sending optimizer state. The initial weights are broadcast from rank 0.
- Unequal shards: an epoch has as many steps as the largest shard needs; a rank whose shard is used up
  takes part in the remaining steps with no rows (a zero gradient and a zero share). No rank waits
  forever and no row is dropped.
- Random numbers: rank 0 draws from the model's generator as a single process would (so a
  communicator of one process gives the results of no communicator, bit for bit); rank ``r > 0`` draws
  its shuffling order and dropout masks from a stream derived from the seed, the epoch and ``r``.
- Once per epoch the ranks exchange one small vector (loss sums, counts, correct predictions,
  validation figures and a checksum of the weights): every rank sees the same History, so early
  stopping, schedules and the divergence guard decide alike; differing checksums raise.

- Agreement: a data-parallel fit starts by comparing one fingerprint of everything the ranks must share
  (:func:`fingerprint`: architecture, activations, dtype, loss, optimizer and its settings, epochs, batch
  size, features, classes) with :func:`check_agreement`; ranks that differ all raise the same
  :class:`MismatchError`, naming each field that differs and its value on each rank, before any
  gradient is exchanged.
- Bounded waits: every collective the library runs (the agreement, the broadcast of the initial
  weights, the gradients' all-reduce, the epoch exchange, the checkpoint barrier) has a deadline
  (:class:`BoundedComm`: a watchdog thread beside MPI's blocking calls, or nonblocking requests
  polled). A rank that fails, dies, freezes or runs a different number of steps no longer leaves the
  others waiting for ever: after ``timeout`` seconds (default :data:`DEFAULT_TIMEOUT`, 600; the
  environment variable ``ANYARRAY_NN_MPI_TIMEOUT`` overrides it) the waiting rank writes what it was
  waiting for to stderr and ends the job with ``comm.Abort`` (or raises :class:`CommunicationTimeout`
  with ``on_timeout="raise"``).

Launch with ``mpiexec -n 4 python -m mpi4py train.py`` (or ``srun python -m mpi4py train.py``):
``python -m mpi4py`` aborts the whole job as soon as one rank raises, instead of leaving the others
waiting until the bound above.

GPU arrays: with CuPy, gradients are summed with NCCL (``cupy.cuda.nccl``, its id broadcast over MPI);
every other library goes through a host buffer (NumPy arrays and torch CPU tensors are passed to MPI
without a copy). The NCCL all-reduce itself is not under the bound (NCCL has no request to poll); the
MPI exchanges around it are.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from array import array
from contextlib import contextmanager

from . import sources
from .backend import fresh_entropy

#: Seconds a rank waits in one collective for the other ranks before it gives up (see :class:`BoundedComm`).
DEFAULT_TIMEOUT = 600.0
#: The environment variable that overrides :data:`DEFAULT_TIMEOUT` (seconds; ``inf`` waits for ever).
TIMEOUT_VARIABLE = "ANYARRAY_NN_MPI_TIMEOUT"
ON_TIMEOUT = ("abort", "raise")


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Data-parallel training needs mpi4py and an MPI library: pip install '.[mpi]' in the anyarray_nn checkout."
        ) from exc
    return MPI


def check_communicator(comm):
    """``comm`` when it is an mpi4py communicator (or None); a TypeError naming `comm` otherwise."""
    if comm is None:
        return None
    needed = ("Get_rank", "Get_size", "Allreduce", "Bcast", "allgather", "Barrier")
    if not all(callable(getattr(comm, name, None)) for name in needed):
        raise TypeError(f"`comm` must be an mpi4py communicator (such as MPI.COMM_WORLD) or None, got {type(comm).__name__}.")
    return comm


# --------------------------------------------------------------------------------------------------
# bounded waits
class CommunicationTimeout(TimeoutError):
    """A rank waited longer than its ``timeout`` in a collective for the other ranks of ``comm``."""


def resolve_timeout(timeout=None):
    """Seconds to wait in one collective: ``timeout``, else ``$ANYARRAY_NN_MPI_TIMEOUT``, else :data:`DEFAULT_TIMEOUT`.

    ``math.inf`` (or ``inf`` in the variable) waits for ever, as plain MPI does.

    Raises
    ------
    ValueError
        For a timeout that is not a positive number, naming where it came from.
    """
    where = "`timeout`"
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
        if not text:
            return float(DEFAULT_TIMEOUT)
        where = f"The environment variable {TIMEOUT_VARIABLE}"
        try:
            timeout = float(text)
        except ValueError:
            raise ValueError(f"{where} must be a number of seconds (or 'inf'), got {text!r}.") from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"{where} must be a positive number of seconds (or math.inf), got {timeout!r}.")
    return float(timeout)


def _encode(obj):
    """The bytes of a message the polled collectives send: JSON (tuples arrive as lists), never pickle."""
    return json.dumps(obj).encode("utf-8")


def _decode(data):
    return json.loads(bytes(data).decode("utf-8"))


class BoundedComm:
    """A communicator whose collectives give up after ``timeout`` seconds instead of waiting for ever.

    It offers what the library asks of a communicator (``Allreduce``, ``Bcast``, ``Barrier``,
    ``allgather``, ``bcast``, ``Get_rank``, ``Get_size``); everything else goes to ``comm`` unchanged.
    MPI cannot cancel a collective, so a rank that has waited too long can only end the job or leave
    the collective pending; the two settings of ``on_timeout`` do one each:

    - ``"abort"`` (the default): the collectives are MPI's blocking calls, at their usual speed, and a
      watchdog thread (one per process, waking at most twice a second) watches the one in progress.
      Past the deadline it writes what the rank waited for to stderr and calls ``comm.Abort``, which
      ends every rank of the job. This needs MPI's ``THREAD_MULTIPLE`` level (mpi4py's default);
      without it the waits are polled as below, then aborted.
    - ``"raise"``: each collective is started as MPI's nonblocking form (``Iallreduce``, ``Ibcast``,
      ``Ibarrier``, ``Iallgather``) and its request polled, in a short busy loop, then with sleeps
      growing to a millisecond; past the deadline :class:`CommunicationTimeout` is raised, for callers
      that end the job themselves. Polling makes large all-reduces slower than the blocking call
      (measured up to twice as slow for 8 MB with MPICH), which is why it is not the default.

    A communicator without MPI's nonblocking collectives (a stand-in in a test) is polled where it can
    be and otherwise called as it is; ``timeout=math.inf`` calls everything as it is. Every rank must
    use the same ``on_timeout``: MPI never matches a nonblocking collective with a blocking one.

    Parameters
    ----------
    comm : mpi4py communicator
    timeout : float, optional
        Seconds per collective; see :func:`resolve_timeout`.
    on_timeout : {"abort", "raise"}, default "abort"

    Attributes
    ----------
    mode : {"watchdog", "poll", "plain"}
        How the waits are bounded (see above).
    """

    # A wait shorter than this is spent polling without sleeping (a step's all-reduce on one machine).
    SPIN_SECONDS = 2e-4
    MAX_PAUSE = 1e-3
    # Seconds between writing why to stderr and calling comm.Abort.
    ABORT_GRACE = 1.0

    def __init__(self, comm, timeout=None, on_timeout="abort"):
        if isinstance(comm, BoundedComm):
            comm = comm.comm
        if on_timeout not in ON_TIMEOUT:
            raise ValueError(f"`on_timeout` must be one of {list(ON_TIMEOUT)}, got {on_timeout!r}.")
        self.comm = comm
        self.nonblocking = all(
            callable(getattr(comm, name, None)) for name in ("Iallreduce", "Ibcast", "Ibarrier", "Iallgather", "Iallgatherv")
        )
        self.timeout = resolve_timeout(timeout)
        self.on_timeout = on_timeout
        self.activity = "a collective operation"
        self.mode = self._choose_mode()
        # Requests given up on keep their buffers alive: MPI may still write into them.
        self._abandoned = []

    def _choose_mode(self):
        if math.isinf(self.timeout):
            return "plain"
        if self.on_timeout == "abort" and type(self.comm).__module__.startswith("mpi4py"):
            MPI = _mpi()
            if MPI.Query_thread() == MPI.THREAD_MULTIPLE:
                return "watchdog"
        return "poll" if self.nonblocking else "plain"

    def __getattr__(self, name):
        return getattr(self.comm, name)

    def __repr__(self):
        return (
            f"BoundedComm({self.comm!r}, timeout={self.timeout:g}, on_timeout={self.on_timeout!r}, "
            f"mode={self.mode!r})"
        )

    def Get_rank(self):
        return self.comm.Get_rank()

    def Get_size(self):
        return self.comm.Get_size()

    @contextmanager
    def during(self, activity):
        """Name what the collectives inside the block are for, in the timeout message."""
        before, self.activity = self.activity, activity
        try:
            yield self
        finally:
            self.activity = before

    # -- the collectives ---------------------------------------------------------------------------
    def Allreduce(self, sendbuf, recvbuf, op=None):
        op = _mpi().SUM if op is None else op
        if self.mode == "poll":
            return self.wait(self.comm.Iallreduce(sendbuf, recvbuf, op), "all-reduce", (sendbuf, recvbuf))
        return self._blocking("all-reduce", self.comm.Allreduce, sendbuf, recvbuf, op)

    def Bcast(self, buf, root=0):
        if self.mode == "poll":
            return self.wait(self.comm.Ibcast(buf, root=root), "broadcast", buf)
        return self._blocking("broadcast", self.comm.Bcast, buf, root)

    def Barrier(self):
        if self.mode == "poll":
            return self.wait(self.comm.Ibarrier(), "barrier")
        return self._blocking("barrier", self.comm.Barrier)

    def allgather(self, obj):
        """Every rank's ``obj`` (JSON-able: numbers, strings, lists, dicts), in rank order, under the bound."""
        if self.mode != "poll":
            return self._blocking("allgather", self.comm.allgather, obj)
        MPI = _mpi()
        data = _encode(obj)
        size = self.Get_size()
        mine, sizes = array("q", [len(data)]), array("q", [0] * size)
        self.wait(self.comm.Iallgather([mine, MPI.LONG_LONG], [sizes, MPI.LONG_LONG]), "allgather", (mine, sizes))
        counts = list(sizes)
        displs = [sum(counts[:r]) for r in range(size)]
        received = bytearray(sum(counts))
        buffers = ([data, MPI.BYTE], [received, (counts, displs), MPI.BYTE])
        self.wait(self.comm.Iallgatherv(*buffers), "allgather", buffers)
        view = memoryview(received)
        return [_decode(view[d : d + c]) for d, c in zip(displs, counts)]

    def bcast(self, obj, root=0):
        """``root``'s ``obj`` (JSON-able) on every rank, under the bound."""
        if self.mode != "poll":
            return self._blocking("broadcast", self.comm.bcast, obj, root)
        MPI = _mpi()
        data = _encode(obj) if self.Get_rank() == root else b""
        length = array("q", [len(data)])
        self.wait(self.comm.Ibcast([length, MPI.LONG_LONG], root=root), "broadcast", length)
        buf = bytearray(data) if self.Get_rank() == root else bytearray(length[0])
        self.wait(self.comm.Ibcast([buf, MPI.BYTE], root=root), "broadcast", buf)
        return _decode(buf)

    # -- waiting -----------------------------------------------------------------------------------
    def _blocking(self, operation, call, *args):
        """``call(*args)``, a blocking collective, watched by the watchdog thread in "watchdog" mode."""
        if self.mode != "watchdog":
            return call(*args)
        _start_watchdog()
        key = id(self)
        _WATCHED[key] = (self, time.monotonic(), operation, self.activity)
        try:
            return call(*args)
        finally:
            _WATCHED.pop(key, None)

    def wait(self, request, operation="collective", buffers=None):
        """Poll ``request`` until it completes, or give up at the deadline (see the class)."""
        if request.Test():
            return
        if math.isinf(self.timeout):
            request.Wait()
            return
        start = time.monotonic()
        deadline, spin_until, pause = start + self.timeout, start + self.SPIN_SECONDS, 0.0
        while not request.Test():
            now = time.monotonic()
            if now >= deadline:
                self._abandoned.append((request, buffers))
                self._expire(operation, self.activity, now - start)
            if now >= spin_until:
                pause = min(self.MAX_PAUSE, 2.0 * pause or 1e-5)
                time.sleep(pause)

    def _message(self, operation, activity, waited):
        rank, size = self.Get_rank(), self.Get_size()
        return (
            f"Rank {rank} of {size} waited {waited:.0f} s in {activity} (MPI {operation}) for the other "
            f"processes of `comm`, more than its timeout of {self.timeout:g} s: another rank failed, died or "
            f"froze, or runs another number of steps or epochs than this one. "
            + (
                "Ending the job with comm.Abort (MPI cannot cancel a collective). "
                if self.on_timeout == "abort"
                else ""
            )
            + f"A slow but healthy job needs a longer timeout: set {TIMEOUT_VARIABLE} (seconds)."
        )

    def _expire(self, operation, activity, waited):
        """Past the deadline: raise, or write why and abort the job (see the class)."""
        msg = self._message(operation, activity, waited)
        if self.on_timeout == "raise":
            raise CommunicationTimeout(msg)
        sys.stderr.write(f"anyarray_nn: CommunicationTimeout: {msg}\n")
        sys.stderr.flush()
        # MPI_Abort tears the job down at once; the launcher forwards what a rank wrote only in passing,
        # and without a moment's grace the reason above was lost in about one job in ten.
        time.sleep(self.ABORT_GRACE)
        self.comm.Abort(1)
        # Abort returns when the job is already ending (the other ranks finalized): raise then.
        raise CommunicationTimeout(msg)


# The blocking collectives in progress, by id of their BoundedComm: (comm, start, operation, activity).
_WATCHED = {}
_WATCHDOG = []
_WATCHDOG_LOCK = threading.Lock()


def _start_watchdog():
    """Start the process's watchdog thread once (see :class:`BoundedComm`)."""
    if _WATCHDOG:
        return
    with _WATCHDOG_LOCK:
        if not _WATCHDOG:
            thread = threading.Thread(target=_watch, name="anyarray_nn MPI watchdog", daemon=True)
            thread.start()
            _WATCHDOG.append(thread)


def _watch():
    """Abort the job when a watched collective has waited longer than its communicator's timeout."""
    while True:
        pause = 0.5
        now = time.monotonic()
        for key, entry in list(_WATCHED.items()):
            bcomm, start, operation, activity = entry
            waited = now - start
            if waited >= bcomm.timeout and _WATCHED.get(key) is entry:
                try:
                    bcomm._expire(operation, activity, waited)
                except CommunicationTimeout:
                    pass
                # Abort returned (the job is ending) and the rank's main thread is still inside MPI.
                os._exit(1)
            pause = min(pause, max(0.01, (bcomm.timeout - waited) / 2))
        time.sleep(pause)


def bounded(comm, timeout=None, on_timeout="abort"):
    """``comm`` with bounded collectives (a :class:`BoundedComm`); one already bounded is returned as is.

    ``timeout`` and ``on_timeout`` apply only when ``comm`` is not bounded yet. None stays None.
    """
    if comm is None or isinstance(comm, BoundedComm):
        return comm
    return BoundedComm(comm, timeout=timeout, on_timeout=on_timeout)


# --------------------------------------------------------------------------------------------------
# agreement between the ranks
class MismatchError(ValueError):
    """The ranks of a data-parallel fit were given different models or settings (a ValueError)."""


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe(value, depth=0):
    """``value`` as JSON-able data that is equal on two ranks exactly when the configurations agree.

    Numbers, strings, lists and dicts are kept; an object with ``get_config()`` becomes its class name
    and its configuration; anything else (or a ``get_config`` that fails, as a user's component may) its
    ``repr`` without memory addresses. NaN and infinities become strings, so that the result is JSON.
    """
    if depth > 16:
        return "..."
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): describe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v, depth + 1) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            return describe(item(), depth + 1)
        except Exception:  # noqa: BLE001 - an array that cannot be read is described by its repr
            pass
    get_config = getattr(value, "get_config", None)
    if callable(get_config) and not isinstance(value, type):
        try:
            config = get_config()
        except Exception:  # noqa: BLE001 - a user's component whose configuration fails: its repr below
            config = None
        if isinstance(config, dict):
            return {"class": _class_name(value), **describe(config, depth + 1)}
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"array of shape {tuple(value.shape)} and dtype {value.dtype}"
    return _ADDRESS.sub("", repr(value))


def _class_name(value):
    cls = value if isinstance(value, type) else type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _layer_fingerprint(layer):
    try:
        config = layer.get_config()
    except Exception:  # noqa: BLE001 - a user's activation without a configuration
        config = None
    if not isinstance(config, dict):
        act = getattr(layer, "activation", None)
        config = {
            "n_in": getattr(layer, "n_in", None),
            "n_out": getattr(layer, "n_out", None),
            "activation": getattr(act, "name", None) or _class_name(act),
            "activation_config": describe(act),
        }
    out = describe(config)
    # The same name can stand for different functions (two user activations both called "custom").
    out["activation_class"] = _class_name(layer.activation) if hasattr(layer, "activation") else None
    return out


def _solver_fingerprint(solver):
    try:
        config = solver.get_config()
    except Exception:  # noqa: BLE001 - unregistered components: describe them one by one
        config = None
    if isinstance(config, dict):
        config = dict(config)
        schedule = config.get("schedule")
        if isinstance(schedule, dict):
            # Only the schedule's settings: its state is where this fit starts, which broadcasting decides.
            config["schedule"] = {k: v for k, v in schedule.items() if k != "state"}
        out = describe(config)
    else:
        out = {
            name: describe(getattr(solver, name, None))
            for name in ("loss", "optimizer", "learning_rate", "regularization", "schedule", "clip_norm")
        }
    for name in ("loss", "optimizer"):
        component = getattr(solver, name, None)
        if component is not None:
            out[f"{name}_class"] = _class_name(component)
    return out


def fingerprint(layers, solver=None, settings=None, *, dtype=None, n_features=None, classes=None,
                ignore=("verbose",), **extra):
    """What must be equal on every rank of a data-parallel fit, as one JSON-able dict.

    Built from public configurations only: ``layer.get_config()`` and ``solver.get_config()`` where
    they work, the components' class names, and ``describe`` (names and ``repr``) for a user's component
    whose configuration fails or is missing.

    Parameters
    ----------
    layers : list of Layer
        The architecture: per layer ``n_in``, ``n_out``, activation (name, configuration, class),
        initializer.
    solver : Solver, optional
        Loss, optimizer and its hyperparameters, learning rate, regularization, schedule settings,
        clipping.
    settings : Settings or any object, optional
        Its public attributes (epochs, batch size, shuffling, early stopping, compile, ...) but those
        named in ``ignore``.
    dtype : str, optional
        The float dtype (``"float32"``).
    n_features : int, optional
        Columns of this rank's ``X``.
    classes : array-like or int, optional
        The class labels the outputs stand for (an estimator's ``classes_``, say: the labels of the
        whole problem, not those that happen to be in this rank's shard), or their number.
    ignore : tuple of str, default ("verbose",)
        Attributes of ``settings`` that may differ (progress output is rank 0's alone).
    **extra
        Anything else that must agree, JSON-able or described.

    Returns
    -------
    dict
        For :func:`check_agreement`.
    """
    out = {"layers": [_layer_fingerprint(layer) for layer in layers]}
    if dtype is not None:
        out["dtype"] = describe(dtype)
    if solver is not None:
        out["solver"] = _solver_fingerprint(solver)
    if settings is not None:
        attributes = vars(settings) if hasattr(settings, "__dict__") else {}
        out["settings"] = {
            k: describe(v) for k, v in sorted(attributes.items()) if not k.startswith("_") and k not in ignore
        }
    if n_features is not None:
        out["n_features"] = describe(n_features)
    if classes is not None:
        is_sequence = hasattr(classes, "__iter__") and not isinstance(classes, (str, bytes, dict))
        out["classes"] = describe(list(classes) if is_sequence else classes)
    for key, value in extra.items():
        out[key] = describe(value)
    return out


def _flatten(value, prefix, out):
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value and not all(isinstance(v, (int, float, str, bool)) or v is None for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = json.dumps(value, sort_keys=True)
    return out


def _ranks_text(ranks):
    """[0, 1, 2, 5] -> 'ranks 0-2, 5'."""
    parts, start = [], None
    for i, r in enumerate(ranks):
        if start is None:
            start = r
        if i + 1 == len(ranks) or ranks[i + 1] != r + 1:
            parts.append(str(start) if start == r else f"{start}-{r}")
            start = None
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(parts)


def differences(fingerprints):
    """``{field: {value: [ranks]}}`` for each field whose value is not the same on every rank."""
    flat = [_flatten(fp, "", {}) for fp in fingerprints]
    fields = list(dict.fromkeys(field for d in flat for field in d))  # in the order the ranks give them
    out = {}
    for field in fields:
        by_value = {}
        for rank, d in enumerate(flat):
            by_value.setdefault(d.get(field, "(missing)"), []).append(rank)
        if len(by_value) > 1:
            out[field] = by_value
    return out


def check_agreement(comm, fingerprint, *, timeout=None, on_timeout="abort"):
    """Raise the same :class:`MismatchError` on every rank unless all ranks give equal fingerprints.

    Call it on every rank at the start of a data-parallel fit, before anything else is exchanged (a
    mismatch found later shows as an MPI size error, a hang, or a silent mixture of two models).

    Parameters
    ----------
    comm : mpi4py communicator (or :class:`BoundedComm`)
    fingerprint : dict
        JSON-able, from :func:`fingerprint` (or :func:`describe`).
    timeout, on_timeout
        The bound on the wait for the other ranks (see :class:`BoundedComm`); a communicator already
        bounded keeps its own.

    Returns
    -------
    list of dict
        Every rank's fingerprint, in rank order (all equal).

    Raises
    ------
    TypeError
        When ``fingerprint`` is not a JSON-able dict (on this rank only: nothing was exchanged).
    MismatchError
        On every rank, with the same message: each field that differs and its value on each rank.
    """
    if not isinstance(fingerprint, dict):
        raise TypeError(f"`fingerprint` must be a dict, got {type(fingerprint).__name__}.")
    try:
        text = json.dumps(fingerprint, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`fingerprint` must be JSON-able (use anyarray_nn.distributed.describe): {exc}.") from None
    bcomm = bounded(check_communicator(comm), timeout=timeout, on_timeout=on_timeout)
    with bcomm.during("the check that every rank trains the same model with the same settings"):
        texts = bcomm.allgather(text)
    if len(set(texts)) == 1:
        return [json.loads(t) for t in texts]
    found = differences([json.loads(t) for t in texts])
    shown = list(found.items())[:12]
    lines = [
        f"{field}: " + "; ".join(f"{value} on {_ranks_text(ranks)}" for value, ranks in by_value.items())
        for field, by_value in shown
    ]
    more = f"\n  ... and {len(found) - len(shown)} more fields" if len(found) > len(shown) else ""
    raise MismatchError(
        f"The {len(texts)} processes of `comm` must train the same network with the same settings, but they "
        f"differ in {len(found)} field{'s' if len(found) != 1 else ''}:\n  " + "\n  ".join(lines) + more
        + "\nGive every process the same layers, dtype, Solver and Settings, and data with the same features "
        "and classes."
    )


def shard(X, y=None, comm=None):
    """This rank's part of data that every rank can reach: rows ``[r n / P, (r + 1) n / P)``.

    Nothing is read: a memmap or a Dask array gives a slice of itself, an h5py / zarr-like array a
    view read when training takes its rows (:class:`anyarray_nn.sources.RowView`), a map-style data set
    (``X`` alone) or a :class:`~anyarray_nn.sources.Source` the source of those rows.

    Parameters
    ----------
    X : array-like, shape (n_samples, ...), a data set or a Source
    y : array-like, shape (n_samples, ...), optional
    comm : mpi4py communicator, default MPI.COMM_WORLD

    Returns
    -------
    X_shard or (X_shard, y_shard)
        Contiguous blocks whose sizes differ by at most one row; together they hold every row once.
    """
    comm = _mpi().COMM_WORLD if comm is None else check_communicator(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    if y is None and not isinstance(X, sources.Source) and not hasattr(X, "shape") and not isinstance(X, (list, tuple)):
        if not (hasattr(X, "__len__") and hasattr(X, "__getitem__")):
            raise TypeError(f"`X` must be an array, a data set or a Source to shard, got {type(X).__name__}.")
        X = sources.DatasetSource(X)
    n = X.n_rows if isinstance(X, sources.Source) else (len(X) if not hasattr(X, "shape") else X.shape[0])
    if n is None:
        raise ValueError("A batch iterable cannot be sharded by rows: give each rank its own batches, or a data set.")
    if y is not None and (len(y) if not hasattr(y, "shape") else y.shape[0]) != n:
        raise ValueError(f"`X` and `y` have different numbers of samples: {n} and {y.shape[0]}.")
    start, stop = (rank * n) // size, ((rank + 1) * n) // size
    part = _rows(X, start, stop)
    return part if y is None else (part, _rows(y, start, stop))


def _rows(value, start, stop):
    """Rows ``[start, stop)`` of ``value`` without reading them."""
    if isinstance(value, sources.Source):
        return value.subset(start, stop)
    if sources.is_row_readable(value) and not sources.slices_lazily(value):
        return sources.RowView(value, start, stop)
    return value[start:stop]


class DataParallel:
    """What the epoch driver needs to train on ``P`` ranks: the batch plan, the reduction, the exchange.

    Parameters
    ----------
    comm : mpi4py communicator with more than one rank
    backend : Backend
    n : int
        Rows of this rank's shard.
    batch_size : int
        The global batch.
    has_validation : bool
        Whether this rank has validation data (all ranks must agree).
    fingerprint : dict, optional
        This rank's :func:`fingerprint`: checked with :func:`check_agreement` before anything else is
        exchanged, so that misconfigured ranks all raise the same :class:`MismatchError`.
    timeout : float, optional
        Seconds each collective may wait for the other ranks (see :func:`resolve_timeout`).
    on_timeout : {"abort", "raise"}, default "abort"
        What a rank does past that wait (see :class:`BoundedComm`).

    Attributes
    ----------
    comm : BoundedComm
        ``comm`` with bounded collectives: give it to whatever else synchronizes the ranks (checkpoints).
    """

    def __init__(self, comm, backend, n, batch_size, has_validation, *, fingerprint=None, timeout=None,
                 on_timeout="abort"):
        self.comm = comm = bounded(comm, timeout=timeout, on_timeout=on_timeout)
        self.backend = backend
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        if fingerprint is not None:
            check_agreement(comm, fingerprint)
        if batch_size % self.size:
            raise ValueError(
                f"`batch_size` {batch_size} is the global batch and must be a multiple of the {self.size} "
                f"processes of `comm`, so that each takes batch_size / {self.size} rows per step."
            )
        self.local_batch = batch_size // self.size
        seed = backend.seed
        with comm.during("the exchange of shard sizes at the start of the fit"):
            facts = comm.allgather((n, bool(has_validation), seed))
        self.shard_sizes = [f[0] for f in facts]
        if len({f[1] for f in facts}) != 1:
            raise ValueError("`validation_data` must be given on every rank or on none.")
        if len({f[2] for f in facts}) != 1:
            raise ValueError(f"Every rank's model must have the same seed, got {[f[2] for f in facts]}.")
        # Without a seed, rank 0's fresh entropy is shared so that the per-rank streams are reproducible.
        if seed is None:
            with comm.during("the broadcast of rank 0's random seed"):
                seed = comm.bcast(fresh_entropy(), root=0)
        self.entropy = seed
        m = self.local_batch
        self.steps = max(-(-s // m) for s in self.shard_sizes)

    # ----------------------------------------------------------------------------------------------
    def rows(self, k, rank=None):
        """Rows that ``rank`` (default: this one) contributes to step ``k`` (0 once its shard is used up)."""
        size = self.shard_sizes[self.rank if rank is None else rank]
        return max(0, min(self.local_batch, size - k * self.local_batch))

    def share(self, k):
        """This rank's share of the global batch of step ``k`` (its rows / all rows of the step)."""
        total = sum(self.rows(k, r) for r in range(self.size))
        return self.rows(k) / total

    def start_epoch(self, epoch):
        """Ranks other than 0 switch to their own stream for this epoch (shuffling and dropout)."""
        if self.rank:
            self.backend.derive_rng(self.entropy, epoch, self.rank)

    def broadcast_parameters(self, params):
        """Rank 0's parameters on every rank (a list of arrays of the backend)."""
        with self.comm.during("the broadcast of rank 0's initial weights"):
            return self.backend.broadcast(self.comm, params)

    def reducer(self, step_of):
        """``(grads, weight_sum=None) -> grads``: the step's gradient over the rows of every rank.

        Each rank's gradient is the mean over its own rows. Without sample weights, it is scaled by the
        rank's share of the step's rows (known to every rank from the batch plan) and summed over the
        ranks. With sample weights, each rank's gradient is a weighted mean over its rows, whose weights
        add up to ``weight_sum`` (a 0-d array): it is scaled by that sum, summed with the sums themselves
        (one more number in the buffer) and divided by their total, which gives the weighted mean over
        every row of the step, ``sum_i w_i g_i / sum_i w_i``. A step whose weights add up to 0 on every
        rank changes nothing. One flat buffer goes through one all-reduce per step either way.
        """
        xp = self.backend.xp

        def reduce(grads, weight_sum=None):
            flat = xp.concat([xp.reshape(g, (-1,)) for g in grads])
            if weight_sum is None:
                flat = flat * self.share(step_of())
            else:
                weight_sum = xp.astype(xp.reshape(weight_sum, (1,)), flat.dtype)
                flat = xp.concat([flat * weight_sum, weight_sum])
            with self.comm.during("the all-reduce of a step's gradients"):
                flat = self._allreduce(flat)
            if weight_sum is not None:
                # Where every weight is 0, so is every rank's contribution: the step changes nothing.
                total = flat[-1]
                flat = flat[:-1] / xp.where(total > 0, total, xp.ones_like(total))
            out, start = [], 0
            for g in grads:
                size = math.prod(g.shape)
                out.append(xp.reshape(flat[start : start + size], tuple(g.shape)))
                start += size
            return out

        return reduce

    def _allreduce(self, flat):
        """The element-wise sum of ``flat`` over the ranks, on this rank's device (NCCL for CuPy)."""
        return self.backend.allreduce_sum(self.comm, flat)

    def exchange(self, values):
        """Every rank's list of epoch figures (Python floats): a list of lists, one per rank."""
        with self.comm.during("the exchange of the epoch's figures"):
            return self.comm.allgather([float(v) for v in values])

    def barrier(self):
        with self.comm.during("a barrier"):
            self.comm.Barrier()
