"""Run under ``mpiexec -n 2 python -m mpi4py data_parallel_worker.py OUT.json TMPDIR``.

Each check trains on 2 ranks and writes what it found, from rank 0, to OUT.json for the test to read.
"""

import json
import sys

import numpy as np
from mpi4py import MPI

import anyarray_nn as ann

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
out_path, tmp = sys.argv[1], sys.argv[2]
results = {}


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


def model(seed=0):
    return ann.Model(
        [ann.Layer(5, 12, "tanh"), ann.Layer(12, 8, "relu"), ann.Layer(8, 3, "softmax")],
        backend="numpy", dtype="float64", seed=seed,
    )


def params_of(m):
    return [ann.to_numpy(p).copy() for p in m.parameters()]


def same_history(history):
    """Whether every rank recorded the same History (epoch times aside, which are each rank's clock)."""
    record = {k: v for k, v in history.as_dict().items() if k != "epoch_time"}
    return len({json.dumps(h) for h in comm.allgather(record)}) == 1


def identical_on_all_ranks(values):
    gathered = comm.allgather(values)
    return all(
        all(np.array_equal(a, b) for a, b in zip(gathered[0], other)) for other in gathered[1:]
    )


# 1. Exactness: 2 ranks equal one process trained on the local batches concatenated in rank order.
X, y = data()
local = 8  # global batch 16
for optimizer in ("sgd", "adam"):
    Xs, ys = ann.distributed.shard(X, y, comm)
    solver = ann.Solver(optimizer=optimizer, learning_rate=0.05, regularization=ann.Regularization("l2", lam=1e-3))
    settings = ann.Settings(epochs=3, batch_size=2 * local, shuffle=False, verbose=0)
    m = model()
    history = m.fit(Xs, ys, solver=solver, settings=settings, comm=comm)
    shards = comm.allgather((Xs, ys))
    steps = len(shards[0][0]) // local
    Xr = np.concatenate([shards[r][0][k * local:(k + 1) * local] for k in range(steps) for r in range(size)])
    yr = np.concatenate([shards[r][1][k * local:(k + 1) * local] for k in range(steps) for r in range(size)])
    ref = model()
    ref_history = ref.fit(Xr, yr, solver=ann.Solver(optimizer=optimizer, learning_rate=0.05,
                                                     regularization=ann.Regularization("l2", lam=1e-3)),
                          settings=settings)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(params_of(m), params_of(ref)))
    results[f"exact_{optimizer}"] = {
        "max_weight_diff": diff,
        "loss_diff": float(np.max(np.abs(np.array(history.loss) - np.array(ref_history.loss)))),
        "weights_identical": identical_on_all_ranks(params_of(m)),
        "history_identical": same_history(history),
    }

# 2. Unequal shards: no hang, no row dropped, identical weights everywhere.
Xs, ys = (X[:60], y[:60]) if rank == 0 else (X[60:], y[60:])  # 60 and 36 rows
m = model()
history = m.fit(Xs, ys, solver=ann.Solver(optimizer="adam", learning_rate=0.01),
                settings=ann.Settings(epochs=2, batch_size=16, shuffle=True, verbose=0), comm=comm)
results["unequal"] = {"weights_identical": identical_on_all_ranks(params_of(m)), "epochs": history.epochs,
                      "finite": bool(np.isfinite(history.loss).all())}

# 3. Shuffling and dropout converge like one process; validation shards; early stopping decides alike.
X, y = data(800, seed=1)
Xs, ys = ann.distributed.shard(X[:640], y[:640], comm)
Xv, yv = ann.distributed.shard(X[640:], y[640:], comm)
m = model(seed=3)
history = m.fit(Xs, ys, solver=ann.Solver(optimizer="adam", learning_rate=0.01, regularization=ann.Regularization(dropout=0.1)),
                settings=ann.Settings(epochs=40, batch_size=32, verbose=0,
                                      early_stopping=ann.EarlyStopping(patience=5, monitor="val_loss")),
                validation_data=(Xv, yv), comm=comm)
single = model(seed=3)
single_history = single.fit(X[:640], y[:640], solver=ann.Solver(optimizer="adam", learning_rate=0.01,
                                                               regularization=ann.Regularization(dropout=0.1)),
                            settings=ann.Settings(epochs=40, batch_size=32, verbose=0,
                                                  early_stopping=ann.EarlyStopping(patience=5, monitor="val_loss")),
                            validation_data=(X[640:], y[640:]))
results["shuffled"] = {
    "val_accuracy": history.val_accuracy[-1], "single_val_accuracy": single_history.val_accuracy[-1],
    "epochs": history.epochs, "weights_identical": identical_on_all_ranks(params_of(m)),
    "history_identical": same_history(history),
}

# 4. Checkpoints by rank 0, resume on every rank, exactly.
X, y = data()
Xs, ys = ann.distributed.shard(X, y, comm)
path = f"{tmp}/dp.npz"
settings = ann.Settings(epochs=4, batch_size=16, shuffle=True, verbose=0)
full = model()
full.fit(Xs, ys, solver=ann.Solver(optimizer="adam", learning_rate=0.01), settings=settings, comm=comm)
part = model()
part.fit(Xs, ys, solver=ann.Solver(optimizer="adam", learning_rate=0.01),
         settings=ann.Settings(epochs=2, batch_size=16, shuffle=True, verbose=0), checkpoint=path, comm=comm)
resumed = model(seed=99)
resumed.fit(Xs, ys, settings=settings, resume_from=path, comm=comm)
results["resume"] = {
    "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(params_of(full), params_of(resumed))),
    "weights_identical": identical_on_all_ranks(params_of(resumed)),
}

# 5. A communicator of one process gives the results of no communicator, bit for bit.
one = comm.Split(color=rank, key=0)
a, b = model(), model()
opts = dict(solver=ann.Solver(optimizer="sgd", learning_rate=0.05, regularization=ann.Regularization(dropout=0.2)),
            settings=ann.Settings(epochs=2, batch_size=16, verbose=0))
a.fit(X, y, comm=one, **opts)
opts["solver"] = ann.Solver(optimizer="sgd", learning_rate=0.05, regularization=ann.Regularization(dropout=0.2))
b.fit(X, y, **opts)
results["size_one_bit_identical"] = all(np.array_equal(p, q) for p, q in zip(params_of(a), params_of(b)))

# 6. Sources: each rank reads its shard of a memmapped file (or of a data set) a batch at a time; the
# weights equal those of the same fit on the shards in memory.
import os  # noqa: E402

if rank == 0:
    np.save(os.path.join(tmp, "X.npy"), X)
    np.save(os.path.join(tmp, "y.npy"), y)
comm.Barrier()
Xm = np.load(os.path.join(tmp, "X.npy"), mmap_mode="r")
ym = np.load(os.path.join(tmp, "y.npy"), mmap_mode="r")


class Rows:
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, rows):
        return self.X[rows], self.y[rows]


found = {}
for name, shard in (("memmap", ann.distributed.shard(Xm, ym, comm)), ("dataset", (ann.distributed.shard(Rows(X, y), comm=comm), None))):
    fits = []
    for data_ in (ann.distributed.shard(X, y, comm), shard):
        m = model()
        m.fit(*data_, solver=ann.Solver(optimizer="adam", learning_rate=0.01, regularization=ann.Regularization(dropout=0.1)),
              settings=ann.Settings(epochs=2, batch_size=16, shuffle=True, verbose=0), comm=comm)
        fits.append(params_of(m))
    found[name] = {
        "equal_to_in_memory": all(np.array_equal(a, b) for a, b in zip(*fits)),
        "weights_identical": identical_on_all_ranks(fits[1]),
    }
results["sources"] = found

# 7. Sample and class weights: 2 ranks equal one process on the concatenated batches with their weights,
# the ranks' gradients combined by their weight sums (a step where one rank's rows all weigh 0 included).
X, y = data()
w = np.random.default_rng(7).integers(0, 4, len(y)).astype(float)
w[:8] = 0.0  # rank 0's first batch weighs nothing
w[48:56] = 0.0  # ... and so does rank 1's first: the first step has no weight at all
weighted = {}
for optimizer in ("sgd", "adam"):
    for kind in ("sample_weight", "class_weight"):
        Xs, ys = ann.distributed.shard(X, y, comm)
        ws = ann.distributed.shard(w, comm=comm)
        extra = {"sample_weight": ws} if kind == "sample_weight" else {"class_weight": {0: 1.0, 1: 3.0, 2: 0.5}}
        settings = ann.Settings(epochs=3, batch_size=2 * local, shuffle=False, verbose=0)
        solver = lambda: ann.Solver(optimizer=optimizer, learning_rate=0.05,  # noqa: E731
                                    regularization=ann.Regularization("l2", lam=1e-3))
        m = model()
        m.fit(Xs, ys, solver=solver(), settings=settings, comm=comm, **extra)
        shards = comm.allgather((Xs, ys, ws))
        steps = len(shards[0][0]) // local
        order = [(r, k) for k in range(steps) for r in range(size)]
        Xr = np.concatenate([shards[r][0][k * local:(k + 1) * local] for r, k in order])
        yr = np.concatenate([shards[r][1][k * local:(k + 1) * local] for r, k in order])
        wr = np.concatenate([shards[r][2][k * local:(k + 1) * local] for r, k in order])
        ref = model()
        ref_extra = {"sample_weight": wr} if kind == "sample_weight" else extra
        ref.fit(Xr, yr, solver=solver(), settings=settings, **ref_extra)
        weighted[f"{kind}_{optimizer}"] = {
            "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(params_of(m), params_of(ref))),
            "weights_identical": identical_on_all_ranks(params_of(m)),
        }
# Unequal shards: the rank whose shard is used up takes part with no weight.
Xs, ys, ws = (X[:60], y[:60], w[:60]) if rank == 0 else (X[60:], y[60:], w[60:])
m = model()
history = m.fit(Xs, ys, sample_weight=ws, solver=ann.Solver(optimizer="adam", learning_rate=0.01),
                settings=ann.Settings(epochs=2, batch_size=16, shuffle=True, verbose=0), comm=comm)
weighted["unequal"] = {"weights_identical": identical_on_all_ranks(params_of(m)),
                       "finite": bool(np.isfinite(history.loss).all())}
# A penalty divided by each batch's rows is refused on every rank, naming the option.
try:
    model().fit(X[:48], y[:48], comm=comm, settings=ann.Settings(epochs=1, batch_size=16, verbose=0),
                solver=ann.Solver(regularization=ann.Regularization("l2", lam=1e-3, per_sample=True)))
    refused = ""
except ValueError as exc:
    refused = str(exc)
weighted["per_sample_refused"] = all("per_sample=True" in r for r in comm.allgather(refused))
results["weights"] = weighted

if rank == 0:
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
