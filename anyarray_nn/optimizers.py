"""Optimizers: how a gradient becomes a parameter update.

Every optimizer follows one small interface, so adding one means writing two methods:

``init_state(params, *, xp) -> state``
    The per-parameter state (velocities, moment estimates, ...) as a dict of lists of arrays, plus a
    step counter ``"t"``. ``params`` is the flat list ``[W_1, b_1, W_2, b_2, ...]``.
``step(params, grads, state, learning_rate, *, xp) -> (params, state)``
    One update. The learning rate is passed in on every step so that schedules can change it.

State is a plain dict (``{"t": 3, "m": [...], "v": [...]}``), so it can be inspected, saved and
restored; ``get_config()`` gives the hyperparameters, and ``get(name, **config)`` (or
``get(name)(**config)``) rebuilds the optimizer. Hyperparameters are Python floats: a NumPy scalar in
the update would silently promote float32 weights to float64, and bias corrections are computed with
:mod:`math` for the same reason.

Each update is written once, as values: ``m = b1 * m + (1 - b1) * g``. Where the array library allows it
(NumPy, CuPy, torch, array_api_strict) the helpers below write the result into the old array, which
saves one allocation per array and step; immutable or lazy arrays (JAX, Dask) get new arrays. Either
way ``step`` returns the new parameters and state, and the caller must use those, not the old ones.
The classes below go from the simplest optimizer to the most elaborate. In the update rules below
``g`` is the gradient, ``lr`` the learning rate, ``t`` the step number (1 on the first step), and the
arithmetic is elementwise.
"""

from __future__ import annotations

import math

from array_api_compat import is_writeable_array

from ._registry import Registry
from ._validation import check_number


def _fraction(value, name):
    """A decay rate in [0, 1) (beta_1, beta_2, rho, momentum)."""
    return check_number(value, name, low=0.0, high=1.0)


def _positive(value, name):
    return check_number(value, name, low=0.0, low_open=True, high=None)


def _non_negative(value, name):
    return check_number(value, name, low=0.0, high=None)


def _inplace(*arrays):
    # Asked for every parameter on every step: a plain loop costs a third of all() over a generator.
    for a in arrays:
        if not is_writeable_array(a):
            return False
    return True


def _rate(learning_rate):
    """The learning rate as a Python float; a 0-d array (an input of a compiled step) stays as it is."""
    return float(learning_rate) if isinstance(learning_rate, (int, float)) else learning_rate


def _mul(a, s, inplace):
    """``a * s``, written into ``a`` when ``inplace``."""
    if inplace:
        a *= s
        return a
    return a * s


def _add(a, b, inplace):
    """``a + b``, written into ``a`` when ``inplace``."""
    if inplace:
        a += b
        return a
    return a + b


def _sub(a, b, inplace):
    """``a - b``, written into ``a`` when ``inplace``."""
    if inplace:
        a -= b
        return a
    return a - b


class Optimizer:
    """Base class. Subclasses set ``name`` and implement :meth:`init_state` and :meth:`step`.

    ``nonnegative_state`` names the state entries that accumulate squares (their square roots are
    taken), so that a loaded state with negative values there is refused.
    """

    name = "optimizer"
    nonnegative_state = ()
    #: Whether the update of every entry depends on that entry alone, never on the array it is in (its
    #: shape, its other entries): the training step may then update all parameters as one flat array
    #: (:class:`anyarray_nn.step.Packing`). Left False, an optimizer is always given the arrays one by one.
    elementwise = False

    def init_state(self, params, *, xp):
        return {"t": 0}

    def step(self, params, grads, state, learning_rate, *, xp):
        raise NotImplementedError

    def get_config(self):
        """Hyperparameters as Python numbers: ``type(self)(**get_config())`` is an equal optimizer."""
        return {}

    def __call__(self, **changes):
        """A new optimizer of the same kind with ``changes`` applied to the hyperparameters.

        ``get("adam")(beta_1=0.8)`` and ``get(name)(**saved_config)`` both work.
        """
        return type(self)(**{**self.get_config(), **changes})

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Plain stochastic gradient descent::

        p <- p - lr * g
    """

    name = "sgd"
    elementwise = True

    def step(self, params, grads, state, learning_rate, *, xp):
        lr = _rate(learning_rate)
        # p + (-lr * g) equals p - lr * g to the last bit (negation is exact); the generator makes one
        # temporary at a time.
        return self._add(params, ((-lr) * g for g in grads), state)

    def apply_updates(self, params, updates, state, *, xp):
        """The same step from gradients that were already multiplied by ``-lr``: ``p <- p + u``.

        Backpropagation is linear in the output gradient, so the training loop can scale that small
        ``(n_samples, n_outputs)`` array by ``-lr`` and receive every gradient as its update. Adding it is
        one pass over each parameter, where :meth:`step` first makes the temporary ``lr * g`` of the
        parameter's size (see :func:`folds_learning_rate`).
        """
        return self._add(params, updates, state)

    @staticmethod
    def _add(params, updates, state):
        out = [_add(p, u, _inplace(p)) for p, u in zip(params, updates)]
        return out, {**state, "t": state["t"] + 1}


def folds_learning_rate(optimizer):
    """Whether the training loop may fold the learning rate into the output gradient for ``optimizer``.

    Only plain SGD's update is ``-lr * g``; a subclass with its own ``step`` is taken at its word.
    """
    return isinstance(optimizer, SGD) and type(optimizer).step is SGD.step


class Momentum(Optimizer):
    """Gradient descent with (heavy-ball) momentum, in the form torch.optim.SGD uses::

        v <- momentum * v + g
        p <- p - lr * v

    ``v`` starts at zero, so the first step equals SGD's. With a constant learning rate this is the
    textbook ``v <- momentum * v - lr * g; p <- p + v``; written this way a schedule's change of the
    learning rate takes effect at once.

    Parameters
    ----------
    momentum : float, default 0.9
        In [0, 1): how much of the previous velocity is kept.
    """

    name = "momentum"
    elementwise = True
    nesterov = False

    def __init__(self, momentum=0.9):
        self.momentum = _fraction(momentum, "momentum")

    def init_state(self, params, *, xp):
        return {"t": 0, "velocity": [xp.zeros_like(p) for p in params]}

    def step(self, params, grads, state, learning_rate, *, xp):
        lr, mu = _rate(learning_rate), self.momentum
        out, velocity = [], []
        for p, g, v in zip(params, grads, state["velocity"]):
            inplace = _inplace(p, v)
            v = _add(_mul(v, mu, inplace), g, inplace)
            p = _sub(p, lr * (g + mu * v) if self.nesterov else lr * v, inplace)
            out.append(p)
            velocity.append(v)
        return out, {**state, "t": state["t"] + 1, "velocity": velocity}

    def get_config(self):
        return {"momentum": self.momentum}


class Nesterov(Momentum):
    """Nesterov accelerated gradient, in the form torch.optim.SGD(nesterov=True) uses::

        v <- momentum * v + g
        p <- p - lr * (g + momentum * v)

    The step looks ahead along the velocity it is about to take, which damps the overshoot of plain
    momentum.

    Parameters
    ----------
    momentum : float, default 0.9
        In [0, 1).
    """

    name = "nesterov"
    nesterov = True


class RMSprop(Optimizer):
    """RMSprop: divide the step by a running root mean square of recent gradients::

        s <- rho * s + (1 - rho) * g^2
        p <- p - lr * g / (sqrt(s) + epsilon)

    Parameters
    ----------
    rho : float, default 0.9
        In [0, 1): decay of the running average of squared gradients (``alpha`` in torch).
    epsilon : float, default 1e-8
        > 0, keeps the division finite where a gradient has been zero.
    """

    name = "rmsprop"
    elementwise = True
    nonnegative_state = ("square_avg",)

    def __init__(self, rho=0.9, epsilon=1e-8):
        self.rho = _fraction(rho, "rho")
        self.epsilon = _positive(epsilon, "epsilon")

    def init_state(self, params, *, xp):
        return {"t": 0, "square_avg": [xp.zeros_like(p) for p in params]}

    def step(self, params, grads, state, learning_rate, *, xp):
        lr, rho, eps = _rate(learning_rate), self.rho, self.epsilon
        out, square_avg = [], []
        for p, g, s in zip(params, grads, state["square_avg"]):
            inplace = _inplace(p, s)
            s = _add(_mul(s, rho, inplace), (1.0 - rho) * (g * g), inplace)
            p = _sub(p, lr * (g / (xp.sqrt(s) + eps)), inplace)
            out.append(p)
            square_avg.append(s)
        return out, {**state, "t": state["t"] + 1, "square_avg": square_avg}

    def get_config(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class Adagrad(Optimizer):
    """Adagrad: each parameter's step shrinks with the sum of all its squared gradients so far::

        s <- s + g^2
        p <- p - lr * g / (sqrt(s) + epsilon)

    Parameters
    ----------
    epsilon : float, default 1e-10
        > 0, keeps the division finite.
    initial_accumulator_value : float, default 0.0
        >= 0, the starting value of ``s``.
    """

    name = "adagrad"
    elementwise = True
    nonnegative_state = ("sum_sq",)

    def __init__(self, epsilon=1e-10, initial_accumulator_value=0.0):
        self.epsilon = _positive(epsilon, "epsilon")
        self.initial_accumulator_value = _non_negative(initial_accumulator_value, "initial_accumulator_value")

    def init_state(self, params, *, xp):
        return {"t": 0, "sum_sq": [xp.full_like(p, self.initial_accumulator_value) for p in params]}

    def step(self, params, grads, state, learning_rate, *, xp):
        lr, eps = _rate(learning_rate), self.epsilon
        out, sum_sq = [], []
        for p, g, s in zip(params, grads, state["sum_sq"]):
            inplace = _inplace(p, s)
            s = _add(s, g * g, inplace)
            p = _sub(p, lr * (g / (xp.sqrt(s) + eps)), inplace)
            out.append(p)
            sum_sq.append(s)
        return out, {**state, "t": state["t"] + 1, "sum_sq": sum_sq}

    def get_config(self):
        return {"epsilon": self.epsilon, "initial_accumulator_value": self.initial_accumulator_value}


class Adam(Optimizer):
    """Adam: momentum on the gradient and RMSprop scaling, both bias-corrected (Kingma & Ba, 2015)::

        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g^2
        m_hat = m / (1 - beta_1^t),   v_hat = v / (1 - beta_2^t)
        p <- p - lr * m_hat / (sqrt(v_hat) + epsilon)

    Parameters
    ----------
    beta_1 : float, default 0.9
        In [0, 1): decay of the first-moment (mean) estimate ``m``.
    beta_2 : float, default 0.999
        In [0, 1): decay of the second-moment estimate ``v``.
    epsilon : float, default 1e-8
        > 0, added to ``sqrt(v_hat)``.
    """

    name = "adam"
    elementwise = True
    nonnegative_state = ("v",)

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")

    def init_state(self, params, *, xp):
        return {"t": 0, "m": [xp.zeros_like(p) for p in params], "v": [xp.zeros_like(p) for p in params]}

    def _decay(self, p, lr, inplace):
        """Decoupled weight decay, applied before the Adam step (AdamW only)."""
        return p

    def step(self, params, grads, state, learning_rate, *, xp):
        lr, b1, b2, eps = _rate(learning_rate), self.beta_1, self.beta_2, self.epsilon
        t = state["t"] + 1
        if isinstance(t, int):
            # Bias corrections on the host, in Python floats, so float32 weights stay float32.
            step_size = lr / (1.0 - b1**t)
            sqrt_bc2 = math.sqrt(1.0 - b2**t)
        else:
            # Inside a compiled step the count is a 0-d device array: the same formulas, on the device.
            tf = xp.astype(t, state["m"][0].dtype)
            step_size = lr / (1.0 - b1**tf)
            sqrt_bc2 = xp.sqrt(1.0 - b2**tf)
        out, ms, vs = [], [], []
        for p, g, m, v in zip(params, grads, state["m"], state["v"]):
            inplace = _inplace(p, m, v)
            p = self._decay(p, lr, inplace)
            m = _add(_mul(m, b1, inplace), (1.0 - b1) * g, inplace)
            v = _add(_mul(v, b2, inplace), (1.0 - b2) * (g * g), inplace)
            p = _sub(p, step_size * (m / (xp.sqrt(v) / sqrt_bc2 + eps)), inplace)
            out.append(p)
            ms.append(m)
            vs.append(v)
        return out, {**state, "t": t, "m": ms, "v": vs}

    def get_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019)::

        W <- W - lr * weight_decay * W          (weight matrices only, before the Adam step)
        p <- Adam step of p

    Unlike an L2 penalty, the decay does not pass through Adam's per-parameter scaling, so every weight
    shrinks at the same relative rate. As with the penalties of
    :class:`~anyarray_nn.Regularization`, biases (the 1-D parameters) are not decayed.

    Parameters
    ----------
    beta_1, beta_2, epsilon : float
        As for :class:`Adam`.
    weight_decay : float, default 0.01
        >= 0, the decay per step relative to the learning rate.
    """

    name = "adamw"

    @property
    def elementwise(self):
        return self.weight_decay == 0.0  # the decay is for weight matrices only

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01):
        super().__init__(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def _decay(self, p, lr, inplace):
        if self.weight_decay == 0.0 or p.ndim < 2:
            return p
        return _mul(p, 1.0 - lr * self.weight_decay, inplace)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}


class LBFGS(Optimizer):
    """L-BFGS on the full batch (:mod:`anyarray_nn.lbfgs`): each epoch of ``fit`` is one iteration.

    It needs the exact gradient of the whole objective, so ``fit`` evaluates the full training set (in
    one batch; ``Settings.batch_size`` is not used), and it chooses its own step length by a strong-Wolfe
    line search (``Solver.learning_rate`` is not used; ``history.learning_rate`` records those step
    lengths). Dropout (a random objective), gradient clipping and data-parallel training do not apply.

    Parameters
    ----------
    max_fun : int, default 15000
        At most this many function evaluations in a fit.
    tol : float, default 1e-5
        Stop when the largest gradient entry is at most this.
    history_size : int, default 10
        Pairs of steps and gradient changes kept for the curvature estimate.
    """

    name = "lbfgs"
    full_batch = True

    def __init__(self, max_fun=15000, tol=1e-5, history_size=10):
        self.max_fun = int(_positive(max_fun, "max_fun"))
        self.tol = _non_negative(tol, "tol")
        self.history_size = int(_positive(history_size, "history_size"))

    def step(self, params, grads, state, learning_rate, *, xp):
        raise TypeError("L-BFGS takes no mini-batch steps: train with it through fit (the full batch each epoch).")

    def get_config(self):
        return {"max_fun": self.max_fun, "tol": self.tol, "history_size": self.history_size}


def map_state(state, func):
    """``func`` applied to every array of an optimizer state (nested dicts and lists); numbers stay."""
    if isinstance(state, dict):
        return {k: map_state(v, func) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [map_state(v, func) for v in state]
    if hasattr(state, "shape") and hasattr(state, "dtype"):
        return func(state)
    return state


def clip_by_global_norm(grads, clip_norm, *, xp):
    """Scale all gradients together so that their global L2 norm is at most ``clip_norm``.

    ``norm = sqrt(sum over arrays of sum(g^2))``, ``scale = min(1, clip_norm / (norm + 1e-6))``, every
    ``g <- g * scale``. The scale stays a 0-d device array, so nothing waits for the device.

    Parameters
    ----------
    grads : list of arrays
    clip_norm : float
        > 0.

    Returns
    -------
    list of arrays
        The scaled gradients, same shapes.
    """
    total = None
    for g in grads:
        part = xp.sum(g * g)
        total = part if total is None else total + part
    ratio = clip_norm / (xp.sqrt(total) + 1e-6)
    # minimum with a device array of ones: xp.clip would index with a boolean mask on some libraries,
    # which waits for the device.
    scale = xp.minimum(ratio, xp.ones_like(ratio))
    return [g * scale for g in grads]


REGISTRY = Registry("optimizer", Optimizer)
for _cls in (SGD, Momentum, Nesterov, RMSprop, Adagrad, Adam, AdamW, LBFGS):
    REGISTRY.register(_cls)
names = REGISTRY.names
register = REGISTRY.register


def get(optimizer, **config):
    """An optimizer from a name (``"adam"``), a class or an :class:`Optimizer` instance.

    ``config`` sets hyperparameters: ``get("adam", beta_1=0.8)``; with a saved configuration,
    ``get(name, **optimizer.get_config())`` rebuilds an equal optimizer.
    """
    return REGISTRY.get(optimizer, **config)
