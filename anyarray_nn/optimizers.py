"""Optimizers: how a gradient becomes a parameter update.

Every optimizer follows one small interface, so adding one means writing two methods:

``init_state(params, *, xp) -> state``
    The per-parameter state (velocities, moment estimates, ...) as a dict of lists of arrays, plus a
    step counter ``"t"``. ``params`` is the flat list ``[W_1, b_1, W_2, b_2, ...]``.
``step(params, grads, state, learning_rate, *, xp) -> (params, state)``
    One update. The learning rate is passed in on every step so that schedules can change it.

State is a plain dict, so it can be inspected, saved and restored. Hyperparameters are Python floats:
a NumPy scalar in the update would silently promote float32 weights to float64.
"""

from __future__ import annotations

import math


def _check_number(value, name, low=None, high=None, low_open=False, high_open=True):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"`{name}` must be a finite number, got {value!r}.")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ValueError(f"`{name}` must lie in {interval}, got {value!r}.")
    return float(value)


class Optimizer:
    """Base class. Subclasses set ``name`` and implement :meth:`init_state` and :meth:`step`."""

    name = "optimizer"

    def init_state(self, params, *, xp):
        return {"t": 0}

    def step(self, params, grads, state, learning_rate, *, xp):
        raise NotImplementedError

    def get_config(self):
        """Hyperparameters, for saving and for ``repr``."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p <- p - learning_rate * g``."""

    name = "sgd"

    def step(self, params, grads, state, learning_rate, *, xp):
        lr = float(learning_rate)
        new = [p - lr * g for p, g in zip(params, grads)]
        return new, {**state, "t": state["t"] + 1}


_REGISTRY = {cls.name: cls for cls in (SGD,)}


def register(cls):
    """Add an Optimizer subclass to the name registry (usable as a decorator)."""
    _REGISTRY[cls.name] = cls
    return cls


def names():
    return sorted(_REGISTRY)


def get(optimizer):
    """An optimizer from a name (``"sgd"``) or an :class:`Optimizer` instance."""
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in _REGISTRY:
            raise ValueError(f"Unknown optimizer {optimizer!r}; expected one of {names()}.")
        return _REGISTRY[key]()
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer()
    if isinstance(optimizer, Optimizer):
        return optimizer
    raise TypeError(f"`optimizer` must be a name in {names()} or an Optimizer instance, got {type(optimizer).__name__}.")
