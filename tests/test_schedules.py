"""Learning-rate schedules: the documented rates, reduce-on-plateau, state for resuming, use in fit."""

import math

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import schedules


def _rates(schedule, epochs, base=0.1, losses=None):
    out = []
    for e in range(epochs):
        out.append(schedule.learning_rate(base))
        schedule.step(None if losses is None else losses[e])
    return out


def test_constant():
    assert _rates(schedules.get("constant"), 4) == [0.1] * 4
    assert isinstance(schedules.get(None), schedules.Constant)


def test_step_decay():
    got = _rates(schedules.get("step", step_size=3, gamma=0.5), 8)
    np.testing.assert_allclose(got, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025], rtol=1e-15)


def test_exponential_decay():
    got = _rates(schedules.get("exponential", gamma=0.9), 5)
    np.testing.assert_allclose(got, [0.1 * 0.9**e for e in range(5)], rtol=1e-15)


def test_cosine():
    got = _rates(schedules.get("cosine", t_max=4, min_lr=0.01), 7)
    # Half-way (epoch 2) the rate is the mean of lr and min_lr; from t_max on it stays at min_lr.
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2 for e in range(7)]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got[2] == pytest.approx(0.055) and got[4:] == [pytest.approx(0.01)] * 3


def test_cosine_defaults_its_period_to_the_fit():
    X, y = ann.datasets.load_iris()
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", seed=0)
    history = model.fit(
        X, y, solver=ann.Solver(learning_rate=0.2, schedule="cosine"), settings=ann.Settings(epochs=5, verbose=0)
    )
    expected = [0.1 * (1 + math.cos(math.pi * e / 5)) for e in range(5)]
    np.testing.assert_allclose(history.learning_rate, expected, rtol=1e-14)


def test_reduce_on_plateau_reduces_after_patience():
    schedule = schedules.get("plateau", factor=0.5, patience=3, min_delta=0.01)
    # Improves twice, then stalls: the 3rd epoch without improvement (epoch index 4) triggers a reduction.
    losses = [1.0, 0.8, 0.795, 0.81, 0.8, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    got = _rates(schedule, len(losses), base=0.1, losses=losses)
    np.testing.assert_allclose(got, [0.1] * 5 + [0.05] * 4 + [0.025] * 2, rtol=1e-15)
    assert schedule.reductions == 2 and schedule.best == 0.6


def test_reduce_on_plateau_cooldown_and_floor():
    schedule = schedules.ReduceOnPlateau(factor=0.1, patience=1, cooldown=2, min_lr=0.002)
    got = _rates(schedule, 8, base=0.1, losses=[1.0] * 8)
    # epoch 1 improves (first value); epoch 2 stalls -> reduce; 2 epochs of cooldown; then stall -> reduce.
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.01, 0.002, 0.002, 0.002], rtol=1e-12)


def test_reduce_on_plateau_in_fit_follows_the_validation_loss(iris_split):
    Xtr, Xte, ytr, yte = iris_split
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", seed=0)
    # A min_delta no loss change can beat: only the first epoch counts as an improvement.
    solver = ann.Solver(learning_rate=0.1, schedule=schedules.ReduceOnPlateau(factor=0.5, patience=2, min_delta=10.0))
    history = model.fit(Xtr, ytr, solver=solver, settings=ann.Settings(epochs=7, verbose=0), validation_data=(Xte, yte))
    np.testing.assert_allclose(history.learning_rate, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-15)
    assert solver.schedule.best == pytest.approx(history.val_loss[0])


@pytest.mark.parametrize(
    "name, config",
    [
        ("step", {"step_size": 2, "gamma": 0.5}),
        ("exponential", {"gamma": 0.8}),
        ("cosine", {"t_max": 6, "min_lr": 0.001}),
        ("plateau", {"factor": 0.5, "patience": 2, "min_delta": 0.0, "cooldown": 1}),
    ],
)
def test_state_dict_resumes_the_schedule(name, config):
    losses = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.92, 0.8, 0.85, 0.86]
    whole = _rates(schedules.get(name, **config), 10, losses=losses)
    first = schedules.get(name, **config)
    head = _rates(first, 4, losses=losses)
    state = first.state_dict()
    assert all(isinstance(v, (int, float)) for v in state.values())
    resumed = schedules.get(name, **first.get_config())
    resumed.load_state_dict(state)
    tail = _rates(resumed, 6, losses=losses[4:])
    assert head + tail == whole


def test_warm_start_continues_the_schedule():
    X, y = ann.datasets.load_iris()
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", seed=0)
    solver = ann.Solver(learning_rate=0.1, schedule=schedules.StepDecay(step_size=2, gamma=0.5))
    first = model.fit(X, y, solver=solver, settings=ann.Settings(epochs=3, verbose=0))
    second = model.fit(X, y, solver=solver, settings=ann.Settings(epochs=3, verbose=0))
    np.testing.assert_allclose(first.learning_rate + second.learning_rate, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_names_objects_and_errors():
    for name in schedules.names():
        s = schedules.get(name)
        assert schedules.get(name, **s.get_config()).get_config() == s.get_config()
    obj = schedules.Cosine(t_max=3)
    assert ann.Solver(schedule=obj).schedule is obj
    assert isinstance(ann.Solver(schedule="reduce_on_plateau").schedule, schedules.ReduceOnPlateau)
    with pytest.raises(ValueError, match=r"Unknown schedule 'cosin'; expected one of \['constant', 'cosine'"):
        ann.Solver(schedule="cosin")
    with pytest.raises(TypeError, match="`schedule`"):
        ann.Solver(schedule=0.5)


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: schedules.StepDecay(step_size=0), "step_size"),
        (lambda: schedules.StepDecay(gamma=0.0), "gamma"),
        (lambda: schedules.ExponentialDecay(gamma=1.5), "gamma"),
        (lambda: schedules.Cosine(t_max=-1), "t_max"),
        (lambda: schedules.Cosine(min_lr=-0.1), "min_lr"),
        (lambda: schedules.ReduceOnPlateau(factor=1.0), "factor"),
        (lambda: schedules.ReduceOnPlateau(patience=0), "patience"),
        (lambda: schedules.ReduceOnPlateau(min_delta=-1.0), "min_delta"),
        (lambda: schedules.ReduceOnPlateau(cooldown=-1), "cooldown"),
    ],
)
def test_bad_values_name_the_argument(build, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        build()
