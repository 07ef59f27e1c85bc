"""Rank 1 fails on bad input while rank 0 waits in a collective: the job must end, not hang."""

import numpy as np
from mpi4py import MPI

import anyarray_nn as ann

comm = MPI.COMM_WORLD
X = np.random.default_rng(0).standard_normal((32, 3))
y = np.zeros(32, dtype=int)
if comm.Get_rank() == 1:
    X[0, 0] = np.nan  # rank 1 raises a ValueError while checking its shard
model = ann.Model([ann.Layer(3, 4, "tanh"), ann.Layer(4, 2, "softmax")], backend="numpy", seed=0)
model.fit(X, y, settings=ann.Settings(epochs=50, batch_size=8, verbose=0), comm=comm)
