"""Run under ``mpiexec -n 2 python agreement_worker.py OUT_DIR``.

Rank 1 is given another network, Solver or Settings than rank 0 in each case; every rank writes the
error it got (or "agreed") to ``OUT_DIR/rank<r>.json``, so the test can check that both ranks raised the
same error. The bounded collectives (allgather, bcast, broadcast, all-reduce, barrier) are checked
against the plain ones first.
"""

import json
import math
import sys
import time

import numpy as np
from mpi4py import MPI

import anyarray_nn as ann
from anyarray_nn import distributed
from anyarray_nn.distributed import (
    BoundedComm,
    CommunicationTimeout,
    DataParallel,
    MismatchError,
    check_agreement,
    fingerprint,
)

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
out_dir = sys.argv[1]
results = {}

# The bounded collectives give what the plain ones give.
bc = BoundedComm(comm, timeout=30)
buf = np.arange(5, dtype=np.float64) * (rank + 1)
bc.Allreduce(MPI.IN_PLACE, buf)
flat = np.arange(4, dtype=np.float64) if rank == 0 else np.zeros(4)
bc.Bcast(flat, root=0)
bc.Barrier()
results["collectives"] = {
    "allreduce": buf.tolist(),
    "bcast": flat.tolist(),
    "allgather": bc.allgather({"rank": rank, "text": "x" * (rank * 1000)}),
    "bcast_object": bc.bcast(("from", rank), root=0),
    "allgather_plain": comm.allgather({"rank": rank, "text": "x" * (rank * 1000)}),
}


def layers(hidden=8, act="relu"):
    return [ann.Layer(4, hidden, act), ann.Layer(hidden, 3, "softmax")]


def case(name, mine):
    """Check this rank's fingerprint ``mine`` against the others; record what happened."""
    try:
        check_agreement(comm, mine, timeout=30)
        results[name] = "agreed"
    except MismatchError as exc:
        results[name] = f"MismatchError: {exc}"


solver = ann.Solver(optimizer="adam", learning_rate=1e-3)
settings = ann.Settings(epochs=5, batch_size=16, verbose=0)
base = dict(dtype="float32", n_features=4, classes=[0, 1, 2])

case("same", fingerprint(layers(), solver, settings, **base))
# Progress output is rank 0's alone: verbose may differ.
case("verbose_differs", fingerprint(layers(), solver, ann.Settings(epochs=5, batch_size=16, verbose=rank), **base))
case("hidden", fingerprint(layers(hidden=8 if rank == 0 else 16), solver, settings, **base))
case("activation", fingerprint(layers(act="relu" if rank == 0 else "tanh"), solver, settings, **base))
case("dtype", fingerprint(layers(), solver, settings, **{**base, "dtype": ["float32", "float64"][rank]}))
case("features", fingerprint(layers(), solver, settings, **{**base, "n_features": 4 + rank}))
case("classes", fingerprint(layers(), solver, settings, **{**base, "classes": [[0, 1, 2], ["a", "b", "c"]][rank]}))
case("epochs_and_batch", fingerprint(layers(), solver, ann.Settings(epochs=5 + rank, batch_size=16 * (1 + rank), verbose=0), **base))
case("optimizer_settings", fingerprint(layers(), ann.Solver(optimizer=ann.optimizers.Adam(beta_1=0.9 - 0.1 * rank)), settings, **base))
case("loss", fingerprint(layers(), ann.Solver(loss=["crossentropy", "mse"][rank]), settings, **base))
case("regularization", fingerprint(layers(), ann.Solver(regularization=ann.Regularization(dropout=0.1 * rank)), settings, **base))


# A user's activation that is not registered (its configuration cannot be saved): described by class.
class Custom(ann.activations.Activation):
    name = "custom"

    def forward(self, z, *, xp):
        return z

    def derivative(self, z, a, *, xp):
        return xp.ones_like(z)


class Other(Custom):
    name = "custom"


act = Custom() if rank == 0 else Other()
case("custom_activation", fingerprint([ann.Layer(4, 3, act)], solver, settings, **base))

# DataParallel checks the fingerprint before anything else: different batch sizes give the same error
# on both ranks, not a ValueError on one and a hang on the other.
try:
    DataParallel(comm, ann.Backend("numpy", seed=0), 10, 16 + 2 * rank, False,
                 fingerprint=fingerprint(layers(), solver, ann.Settings(epochs=5, batch_size=16 + 2 * rank)), timeout=30)
    results["data_parallel"] = "agreed"
except MismatchError as exc:
    results["data_parallel"] = f"MismatchError: {exc}"

dp = DataParallel(comm, ann.Backend("numpy", seed=0), 10, 4, False, fingerprint=fingerprint(layers()), timeout=30)
results["data_parallel_same"] = {"bounded": isinstance(dp.comm, BoundedComm), "timeout": dp.comm.timeout,
                                 "steps": dp.steps, "exchange": dp.exchange([rank, 1.5])}
results["default_timeout"] = distributed.resolve_timeout()

# on_timeout="raise": rank 0 gives up on a barrier that rank 1 joins late, and goes on.
raising = BoundedComm(comm, timeout=1, on_timeout="raise")
if rank == 0:
    start = time.monotonic()
    try:
        raising.Barrier()
        results["raise"] = "completed"
    except CommunicationTimeout as exc:
        results["raise"] = {"message": str(exc), "waited": time.monotonic() - start}
    raising._abandoned[0][0].Wait()  # rank 1 joins later: the pending barrier completes then
else:
    time.sleep(3)
    comm.Ibarrier().Wait()  # MPI matches a nonblocking collective only with nonblocking ones
results["modes"] = [BoundedComm(comm).mode, raising.mode, BoundedComm(comm, timeout=math.inf).mode]

with open(f"{out_dir}/rank{rank}.json", "w") as f:
    json.dump(results, f, indent=1)
