"""Check backpropagation against central finite differences.

For every parameter ``p`` the numerical derivative is ``(L(p + eps) - L(p - eps)) / (2 eps)``; its
error is ``O(eps^2)``, so in float64 with ``eps = 1e-6`` it agrees with a correct analytic gradient to
about 1e-8 relative. The check compares the two over all parameters at once:

    relative error = ||g_numeric - g_backprop|| / max(||g_numeric|| + ||g_backprop||, tiny)

Near a kink of the activation (ReLU at 0) the finite difference is wrong, not backpropagation:
:func:`rows_away_from_kinks` picks rows that keep clear of them.
"""

from __future__ import annotations

import math

import numpy as np

from . import network
from ._validation import check_targets, check_X
from .training import default_solver


class GradcheckResult:
    """Outcome of :func:`gradcheck`.

    Attributes
    ----------
    max_relative_error : float
        The relative error over all parameters (see the module docstring).
    per_parameter : dict
        ``{"W1": err, "b1": err, ...}``, the same measure for each parameter alone.
    passed : bool
        ``max_relative_error < tol``.
    """

    def __init__(self, errors, overall, tol):
        self.per_parameter = errors
        self.max_relative_error = overall
        self.tol = tol
        self.passed = overall < tol

    def __bool__(self):
        return self.passed

    def __repr__(self):
        worst = max(self.per_parameter, key=self.per_parameter.get)
        return (
            f"GradcheckResult(passed={self.passed}, relative_error={self.max_relative_error:.3e}, "
            f"worst={worst} {self.per_parameter[worst]:.3e}, tol={self.tol:g})"
        )


def _rel(a, b):
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(sum(x * x for x in a)) + math.sqrt(sum(y * y for y in b))
    return num / max(den, 1e-300)


def rows_away_from_kinks(model, X, n=None, *, margin=1e-4):
    """The first ``n`` rows of ``X`` whose pre-activations all lie farther than ``margin`` from a kink.

    An activation whose derivative jumps (ReLU at 0: :attr:`~anyarray_nn.activations.Activation.kink`)
    has none there: a finite difference that crosses the kink measures half a slope, so a gradient check
    keeps to rows away from it. (With zero biases a row whose inputs to a layer are all 0 sits exactly on
    it.)

    Parameters
    ----------
    model : Model
    X : array-like, shape (n_samples, n_features)
    n : int, optional
        At most this many rows (default: all that qualify).
    margin : float, default 1e-4

    Returns
    -------
    rows : NumPy integer array, shape (<= n,)
        Row numbers of ``X``, increasing.
    """
    xp = model.xp
    keep = None
    for layer, (Z, _) in zip(model.layers, model.forward(X)):
        if layer.activation.kink is not None:
            far = xp.all(xp.abs(Z - layer.activation.kink) > margin, axis=1)
            keep = far if keep is None else xp.logical_and(keep, far)
    rows = np.arange(X.shape[0]) if keep is None else np.flatnonzero(model.backend.to_numpy(keep))
    return rows[:n]


def gradcheck(model, X, y, solver=None, eps=1e-6, tol=1e-6):
    """Compare ``model.backward`` with central finite differences of the loss (dropout off).

    Parameters
    ----------
    model : Model
        Must use ``dtype="float64"``: in float32 rounding swamps the finite differences.
    X : array-like, shape (n_samples, n_features)
    y : array-like
        Targets as for :meth:`Model.fit`.
    solver : Solver, optional
        Loss and regularization (dropout is not applied during the check).
    eps : float, default 1e-6
        Step of the finite differences.
    tol : float, default 1e-6
        Largest relative error that passes.

    Returns
    -------
    GradcheckResult
        Truthy when the check passes.
    """
    if model.dtype != "float64":
        raise ValueError(
            f"gradcheck needs a float64 model, got dtype={model.dtype!r}; build it with dtype='float64' "
            f"or move it with model.to(model.backend.name, dtype='float64')."
        )
    solver = default_solver(model, solver)
    backend, xp = model.backend, model.xp
    Xd = check_X(X, backend, model.n_features)
    T = check_targets(y, backend, solver.loss, model.n_outputs, Xd.shape[0])

    def loss_at():
        value = network.value_and_grad(model.layers, model.parameters(), Xd, T, solver.loss, solver.regularization, xp=xp)[0]
        return float(value)

    _, grads_W, grads_b, _ = network.value_and_grad(
        model.layers, model.parameters(), Xd, T, solver.loss, solver.regularization, xp=xp
    )
    errors = {}
    all_num, all_ana = [], []
    for i, layer in enumerate(model.layers, start=1):
        for pname, analytic in (("W", grads_W[i - 1]), ("b", grads_b[i - 1])):
            original = backend.to_numpy(getattr(layer, pname)).copy()
            flat = original.reshape(-1)
            numeric = []
            for k in range(flat.size):
                saved = flat[k]
                flat[k] = saved + eps
                setattr(layer, pname, original)
                plus = loss_at()
                flat[k] = saved - eps
                setattr(layer, pname, original)
                minus = loss_at()
                flat[k] = saved
                numeric.append((plus - minus) / (2 * eps))
            setattr(layer, pname, original)
            ana = backend.to_numpy(analytic).reshape(-1).tolist()
            errors[f"{pname}{i}"] = _rel(numeric, ana)
            all_num += numeric
            all_ana += ana
    return GradcheckResult(errors, _rel(all_num, all_ana), tol)
