"""Data-parallel training over MPI: time per step and the all-reduce's share of it, for 1, 2, ... ranks.

    python benchmarks/data_parallel.py [--ranks 1 2] [--batch 512] [--steps 20] [--rounds 3]

Each rank count runs as its own ``mpiexec -n P python -m mpi4py`` job on the 784-512-256-10 network
(float32, SGD, the same global batch for every P, so each rank takes batch / P rows a step). Every rank
gets ``cores / P`` BLAS threads. The all-reduce's time is measured around the one all-reduce of each
step; the step time is an epoch's time over its steps (median of the rounds). Figures go to
``benchmarks/results/data_parallel.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _common as common


def worker(args):
    from mpi4py import MPI

    import anyarray_nn as ann
    from anyarray_nn import distributed

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    n_local = args.batch // size * args.steps
    X, labels = common.synthetic_data(n_local * size, seed=0)
    Xs, ys = distributed.shard(X, labels, comm)
    model = ann.Model(common.mlp_layers(), backend="numpy", dtype="float32", seed=0)
    spent = []
    real = distributed.DataParallel._allreduce

    def timed_allreduce(self, flat):
        t0 = time.perf_counter()
        out = real(self, flat)
        spent.append(time.perf_counter() - t0)
        return out

    distributed.DataParallel._allreduce = timed_allreduce
    settings = ann.Settings(epochs=1, batch_size=args.batch, shuffle=False, verbose=0)
    solver = ann.Solver(optimizer="sgd", learning_rate=0.01)
    model.fit(Xs, ys, solver=solver, settings=settings, comm=comm)  # warm-up
    rounds = []
    for _ in range(args.rounds):
        spent.clear()
        comm.Barrier()
        t0 = time.perf_counter()
        model.fit(Xs, ys, solver=solver, settings=settings, comm=comm)
        comm.Barrier()
        elapsed = time.perf_counter() - t0
        rounds.append({"step_s": elapsed / args.steps, "allreduce_s": sum(spent) / args.steps if spent else 0.0})
    gathered = comm.gather(rounds, root=0)
    if rank == 0:
        # A step lasts as long as its slowest rank; the all-reduce share is rank 0's.
        step = [max(r[i]["step_s"] for r in gathered) for i in range(args.rounds)]
        reduce = [gathered[0][i]["allreduce_s"] for i in range(args.rounds)]
        with open(args.out, "w") as f:
            json.dump({"step_s": step, "allreduce_s": reduce}, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=512, help="global batch (default 512)")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out-dir", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    mpiexec = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    if mpiexec is None:
        print("mpiexec is not installed: pip install '.[mpi]' in the anyarray_nn checkout")
        return 1
    info = common.machine_info(use_torch=False)
    common.print_machine(info)
    cores = os.cpu_count() or 1
    results = []
    for p in args.ranks:
        threads = max(1, cores // p)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
               "PYTHONPATH": str(common.ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "figures.json")
            cmd = [mpiexec, "-n", str(p), sys.executable, "-m", "mpi4py", __file__, "--worker", "--out", out,
                   "--batch", str(args.batch), "--steps", str(args.steps), "--rounds", str(args.rounds)]
            subprocess.run(cmd, check=True, env=env, cwd=os.path.dirname(__file__))
            with open(out) as f:
                figures = json.load(f)
        step, reduce = statistics.median(figures["step_s"]), statistics.median(figures["allreduce_s"])
        results.append({"ranks": p, "threads_per_rank": threads, "global_batch": args.batch, "step_s": step,
                        "allreduce_s": reduce, "allreduce_share": reduce / step, "rounds": figures})
    base = results[0]["step_s"]
    headers = ["ranks", "threads/rank", "global batch", "step ms", "all-reduce ms", "all-reduce share", "speed-up"]
    rows = [[r["ranks"], r["threads_per_rank"], r["global_batch"], f"{1e3 * r['step_s']:.2f}",
             f"{1e3 * r['allreduce_s']:.3f}", f"{100 * r['allreduce_share']:.1f}%", f"{base / r['step_s']:.2f}x"]
            for r in results]
    print(common.table(headers, rows))
    command = "python benchmarks/data_parallel.py " + " ".join(sys.argv[1:])
    common.write_json("data_parallel", {"benchmark": "data_parallel", "command": command, "machine": info,
                                         "architecture": list(common.ARCHITECTURE),
                                         "results": results, "markdown_table": common.markdown_table(headers, rows)},
                      args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
