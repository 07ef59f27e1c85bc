"""Weight initialization schemes.

Each scheme gives the spread of ``W`` (shape ``(n_in, n_out)``) from the layer's fan-in and fan-out.
With ``distribution="normal"`` the weights are drawn from N(0, std^2); with ``"uniform"`` from
U(-limit, limit) with ``limit = sqrt(3) * std``, which has the same variance. Biases start at zero.

=========  ===========================  ==============================================
name       std                          suits
=========  ===========================  ==============================================
zeros      0                            nothing: every unit of a layer computes the same
                                        thing and gets the same gradient, so symmetry is
                                        never broken. Kept to show why.
random     0.01                         small nets; deep nets shrink their signal
xavier     sqrt(2 / (n_in + n_out))     tanh, sigmoid, softmax, linear (Glorot 2010)
he         sqrt(2 / n_in)               relu and its relatives (He et al. 2015)
lecun      sqrt(1 / n_in)               selu / tanh (LeCun 1998)
=========  ===========================  ==============================================
"""

from __future__ import annotations

import math

DISTRIBUTIONS = ("normal", "uniform")


def _std_zeros(n_in, n_out):
    return 0.0


def _std_random(n_in, n_out):
    return 0.01


def _std_xavier(n_in, n_out):
    return math.sqrt(2.0 / (n_in + n_out))


def _std_he(n_in, n_out):
    return math.sqrt(2.0 / n_in)


def _std_lecun(n_in, n_out):
    return math.sqrt(1.0 / n_in)


_STD = {
    "zeros": _std_zeros,
    "random": _std_random,
    "xavier": _std_xavier,
    "he": _std_he,
    "lecun": _std_lecun,
}
_ALIASES = {"glorot": "xavier", "kaiming": "he", "zero": "zeros", "normal": "random"}

# Activations whose default initializer is He; every other activation defaults to Xavier.


def names():
    """The registered initializer names (aliases glorot = xavier, kaiming = he)."""
    return sorted(_STD)


def canonical(init):
    """The registered name for ``init`` (resolving aliases), or a ValueError listing valid names."""
    if not isinstance(init, str):
        raise TypeError(f"`init` must be a string, one of {names()}, got {type(init).__name__}.")
    key = _ALIASES.get(init.lower(), init.lower())
    if key not in _STD:
        raise ValueError(f"Unknown initializer {init!r} for `init`; expected one of {names()} (or glorot, kaiming).")
    return key


def check_distribution(distribution):
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"Unknown `distribution` {distribution!r}; expected one of {list(DISTRIBUTIONS)}.")
    return distribution


def std(init, n_in, n_out):
    """Standard deviation of the weights for scheme ``init`` and the given fans."""
    return _STD[canonical(init)](n_in, n_out)


def initialize(backend, init, distribution, n_in, n_out):
    """Draw ``W`` of shape ``(n_in, n_out)`` and ``b`` of shape ``(n_out,)`` on ``backend``.

    Returns
    -------
    W : array, shape (n_in, n_out)
    b : array, shape (n_out,), zeros
    """
    s = std(init, n_in, n_out)
    xp = backend.xp
    if s == 0.0:
        W = xp.zeros((n_in, n_out), dtype=backend.dtype, device=backend.device)
    elif check_distribution(distribution) == "normal":
        W = backend.normal((n_in, n_out), std=s)
    else:
        limit = math.sqrt(3.0) * s
        W = backend.uniform((n_in, n_out), -limit, limit)
    b = xp.zeros((n_out,), dtype=backend.dtype, device=backend.device)
    return W, b
