"""Run under ``mpiexec -n 2 python stalled_worker.py MODE`` with ANYARRAY_NN_MPI_TIMEOUT set (seconds).

Rank 1 stops taking part in a data-parallel fit while rank 0 goes on:

- ``freeze-step``: rank 1 stops itself (SIGSTOP) after a batch of epoch 2, as a rank on a hung node
  would; rank 0 waits in the next step's gradient all-reduce.
- ``freeze-exchange``: rank 1 stops itself inside the epoch exchange; rank 0 waits in that exchange.
- ``kill-exchange``: rank 1 is killed (SIGKILL) inside the epoch exchange.
- ``raise-step``: rank 1's callback raises after a batch of epoch 2 (no ``-m mpi4py`` to abort the job).
- ``epochs-differ``: rank 1 is asked for more epochs than rank 0: refused at the start when the fit
  compares the ranks' fingerprints, else rank 1 waits for rank 0 after its last epoch.

Rank 0 must end the job with a clear error within the timeout rather than wait for ever.
"""

import os
import signal
import sys

import numpy as np
from mpi4py import MPI

import anyarray_nn as ann
from anyarray_nn.distributed import DataParallel

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
mode = sys.argv[1]
action, where = mode.split("-")
epochs = 3 + 2 * rank if action == "epochs" else 50


def stop():
    sys.stdout.flush()
    if action == "freeze":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError("rank 1 fails on purpose")


class FailAfterABatch(ann.Callback):
    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, batch):
        if rank == 1 and self.epoch == 2 and batch == 2:
            stop()


if where == "exchange" and rank == 1:
    plain = DataParallel.exchange

    def exchange(self, values, calls=[0]):  # noqa: B006 - a counter of the calls
        calls[0] += 1
        if calls[0] == 2:
            stop()
        return plain(self, values)

    DataParallel.exchange = exchange

rng = np.random.default_rng(rank)
X = rng.standard_normal((64, 3))
y = (X[:, 0] > 0).astype(int)
model = ann.Model([ann.Layer(3, 8, "tanh"), ann.Layer(8, 2, "softmax")], backend="numpy", seed=0)
print(f"rank {rank} starts", flush=True)
model.fit(X, y, settings=ann.Settings(epochs=epochs, batch_size=8, verbose=0), comm=comm,
          callbacks=[FailAfterABatch()] if where == "step" else None)
print(f"rank {rank} finished all epochs", flush=True)
