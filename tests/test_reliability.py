"""Reliability probes, one section per class of defect: every field of a model file checked before the
model changes, no hang on special files, failed resumes that change nothing, path arguments checked
before training, torch inputs without autograd history, overflow refused, one-line command-line errors,
and a bounded header (the README's first command is checked in test_readme.py)."""

from __future__ import annotations

import copy
import json
import math
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import cli
from anyarray_nn import io as model_io
from anyarray_nn.io import ModelFileError
from anyarray_nn.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
QUIET = ann.Settings(epochs=2, batch_size=32, verbose=0)


def _model(activation="leaky_relu", dtype="float64"):
    return ann.Model([ann.Layer(4, 5, activation), ann.Layer(5, 3, "softmax")], backend="numpy", dtype=dtype, seed=0)


def _trained(optimizer="adam", schedule="plateau", activation="leaky_relu", epochs=2, validation=True):
    X, y = ann.datasets.load_iris()
    model = _model(activation)
    solver = ann.Solver(optimizer=optimizer, learning_rate=0.01, schedule=schedule)
    model.fit(X, y, solver=solver, settings=ann.Settings(epochs=epochs, verbose=0),
              validation_data=(X, y) if validation else None)
    return model


def _members(path):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(bytes(arrays.pop("header")).decode()), arrays


def _write(path, header, arrays):
    """A file with ``header`` and ``arrays``, its list of arrays kept consistent (only the change is wrong)."""
    header = dict(header, arrays={k: {"shape": list(a.shape), "dtype": a.dtype.name} for k, a in arrays.items()})
    data = json.dumps(header).encode()
    np.savez(path, header=np.frombuffer(data, dtype=np.uint8), **arrays)


def _tampered(tmp_path, change, **kwargs):
    model = _trained(**kwargs)
    path = tmp_path / "model.npz"
    ann.save(model, path)
    header, arrays = _members(path)
    change(header, arrays)
    _write(path, header, arrays)
    return path


def _state(model):
    """Everything a failed resume must leave as it was, as comparable host values."""
    tree = lambda t: None if t is None else {  # noqa: E731
        k: [np.array(a) for a in v] if isinstance(v, list) else v for k, v in t.items()
    }
    return {
        "params": [np.array(ann.to_numpy(p)) for p in model.parameters()],
        "state": tree(model.optimizer_state_),
        "solver": model.solver_,
        "history": model.history_,
        "history_values": None if model.history_ is None else copy.deepcopy(model.history_.as_dict()),
        "rng": copy.deepcopy(model.backend.get_rng_state()),
    }


def _assert_same(before, after):
    for a, b in zip(before["params"], after["params"]):
        np.testing.assert_array_equal(a, b)
    assert (before["state"] is None) == (after["state"] is None)
    if before["state"] is not None:
        assert before["state"].keys() == after["state"].keys()
        for key, value in before["state"].items():
            if isinstance(value, list):
                for a, b in zip(value, after["state"][key]):
                    np.testing.assert_array_equal(a, b)
            else:
                assert value == after["state"][key]
    assert after["solver"] is before["solver"]
    assert after["history"] is before["history"]
    np.testing.assert_equal(after["history_values"], before["history_values"])
    assert after["rng"] == before["rng"]


# --------------------------------------------------------------------------------------------------
# 1. every field of a file is checked against the architecture and its type before anything is built
def _set(*keys, value):
    """A change that sets header[keys[0]][keys[1]]... = value."""

    def change(header, arrays):
        target = header
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


FIELD_PROBES = {
    # members
    "stray-member": (lambda h, a: a.update(extra=np.zeros(2)), {}, "belong to no layer"),
    "stray-state-member": (lambda h, a: a.update(state99=np.zeros(2)), {}, "does not refer to"),
    # activation parameters
    "leaky-alpha-nan": (_set("layers", 0, "activation_config", "alpha", value=math.nan), {}, "alpha"),
    "leaky-alpha-inf": (_set("layers", 0, "activation_config", "alpha", value=math.inf), {}, "alpha"),
    "leaky-alpha-text": (_set("layers", 0, "activation_config", "alpha", value="0.1"), {}, "alpha"),
    "elu-alpha-nan": (_set("layers", 0, "activation_config", "alpha", value=math.nan), {"activation": "elu"}, "alpha"),
    "activation-unknown-parameter": (_set("layers", 0, "activation_config", "beta", value=1.0), {}, "layer 0"),
    # optimizer state against the parameters
    "state-transposed": (lambda h, a: a.update(state0=a["state0"].T.copy()), {}, r"'m'\[0\] must be a float array of shape \(4, 5\)"),
    "state-short-list": (lambda h, a: (h["optimizer_state"]["v"].pop(), a.pop("state7")), {}, "'v' must be a list of 4"),
    "state-missing-entry": (lambda h, a: (h["optimizer_state"].pop("v"), [a.pop(f"state{k}") for k in range(4, 8)]), {}, "needs"),
    "state-negative-square": (lambda h, a: a.update(state4=-np.ones_like(a["state4"])), {}, "negative"),
    "state-nan": (lambda h, a: a.update(state1=np.full_like(a["state1"], np.nan)), {}, "NaN"),
    "state-step-huge": (_set("optimizer_state", "t", value=10**400), {}, "step count"),
    "state-step-float": (_set("optimizer_state", "t", value=3.0), {}, "step count"),
    "momentum-state-of-adam": (lambda h, a: h["solver"].update(optimizer="momentum", optimizer_config={}), {}, "does not fit"),
    # schedule position
    "schedule-epoch-nan": (_set("solver", "schedule", "state", "epoch", value=math.nan), {}, "epoch"),
    "schedule-epoch-text": (_set("solver", "schedule", "state", "epoch", value="3"), {}, "epoch"),
    "schedule-epoch-negative": (_set("solver", "schedule", "state", "epoch", value=-1), {}, "epoch"),
    "schedule-epoch-float": (_set("solver", "schedule", "state", "epoch", value=2.5), {}, "epoch"),
    "plateau-scale-nan": (_set("solver", "schedule", "state", "scale", value=math.nan), {}, "scale"),
    "plateau-scale-above-one": (_set("solver", "schedule", "state", "scale", value=2.0), {}, "scale"),
    "plateau-best-text": (_set("solver", "schedule", "state", "best", value="low"), {}, "best"),
    "plateau-wait-beyond-patience": (_set("solver", "schedule", "state", "wait", value=10), {}, "wait"),
    "plateau-missing-entry": (lambda h, a: h["solver"]["schedule"]["state"].pop("wait"), {}, "entries"),
    "plateau-extra-entry": (_set("solver", "schedule", "state", "as_dict", value=1), {}, "entries"),
    "cosine-period-nan": (_set("solver", "schedule", "state", "period", value=math.nan), {"schedule": "cosine"}, "period"),
    "cosine-period-zero": (_set("solver", "schedule", "state", "period", value=0), {"schedule": "cosine"}, "period"),
    "step-config-gamma-nan": (_set("solver", "schedule", "config", "gamma", value=math.nan), {"schedule": "step"}, "gamma"),
    # Solver
    "learning-rate-nan": (_set("solver", "learning_rate", value=math.nan), {}, "learning_rate"),
    "learning-rate-text": (_set("solver", "learning_rate", value="0.1"), {}, "learning_rate"),
    "regularization-unknown-key": (_set("solver", "regularization", "bogus", value=1), {}, "bogus"),
    "regularization-lam-inf": (_set("solver", "regularization", "lam", value=math.inf), {}, "lam"),
    "regularization-dropout-one": (_set("solver", "regularization", "dropout", value=1.0), {}, "dropout"),
    "clip-norm-negative": (_set("solver", "options", "clip_norm", value=-1.0), {}, "clip_norm"),
    "optimizer-beta-nan": (_set("solver", "optimizer_config", "beta_1", value=math.nan), {}, "beta_1"),
    # History
    "history-key-as_dict": (_set("history", "as_dict", value=[1.0]), {}, "unknown entries"),
    "history-400-digit-loss": (_set("history", "loss", value=[10**400, 1.0]), {}, "'loss'"),
    "history-text-loss": (_set("history", "loss", value=["0.5", 1.0]), {}, "'loss'"),
    "history-too-many-rates": (_set("history", "learning_rate", value=[0.01] * 7), {}, "one value per epoch"),
    "history-accuracy-above-one": (_set("history", "accuracy", value=[2.0, 0.5]), {}, r"'accuracy'\[0\]"),
    "history-negative-time": (_set("history", "epoch_time", value=[-1.0, 0.1]), {}, "epoch_time"),
    "history-nan-rate": (_set("history", "learning_rate", value=[math.nan, 0.01]), {}, "learning_rate"),
    "history-best-epoch-beyond": (_set("history", "best_epoch", value=9), {}, "best_epoch"),
    # the other header entries
    "training-extra-entry": (_set("training", value={"epoch": 1, "x": 2}), {}, "'training'"),
    "training-epoch-text": (_set("training", value={"epoch": "1"}), {}, "training epoch"),
    "saved_from-list": (_set("saved_from", value=["numpy"]), {}, "saved_from"),
    "saved_from-number-device": (_set("saved_from", value={"backend": "numpy", "device": 0}), {}, "saved_from"),
    "library_version-number": (_set("library_version", value=1), {}, "library_version"),
    "unknown-entry": (_set("surprise", value=1), {}, "unknown entries"),
    "rng-extra-entry": (lambda h, a: h["rng_state"].update(extra=1), {}, "random generator"),
    "rng-has_uint32-5": (_set("rng_state", "has_uint32", value=5), {}, "has_uint32"),
    "rng-float-uinteger": (_set("rng_state", "uinteger", value=1.5), {}, "uinteger"),
    "rng-other-generator": (_set("rng_state", "bit_generator", value="MT19937"), {}, "PCG64"),
    "rng-negative-state": (_set("rng_state", "state", "state", value=-5), {}, "random generator"),
}


@pytest.mark.parametrize("name", list(FIELD_PROBES))
def test_every_field_of_a_file_is_checked(tmp_path, name):
    change, kwargs, pattern = FIELD_PROBES[name]
    path = _tampered(tmp_path, change, **kwargs)
    with pytest.raises(ModelFileError, match=pattern):
        ann.load(path)


def test_the_checks_accept_every_file_the_library_writes(tmp_path):
    """The other side of the probes: real files, diverged ones and every schedule, still load."""
    X, y = ann.datasets.load_iris()
    for schedule in ("constant", "step", "exponential", "cosine", "plateau"):
        model = _trained(schedule=schedule)
        ann.save(model, tmp_path / "m.npz")
        assert ann.load(tmp_path / "m.npz").solver_.schedule.state_dict() == model.solver_.schedule.state_dict()
    model = _model()
    with pytest.warns(RuntimeWarning):
        model.fit(X * 1e30, y, solver=ann.Solver(learning_rate=10.0), settings=QUIET)
    ann.save(model, tmp_path / "diverged.npz")
    assert not math.isfinite(ann.load(tmp_path / "diverged.npz").history_.loss[-1])


@pytest.mark.parametrize("activation", [ann.activations.LeakyReLU, ann.activations.ELU])
@pytest.mark.parametrize("alpha", [math.nan, math.inf, -math.inf, "0.1", None])
def test_public_activations_refuse_bad_alpha(activation, alpha):
    with pytest.raises((TypeError, ValueError), match="alpha"):
        activation(alpha=alpha)


@pytest.mark.parametrize(
    "name, state, pattern",
    [
        ("step", {"epoch": math.nan}, "epoch"),
        ("step", {"epoch": True}, "epoch"),
        ("exponential", {"epoch": 2**60}, "epoch"),
        ("cosine", {"epoch": 1, "period": 5}, "t_max"),
        ("plateau", {"epoch": 1, "scale": 1.0, "best": math.nan, "wait": 0, "cooldown_left": 0, "reductions": 0}, "best"),
        ("plateau", {"epoch": 1, "scale": 1.0, "best": 0.5, "wait": 0, "cooldown_left": 3, "reductions": 0}, "cooldown_left"),
        ("plateau", {"epoch": 1}, "entries"),
    ],
)
def test_schedule_load_state_dict_checks_and_changes_nothing_on_failure(name, state, pattern):
    schedule = ann.schedules.get(name, **({"t_max": 10} if name == "cosine" else {}))
    schedule.step(0.3)
    before = schedule.state_dict()
    with pytest.raises((TypeError, ValueError), match=pattern):
        schedule.load_state_dict(state)
    assert schedule.state_dict() == before


# --------------------------------------------------------------------------------------------------
# 2. only regular files are opened: a FIFO never blocks
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="the platform has no FIFOs")


def _returns_promptly(func, seconds=20):
    """Run ``func`` in a thread; its exception (or None) when it returns in time, else a failure."""
    outcome = {}

    def run():
        try:
            func()
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return thread.is_alive(), outcome.get("error")


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "model.npz"
    os.mkfifo(path)
    yield path
    # Release a reader that would be blocked on it, so no thread outlives the test.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@needs_fifo
def test_load_does_not_open_a_fifo(fifo):
    hung, error = _returns_promptly(lambda: ann.load(fifo))
    assert not hung and isinstance(error, ModelFileError) and "not a regular file" in str(error)


@needs_fifo
def test_resume_does_not_open_a_fifo(fifo):
    X, y = ann.datasets.load_iris()
    model = _model()
    hung, error = _returns_promptly(lambda: model.fit(X, y, settings=QUIET, resume_from=fifo))
    assert not hung and isinstance(error, ModelFileError)


@needs_fifo
@pytest.mark.parametrize("command", ["predict", "export"])
def test_command_line_does_not_open_a_fifo_model(fifo, tmp_path, capsys, command):
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("a,b,c,d\n1,2,3,4\n")
    args = ["predict", str(fifo), str(csv_path), "--out", str(tmp_path / "p.csv")] if command == "predict" else [
        "export", str(fifo), str(tmp_path / "m.onnx")]
    result = {}
    hung, error = _returns_promptly(lambda: result.update(rc=cli.main(args)))
    assert not hung and error is None and result["rc"] == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and ("not a regular file" in err or "onnx" in err)


@needs_fifo
def test_command_line_does_not_open_a_fifo_left_by_an_earlier_version(tmp_path, capsys):
    """A run folder of an earlier version kept its description in model.meta.json: named, never opened."""
    meta = tmp_path / "copy" / "model.meta.json"
    meta.parent.mkdir()
    ann.save(_trained(), meta.parent / "model.npz")  # a model file without a pipeline
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("a,b,c,d\n1,2,3,4\n")
    os.mkfifo(meta)
    try:
        result = {}
        hung, error = _returns_promptly(
            lambda: result.update(rc=cli.main(["evaluate", str(meta.parent / "model.npz"), str(csv_path)]))
        )
        assert not hung and error is None and result["rc"] == 2
        assert "earlier version" in capsys.readouterr().err
    finally:
        try:
            os.close(os.open(meta, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_a_folder_named_like_a_model_is_refused(tmp_path):
    (tmp_path / "model.npz").mkdir()
    with pytest.raises(ModelFileError, match="not a regular file"):
        ann.load(tmp_path / "model.npz")


# --------------------------------------------------------------------------------------------------
# 3. a failed resume leaves the model exactly as it was
@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint after 3 of 6 epochs (Adam, plateau schedule, validation) and its path."""
    X, y = ann.datasets.load_iris()
    model = _model()
    path = tmp_path / "ckpt.npz"
    model.fit(X, y, solver=ann.Solver(optimizer="adam", schedule="plateau"), settings=ann.Settings(epochs=3, verbose=0),
              validation_data=(X, y), checkpoint=path)
    return path


def _fitted_other():
    """A model trained differently, whose state a failed resume must keep."""
    X, y = ann.datasets.load_iris()
    model = _model()
    model.fit(X, y, solver=ann.Solver(optimizer="adam", learning_rate=0.05), settings=QUIET)
    return model


def _damage(path, change):
    header, arrays = _members(path)
    change(header, arrays)
    _write(path, header, arrays)


@pytest.mark.parametrize(
    "case",
    ["other-optimizer", "other-schedule", "plateau-patience-too-small", "nan-state", "bad-history", "bad-X",
     "bad-settings", "bad-validation", "missing-checkpoint-folder", "other-layers", "float32-overflow"],
)
def test_failed_resume_changes_nothing(checkpoint, tmp_path, case):
    X, y = ann.datasets.load_iris()
    model = _fitted_other() if case != "float32-overflow" else None
    solver = None
    kwargs = {}
    if case == "other-optimizer":
        solver = ann.Solver(optimizer="sgd")
    elif case == "other-schedule":
        solver = ann.Solver(optimizer="adam", schedule="cosine")
    elif case == "plateau-patience-too-small":
        _damage(checkpoint, _set("solver", "schedule", "state", "wait", value=4))
        solver = ann.Solver(optimizer="adam", schedule=ann.schedules.ReduceOnPlateau(patience=2))
    elif case == "nan-state":
        _damage(checkpoint, lambda h, a: a.update(state2=np.full_like(a["state2"], np.nan)))
    elif case == "bad-history":
        _damage(checkpoint, _set("history", "val_loss", value=[1.0]))
    elif case == "bad-X":
        X = X[:, :3]
    elif case == "bad-settings":
        kwargs["settings"] = "fast"
    elif case == "bad-validation":
        kwargs["validation_data"] = (X, y[:10])
    elif case == "missing-checkpoint-folder":
        kwargs["checkpoint"] = tmp_path / "nope" / "c.npz"
    elif case == "other-layers":
        model = ann.Model([ann.Layer(4, 7, "tanh"), ann.Layer(7, 3, "softmax")], backend="numpy", dtype="float64", seed=0)
        model.fit(X, y, settings=QUIET)
    if case == "float32-overflow":
        _damage(checkpoint, lambda h, a: a.update(state5=np.full_like(a["state5"], 1e300)))
        model = _model(dtype="float32")
        model.fit(X, y, solver=ann.Solver(optimizer="adam"), settings=QUIET)
    schedule_before = None if solver is None else dict(vars(solver.schedule))
    before = _state(model)
    with pytest.raises((ValueError, TypeError, FileNotFoundError)):
        model.fit(X, y, solver=solver, settings=kwargs.pop("settings", ann.Settings(epochs=6, verbose=0)),
                  resume_from=checkpoint, **kwargs)
    _assert_same(before, _state(model))
    if solver is not None:
        assert vars(solver.schedule) == schedule_before
    # And the model still trains normally afterwards.
    model.fit(*ann.datasets.load_iris(), settings=QUIET)


def test_a_successful_resume_still_works_after_a_failed_one(checkpoint):
    X, y = ann.datasets.load_iris()
    model = _model()
    with pytest.raises(ValueError):
        model.fit(X[:, :3], y, settings=ann.Settings(epochs=6, verbose=0), resume_from=checkpoint)
    history = model.fit(X, y, settings=ann.Settings(epochs=6, verbose=0), validation_data=(X, y), resume_from=checkpoint)
    assert history.epochs == 6


# --------------------------------------------------------------------------------------------------
# 4. path arguments fail when the work starts, naming the argument
class _CountEpochs(ann.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs):
        self.epochs += 1


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda p: p / "nope" / "c.npz", FileNotFoundError),
        (lambda p: p, IsADirectoryError),
        (lambda p: (p / "file").write_text("x") and p / "file" / "c.npz", NotADirectoryError),
    ],
    ids=["missing-folder", "a-folder", "under-a-file"],
)
def test_checkpoint_path_checked_before_the_first_epoch(tmp_path, make, error):
    X, y = ann.datasets.load_iris()
    counter = _CountEpochs()
    with pytest.raises(error, match="`checkpoint`"):
        _model().fit(X, y, settings=QUIET, checkpoint=make(tmp_path), callbacks=[counter])
    assert counter.epochs == 0
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_save_and_export_paths_name_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="`path`"):
        ann.save(_model(), tmp_path / "nope" / "m.npz")
    with pytest.raises(FileNotFoundError, match="`path`"):
        ann.export_onnx(_model(), tmp_path / "nope" / "m.onnx")


def test_command_line_out_checked_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["train", "iris", "--epochs", "1", "--verbose", "0", "--no-plots", "--out", str(blocker / "run")]) == 2
    captured = capsys.readouterr()
    assert "--out" in captured.err and "Model(" not in captured.out  # nothing was built or trained


def test_command_line_predict_out_checked_before_loading(trained_run, tmp_path, capsys):
    model_path, csv_path = trained_run
    assert cli.main(["predict", str(model_path), str(csv_path), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert cli.main(["predict", str(model_path), str(csv_path), "--out", str(tmp_path / "file" / "p.csv")]) == 2
    assert "--out" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# 5. torch inputs with autograd: no history reaches the model
def test_torch_inputs_that_require_grad_leave_no_autograd_history():
    torch = pytest.importorskip("torch")
    X, y = ann.datasets.load_iris()
    for dtype in (torch.float32, torch.float64):
        Xt = torch.tensor(X, dtype=dtype, requires_grad=True)
        model = ann.Model([ann.Layer(4, 5, "tanh"), ann.Layer(5, 3, "softmax")], backend="torch", dtype="float32", seed=0)
        model.fit(Xt, torch.tensor(y), solver=ann.Solver(optimizer="adam"), settings=QUIET, validation_data=(Xt, torch.tensor(y)))
        assert not any(p.requires_grad for p in model.parameters())
        assert not any(a.requires_grad for key in ("m", "v") for a in model.optimizer_state_[key])
        assert not model.predict_proba(Xt).requires_grad
        assert not model.forward(Xt)[-1][1].requires_grad
        assert Xt.grad is None


def test_torch_targets_and_weights_that_require_grad():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    model = ann.Model([ann.Layer(3, 1, "linear")], backend="torch", dtype="float64", seed=0)
    model.layers[0].W = torch.ones((3, 1), dtype=torch.float64, requires_grad=True)
    assert not model.layers[0].W.requires_grad
    model.fit(torch.tensor(X, requires_grad=True), torch.tensor(y, requires_grad=True), settings=QUIET)
    assert not any(p.requires_grad for p in model.parameters())


def test_numpy_model_takes_torch_inputs_that_require_grad():
    torch = pytest.importorskip("torch")
    X, y = ann.datasets.load_iris()
    model = _model()
    model.fit(torch.tensor(X, requires_grad=True), y, settings=QUIET)
    assert isinstance(model.predict_proba(torch.tensor(X, requires_grad=True)), np.ndarray)


# --------------------------------------------------------------------------------------------------
# 6. values beyond float32's range are refused, by name
@pytest.mark.parametrize("target", ["W0", "b1", "state0", "state6"])
def test_load_as_float32_refuses_values_beyond_its_range(tmp_path, target):
    model = _trained(validation=False)
    path = tmp_path / "m.npz"
    ann.save(model, path)
    header, arrays = _members(path)
    arrays[target] = arrays[target].copy()
    arrays[target].flat[0] = -1e300 if target.startswith("b") else 1e300  # v (state4..7) stays non-negative
    _write(path, header, arrays)
    assert ann.load(path).dtype == "float64"  # as float64 it is a valid file
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused with its message, and without an overflow warning on the way
        with pytest.raises(ModelFileError, match="beyond float32's range"):
            ann.load(path, dtype="float32")


def test_float32_file_loads_as_float32_and_float64(tmp_path):
    model = _trained(validation=False)
    model.to("numpy", dtype="float32")
    ann.save(model, tmp_path / "m.npz")
    assert ann.load(tmp_path / "m.npz", dtype="float64").dtype == "float64"
    assert ann.load(tmp_path / "m.npz").dtype == "float32"


# --------------------------------------------------------------------------------------------------
# 7. the command line: every user error is one line on stderr and exit status 2
def _run(argv, capsys):
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.err


def _one_line_error(status, err):
    assert status == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    return lines[0]


OPTION_VALUES = {
    "--learning-rate": ["nan", "inf", "-inf", "-0.1", "0", "fast"],
    "--l2": ["nan", "inf", "-1", "x"],
    "--dropout": ["nan", "inf", "-0.1", "1", "2"],
    "--test-size": ["nan", "inf", "0", "1", "-0.2", "x"],
    "--val-size": ["nan", "inf", "-0.1", "1", "half"],
    "--epochs": ["0", "-5", "nan", "2.5", "1e9"],
    "--batch-size": ["0", "-1", "inf", "x"],
    "--seed": ["-1", "nan", "x"],
    "--layers": ["0", "-4", "x", "16,,-1", "nan"],
    "--activation": ["rleu", "nan"],
    "--optimizer": ["adamm", "nan"],
    "--backend": ["nan"],
    "--dtype": ["float16", "nan"],
    "--verbose": ["3", "-1", "nan"],
    "--task": ["nan"],
}


@pytest.mark.parametrize(
    "option, value", [(option, value) for option, values in OPTION_VALUES.items() for value in values]
)
def test_every_train_option_refuses_bad_values_on_one_line(tmp_path, capsys, option, value):
    argv = ["train", "iris", "--epochs", "1", "--verbose", "0", "--no-plots", "--out", str(tmp_path / "run")]
    if option in ("--epochs", "--verbose"):
        i = argv.index(option)
        del argv[i : i + 2]
    line = _one_line_error(*_run(argv + [option, value], capsys))
    assert option.lstrip("-").replace("-", "_")[:5] in line.replace("-", "_") or "Unknown" in line or value in line
    assert not (tmp_path / "run").exists()  # refused before anything was trained or written


def test_val_size_nan_no_longer_turns_validation_off(tmp_path, capsys):
    line = _one_line_error(*_run(["train", "iris", "--val-size", "nan", "--out", str(tmp_path)], capsys))
    assert "--val-size" in line and "finite" in line


def test_layers_too_large_for_memory_are_refused_before_allocating(tmp_path, capsys):
    line = _one_line_error(*_run(["train", "iris", "--layers", "1000000,1000000", "--no-plots", "--out", str(tmp_path)], capsys))
    assert "1000000,1000000" in line and "TiB" in line and "--layers" in line
    with pytest.raises(cli.CLIError, match=r"the layers 100 need 6\.3 KiB of float64 weights \(803 parameters\)"):
        cli._check_model_size([4, 100, 3], [100], "float64", memory=1000)
    cli._check_model_size([4, 100, 3], [100], "float64", memory=10**6)


def test_memory_errors_are_one_line(tmp_path, capsys, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 12.0 GiB")

    monkeypatch.setattr(cli, "train", exhausted)
    line = _one_line_error(*_run(["train", "iris"], capsys))
    assert "out of memory" in line and "12.0 GiB" in line


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A model trained by the command line (one epoch), and a CSV of its feature columns."""
    folder = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "iris", "--epochs", "1", "--verbose", "0", "--no-plots", "--out", str(folder)]) == 0
    feature_names = Pipeline.load(folder / "model.npz").feature_names
    csv_path = folder / "x.csv"
    csv_path.write_text(",".join(feature_names) + "\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    return folder / "model.npz", csv_path


# Each damage of the trained pipeline's record, and the field the message must name.
PIPELINE_DAMAGE = {
    "a-list": (lambda p: [1, 2], "'pipeline' must be an object"),
    "missing-scaler": (lambda p: p.pop("scaler"), "it lacks ['scaler']"),
    "scaler-text": (lambda p: p["scaler"].update(mean="abc"), "'scaler.mean'"),
    "scaler-short": (lambda p: p["scaler"].update(mean=[0.0, 1.0]), "'scaler.mean' must be a list of 4"),
    "scaler-nan": (lambda p: p["scaler"].update(scale=[math.nan] * 4), "'scaler.scale'"),
    "scale-zero": (lambda p: p["scaler"].update(scale=[0.0, 1.0, 1.0, 1.0]), "positive finite"),
    "too-few-class-names": (lambda p: p.update(class_names=["setosa"]), "'class_names' must be a list of 3"),
    "class-names-numbers": (lambda p: p.update(class_names=[1, 2, 3]), "'class_names'"),
    "class-names-repeated": (lambda p: p.update(class_names=["a", "a", "b"]), "distinct"),
    "feature-names-number": (lambda p: p.update(feature_names=5), "'feature_names'"),
    "unknown-task": (lambda p: p.update(task="clustering"), "'task' must be one of"),
    "target-scaling-on-classes": (lambda p: p.update(target_scaling={"mean": 0.0, "scale": "x"}), "'target_scaling'"),
    "unknown-entry": (lambda p: p.update(extra=1), "unknown ['extra']"),
    "other-version": (lambda p: p.update(version=2), "'version' must be 1"),
    "id-is-a-feature": (lambda p: p.update(id_column=p["feature_names"][0]), "'id_column'"),
    "split-rows-negative": (lambda p: p["split"].update(rows=-3), "'split' 'rows'"),
    "split-test-size": (lambda p: p["split"].update(test_size=1.5), "'test_size'"),
}


def _damaged_copy(model_path, folder, damage):
    header, arrays = model_io.read_model_file(model_path)
    record = header["pipeline"]
    result = damage(record)
    header["pipeline"] = result if isinstance(result, list) else record
    for key in ("format", "format_version", "library_version", "arrays"):
        header.pop(key)
    model_io.write_model_file(folder / "model.npz", header, arrays)
    return folder / "model.npz"


@pytest.mark.parametrize("name", list(PIPELINE_DAMAGE))
@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_damaged_pipeline_is_one_line_naming_the_field(trained_run, tmp_path, capsys, name, command):
    if command == "export":
        pytest.importorskip("ndonnx")
    model_path, csv_path = trained_run
    damage, field = PIPELINE_DAMAGE[name]
    path = _damaged_copy(model_path, tmp_path, damage)
    argv = {
        "predict": ["predict", str(path), str(csv_path), "--out", str(tmp_path / "p.csv")],
        "evaluate": ["evaluate", str(path), "iris"],
        "export": ["export", str(path), str(tmp_path / "m.onnx")],
    }[command]
    line = _one_line_error(*_run(argv, capsys))
    assert "model.npz" in line and ("not a valid anyarray_nn pipeline" in line or "not a valid anyarray_nn model" in line)
    if field is not None:
        assert field in line
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "m.onnx").exists()


def test_undamaged_description_still_predicts(trained_run, tmp_path, capsys):
    model_path, csv_path = trained_run
    assert cli.main(["predict", str(model_path), str(csv_path), "--out", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "prediction"


def test_predict_and_export_arguments_are_one_line(trained_run, tmp_path, capsys):
    model_path, csv_path = trained_run
    _one_line_error(*_run(["predict", str(model_path), str(csv_path), "--backend", "nan"], capsys))
    _one_line_error(*_run(["predict", str(tmp_path / "none.npz"), str(csv_path)], capsys))
    _one_line_error(*_run(["export", str(model_path), str(tmp_path / "m.onnx"), "--dtype", "nan"], capsys))
    _one_line_error(*_run(["predict"], capsys))


# --------------------------------------------------------------------------------------------------
# 8. the header's size is bounded, on reading (before parsing) and on writing
def test_oversized_header_refused_before_it_is_parsed(tmp_path, monkeypatch):
    model = _trained(validation=False)
    path = tmp_path / "m.npz"
    ann.save(model, path)
    header, arrays = _members(path)
    junk = b"[" + b"[]," * ((model_io.MAX_HEADER_BYTES // 3) + 10) + b"[]]"
    np.savez(path, header=np.frombuffer(junk, dtype=np.uint8), **arrays)

    def parse(*args, **kwargs):
        raise AssertionError("the header was parsed")

    monkeypatch.setattr(model_io, "_decode_header", parse)
    with pytest.raises(ModelFileError, match=f"more than the {model_io.MAX_HEADER_BYTES} allowed"):
        ann.load(path)


def test_header_bound_fits_a_long_history_and_refuses_longer_on_writing(tmp_path):
    assert model_io.MAX_HEADER_BYTES == 16 * 2**20
    model = _trained(validation=False)
    rng = np.random.default_rng(0)

    def history(epochs):
        h = ann.History()
        for key in ann.History.KEYS:
            setattr(h, key, [float(v) for v in rng.random(epochs)])
        return h

    model.history_ = history(100_000)
    ann.save(model, tmp_path / "long.npz")
    assert ann.load(tmp_path / "long.npz").history_.epochs == 100_000
    model.history_ = history(200_000)
    with pytest.raises(ValueError, match="header would take"):
        ann.save(model, tmp_path / "too-long.npz")
    assert sorted(os.listdir(tmp_path)) == ["long.npz"]  # nothing half-written

