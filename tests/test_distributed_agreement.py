"""Misconfigured data-parallel jobs: one clear error on every rank, and no collective waits for ever.

The MPI cases launch ``mpiexec -n 2`` on the workers in ``tests/mpi/`` with a timeout, so a hang fails
the test instead of blocking the suite; the rest checks the fingerprint and the bounded wait on their
own with stand-in communicators.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import distributed
from anyarray_nn.distributed import (
    BoundedComm,
    CommunicationTimeout,
    MismatchError,
    bounded,
    check_agreement,
    fingerprint,
    resolve_timeout,
)

HERE = os.path.dirname(os.path.abspath(__file__))
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
# The wait the stalled cases allow; the whole job (start-up included) must end well within LIMIT.
BOUND = 4
LIMIT = 90


def _mpi(script, *args, env=None, timeout=LIMIT):
    if MPIEXEC is None:
        pytest.skip("mpiexec is not installed (pip install '.[mpi]')")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install '.[mpi]')")
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # No ``-m mpi4py``: the library's own bound must end the job, not mpi4py's abort on an exception.
    cmd = [MPIEXEC, "-n", "2", sys.executable, os.path.join(HERE, "mpi", script), *args]
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return result, time.monotonic() - start


# --------------------------------------------------------------------------------------------------
# under mpiexec -n 2
@pytest.fixture(scope="module")
def agreement(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agreement")
    result, _ = _mpi("agreement_worker.py", str(tmp))
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(2)]


def test_bounded_collectives_give_what_the_plain_ones_give(agreement):
    found = agreement[0]["collectives"]
    assert found["allreduce"] == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert found["bcast"] == [0.0, 1.0, 2.0, 3.0]
    assert found["allgather"] == found["allgather_plain"]
    assert found["bcast_object"] == ["from", 0]
    assert agreement[0]["collectives"] == agreement[1]["collectives"]


@pytest.mark.parametrize("case", ["same", "verbose_differs"])
def test_agreeing_ranks_pass(agreement, case):
    assert agreement[0][case] == agreement[1][case] == "agreed"


@pytest.mark.parametrize(
    "case, fields",
    [
        ("hidden", ["layers[0].n_out: 8 on rank 0; 16 on rank 1", "layers[1].n_in: 8 on rank 0; 16 on rank 1"]),
        ("activation", ['layers[0].activation: "relu" on rank 0; "tanh" on rank 1']),
        ("dtype", ['dtype: "float32" on rank 0; "float64" on rank 1']),
        ("features", ["n_features: 4 on rank 0; 5 on rank 1"]),
        ("classes", ['classes: [0, 1, 2] on rank 0; ["a", "b", "c"] on rank 1']),
        ("epochs_and_batch", ["settings.batch_size: 16 on rank 0; 32 on rank 1", "settings.epochs: 5 on rank 0; 6 on rank 1"]),
        ("optimizer_settings", ["solver.optimizer_config.beta_1: 0.9 on rank 0; 0.8 on rank 1"]),
        ("loss", ['solver.loss: "crossentropy" on rank 0; "mse" on rank 1']),
        ("regularization", ["solver.regularization.dropout: 0.0 on rank 0; 0.1 on rank 1"]),
        ("custom_activation", ['layers[0].activation_class: "__main__.Custom" on rank 0; "__main__.Other" on rank 1']),
        ("data_parallel", ["settings.batch_size: 16 on rank 0; 18 on rank 1"]),
    ],
)
def test_mismatched_ranks_all_raise_the_same_error_naming_the_fields(agreement, case, fields):
    mine, theirs = agreement[0][case], agreement[1][case]
    assert mine == theirs, "every rank must raise the same error"
    assert mine.startswith("MismatchError: The 2 processes of `comm` must train the same network")
    for field in fields:
        assert field in mine


def test_data_parallel_bounds_its_collectives(agreement):
    found = agreement[0]["data_parallel_same"]
    assert found == agreement[1]["data_parallel_same"]
    assert found["bounded"] and found["timeout"] == 30.0 and found["steps"] == 5
    assert found["exchange"] == [[0.0, 1.5], [1.0, 1.5]]
    assert agreement[0]["default_timeout"] == distributed.DEFAULT_TIMEOUT == 600.0


def test_modes_and_on_timeout_raise_under_mpi(agreement):
    # Blocking calls with a watchdog by default (MPI's THREAD_MULTIPLE), polled requests to raise.
    assert agreement[0]["modes"] == ["watchdog", "poll", "plain"]
    found = agreement[0]["raise"]
    assert found["message"].startswith("Rank 0 of 2 waited 1 s in a collective operation (MPI barrier)")
    assert "comm.Abort" not in found["message"]
    assert 1.0 <= found["waited"] < 2.9  # gave up before rank 1 came


@pytest.mark.parametrize(
    "mode, waits_in",
    [
        ("freeze-step", "the all-reduce of a step's gradients"),
        ("freeze-exchange", "the exchange of the epoch's figures"),
        ("raise-step", "the all-reduce of a step's gradients"),
    ],
)
def test_a_rank_that_stops_taking_part_ends_the_job_within_the_bound(mode, waits_in):
    result, elapsed = _mpi("stalled_worker.py", mode, env={distributed.TIMEOUT_VARIABLE: str(BOUND)})
    assert result.returncode != 0
    assert "rank 1 finished" not in result.stdout and "rank 0 finished" not in result.stdout
    expected = f"Rank 0 of 2 waited {BOUND} s in {waits_in}"
    assert expected in result.stderr, result.stderr[-3000:]
    assert "Ending the job with comm.Abort" in result.stderr
    assert elapsed < LIMIT


def test_a_rank_killed_mid_exchange_ends_the_job():
    result, elapsed = _mpi("stalled_worker.py", "kill-exchange", env={distributed.TIMEOUT_VARIABLE: str(BOUND)})
    assert result.returncode != 0
    assert "finished all epochs" not in result.stdout
    assert elapsed < LIMIT


def test_ranks_asked_for_different_epochs_do_not_hang():
    result, elapsed = _mpi("stalled_worker.py", "epochs-differ", env={distributed.TIMEOUT_VARIABLE: str(BOUND)})
    assert result.returncode != 0
    assert "rank 1 finished" not in result.stdout
    # Refused at the start once the fit compares fingerprints; at worst, rank 1 gives up within the bound.
    assert "MismatchError" in result.stderr or f"Rank 1 of 2 waited {BOUND} s" in result.stderr, result.stderr[-3000:]
    assert elapsed < LIMIT


# --------------------------------------------------------------------------------------------------
# the fingerprint
def _layers(act="relu"):
    return [ann.Layer(4, 8, act), ann.Layer(8, 3, "softmax")]


def test_fingerprint_holds_what_must_agree_as_json():
    fp = fingerprint(_layers(), ann.Solver(optimizer="adam", learning_rate=1e-3),
                     ann.Settings(epochs=7, batch_size=16, verbose=0), dtype="float32", n_features=4,
                     classes=np.array([0, 1, 2]), backend="numpy")
    json.dumps(fp, allow_nan=False)
    assert [(layer["n_in"], layer["n_out"], layer["activation"]) for layer in fp["layers"]] == [(4, 8, "relu"), (8, 3, "softmax")]
    assert fp["solver"]["optimizer"] == "adam" and fp["solver"]["learning_rate"] == 1e-3
    assert fp["solver"]["optimizer_config"]["beta_1"] == 0.9
    assert fp["settings"]["epochs"] == 7 and fp["settings"]["batch_size"] == 16
    assert "verbose" not in fp["settings"]
    assert fp["dtype"] == "float32" and fp["n_features"] == 4 and fp["classes"] == [0, 1, 2]
    assert fp["backend"] == "numpy"
    assert fingerprint([], classes=3)["classes"] == 3 and fingerprint([], classes=("a", "b"))["classes"] == ["a", "b"]
    # Equal configurations give equal fingerprints (no memory addresses, no state).
    again = fingerprint(_layers(), ann.Solver(optimizer="adam", learning_rate=1e-3),
                        ann.Settings(epochs=7, batch_size=16, verbose=2), dtype="float32", n_features=4,
                        classes=[0, 1, 2], backend="numpy")
    assert json.dumps(fp, sort_keys=True) == json.dumps(again, sort_keys=True)


class _Unconfigurable(ann.activations.Activation):
    """A user's activation whose configuration fails, and that is registered nowhere."""

    name = "mine"

    def __init__(self, slope):
        self.slope = slope

    def forward(self, z, *, xp):
        return z * self.slope

    def derivative(self, z, a, *, xp):
        return xp.ones_like(z) * self.slope

    def get_config(self):
        raise NotImplementedError("no configuration")

    def __repr__(self):
        return f"_Unconfigurable(slope={self.slope})"


class _Loss(ann.losses.MSE):
    """A user's loss outside the registry: Solver.get_config refuses it."""

    name = "my_mse"


def test_fingerprint_falls_back_to_names_and_reprs_for_user_components():
    fp = fingerprint([ann.Layer(4, 2, _Unconfigurable(0.5))], ann.Solver(loss=_Loss()))
    json.dumps(fp, allow_nan=False)
    layer = fp["layers"][0]
    assert layer["n_in"] == 4 and layer["activation"] == "mine"
    assert layer["activation_config"] == "_Unconfigurable(slope=0.5)"
    assert layer["activation_class"].endswith("_Unconfigurable")
    assert fp["solver"]["loss_class"].endswith("_Loss")
    other = fingerprint([ann.Layer(4, 2, _Unconfigurable(2.0))], ann.Solver(loss=_Loss()))
    assert distributed.differences([fp, other]) == {
        "layers[0].activation_config": {'"_Unconfigurable(slope=0.5)"': [0], '"_Unconfigurable(slope=2.0)"': [1]}
    }


def test_describe_strips_addresses_and_non_finite_floats():
    class Thing:
        pass

    assert "0x" not in distributed.describe(Thing())
    assert distributed.describe({"a": math.inf, "b": (1, float("nan"))}) == {"a": "inf", "b": [1, "nan"]}
    assert distributed.describe(np.float32(0.5)) == 0.5


# --------------------------------------------------------------------------------------------------
# check_agreement and the bounded wait with stand-in communicators
class _Request:
    def __init__(self, done=True, action=None):
        self.done, self.action = done, action

    def Test(self):
        if self.done and self.action:
            self.action()
            self.action = None
        return self.done

    def Wait(self):
        assert self.done, "a request that never completes was waited for without a bound"


class _Comm:
    """Ranks that answer ``allgather`` with ``others``' fingerprints, or never answer (``hang=True``)."""

    def __init__(self, rank=0, others=(), hang=False):
        self.rank, self.others, self.hang = rank, list(others), hang
        self.aborted = None

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return 1 + len(self.others)

    def Abort(self, code=0):
        self.aborted = code

    Allreduce = Bcast = Barrier = allgather = lambda self, *a, **k: None

    def Iallgather(self, send, recv):
        def fill():
            # The lengths of every rank's encoded fingerprint text.
            texts = self._texts(send)
            for r, data in enumerate(texts):
                recv[0][r] = len(data)

        return _Request(not self.hang, fill)

    def Iallgatherv(self, send, recv):
        def fill():
            data = b"".join(self._texts(send))
            recv[0][:] = data

        return _Request(not self.hang, fill)

    def Iallreduce(self, send, recv, op):
        return _Request(not self.hang)

    def Ibcast(self, buf, root=0):
        return _Request(not self.hang)

    def Ibarrier(self):
        return _Request(not self.hang)

    def _texts(self, send):
        """What each rank sends: its fingerprint's JSON text, encoded as BoundedComm.allgather does."""
        return [distributed._encode(json.dumps(fp, sort_keys=True)) for fp in self.fps]


def _agreement(mine, others):
    comm = _Comm(0, others)
    comm.fps = [mine, *others]
    return check_agreement(comm, mine, timeout=5)


def test_check_agreement_names_every_differing_field_and_rank():
    a = fingerprint(_layers("relu"), dtype="float32")
    b = fingerprint(_layers("tanh"), dtype="float32")
    with pytest.raises(MismatchError, match="3 processes") as info:
        _agreement(a, [a, b])
    assert 'layers[0].activation: "relu" on ranks 0-1; "tanh" on rank 2' in str(info.value)
    assert isinstance(info.value, ValueError)
    assert _agreement(a, [a, a]) == [a, a, a]


def test_check_agreement_refuses_a_fingerprint_that_is_not_json():
    with pytest.raises(TypeError, match="`fingerprint` must be a dict"):
        check_agreement(_Comm(), ["layers"])
    with pytest.raises(TypeError, match="`fingerprint` must be JSON-able"):
        check_agreement(_Comm(), {"x": object()})


def test_a_collective_that_never_completes_raises_within_the_bound():
    comm = BoundedComm(_Comm(hang=True), timeout=0.3, on_timeout="raise")
    start = time.monotonic()
    with pytest.raises(CommunicationTimeout, match=r"Rank 0 of 1 waited 0 s in the gradients' sum \(MPI all-reduce\)"):
        with comm.during("the gradients' sum"):
            comm.Allreduce(None, np.zeros(3))
    assert 0.3 <= time.monotonic() - start < 5
    assert comm.activity == "a collective operation"


def test_on_timeout_abort_writes_the_reason_then_aborts(capsys):
    inner = _Comm(hang=True)
    comm = BoundedComm(inner, timeout=0.2)
    comm.ABORT_GRACE = 0.0
    with pytest.raises(CommunicationTimeout):  # the stand-in's Abort returns
        comm.Barrier()
    assert inner.aborted == 1
    err = capsys.readouterr().err
    assert "CommunicationTimeout: Rank 0 of 1 waited 0 s in a collective operation (MPI barrier)" in err
    assert distributed.TIMEOUT_VARIABLE in err


def test_check_agreement_that_waits_too_long_names_the_check():
    comm = _Comm(hang=True)
    comm.fps = [{}]
    with pytest.raises(CommunicationTimeout, match="the check that every rank trains the same model"):
        check_agreement(comm, {}, timeout=0.2, on_timeout="raise")


def test_timeouts_resolve_from_argument_environment_and_default(monkeypatch):
    monkeypatch.delenv(distributed.TIMEOUT_VARIABLE, raising=False)
    assert resolve_timeout() == 600.0
    assert resolve_timeout(2) == 2.0
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "12.5")
    assert resolve_timeout() == 12.5 and resolve_timeout(3) == 3.0
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "inf")
    assert resolve_timeout() == math.inf
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "soon")
    with pytest.raises(ValueError, match="ANYARRAY_NN_MPI_TIMEOUT must be a number of seconds"):
        resolve_timeout()
    for bad in (0, -1, "5", True):
        with pytest.raises(ValueError, match="`timeout` must be a positive number"):
            resolve_timeout(bad)
    with pytest.raises(ValueError, match="`on_timeout` must be one of"):
        BoundedComm(_Comm(), timeout=1, on_timeout="ignore")


def test_bounded_wraps_once_and_keeps_none():
    comm = bounded(_Comm(), timeout=3)
    assert comm.nonblocking
    assert bounded(comm, timeout=9) is comm and comm.timeout == 3
    assert bounded(None) is None
    assert distributed.check_communicator(comm) is comm
    assert comm.Get_size() == 1 and comm.Abort is not None  # other attributes reach the communicator


def test_model_checkpoint_barrier_is_bounded():
    from anyarray_nn.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint("unused.npz", every=1, comm=_Comm())
    assert isinstance(checkpoint.comm, BoundedComm)
    assert ModelCheckpoint("unused.npz", every=1).comm is None


@pytest.mark.parametrize(
    "case, field",
    [("same", None), ("hidden", "n_out"), ("activation", "activation"), ("dtype", "dtype"),
     ("features", "n_in"), ("batch", "batch_size"), ("learning_rate", "learning_rate")],
)
def test_a_misconfigured_data_parallel_fit_raises_the_same_error_on_every_rank(tmp_path, case, field):
    result, elapsed = _mpi("mismatch_fit_worker.py", case, str(tmp_path), env={distributed.TIMEOUT_VARIABLE: "20"})
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    if field is None:
        assert outcomes == ["trained", "trained"]
        return
    assert outcomes[0] == outcomes[1], outcomes
    assert outcomes[0].startswith("MismatchError") and field in outcomes[0], outcomes[0]
