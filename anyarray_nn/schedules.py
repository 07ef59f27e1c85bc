"""Learning-rate schedules: the learning rate of each epoch.

A schedule turns the Solver's base learning rate ``lr`` into the rate of the coming epoch; the
training loop asks once per epoch and tells the schedule when the epoch is over. With ``e`` the number
of epochs completed so far (0 during the first epoch):

=============== ===============================================================================
name            learning rate of epoch ``e``
=============== ===============================================================================
constant        ``lr``
step            ``lr * gamma ** floor(e / step_size)``
exponential     ``lr * gamma ** e``
cosine          ``min_lr + (lr - min_lr) * (1 + cos(pi * min(e, t_max) / t_max)) / 2``
plateau         ``lr``, multiplied by ``factor`` each time the monitored loss has not improved by
                more than ``min_delta`` for ``patience`` epochs, never below ``min_lr``
=============== ===============================================================================

Interface, for writing another one:

``learning_rate(base_lr) -> float``
    The rate for the coming epoch (a Python float).
``step(loss=None)``
    The epoch is over; ``loss`` is the validation loss (the training loss without validation data).
``begin(epochs)``
    A fit of ``epochs`` epochs starts (lets ``cosine`` default its period to the fit's length).
``state_dict() / load_state_dict(state)``
    Position and counters as a dict of Python numbers, so a resumed fit continues the schedule.
    ``load_state_dict`` checks every entry (``check_state``) before it changes anything: a schedule
    with other entries overrides ``check_state_entry`` (by default an entry must be a finite number or
    None).
``get_config()``
    Hyperparameters: ``get(name, **get_config())`` rebuilds the schedule.
"""

from __future__ import annotations

import math

from ._registry import Registry
from ._validation import check_number, check_positive_int

# No fit counts further: larger counts in a saved state are damage (and would lose precision as floats).
MAX_COUNT = 2**53


def check_count(value, name, low=0, high=MAX_COUNT):
    """``value`` as an int in ``[low, high]``, or a TypeError / ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an integer, got {value!r} ({type(value).__name__}).")
    if not low <= value <= high:
        raise ValueError(f"`{name}` must be an integer in [{low}, {high}], got {value!r}.")
    return value


class Schedule:
    """Base class: a constant rate that counts epochs. Subclasses override :meth:`multiplier`."""

    name = "schedule"

    def __init__(self):
        self.reset()

    def reset(self):
        """Back to epoch 0 (a fresh fit)."""
        self.epoch = 0

    def begin(self, epochs):
        """Called when a fit of ``epochs`` epochs starts."""

    def multiplier(self):
        """Multiplier of the base learning rate for the coming epoch."""
        return 1.0

    def learning_rate(self, base_lr):
        return float(base_lr) * self.multiplier()

    def step(self, loss=None):
        self.epoch += 1

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        """Continue from ``state`` (a :meth:`state_dict`); nothing changes unless every entry is valid.

        Raises
        ------
        TypeError, ValueError
            Naming the entry that is missing, unknown, of the wrong type or out of range.
        """
        checked = self.check_state(state)
        self.reset()
        for key, value in checked.items():
            setattr(self, key, value)

    def check_state(self, state):
        """``state`` with every entry checked: the entries of :meth:`state_dict`, each of its kind."""
        if not isinstance(state, dict):
            raise TypeError(f"The state of {type(self).__name__} must be a dict from state_dict(), got {type(state).__name__}.")
        expected = sorted(self.state_dict())
        if sorted(state) != expected:
            raise ValueError(f"The state of {type(self).__name__} has the entries {expected}, got {sorted(state)}.")
        return {key: self.check_state_entry(key, value) for key, value in state.items()}

    def check_state_entry(self, key, value):
        """One checked entry of a saved state; subclasses with other entries extend it."""
        name = f"{type(self).__name__} state {key}"
        if key == "epoch":
            return check_count(value, name)
        if value is None:
            return None
        return check_number(value, name)

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """The base learning rate every epoch."""

    name = "constant"


class StepDecay(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs: ``lr * gamma ** floor(e / step_size)``.

    Parameters
    ----------
    step_size : int, default 30
        Epochs between drops, >= 1.
    gamma : float, default 0.1
        Multiplier at each drop, in (0, 1].
    """

    name = "step"

    def __init__(self, step_size=30, gamma=0.1):
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = check_number(gamma, "gamma", low=0.0, low_open=True, high=1.0, high_open=False)
        super().__init__()

    def multiplier(self):
        return self.gamma ** (self.epoch // self.step_size)

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """Multiply the rate by ``gamma`` every epoch: ``lr * gamma ** e``.

    Parameters
    ----------
    gamma : float, default 0.95
        In (0, 1].
    """

    name = "exponential"

    def __init__(self, gamma=0.95):
        self.gamma = check_number(gamma, "gamma", low=0.0, low_open=True, high=1.0, high_open=False)
        super().__init__()

    def multiplier(self):
        return self.gamma**self.epoch

    def get_config(self):
        return {"gamma": self.gamma}


class Cosine(Schedule):
    """Cosine annealing from ``lr`` down to ``min_lr`` over ``t_max`` epochs, then ``min_lr``.

    ``min_lr + (lr - min_lr) * (1 + cos(pi * min(e, t_max) / t_max)) / 2``

    Parameters
    ----------
    t_max : int, optional
        Length of the decay in epochs. Default: the number of epochs of the first fit that uses it.
    min_lr : float, default 0.0
        Final learning rate, >= 0.
    """

    name = "cosine"

    def __init__(self, t_max=None, min_lr=0.0):
        self.t_max = None if t_max is None else check_positive_int(t_max, "t_max")
        self.min_lr = check_number(min_lr, "min_lr", low=0.0, high=None)
        super().__init__()

    def reset(self):
        super().reset()
        self.period = self.t_max

    def begin(self, epochs):
        if self.period is None:
            self.period = self.epoch + epochs

    def learning_rate(self, base_lr):
        period = self.period or 1
        progress = min(self.epoch, period) / period
        return self.min_lr + (float(base_lr) - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def state_dict(self):
        return {"epoch": self.epoch, "period": self.period}

    def check_state_entry(self, key, value):
        if key != "period":
            return super().check_state_entry(key, value)
        if value is None:
            return None
        period = check_count(value, "Cosine state period", low=1)
        if self.t_max is not None and period != self.t_max:
            raise ValueError(f"`Cosine state period` must equal t_max={self.t_max}, got {period!r}.")
        return period

    def get_config(self):
        return {"t_max": self.t_max, "min_lr": self.min_lr}


class ReduceOnPlateau(Schedule):
    """Divide the rate when the loss stops improving.

    After each epoch the monitored loss (the validation loss, or the training loss when there is no
    validation data) is compared with the best so far: an improvement is a decrease of more than
    ``min_delta``. After ``patience`` epochs in a row without one, the rate is multiplied by
    ``factor`` (never below ``min_lr``) and the count restarts, after ``cooldown`` epochs in which
    nothing is counted.

    Parameters
    ----------
    factor : float, default 0.1
        In (0, 1).
    patience : int, default 10
        Epochs without improvement before a reduction, >= 1.
    min_delta : float, default 1e-4
        Smallest decrease that counts as an improvement, >= 0.
    cooldown : int, default 0
        Epochs to wait after a reduction before counting again, >= 0.
    min_lr : float, default 0.0
        Lower bound of the learning rate, >= 0.

    Attributes
    ----------
    scale : float
        Current multiplier of the base learning rate (``factor ** reductions``).
    best : float
        Best loss seen.
    wait : int
        Epochs since the last improvement.
    """

    name = "plateau"

    def __init__(self, factor=0.1, patience=10, min_delta=1e-4, cooldown=0, min_lr=0.0):
        self.factor = check_number(factor, "factor", low=0.0, low_open=True, high=1.0)
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = check_number(min_delta, "min_delta", low=0.0, high=None)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
            raise ValueError(f"`cooldown` must be an integer >= 0, got {cooldown!r}.")
        self.cooldown = cooldown
        self.min_lr = check_number(min_lr, "min_lr", low=0.0, high=None)
        super().__init__()

    def reset(self):
        super().reset()
        self.scale = 1.0
        self.best = math.inf
        self.wait = 0
        self.cooldown_left = 0
        self.reductions = 0

    def learning_rate(self, base_lr):
        return max(float(base_lr) * self.scale, self.min_lr)

    def step(self, loss=None):
        super().step()
        if loss is None or not math.isfinite(loss):
            loss = math.inf  # a NaN or missing loss is never an improvement
        if loss < self.best - self.min_delta:
            self.best = float(loss)
            self.wait = 0
            return
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.scale *= self.factor
            self.reductions += 1
            self.wait = 0
            self.cooldown_left = self.cooldown

    def state_dict(self):
        return {
            "epoch": self.epoch,
            "scale": self.scale,
            "best": self.best,
            "wait": self.wait,
            "cooldown_left": self.cooldown_left,
            "reductions": self.reductions,
        }

    def check_state_entry(self, key, value):
        name = f"ReduceOnPlateau state {key}"
        if key == "scale":
            # factor ** reductions: 1 at first, and it may underflow to 0 after very many reductions.
            return check_number(value, name, low=0.0, high=1.0, high_open=False)
        if key == "best":
            # inf until a finite loss has been seen.
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == math.inf:
                return math.inf
            return check_number(value, name)
        if key == "wait":
            return check_count(value, name, high=self.patience - 1)
        if key == "cooldown_left":
            return check_count(value, name, high=self.cooldown)
        if key == "reductions":
            return check_count(value, name)
        return super().check_state_entry(key, value)

    def get_config(self):
        return {
            "factor": self.factor,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
        }


REGISTRY = Registry(
    "schedule",
    Schedule,
    aliases={
        "step_decay": "step",
        "exponential_decay": "exponential",
        "reduce_on_plateau": "plateau",
        "cosine_annealing": "cosine",
    },
)
for _cls in (Constant, StepDecay, ExponentialDecay, Cosine, ReduceOnPlateau):
    REGISTRY.register(_cls)
names = REGISTRY.names
register = REGISTRY.register


def get(schedule, **config):
    """A schedule from None (constant), a name (``"cosine"``), a class or a :class:`Schedule` instance.

    ``config`` sets hyperparameters: ``get("step", step_size=10, gamma=0.5)``.
    """
    return Constant() if schedule is None else REGISTRY.get(schedule, **config)
