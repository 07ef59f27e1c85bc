"""User callbacks and user components: what the epoch driver and the registries promise."""

import numpy as np
import pytest

import anyarray_nn as ann


def _iris():
    X, y = ann.datasets.load_iris()
    return (X - X.mean(0)) / X.std(0), y


def _model(seed=0, hidden="tanh"):
    return ann.Model([ann.Layer(4, 8, hidden), ann.Layer(8, 3, "softmax")], backend="numpy", dtype="float64", seed=seed)


class StopAtAccuracy(ann.Callback):
    """Records every epoch's figures and stops once the training accuracy reaches ``target``."""

    def __init__(self, target):
        super().__init__()
        self.target = target
        self.seen, self.events = [], []

    def on_train_begin(self, logs=None):
        self.events.append(("begin", logs["epochs"]))

    def on_epoch_end(self, epoch, logs):
        self.seen.append((epoch, logs["loss"], logs["accuracy"], logs["learning_rate"]))
        if logs["accuracy"] >= self.target:
            self.stop_training = True
            self.stop_reason = f"accuracy {logs['accuracy']:.3f} reached at epoch {epoch}"

    def on_train_end(self, logs=None):
        self.events.append(("end", logs["stop_reason"]))


def test_a_user_callback_records_every_epoch_and_stops_training():
    X, y = _iris()
    stopper = StopAtAccuracy(0.9)
    history = _model().fit(
        X, y, ann.Solver(optimizer="adam", learning_rate=0.02), ann.Settings(epochs=200, batch_size=16, verbose=0),
        callbacks=[stopper],
    )
    assert 1 < history.epochs < 200
    assert [e for e, *_ in stopper.seen] == list(range(1, history.epochs + 1))
    # The callback sees what the History records, as Python floats.
    assert [loss for _, loss, _, _ in stopper.seen] == history.loss
    assert [acc for _, _, acc, _ in stopper.seen] == history.accuracy
    assert stopper.seen[-1][2] >= 0.9 > max(acc for _, _, acc, _ in stopper.seen[:-1])
    assert history.stop_reason == stopper.stop_reason
    assert stopper.events == [("begin", 200), ("end", stopper.stop_reason)]


def test_callbacks_are_checked():
    X, y = _iris()
    with pytest.raises(TypeError, match=r"`callbacks\[0\]` must be a Callback"):
        _model().fit(X, y, callbacks=[print])
    with pytest.raises(TypeError, match="`callbacks` must be a list"):
        _model().fit(X, y, callbacks=StopAtAccuracy(0.5))


def test_a_callback_on_every_batch_reads_nothing_from_the_device(monkeypatch):
    X, y = _iris()
    reads = []
    real = ann.Backend.to_numpy
    monkeypatch.setattr(ann.Backend, "to_numpy", lambda self, x: reads.append(1) or real(self, x))

    class Count(ann.Callback):
        batches = 0

        def on_batch_end(self, batch):
            Count.batches += 1

    _model().fit(X, y, settings=ann.Settings(epochs=3, batch_size=10, verbose=0), callbacks=[Count()])
    assert Count.batches == 3 * 15
    assert len(reads) == 3  # one host read per epoch


@ann.activations.register
class Cube(ann.activations.Activation):
    """``g(z) = z^3 / 3``; ``g'(z) = z^2``: a user's activation, registered under its name."""

    name = "cube_test"

    def forward(self, Z, *, xp):
        return Z * Z * Z / 3.0

    def derivative(self, Z, A, *, xp):
        return Z * Z


def test_a_registered_user_activation_saves_and_loads_by_name(tmp_path):
    X, y = _iris()
    model = ann.Model([ann.Layer(4, 5, "cube_test"), ann.Layer(5, 3, "softmax")], backend="numpy", dtype="float64", seed=1)
    assert isinstance(model.layers[0].activation, Cube)
    assert ann.gradcheck(model, X[:6], y[:6])
    model.fit(X, y, settings=ann.Settings(epochs=3, verbose=0))
    ann.save(model, tmp_path / "cube.npz")
    loaded = ann.load(tmp_path / "cube.npz", backend="numpy")
    assert isinstance(loaded.layers[0].activation, Cube)
    np.testing.assert_array_equal(ann.to_numpy(loaded.predict_proba(X)), ann.to_numpy(model.predict_proba(X)))
    assert "cube_test" in ann.activations.names()


def test_registries_refuse_what_they_cannot_rebuild():
    with pytest.raises(TypeError, match="Only subclasses of Loss"):
        ann.losses.register(Cube)
    with pytest.raises(ValueError, match="taken"):

        @ann.activations.register
        class Other(ann.activations.Activation):
            name = "relu"

    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamm'; expected one of \["):
        ann.optimizers.get("adamm")
    for registry in (ann.activations, ann.losses, ann.optimizers, ann.schedules):
        assert registry.names() == registry.REGISTRY.names()


def test_components_own_their_decisions():
    xp = ann.Backend("numpy").xp
    A = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    assert ann.activations.get("softmax").decide(A, xp=xp).tolist() == [1, 0]
    assert ann.activations.get("sigmoid").decide(A, xp=xp).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert ann.activations.get("linear").decide(A, xp=xp) is A
    assert ann.activations.get("relu").default_init == "he" and ann.activations.get("tanh").default_init == "xavier"
    assert ann.losses.get("crossentropy").classification and not ann.losses.get("mse").classification
    assert ann.losses.get("crossentropy").encode_targets(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_the_pure_step_changes_nothing_but_what_it_returns():
    """The step returns new parameters and state; on an immutable-style copy the inputs stay as they were."""
    X, y = _iris()
    model = _model()
    solver = ann.training.default_solver(model, ann.Solver(optimizer="adam", learning_rate=0.01))
    xp = model.xp
    params = [xp.asarray(p, copy=True) for p in model.parameters()]
    state = solver.optimizer.init_state(params, xp=xp)
    T = ann.losses.get("crossentropy").encode_targets(y, 3)
    step = ann.step.make_train_step(model.layers, solver, xp=xp)
    before = [p.copy() for p in model.parameters()]
    new_params, new_state, loss, predictions = step(params, state, X[:16], T[:16], None, 0.01)
    assert new_state["t"] == 1 and state["t"] == 0
    assert loss.shape == () and predictions.shape == (16,)
    # The model's own arrays were not touched.
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)


def test_an_early_stopping_callback_is_checked_before_training():
    """An EarlyStopping passed in ``callbacks`` is checked like the one of Settings, before the model changes."""
    X, y = _iris()
    model = _model()
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="needs `validation_data`"):
        model.fit(X, y, settings=ann.Settings(epochs=3, verbose=0), callbacks=[ann.EarlyStopping(monitor="val_loss")])
    regressor = ann.Model([ann.Layer(4, 1, "linear")], backend="numpy", dtype="float64", seed=0)
    with pytest.raises(ValueError, match=r"has nothing to monitor: this fit records \['loss'\]"):
        regressor.fit(X, X[:, 0], settings=ann.Settings(epochs=3, verbose=0, early_stopping=ann.EarlyStopping(monitor="accuracy")))
    assert model.history_ is None
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("verbose", [0, 1])
def test_the_progress_logger_is_called_after_batches_only_when_it_can_show_something(monkeypatch, verbose):
    calls = []
    real = ann.callbacks.ProgressLogger.on_batch_end

    def counted(self, batch):
        calls.append(batch)
        return real(self, batch)

    monkeypatch.setattr(ann.callbacks.ProgressLogger, "on_batch_end", counted)
    X, y = ann.datasets.load_iris()
    model = ann.Model([ann.Layer(4, 8, "relu"), ann.Layer(8, 3, "softmax")], backend="numpy", seed=0)
    logger = ann.callbacks.ProgressLogger(verbose=0)
    assert not logger.listens_to_batches  # before training: nothing to show yet
    model.fit(X, y, settings=ann.Settings(epochs=2, batch_size=50, verbose=verbose))
    assert calls == ([] if verbose == 0 else [1, 2, 3, 1, 2, 3])
