"""Full-batch L-BFGS on lists of arrays: the two-loop recursion and a strong-Wolfe line search.

``minimize(fun_and_grad, x0, *, xp, ...)`` minimizes a smooth function of a list of arrays (the
flat parameter list ``[W_1, b_1, ...]`` of a network) without ever concatenating them into one
vector, so the parameters stay on their device in their own shapes.

One iteration, with ``g`` the gradient at ``x`` and the last ``m`` pairs ``s_i = x_{i+1} - x_i``,
``y_i = g_{i+1} - g_i`` kept::

    d = -H g                     two-loop recursion, H0 = (s.y / y.y) I from the newest pair
    t = strong-Wolfe step along d (cubic interpolation, bracketing then zoom)
    x <- x + t d

Stopping follows scipy's L-BFGS-B: the largest gradient entry at most ``tol`` (``gtol``), or a
relative decrease of the function below ``ftol``; or ``max_iter`` iterations, or ``max_fun``
evaluations.

The host waits for the device once per function evaluation: the value, the directional derivative
and the largest gradient entry travel together as one small vector. The inner products of the
two-loop recursion stay 0-d device arrays.
"""

from __future__ import annotations

import math

from .backend import to_numpy

# scipy's default factr (1e7) times float64's machine epsilon.
FTOL = 1e7 * 2.220446049250313e-16


class LBFGSResult:
    """What :func:`minimize` found.

    Attributes
    ----------
    x : list of arrays
        The minimizer, same shapes as ``x0``.
    fun : float
        The function value at ``x``.
    n_iter : int
        Iterations done.
    n_fev : int
        Function (and gradient) evaluations.
    converged : bool
        Whether a tolerance was met (rather than a limit or a failed line search).
    message : str
    """

    def __init__(self, x, fun, n_iter, n_fev, converged, message):
        self.x, self.fun, self.n_iter, self.n_fev = x, fun, n_iter, n_fev
        self.converged, self.message = converged, message

    def __repr__(self):
        return (
            f"LBFGSResult(fun={self.fun!r}, n_iter={self.n_iter}, n_fev={self.n_fev}, "
            f"converged={self.converged}, message={self.message!r})"
        )


def _dot(a, b, *, xp):
    """Inner product of two lists of arrays, a 0-d array."""
    total = None
    for u, v in zip(a, b):
        part = xp.sum(u * v)
        total = part if total is None else total + part
    return total


def _axpy(alpha, x, y):
    """``y + alpha * x`` for lists of arrays (``alpha`` a float or a 0-d array)."""
    return [yi + alpha * xi for xi, yi in zip(x, y)]


def _max_abs(g, *, xp):
    return xp.max(xp.stack([xp.max(xp.abs(gi)) for gi in g]))


def two_loop_direction(g, history, *, xp):
    """The quasi-Newton direction ``-H g`` from the pairs ``history = [(s, y, rho), ...]``, oldest first.

    ``rho = 1 / (s . y)``. Without pairs it is the steepest descent direction ``-g``.
    """
    q = [-gi for gi in g]
    if not history:
        return q
    alphas = []
    for s, y, rho in reversed(history):
        a = rho * _dot(s, q, xp=xp)
        q = _axpy(-a, y, q)
        alphas.append(a)
    s, y, rho = history[-1]
    gamma = 1.0 / (rho * _dot(y, y, xp=xp))
    r = [gamma * qi for qi in q]
    for (s, y, rho), a in zip(history, reversed(alphas)):
        b = rho * _dot(y, r, xp=xp)
        r = _axpy(a - b, s, r)
    return r


def cubic_minimizer(x1, f1, g1, x2, f2, g2, low=None, high=None):
    """The minimizer in ``[low, high]`` of the cubic through two points with values and slopes.

    Falls back to the middle of the interval when the cubic has no minimizer.
    """
    low, high = (min(x1, x2), max(x1, x2)) if low is None else (low, high)
    if x1 == x2:
        return (low + high) / 2.0
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0 or not math.isfinite(disc):
        return (low + high) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        denom = g2 - g1 + 2.0 * d2
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / denom) if denom != 0 else (low + high) / 2.0
    else:
        denom = g1 - g2 + 2.0 * d2
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / denom) if denom != 0 else (low + high) / 2.0
    if not math.isfinite(pos):
        return (low + high) / 2.0
    return min(max(pos, low), high)


class _Point:
    """One evaluation along the search line: step ``t``, value, slope ``g . d``, gradient, its max entry."""

    __slots__ = ("t", "f", "slope", "g", "gmax", "x")

    def __init__(self, t, f, slope, g, gmax):
        self.t, self.f, self.slope, self.g, self.gmax, self.x = t, f, slope, g, gmax, None


def strong_wolfe(phi, start, t, *, c1=1e-4, c2=0.9, max_ls=25, d_norm=1.0, tol_change=1e-9, budget=None):
    """A step along the line satisfying the strong Wolfe conditions (bracketing, then zoom).

    Parameters
    ----------
    phi : callable
        ``phi(t) -> _Point`` evaluates the function at ``x + t d``.
    start : _Point
        The point at ``t = 0``; its slope must be negative.
    t : float
        The first trial step.
    budget : callable, optional
        ``budget() -> bool``: whether another evaluation is allowed.

    Returns
    -------
    best : _Point
        The point with the lowest value found that satisfies the sufficient decrease, else ``start``.
    evaluations : int
    """
    f0, slope0 = start.f, start.slope
    evaluations = 0

    def armijo(p):
        return p.f <= f0 + c1 * p.t * slope0

    def curvature(p):
        return abs(p.slope) <= -c2 * slope0

    prev, new = start, phi(t)
    evaluations += 1
    bracket, done = None, False
    # Bracketing: grow the step until the interval is known to hold an acceptable point.
    while evaluations < max_ls:
        if not math.isfinite(new.f) or not armijo(new) or (evaluations > 1 and new.f >= prev.f):
            bracket = [prev, new]
            break
        if curvature(new):
            return new, evaluations
        if new.slope >= 0:
            bracket = [prev, new]
            break
        if budget is not None and not budget():
            return new, evaluations
        low, high = new.t + 0.01 * (new.t - prev.t), new.t * 10.0
        t_next = cubic_minimizer(prev.t, prev.f, prev.slope, new.t, new.f, new.slope, low, high)
        prev, new = new, phi(t_next)
        evaluations += 1
    if bracket is None:
        bracket = [start, new]
    # Zoom: shrink the bracket [lo, hi], lo always the lower of the two values.
    lo, hi = (bracket[0], bracket[1]) if bracket[0].f <= bracket[1].f or not math.isfinite(bracket[1].f) else (
        bracket[1], bracket[0])
    insufficient = False
    while not done and evaluations < max_ls:
        if abs(hi.t - lo.t) * d_norm < tol_change:
            break
        if budget is not None and not budget():
            break
        if math.isfinite(hi.f):
            t_next = cubic_minimizer(lo.t, lo.f, lo.slope, hi.t, hi.f, hi.slope)
        else:
            t_next = (lo.t + hi.t) / 2.0
        # Keep the trial away from the ends of the bracket, where progress stalls.
        a, b = min(lo.t, hi.t), max(lo.t, hi.t)
        eps = 0.1 * (b - a)
        if min(b - t_next, t_next - a) < eps:
            if insufficient or t_next >= b or t_next <= a:
                t_next = b - eps if abs(t_next - b) < abs(t_next - a) else a + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        new = phi(t_next)
        evaluations += 1
        if not math.isfinite(new.f) or not armijo(new) or new.f >= lo.f:
            hi = new
        else:
            if curvature(new):
                done = True
            elif new.slope * (hi.t - lo.t) >= 0:
                hi = lo
            lo = new
    best = lo if (lo is not start and math.isfinite(lo.f) and armijo(lo)) else start
    return best, evaluations


def minimize(
    fun_and_grad,
    x0,
    *,
    xp,
    max_iter=100,
    max_fun=15000,
    tol=1e-5,
    ftol=FTOL,
    history_size=10,
    c1=1e-4,
    c2=0.9,
    max_ls=25,
    callback=None,
):
    """Minimize ``fun_and_grad`` from ``x0`` with L-BFGS.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (value, grads)`` for ``x`` a list of arrays: a 0-d array and a list of
        arrays of the shapes of ``x``.
    x0 : list of arrays
        The starting point (not modified).
    max_iter : int, default 100
    max_fun : int, default 15000
        Most function evaluations (line-search trials included).
    tol : float, default 1e-5
        Stop when the largest absolute gradient entry is at most ``tol``.
    ftol : float
        Stop when ``(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol``.
    history_size : int, default 10
        Pairs ``(s, y)`` kept.
    c1, c2 : float
        Sufficient decrease and curvature constants of the strong Wolfe conditions.
    callback : callable, optional
        ``callback(n_iter, fun, x, step)`` after every iteration (``step``: the line search's step length
        along the L-BFGS direction); returning True stops the minimization.

    Returns
    -------
    LBFGSResult
    """
    n_fev = 0

    def read(*scalars):
        """The one host read of an evaluation: several 0-d device arrays as Python floats."""
        values = to_numpy(xp.stack([xp.astype(s, scalars[0].dtype) for s in scalars]))
        return [float(v) for v in values]

    def evaluate(x):
        nonlocal n_fev
        n_fev += 1
        f, g = fun_and_grad(x)
        return f, g

    x = [xp.asarray(p, copy=True) for p in x0]
    f_dev, g = evaluate(x)
    f, gmax, g_norm = read(f_dev, _max_abs(g, xp=xp), xp.sqrt(_dot(g, g, xp=xp)))
    if not math.isfinite(f) or not math.isfinite(gmax):
        return LBFGSResult(x, f, 0, n_fev, False, "the function or its gradient is not finite at the start")
    if gmax <= tol:
        return LBFGSResult(x, f, 0, n_fev, True, "the gradient is below tol at the start")

    history = []
    n_iter, converged, message = 0, False, f"reached max_iter ({max_iter})"
    while n_iter < max_iter:
        d = two_loop_direction(g, history, xp=xp)
        slope0_dev = _dot(g, d, xp=xp)
        # The first step, along -g, moves the weights by a Euclidean length of 1 (as L-BFGS-B starts).
        t0 = 1.0 / g_norm if not history else 1.0
        origin = x
        first = {}

        def phi(t, origin=origin, d=d, slope0_dev=slope0_dev, first=first):
            x_t = _axpy(t, d, origin)
            f_t, g_t = evaluate(x_t)
            extra = [slope0_dev] if not first else []
            values = read(f_t, _dot(g_t, d, xp=xp), _max_abs(g_t, xp=xp), *extra)
            if extra:
                first["slope0"] = values[3]
            point = _Point(t, values[0], values[1], g_t, values[2])
            point.x = x_t
            return point

        # The start's slope travels with the first trial's values: one read fewer per iteration.
        trial = phi(t0)
        slope0 = first["slope0"]
        if not slope0 < 0:
            message = "the direction is not a descent direction"
            break
        start = _Point(0.0, f, slope0, g, gmax)
        start.x = x
        calls = [trial]

        def phi_cached(t):
            if calls:
                return calls.pop()
            return phi(t)

        best, _ = strong_wolfe(
            phi_cached, start, t0, c1=c1, c2=c2, max_ls=max_ls, budget=lambda: n_fev < max_fun,
        )
        if best is start:
            message = "the line search found no step that decreases the function"
            break
        n_iter += 1
        s = _axpy(-1.0, x, best.x)
        y = _axpy(-1.0, g, best.g)
        ys = best.t * (best.slope - slope0)
        if ys > 1e-10:
            history.append((s, y, 1.0 / ys))
            if len(history) > history_size:
                history.pop(0)
        f_old = f
        x, f, g, gmax = best.x, best.f, best.g, best.gmax
        if callback is not None and callback(n_iter, f, x, best.t):
            message = "stopped by the callback"
            break
        if gmax <= tol:
            converged, message = True, "the largest gradient entry is below tol"
            break
        if (f_old - f) <= ftol * max(abs(f_old), abs(f), 1.0):
            converged, message = True, "the relative reduction of the function is below ftol"
            break
        if n_fev >= max_fun:
            message = f"reached max_fun ({max_fun}) function evaluations"
            break
    return LBFGSResult(x, f, n_iter, n_fev, converged, message)
