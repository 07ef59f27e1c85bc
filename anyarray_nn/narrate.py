"""One training step, narrated: every equation with its shapes and first values.

For learners checking their own implementation against the library's: :func:`narrate_step` runs one
step of gradient descent on a small batch, computing each quantity by hand from the equations (the
forward pass, the loss, backpropagation layer by layer, the update), prints them in the order a
tutorial writes them, and checks the hand-computed gradients against :meth:`~anyarray_nn.Model.backward`.

It speaks both layouts. ``layout="rows"`` shows the model's own arrays, samples as rows::

    Z1 = A0 @ W1 + b1      (m, n_in) @ (n_in, n_out) + (n_out,) -> (m, n_out)

``layout="columns"`` shows the same numbers as the tutorials write them, samples as columns, every array
transposed::

    Z1 = W1 @ A0 + b1      (n_out, n_in) @ (n_in, m) + (n_out, 1) -> (n_out, m)

and the first values printed are those of the transposed arrays, ``Z1[0, :3]`` being unit 1 on the first
three samples, ready to compare with an implementation in that layout.
"""

from __future__ import annotations

import sys

import numpy as np

from . import network
from ._validation import check_number, check_positive_int, check_targets, check_X
from .model import Model
from .training import default_solver


class NarratedStep:
    """What :func:`narrate_step` computed.

    Attributes
    ----------
    text : str
        The narration, as printed.
    loss : float
        The loss before the update (with the weight penalty).
    cache : list of (Z, A)
        The hand forward pass, per layer, in the model's layout ``(m, n_out)``.
    grads_W, grads_b : list of arrays
        The hand-computed gradients, in the model's layout (``(n_in, n_out)`` and ``(n_out,)``).
    max_difference : float
        Largest absolute difference between the hand-computed gradients and ``model.backward``'s.
    forward_difference : float
        Largest absolute difference between the hand forward pass and ``model.forward``'s.
    learning_rate : float
    updated : bool
        Whether the model's parameters were replaced by the updated ones.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        return (
            f"NarratedStep(loss={self.loss:.6g}, max_difference={self.max_difference:.3g}, "
            f"learning_rate={self.learning_rate:g}, updated={self.updated})"
        )


def narrate_step(model, X, y, solver=None, *, learning_rate=None, layout="rows", n_values=3, update=True, file=None):
    """Run one step of gradient descent on ``(X, y)`` and print each equation with its shapes and values.

    Parameters
    ----------
    model : Model
    X : array-like, shape (m, n_features)
        A small batch (a handful of rows keeps the printout readable); any backend.
    y : array-like
        Its targets, as for :meth:`~anyarray_nn.Model.fit`.
    solver : Solver, optional
        Gives the loss and the weight penalty (dropout is not applied); default from the output
        activation, as in ``fit``.
    learning_rate : float, optional
        Step size ``alpha`` of the update ``W := W - alpha dW``; default ``solver.learning_rate``. The
        step is plain gradient descent, the tutorials' update, whatever optimizer the solver names.
    layout : {"rows", "columns"}, default "rows"
        Samples as rows (the model's arrays) or as columns (the tutorials' arrays, each transposed).
    n_values : int, default 3
        How many leading values of each array to print.
    update : bool, default True
        Replace the model's parameters with the updated ones; False leaves the model as it was.
    file : file-like, optional
        Where to print; default ``sys.stdout``. ``file=False`` prints nothing (the text is returned).

    Returns
    -------
    NarratedStep

    Raises
    ------
    TypeError, ValueError
        Naming the argument that is not a Model, a batch of the right shape, a layout or a number.
    """
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be an anyarray_nn Model, got {type(model).__name__}.")
    if layout not in ("rows", "columns"):
        raise ValueError(f"`layout` must be 'rows' or 'columns', got {layout!r}.")
    n_values = check_positive_int(n_values, "n_values")
    if not isinstance(update, bool):
        raise TypeError(f"`update` must be True or False, got {update!r}.")
    solver = default_solver(model, solver)
    lr = solver.learning_rate if learning_rate is None else check_number(learning_rate, "learning_rate", low=0.0, low_open=True)
    backend, xp, layers = model.backend, model.xp, model.layers
    A0 = check_X(X, backend, model.n_features)
    T = check_targets(y, backend, solver.loss, model.n_outputs, A0.shape[0])
    m = int(A0.shape[0])
    cols = layout == "columns"
    say = _Printer(backend, cols, n_values)
    params = model.parameters()
    L = len(layers)

    convention = "samples are columns, Z = W @ A_prev + b" if cols else "samples are rows, Z = A_prev @ W + b"
    say.line(
        f"One step of gradient descent on m = {m} samples ({backend.name}, {backend.device_str}, {backend.dtype_name}); "
        f"{convention}."
    )
    if cols:
        say.line("Every array below is the transpose of the model's: W_columns = layer.W.T, Z_columns = Z.T.")
    say.line("")
    say.line("Forward propagation")
    say.value("A0 = X", A0, _shape(A0, cols))
    A = A0
    cache = []
    for i, layer in enumerate(layers, start=1):
        W, b = params[2 * (i - 1)], params[2 * (i - 1) + 1]
        name = layer.activation.name
        Z = A @ W + b
        A_next = layer.activation.forward(Z, xp=xp)
        say.line(f"  layer {i}: {layer.n_in} -> {layer.n_out}, {name}")
        if cols:
            shapes = f"({layer.n_out}, {layer.n_in}) @ ({layer.n_in}, {m}) + ({layer.n_out}, 1) -> ({layer.n_out}, {m})"
            say.value(f"Z{i} = W{i} @ A{i - 1} + b{i}", Z, shapes, indent=4)
        else:
            shapes = f"({m}, {layer.n_in}) @ ({layer.n_in}, {layer.n_out}) + ({layer.n_out},) -> ({m}, {layer.n_out})"
            say.value(f"Z{i} = A{i - 1} @ W{i} + b{i}", Z, shapes, indent=4)
        say.value(f"A{i} = {name}(Z{i})", A_next, _shape(A_next, cols), indent=4)
        cache.append((Z, A_next))
        A = A_next
    library_cache = network.forward(layers, params, A0, xp=xp)
    forward_difference = max(
        max(say.max_abs(Z - Zl), say.max_abs(Ah - Al)) for (Z, Ah), (Zl, Al) in zip(cache, library_cache)
    )

    say.line("")
    say.line("Loss")
    Z_L, A_L = cache[-1]
    act_L, loss = layers[-1].activation, solver.loss
    data_loss = loss.forward(Z_L, A_L, T, act_L, xp=xp)
    penalty = solver.regularization.penalty(params[0::2], xp=xp) if solver.regularization.active else None
    total = data_loss if penalty is None else data_loss + penalty
    say.line(f"    L = {loss.name}(A{L}, Y), the mean over the {m} samples = {say.scalar(data_loss)}")
    if penalty is not None:
        reg = solver.regularization
        say.line(f"    + {reg.method} penalty on the weights (lam = {reg.lam:g}) = {say.scalar(penalty)}")
        say.line(f"    total = {say.scalar(total)}")

    say.line("")
    say.line("Backpropagation")
    grad_Z = loss.backward(Z_L, A_L, T, act_L, xp=xp)
    if loss.fuses(act_L):
        k = "" if loss.name == "crossentropy" else f" / {layers[-1].n_out}" if layers[-1].n_out > 1 else ""
        how = f"(A{L} - Y) / m{k}: the {act_L.name} + {loss.name} gradient, fused"
    else:
        how = f"dL/dA{L} * {act_L.name}'(Z{L}), the chain rule"
    say.value(f"dZ{L} = {how}", grad_Z, _shape(grad_Z, cols))
    say.line(
        "    (the 1/m of the mean sits in dZ here; tutorials that write dZ = A - Y divide dW and db by m instead)"
        if loss.fuses(act_L)
        else "    (the loss's gradient holds the 1/m of the mean)"
    )
    grads_W, grads_b = [None] * L, [None] * L
    for i in range(L, 0, -1):
        layer = layers[i - 1]
        W = params[2 * (i - 1)]
        A_prev = A0 if i == 1 else cache[i - 2][1]
        grad_W = A_prev.T @ grad_Z
        penalty_grad = solver.regularization.gradient(W, xp=xp)
        if penalty_grad is not None:
            grad_W = grad_W + penalty_grad
        grad_b = xp.sum(grad_Z, axis=0)
        extra = f" + {solver.regularization.method} penalty gradient" if penalty_grad is not None else ""
        if cols:
            say.value(
                f"dW{i} = dZ{i} @ A{i - 1}.T{extra}", grad_W,
                f"({layer.n_out}, {m}) @ ({m}, {layer.n_in}) -> ({layer.n_out}, {layer.n_in})",
            )
            say.value(f"db{i} = sum of dZ{i} over the samples (columns)", grad_b, f"({layer.n_out}, 1)")
        else:
            say.value(
                f"dW{i} = A{i - 1}.T @ dZ{i}{extra}", grad_W,
                f"({layer.n_in}, {m}) @ ({m}, {layer.n_out}) -> ({layer.n_in}, {layer.n_out})",
            )
            say.value(f"db{i} = sum of dZ{i} over the samples (rows)", grad_b, f"({layer.n_out},)")
        grads_W[i - 1], grads_b[i - 1] = grad_W, grad_b
        if i > 1:
            grad_A = grad_Z @ W.T
            if cols:
                say.value(
                    f"dA{i - 1} = W{i}.T @ dZ{i}", grad_A,
                    f"({layer.n_in}, {layer.n_out}) @ ({layer.n_out}, {m}) -> ({layer.n_in}, {m})",
                )
            else:
                say.value(
                    f"dA{i - 1} = dZ{i} @ W{i}.T", grad_A,
                    f"({m}, {layer.n_out}) @ ({layer.n_out}, {layer.n_in}) -> ({m}, {layer.n_in})",
                )
            below = layers[i - 2]
            Z_prev, A_prev_act = cache[i - 2]
            grad_Z = below.activation.backward(Z_prev, A_prev_act, grad_A, xp=xp)
            say.value(f"dZ{i - 1} = dA{i - 1} * {below.activation.name}'(Z{i - 1})", grad_Z, _shape(grad_Z, cols))

    _, lib_W, lib_b = network.backward(layers, params, library_cache, T, loss, solver.regularization, xp=xp)
    max_difference = max(
        [say.max_abs(a - b) for a, b in zip(grads_W, lib_W)] + [say.max_abs(a - b) for a, b in zip(grads_b, lib_b)]
    )
    say.line(
        f"    check: model.backward gives the same gradients (largest difference {max_difference:.3g}); "
        f"forward as model.forward ({forward_difference:.3g})"
    )

    say.line("")
    optimizer = getattr(solver.optimizer, "name", "")
    note = "" if optimizer == "sgd" else f" (plain gradient descent; the solver's {optimizer!r} would scale the step otherwise)"
    say.line(f"Update, learning rate alpha = {lr:g}{note}")
    new_params = []
    for i in range(1, L + 1):
        W, b = params[2 * (i - 1)], params[2 * (i - 1) + 1]
        W_new = W - lr * grads_W[i - 1]
        b_new = b - lr * grads_b[i - 1]
        say.value(f"W{i} := W{i} - alpha dW{i}", W_new, _param_shape(W_new, cols))
        say.value(f"b{i} := b{i} - alpha db{i}", b_new, f"({b.shape[0]}, 1)" if cols else f"({b.shape[0]},)")
        new_params += [W_new, b_new]
    if update:
        model.set_parameters(new_params, check=False)
        say.line("    (the model now holds the updated parameters)")
    else:
        say.line("    (update=False: the model keeps its parameters)")

    text = "\n".join(say.lines)
    if file is not False:
        print(text, file=sys.stdout if file is None else file)
    return NarratedStep(
        text=text,
        loss=float(backend.to_numpy(total)),
        cache=cache,
        grads_W=grads_W,
        grads_b=grads_b,
        max_difference=max_difference,
        forward_difference=forward_difference,
        learning_rate=lr,
        updated=update,
    )


def _shape(A, cols):
    """The shape of a 2-D activation-like array in the layout shown."""
    n, k = A.shape
    return f"({k}, {n})" if cols else f"({n}, {k})"


def _param_shape(W, cols):
    n_in, n_out = W.shape
    return f"({n_out}, {n_in})" if cols else f"({n_in}, {n_out})"


class _Printer:
    """Collects the lines; formats arrays in the layout shown, reading them to the host (a teaching aid)."""

    def __init__(self, backend, cols, n_values):
        self.backend, self.cols, self.n_values = backend, cols, n_values
        self.lines = []

    def line(self, text):
        self.lines.append(text)

    def host(self, x):
        return np.asarray(self.backend.to_numpy(x), dtype=np.float64)

    def max_abs(self, x):
        h = self.host(x)
        return float(np.max(np.abs(h))) if h.size else 0.0

    def scalar(self, x):
        return f"{float(self.host(x)):.6g}"

    def value(self, label, x, shape, indent=4):
        h = self.host(x)
        k = self.n_values
        if h.ndim == 1:
            index = f"[:{k}, 0]" if self.cols else f"[:{k}]"
            shown = h[:k]
        else:
            h = h.T if self.cols else h
            index = f"[0, :{k}]"
            shown = h[0, :k]
        index = index.replace(f":{k}", f":{shown.size}")
        # Adding 0.0 turns -0.0 (a ReLU's zero times a negative number) into 0.0 for printing.
        numbers = ", ".join(f"{v + 0.0:.4g}" for v in shown)
        more = ", ..." if (h.shape[-1] if h.ndim == 2 else h.shape[0]) > k else ""
        name = label.split(" ", 1)[0]
        pad = " " * indent
        self.lines.append(f"{pad}{label:<44} {shape}")
        self.lines.append(f"{pad}    {name}{index} = [{numbers}{more}]")
