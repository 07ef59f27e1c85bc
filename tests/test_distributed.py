"""Data-parallel training over MPI.

The end-to-end checks launch ``mpiexec -n 2 python -m mpi4py`` on the workers in ``tests/mpi/`` (with a
timeout, so a hang fails instead of blocking the suite); the batch plan is also checked on its own with a
stand-in communicator.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.distributed import DataParallel

HERE = os.path.dirname(os.path.abspath(__file__))
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))


def _mpi_run(script, *args, timeout=240):
    if MPIEXEC is None:
        pytest.skip("mpiexec is not installed (pip install '.[mpi]')")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install '.[mpi]')")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", os.path.join(HERE, "mpi", script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mpi")
    out = tmp / "results.json"
    result = _mpi_run("data_parallel_worker.py", str(out), str(tmp))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_equal_one_process_on_the_concatenated_batches(two_ranks, optimizer):
    found = two_ranks[f"exact_{optimizer}"]
    assert found["max_weight_diff"] < 1e-10
    assert found["loss_diff"] < 1e-10
    assert found["weights_identical"] and found["history_identical"]


def test_unequal_shards_neither_hang_nor_diverge(two_ranks):
    found = two_ranks["unequal"]
    assert found["weights_identical"] and found["finite"] and found["epochs"] == 2


def test_shuffled_dropout_training_converges_like_one_process(two_ranks):
    found = two_ranks["shuffled"]
    assert found["weights_identical"] and found["history_identical"]
    assert found["val_accuracy"] > 0.9
    assert abs(found["val_accuracy"] - found["single_val_accuracy"]) < 0.05


def test_checkpoint_by_rank_zero_and_resume_on_every_rank_is_exact(two_ranks):
    assert two_ranks["resume"]["weights_identical"]
    assert two_ranks["resume"]["max_weight_diff"] == 0.0


def test_a_communicator_of_one_process_changes_nothing(two_ranks):
    assert two_ranks["size_one_bit_identical"]


@pytest.mark.parametrize("kind", ["memmap", "dataset"])
def test_each_rank_reads_its_shard_of_a_source(two_ranks, kind):
    found = two_ranks["sources"][kind]
    assert found["equal_to_in_memory"] and found["weights_identical"]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["sample_weight", "class_weight"])
def test_weighted_ranks_equal_one_process_on_the_concatenated_batches(two_ranks, kind, optimizer):
    found = two_ranks["weights"][f"{kind}_{optimizer}"]
    assert found["max_weight_diff"] < 1e-10 and found["weights_identical"]


def test_weighted_unequal_shards_stay_identical_and_a_per_sample_penalty_is_refused(two_ranks):
    assert two_ranks["weights"]["unequal"] == {"weights_identical": True, "finite": True}
    assert two_ranks["weights"]["per_sample_refused"]


def test_a_failing_rank_ends_the_whole_job():
    result = _mpi_run("failing_worker.py", timeout=60)
    assert result.returncode != 0
    assert "NaN or infinite" in result.stderr


class _FakeComm:
    """Enough of a communicator to plan batches: allgather returns what every rank would say."""

    def __init__(self, rank, sizes):
        self.rank, self.sizes = rank, sizes

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return len(self.sizes)

    def allgather(self, value):
        n, has_val, seed = value
        return [(s, has_val, seed) for s in self.sizes]

    def bcast(self, value, root=0):
        return value

    Allreduce = Bcast = Barrier = lambda self, *a, **k: None


def test_the_batch_plan_of_unequal_shards_uses_every_row_once():
    sizes = [10, 7, 3]
    plans = [DataParallel(_FakeComm(r, sizes), ann.Backend("numpy", seed=0), sizes[r], 6, False) for r in range(3)]
    assert all(p.local_batch == 2 and p.steps == 5 for p in plans)
    for r, plan in enumerate(plans):
        assert sum(plan.rows(k) for k in range(plan.steps)) == sizes[r]  # no row dropped
    for k in range(5):
        assert sum(plan.share(k) for plan in plans) == pytest.approx(1.0)
    assert [plans[2].rows(k) for k in range(5)] == [2, 1, 0, 0, 0]


def test_bad_communicators_and_batches_are_refused():
    X, y = np.zeros((8, 2)), np.zeros(8, dtype=int)
    model = ann.Model([ann.Layer(2, 2, "softmax")], backend="numpy", seed=0)
    with pytest.raises(TypeError, match="`comm` must be an mpi4py communicator"):
        model.fit(X, y, comm="world")
    with pytest.raises(ValueError, match="multiple of the 3 processes"):
        DataParallel(_FakeComm(0, [8, 8, 8]), ann.Backend("numpy", seed=0), 8, 16, False)


def test_shard_takes_contiguous_blocks():
    X = np.arange(10)[:, None]
    parts = [ann.distributed.shard(X, X[:, 0], _FakeComm(r, [0, 0, 0])) for r in range(3)]
    assert [p[0][:, 0].tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
