"""A fit that is stopped, interrupted or misused leaves a model that works, and says what went wrong.

On every backend of the fixture: an exception in a batch callback, an interruption (KeyboardInterrupt)
in the middle of an epoch, a callback that reads or replaces the weights between steps, a callback that
never called ``Callback.__init__``, an activation a compiler cannot trace, and two threads fitting one
model.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import anyarray_nn as ann


def _data(n=96):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)


def _layers():
    return [ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")]


class Stop(Exception):
    pass


class StopAt(ann.Callback):
    """Raises ``error`` at a batch of the second epoch; keeps what the model held at the step before."""

    def __init__(self, error, at=3):
        super().__init__()
        self.error, self.at, self.epoch, self.seen = error, at, 0, None

    def on_epoch_begin(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, batch):
        if self.epoch == 2 and batch == self.at - 1:
            self.seen = [ann.to_numpy(p).copy() for p in self.model.parameters()]
        if self.epoch == 2 and batch == self.at:
            raise self.error


@pytest.mark.parametrize("error", [Stop("from a callback"), KeyboardInterrupt()], ids=["exception", "interrupt"])
def test_an_interrupted_fit_leaves_the_weights_of_its_last_finished_step(any_backend, error):
    X, y = _data()
    model = any_backend.model(_layers())
    callback = StopAt(error)
    with pytest.raises(type(error)):
        model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=3, batch_size=16, verbose=0),
                  callbacks=[callback])
    held = [ann.to_numpy(p) for p in model.parameters()]  # readable: no deleted buffer
    assert all(np.all(np.isfinite(p)) for p in held)
    # The step that finished with the callback's call: it differs from the one before it.
    assert any(not np.allclose(a, b) for a, b in zip(held, callback.seen))
    assert ann.to_numpy(model.predict(X)).shape == (X.shape[0],)
    # And the fit can start again from there.
    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=1, batch_size=16, verbose=0))


def test_a_batch_callback_can_predict_and_save(any_backend, tmp_path):
    X, y = _data()
    model = any_backend.model(_layers())
    seen = []

    class Reader(ann.Callback):
        def on_batch_end(self, batch):
            if batch in (2, 5):
                seen.append(ann.to_numpy(self.model.predict_proba(X[:4])))
                ann.save(self.model, tmp_path / f"at{batch}.npz")

    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=2, batch_size=16, verbose=0),
              callbacks=[Reader()])
    assert len(seen) == 4 and all(np.all(np.isfinite(s)) for s in seen)
    loaded = ann.load(tmp_path / "at5.npz", backend="numpy")
    assert loaded.n_features == 4


def test_arrays_a_callback_assigns_mid_fit_are_copied(any_backend):
    X, y = _data()
    model = any_backend.model(_layers())
    mine = [any_backend.asarray(np.full(p.shape, 0.1)) for p in model.parameters()]
    before = [ann.to_numpy(p).copy() for p in mine]

    class Assign(ann.Callback):
        def on_batch_end(self, batch):
            if batch == 2:
                self.model.set_parameters(mine)

    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.05), ann.Settings(epochs=2, batch_size=16, verbose=0),
              callbacks=[Assign()])
    for p, b in zip(mine, before):
        np.testing.assert_array_equal(ann.to_numpy(p), b)  # neither overwritten nor deleted
    assert any(not np.allclose(ann.to_numpy(p), b) for p, b in zip(model.parameters(), before))


def test_a_callback_that_skipped_init_can_stop_training():
    class Bare(ann.Callback):
        def __init__(self):  # no super().__init__()
            self.ended = False

        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                self.stop_training = True

        def on_train_end(self, logs=None):
            self.ended = True

    X, y = _data()
    callback = Bare()
    model = ann.Model(_layers(), backend="numpy", seed=0)
    history = model.fit(X, y, settings=ann.Settings(epochs=5, verbose=0), callbacks=[callback])
    assert history.epochs == 2 and "Bare" in history.stop_reason and callback.ended


class Clipped(ann.activations.Activation):
    """An activation written with a Python decision on values: eager libraries run it, jax.jit cannot."""

    name = "clipped_by_branch"

    def forward(self, Z, *, xp):
        return Z if float(xp.max(Z)) < 100.0 else xp.clip(Z, -100.0, 100.0)

    def backward(self, Z, A, grad_A, *, xp):
        return grad_A


def test_an_activation_jax_cannot_trace_is_named_and_trained_eagerly():
    pytest.importorskip("jax")
    X, y = _data()

    def model():
        return ann.Model([ann.Layer(4, 8, Clipped()), ann.Layer(8, 3, "softmax")], backend="jax", dtype="float64", seed=0)

    with pytest.warns(RuntimeWarning, match=r"layer 0 \(4 -> 8\) with activation 'clipped_by_branch'.*compile=False"):
        history = model().fit(X, y, settings=ann.Settings(epochs=2, batch_size=16, verbose=0))
    assert history.compiled.startswith("eager") and np.all(np.isfinite(history.loss))
    eager = model().fit(X, y, settings=ann.Settings(epochs=2, batch_size=16, verbose=0, compile=False))
    np.testing.assert_allclose(history.loss, eager.loss, rtol=1e-12)
    with pytest.raises(ValueError, match=r"layer 0 .*clipped_by_branch"):
        model().fit(X, y, settings=ann.Settings(epochs=1, verbose=0, compile=True))


def test_a_second_concurrent_fit_is_refused_and_predicting_goes_on():
    X, y = _data(2000)
    model = ann.Model(_layers(), backend="numpy", seed=0)
    started, release = threading.Event(), threading.Event()
    errors, predictions = [], []

    class Hold(ann.Callback):
        def on_batch_end(self, batch):
            if batch == 1:
                started.set()
                release.wait(30)

    def first():
        try:
            model.fit(X, y, settings=ann.Settings(epochs=1, batch_size=32, verbose=0), callbacks=[Hold()])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(30)
    try:
        with pytest.raises(RuntimeError, match="already being fitted"):
            model.fit(X, y, settings=ann.Settings(epochs=1, verbose=0))
        predictions.append(ann.to_numpy(model.predict(X[:10])))
    finally:
        release.set()
        thread.join(60)
    assert not errors and predictions[0].shape == (10,)
    # Once the first fit ended, the model can be fitted again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y, settings=ann.Settings(epochs=1, verbose=0))


def test_an_interrupt_while_a_compiled_step_holds_the_donated_buffers_keeps_the_epochs_start(monkeypatch):
    """The call has taken the first layer's buffers and its results are lost: the epoch's start is put back."""
    pytest.importorskip("jax")
    from anyarray_nn import training

    X, y = _data()
    model = ann.Model(_layers(), backend="jax", dtype="float64", seed=0)
    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=1, batch_size=16, verbose=0))
    at_start = [ann.to_numpy(p).copy() for p in model.parameters()]
    real_init = training._Run.__init__
    calls = {"n": 0}

    def interrupting_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        step = self.runner.batch_step

        def batch_step(*a):
            calls["n"] += 1
            out = step(*a)  # the buffers of a[0] (the first layer) and a[2] (the state) are donated here
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return out

        self.runner.batch_step = batch_step

    monkeypatch.setattr(training._Run, "__init__", interrupting_init)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=2, batch_size=16, verbose=0))
    held = [ann.to_numpy(p) for p in model.parameters()]
    for a, b in zip(held, at_start):
        np.testing.assert_array_equal(a, b)
    assert isinstance(model.optimizer_state_["t"], int)
    monkeypatch.undo()
    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=1, batch_size=16, verbose=0))


def test_an_untraceable_activation_trains_eagerly_from_a_source_too(tmp_path):
    pytest.importorskip("jax")
    X, y = _data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    Xm, ym = np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")
    histories = []
    for data in ((Xm, ym), (X, y)):
        model = ann.Model([ann.Layer(4, 8, Clipped()), ann.Layer(8, 3, "softmax")], backend="jax", dtype="float64", seed=0)
        with pytest.warns(RuntimeWarning, match="clipped_by_branch"):
            histories.append(model.fit(*data, settings=ann.Settings(epochs=2, batch_size=16, verbose=0)))
    assert histories[0].compiled.startswith("eager")
    np.testing.assert_allclose(histories[0].loss, histories[1].loss, rtol=1e-12)


def test_an_interrupted_fit_says_where_it_stopped_and_how_to_resume(tmp_path):
    X, y = _data()
    path = tmp_path / "run.npz"
    model = ann.Model(_layers(), backend="numpy", seed=0)
    callback = StopAt(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as info:
        model.fit(X, y, settings=ann.Settings(epochs=5, batch_size=16, verbose=0), checkpoint=path, callbacks=[callback])
    notes = getattr(info.value, "__notes__", None)
    if notes is None:
        pytest.skip("exception notes need Python 3.11")
    assert "interrupted during epoch 2 of 5" in notes[-1] and "epoch 1 in" in notes[-1] and "resume_from=" in notes[-1]
    history = ann.Model(_layers(), backend="numpy", seed=0).fit(
        X, y, settings=ann.Settings(epochs=5, batch_size=16, verbose=0), resume_from=path)
    assert history.epochs == 5


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_interrupt_inside_a_step_without_callbacks_keeps_the_last_finished_step(monkeypatch, optimizer):
    from anyarray_nn import training

    X, y = _data()
    settings = ann.Settings(epochs=1, batch_size=16, shuffle=False, verbose=0)
    real_init = training._Run.__init__

    def interrupting_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        step, calls = self.runner.step, {"n": 0}

        def interrupted(*a, **k):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return step(*a, **k)

        interrupted.update = step.update
        self.runner.step = interrupted

    monkeypatch.setattr(training._Run, "__init__", interrupting_init)
    model = ann.Model(_layers(), backend="numpy", dtype="float64", seed=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, ann.Solver(optimizer=optimizer, learning_rate=0.05), settings)
    monkeypatch.undo()
    two_steps = ann.Model(_layers(), backend="numpy", dtype="float64", seed=0)
    two_steps.fit(X[:32], y[:32], ann.Solver(optimizer=optimizer, learning_rate=0.05), settings)
    for p, q in zip(model.parameters(), two_steps.parameters()):
        np.testing.assert_array_equal(ann.to_numpy(p), ann.to_numpy(q))
    assert model.optimizer_state_["t"] == 2
