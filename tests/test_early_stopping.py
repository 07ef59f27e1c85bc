"""Early stopping: it stops on a run built to overfit, and the model ends with the best epoch's weights."""

import numpy as np
import pytest

import anyarray_nn as ann

PATIENCE = 5


def _overfit_data():
    """20 noisy training samples for a 64-unit network: the validation loss soon turns up."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = np.argmax(X @ rng.normal(size=(5, 3)) + 1.5 * rng.normal(size=(60, 3)), axis=1)
    return X[:20], y[:20], X[20:], y[20:]


def _fit(model, epochs=200, early_stopping=None, monitor_data=True):
    Xtr, ytr, Xv, yv = _overfit_data()
    return model.fit(
        Xtr,
        ytr,
        solver=ann.Solver(optimizer="adam", learning_rate=0.002),
        settings=ann.Settings(epochs=epochs, batch_size=10, verbose=0, early_stopping=early_stopping),
        validation_data=(Xv, yv) if monitor_data else None,
    )


def _net(make, seed=0):
    return make([ann.Layer(5, 64, "tanh"), ann.Layer(64, 3, "softmax")], seed=seed)


def _numpy_model(layers, seed=0):
    return ann.Model(layers, backend="numpy", dtype="float64", seed=seed)


def test_stops_and_restores_the_best_epoch(bk):
    model = _net(bk.model)
    history = _fit(model, early_stopping=ann.EarlyStopping(patience=PATIENCE))
    val = np.array(history.val_loss)
    best = int(np.argmin(val)) + 1
    assert history.epochs < 200, "the run should have stopped early"
    assert history.best_epoch == best
    assert history.epochs == best + PATIENCE
    assert val[-1] > val[best - 1], "the run was built to overfit"
    assert history.stop_reason.startswith(f"early stopping at epoch {history.epochs}")
    assert f"restored the weights of epoch {best}" in history.stop_reason
    # The model now scores exactly what the best epoch scored.
    _, _, Xv, yv = _overfit_data()
    loss, _ = model.evaluate(Xv, yv)
    assert loss == pytest.approx(val[best - 1], rel=10 * bk.rtol)
    assert all(p.dtype == model.backend.dtype for p in model.parameters())


def test_restored_weights_equal_a_run_that_ended_at_the_best_epoch():
    stopped = _net(_numpy_model)
    history = _fit(stopped, early_stopping=ann.EarlyStopping(patience=PATIENCE))
    reference = _net(_numpy_model)
    _fit(reference, epochs=history.best_epoch)
    for a, b in zip(stopped.parameters(), reference.parameters()):
        np.testing.assert_array_equal(a, b)


def test_without_restoring_the_last_weights_stay():
    model = _net(_numpy_model)
    history = _fit(model, early_stopping=ann.EarlyStopping(patience=PATIENCE, restore_best_weights=False))
    _, _, Xv, yv = _overfit_data()
    assert history.epochs == history.best_epoch + PATIENCE
    assert model.evaluate(Xv, yv)[0] == pytest.approx(history.val_loss[-1], rel=1e-12)
    assert "restored" not in history.stop_reason


def test_min_delta_counts_only_large_improvements():
    model = _net(_numpy_model)
    history = _fit(model, early_stopping=ann.EarlyStopping(patience=3, min_delta=0.5))
    assert history.epochs == 4 and history.best_epoch == 1


def test_monitor_accuracy_and_training_loss():
    history = _fit(_net(_numpy_model), early_stopping=ann.EarlyStopping(patience=PATIENCE, monitor="val_accuracy"))
    acc = history.val_accuracy
    assert history.best_epoch == int(np.argmax(acc)) + 1  # first epoch of the highest accuracy
    assert history.epochs == history.best_epoch + PATIENCE
    # The training loss of this run keeps falling: no stop.
    history = _fit(_net(_numpy_model), epochs=30, early_stopping=ann.EarlyStopping(monitor="loss"), monitor_data=False)
    assert history.epochs == 30 and history.stop_reason == "completed 30 epochs"
    assert history.best_epoch == 30


def test_val_monitor_needs_validation_data():
    with pytest.raises(ValueError, match="validation_data"):
        _fit(_net(_numpy_model), early_stopping=ann.EarlyStopping(), monitor_data=False)


def test_history_records_the_best_epoch_without_early_stopping():
    history = _fit(_net(_numpy_model), epochs=25)
    assert history.epochs == 25 and history.stop_reason == "completed 25 epochs"
    assert history.best_epoch == int(np.argmin(history.val_loss)) + 1
    assert history.as_dict()["best_epoch"] == history.best_epoch


def test_one_early_stopping_object_serves_two_fits():
    early = ann.EarlyStopping(patience=PATIENCE)
    first = _fit(_net(_numpy_model), early_stopping=early)
    second = _fit(_net(_numpy_model), early_stopping=early)
    assert (first.epochs, first.best_epoch) == (second.epochs, second.best_epoch)
    assert early.best_weights is None  # released once restored


@pytest.mark.parametrize(
    "kwargs, error, argument",
    [
        ({"patience": 0}, ValueError, "patience"),
        ({"patience": 2.5}, TypeError, "patience"),
        ({"min_delta": -0.1}, ValueError, "min_delta"),
        ({"monitor": "val_acc"}, ValueError, "monitor"),
        ({"restore_best_weights": "yes"}, TypeError, "restore_best_weights"),
    ],
)
def test_bad_values_name_the_argument(kwargs, error, argument):
    with pytest.raises(error, match=f"`{argument}`"):
        ann.EarlyStopping(**kwargs)


def test_settings_takes_only_early_stopping_objects():
    with pytest.raises(TypeError, match="`early_stopping`"):
        ann.Settings(early_stopping=5)
    early = ann.EarlyStopping(patience=3)
    assert ann.Settings(early_stopping=early).early_stopping is early
    assert "EarlyStopping(patience=3" in repr(ann.Settings(early_stopping=early))
