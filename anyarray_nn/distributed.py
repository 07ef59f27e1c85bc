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

Launch with ``mpiexec -n 4 python -m mpi4py train.py`` (or ``srun python -m mpi4py train.py``):
``python -m mpi4py`` aborts the whole job when one rank raises, instead of leaving the others waiting.

GPU arrays: with CuPy, gradients are summed with NCCL (``cupy.cuda.nccl``, its id broadcast over MPI);
every other library goes through a host buffer (NumPy arrays and torch CPU tensors are passed to MPI
without a copy).
"""

from __future__ import annotations

import math

from .backend import fresh_entropy


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Data-parallel training needs mpi4py and an MPI library: pip install 'anyarray-nn[mpi]'."
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


def shard(X, y=None, comm=None):
    """This rank's part of arrays that every rank holds: rows ``[r n / P, (r + 1) n / P)``.

    Parameters
    ----------
    X : array-like, shape (n_samples, ...)
    y : array-like, shape (n_samples, ...), optional
    comm : mpi4py communicator, default MPI.COMM_WORLD

    Returns
    -------
    X_shard or (X_shard, y_shard)
        Contiguous blocks whose sizes differ by at most one row; together they hold every row once.
    """
    comm = _mpi().COMM_WORLD if comm is None else check_communicator(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    n = len(X) if not hasattr(X, "shape") else X.shape[0]
    if y is not None and (len(y) if not hasattr(y, "shape") else y.shape[0]) != n:
        raise ValueError(f"`X` and `y` have different numbers of samples: {n} and {y.shape[0]}.")
    start, stop = (rank * n) // size, ((rank + 1) * n) // size
    part = X[start:stop]
    return part if y is None else (part, y[start:stop])


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
    """

    def __init__(self, comm, backend, n, batch_size, has_validation):
        self.comm, self.backend = comm, backend
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        if batch_size % self.size:
            raise ValueError(
                f"`batch_size` {batch_size} is the global batch and must be a multiple of the {self.size} "
                f"processes of `comm`, so that each takes batch_size / {self.size} rows per step."
            )
        self.local_batch = batch_size // self.size
        seed = backend.seed
        facts = comm.allgather((n, bool(has_validation), seed))
        self.shard_sizes = [f[0] for f in facts]
        if len({f[1] for f in facts}) != 1:
            raise ValueError("`validation_data` must be given on every rank or on none.")
        if len({f[2] for f in facts}) != 1:
            raise ValueError(f"Every rank's model must have the same seed, got {[f[2] for f in facts]}.")
        # Without a seed, rank 0's fresh entropy is shared so that the per-rank streams are reproducible.
        self.entropy = seed if seed is not None else comm.bcast(fresh_entropy(), root=0)
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
        return self.backend.broadcast(self.comm, params)

    def reducer(self, step_of):
        """``grads -> grads``: scale by this rank's share of step ``step_of()``, then sum over the ranks.

        One flat buffer goes through one all-reduce per step.
        """
        xp = self.backend.xp

        def reduce(grads):
            share = self.share(step_of())
            flat = xp.concat([xp.reshape(g, (-1,)) for g in grads]) * share
            flat = self._allreduce(flat)
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
        return self.comm.allgather([float(v) for v in values])

    def barrier(self):
        self.comm.Barrier()
