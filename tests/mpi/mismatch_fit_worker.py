"""Run under ``mpiexec -n 2 python mismatch_fit_worker.py CASE OUT_DIR``.

Both ranks call ``Model.fit`` with ``comm``; rank 1 differs from rank 0 as CASE says. Each rank writes
the error its fit raised (or "trained") to ``OUT_DIR/rank<r>.json``.
"""

import json
import os
import sys

import numpy as np
from mpi4py import MPI

import anyarray_nn as ann

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
case, out_dir = sys.argv[1], sys.argv[2]
other = rank == 1

hidden = 9 if other and case == "hidden" else 8
activation = "relu" if other and case == "activation" else "tanh"
dtype = "float32" if other and case == "dtype" else "float64"
features = 5 if other and case == "features" else 4
batch = 32 if other and case == "batch" else 16
optimizer = ann.Solver(optimizer="adam", learning_rate=0.01 if not (other and case == "learning_rate") else 0.02)

rng = np.random.default_rng(rank)
X = rng.standard_normal((48, features))
y = (X[:, 0] > 0).astype(int)
model = ann.Model([ann.Layer(features, hidden, activation), ann.Layer(hidden, 2, "softmax")], dtype=dtype, seed=0)
try:
    model.fit(X, y, optimizer, ann.Settings(epochs=2, batch_size=batch, verbose=0), comm=comm)
    outcome = "trained"
except Exception as exc:  # the outcome is what the test reads
    outcome = f"{type(exc).__name__}: {exc}"
with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
    json.dump(outcome, f)
