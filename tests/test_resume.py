"""Checkpoints during fit, and resuming: train-save-resume equals an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import callbacks

EPOCHS = 8


def _model(bk=None, seed=0):
    layers = [ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")]
    if bk is None:
        return ann.Model(layers, backend="numpy", dtype="float64", seed=seed)
    return bk.model(layers, seed=seed)


def _solver(optimizer):
    # Dropout draws from the random generator, so its state must be restored too.
    reg = ann.Regularization("l2", lam=1e-3, dropout=0.1)
    if optimizer == "sgd":
        return ann.Solver(optimizer="sgd", learning_rate=0.05, regularization=reg)
    return ann.Solver(
        optimizer=optimizer, learning_rate=0.01, regularization=reg, schedule=ann.schedules.get("step", step_size=3, gamma=0.5)
    )


def _settings(epochs=EPOCHS):
    return ann.Settings(epochs=epochs, batch_size=16, verbose=0)


def _fit(model, data, optimizer, epochs=EPOCHS, **kwargs):
    Xtr, Xte, ytr, yte = data
    return model.fit(Xtr, ytr, solver=_solver(optimizer), settings=_settings(epochs), validation_data=(Xte, yte), **kwargs)


def _same_weights(a, b):
    return all(np.array_equal(ann.to_numpy(p), ann.to_numpy(q)) for p, q in zip(a.parameters(), b.parameters()))


class _Crash(Exception):
    pass


def _crash_after(monkeypatch, epoch):
    """Make fit die right after the checkpoint of ``epoch`` is written, as a killed process would."""
    original = callbacks.ModelCheckpoint.on_epoch_end

    def saving_then_crashing(self, e, logs):
        original(self, e, logs)
        if e == epoch:
            raise _Crash

    monkeypatch.setattr(callbacks.ModelCheckpoint, "on_epoch_end", saving_then_crashing)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "nesterov"])
def test_resume_is_bit_identical_on_numpy_float64(iris_split, tmp_path, monkeypatch, optimizer):
    reference = _model()
    ref_history = _fit(reference, iris_split, optimizer)

    path = tmp_path / "ckpt.npz"
    interrupted = _model()
    _crash_after(monkeypatch, 5)
    with pytest.raises(_Crash):
        _fit(interrupted, iris_split, optimizer, checkpoint=path, checkpoint_every=1)
    monkeypatch.undo()

    # A fresh process would build a fresh model: another seed, so nothing but the file can explain equality.
    resumed = _model(seed=123)
    Xtr, Xte, ytr, yte = iris_split
    history = resumed.fit(Xtr, ytr, settings=_settings(), validation_data=(Xte, yte), resume_from=path)

    assert _same_weights(resumed, reference)
    assert history.epochs == EPOCHS
    assert history.loss == ref_history.loss
    assert history.val_loss == ref_history.val_loss
    assert history.learning_rate == ref_history.learning_rate
    assert resumed.optimizer_state_["t"] == reference.optimizer_state_["t"]
    assert resumed.backend.get_rng_state() == reference.backend.get_rng_state()


def test_resume_with_own_solver_and_every_k(iris_split, tmp_path, monkeypatch):
    reference = _model()
    _fit(reference, iris_split, "adam")
    path = tmp_path / "ckpt.npz"
    _crash_after(monkeypatch, 6)
    with pytest.raises(_Crash):
        _fit(_model(), iris_split, "adam", checkpoint=path, checkpoint_every=3)
    monkeypatch.undo()
    resumed = _model(seed=9)
    history = _fit(resumed, iris_split, "adam", resume_from=path)  # a new, equal Solver object
    assert history.epochs == EPOCHS
    assert _same_weights(resumed, reference)


def test_resume_on_every_backend(bk, iris_split, tmp_path):
    Xtr, Xte, ytr, yte = iris_split
    Xtr = bk.asarray(Xtr)
    reference = _model(bk)
    reference.fit(Xtr, ytr, solver=_solver("adam"), settings=_settings())
    path = tmp_path / "ckpt.npz"
    first = _model(bk)
    first.fit(Xtr, ytr, solver=_solver("adam"), settings=_settings(3), checkpoint=path)
    resumed = _model(bk, seed=5)
    resumed.fit(Xtr, ytr, settings=_settings(), resume_from=path)
    for p, q in zip(reference.parameters(), resumed.parameters()):
        np.testing.assert_allclose(ann.to_numpy(q), ann.to_numpy(p), rtol=bk.rtol, atol=bk.atol)
    assert resumed.history_.epochs == EPOCHS


def test_checkpoint_best_keeps_lowest_validation_loss(iris_split, tmp_path):
    Xtr, Xte, ytr, yte = iris_split
    path = tmp_path / "run.npz"
    model = _model()
    # A large learning rate makes the validation loss go up and down.
    history = model.fit(
        Xtr,
        ytr,
        solver=ann.Solver(optimizer="sgd", learning_rate=2.0),
        settings=_settings(12),
        validation_data=(Xte, yte),
        checkpoint=path,
        checkpoint_every=5,
        checkpoint_best=True,
    )
    best = ann.load(tmp_path / "run.best.npz")
    best_epoch = int(np.argmin(history.val_loss)) + 1
    assert best.history_.epochs == best_epoch
    assert best.history_.val_loss[-1] == min(history.val_loss)
    Xte_loss, _ = best.evaluate(Xte, yte)
    assert Xte_loss == pytest.approx(min(history.val_loss), rel=1e-9)
    last = ann.load(path)  # every 5 epochs and after the last one
    assert last.history_.epochs == 12
    assert _same_weights(last, model)


def test_checkpoint_best_alone_uses_the_path(iris_split, tmp_path):
    Xtr, Xte, ytr, yte = iris_split
    path = tmp_path / "best.npz"
    history = _fit(_model(), iris_split, "sgd", checkpoint=path, checkpoint_best=True)
    assert ann.load(path).history_.val_loss[-1] == min(history.val_loss)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz"]


def test_resume_of_a_finished_run_trains_no_more(iris_split, tmp_path):
    path = tmp_path / "done.npz"
    model = _model()
    _fit(model, iris_split, "sgd", checkpoint=path)
    again = _model(seed=3)
    history = again.fit(iris_split[0], iris_split[2], settings=_settings(), resume_from=path)
    assert history.epochs == EPOCHS
    assert _same_weights(again, model)


def test_resume_refuses_other_architecture_or_optimizer(iris_split, tmp_path):
    path = tmp_path / "c.npz"
    _fit(_model(), iris_split, "adam", epochs=2, checkpoint=path)
    other = ann.Model([ann.Layer(4, 5, "tanh"), ann.Layer(5, 3, "softmax")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="`resume_from` .* holds a model with layers"):
        other.fit(iris_split[0], iris_split[2], settings=_settings(), resume_from=path)
    with pytest.raises(ValueError, match="trained with optimizer 'adam', but `solver` uses 'sgd'"):
        _model().fit(iris_split[0], iris_split[2], solver=ann.Solver(), settings=_settings(), resume_from=path)
    with pytest.raises(FileNotFoundError):
        _model().fit(iris_split[0], iris_split[2], settings=_settings(), resume_from=tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "kwargs,error,pattern",
    [
        ({"checkpoint_every": 2}, ValueError, "need a `checkpoint` path"),
        ({"checkpoint": "c.npz", "checkpoint_every": 0}, ValueError, "`checkpoint_every` must be a positive integer"),
        ({"checkpoint": "c.npz", "checkpoint_every": 1.5}, TypeError, "`checkpoint_every` must be a positive integer"),
        ({"checkpoint": 5}, TypeError, "`checkpoint` must be a path"),
        ({"checkpoint": "c.npz", "checkpoint_best": True}, ValueError, "needs `validation_data`"),
        ({"checkpoint": "c.npz", "checkpoint_best": "yes"}, TypeError, "`checkpoint_best` must be True or False"),
    ],
)
def test_checkpoint_arguments_checked(iris_split, tmp_path, monkeypatch, kwargs, error, pattern):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=pattern):
        _model().fit(iris_split[0], iris_split[2], settings=_settings(1), **kwargs)
    assert not list(tmp_path.iterdir())


def test_resume_is_exact_with_dropout_from_a_device_generator(iris_split, tmp_path, monkeypatch):
    # On a GPU dropout masks come from the device's generator; torch's CPU generator stands in for it.
    pytest.importorskip("torch")
    monkeypatch.setattr(ann.Backend, "is_gpu", property(lambda self: self.name == "torch"))
    Xtr, ytr = iris_split[0], iris_split[2]

    def model(seed=0):
        layers = [ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")]
        return ann.Model(layers, backend="torch", device="cpu", dtype="float64", seed=seed)

    reference = model()
    reference.fit(Xtr, ytr, solver=_solver("adam"), settings=_settings())
    assert reference.backend._device_generator is not None  # the device path was taken
    path = tmp_path / "ckpt.npz"
    model().fit(Xtr, ytr, solver=_solver("adam"), settings=_settings(3), checkpoint=path)
    resumed = model(seed=4)
    resumed.fit(Xtr, ytr, settings=_settings(), resume_from=path)
    assert _same_weights(resumed, reference)


# --------------------------------------------------------------------------------------------------
# a run's checkpoint is never destroyed without being asked
def test_a_fresh_run_refuses_to_overwrite_a_checkpoint(iris_split, tmp_path):
    path = tmp_path / "run.npz"
    _fit(_model(), iris_split, "adam", epochs=4, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"`checkpoint` would overwrite .*run\.npz.* resume_from=.*"
                                              r"checkpoint_exists='overwrite'"):
        _fit(_model(), iris_split, "adam", epochs=2, checkpoint=path)
    assert path.read_bytes() == before  # untouched: 4 epochs, not 2
    assert ann.load(path).history_.epochs == 4


def test_resuming_may_write_over_its_own_checkpoint(iris_split, tmp_path):
    path = tmp_path / "run.npz"
    _fit(_model(), iris_split, "adam", epochs=3, checkpoint=path, checkpoint_every=1, checkpoint_best=True)
    history = _fit(_model(), iris_split, "adam", epochs=6, checkpoint=path, checkpoint_every=1,
                   checkpoint_best=True, resume_from=path)
    assert history.epochs == 6 and ann.load(path).history_.epochs == 6


def test_the_best_file_of_an_earlier_run_is_protected_too(iris_split, tmp_path):
    path = tmp_path / "run.npz"
    _fit(_model(), iris_split, "sgd", epochs=2, checkpoint=path, checkpoint_every=1, checkpoint_best=True)
    path.unlink()
    with pytest.raises(FileExistsError, match=r"run\.best\.npz"):
        _fit(_model(), iris_split, "sgd", epochs=2, checkpoint=path, checkpoint_every=1, checkpoint_best=True)


def test_overwrite_when_asked(iris_split, tmp_path):
    path = tmp_path / "run.npz"
    _fit(_model(), iris_split, "adam", epochs=4, checkpoint=path)
    _fit(_model(), iris_split, "adam", epochs=2, checkpoint=path, checkpoint_exists="overwrite")
    assert ann.load(path).history_.epochs == 2


def test_checkpoint_exists_resume_runs_the_same_script_again(iris_split, tmp_path):
    """The same call twice: the first starts afresh, the second continues (as Keras's BackupAndRestore)."""
    reference = _model()
    _fit(reference, iris_split, "adam")
    path = tmp_path / "run.npz"
    first = _model()
    first.fit(*iris_split[::2], solver=_solver("adam"), settings=_settings(3), validation_data=iris_split[1::2],
              checkpoint=path, checkpoint_exists="resume")
    again = _model(seed=7)
    history = _fit(again, iris_split, "adam", checkpoint=path, checkpoint_exists="resume")
    assert history.epochs == EPOCHS and _same_weights(again, reference)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"checkpoint": "c.npz", "checkpoint_exists": "keep"}, r"`checkpoint_exists` must be one of \['error', 'resume', "
                                                              r"'overwrite'\], got 'keep'"),
        ({"checkpoint_exists": "resume"}, "give a `checkpoint` path"),
        ({"checkpoint": "c.npz", "checkpoint_exists": "resume", "resume_from": "c.npz"}, "not both"),
    ],
)
def test_checkpoint_exists_is_checked(iris_split, tmp_path, monkeypatch, kwargs, pattern):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=pattern):
        _model().fit(iris_split[0], iris_split[2], settings=_settings(1), **kwargs)
    assert not list(tmp_path.iterdir())


def test_resume_from_a_saved_model_continues_its_epochs(iris_split, tmp_path):
    """``ann.save`` records the History but no epoch count: a resume goes on from the History's epochs."""
    reference = _model()
    _fit(reference, iris_split, "adam", epochs=24)
    model = _model()
    _fit(model, iris_split, "adam", epochs=12)
    ann.save(model, tmp_path / "m.npz")
    resumed = _model(seed=3)
    history = _fit(resumed, iris_split, "adam", epochs=24, resume_from=tmp_path / "m.npz")
    assert history.epochs == 24
    assert _same_weights(resumed, reference)
