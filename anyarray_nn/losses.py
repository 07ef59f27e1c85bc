"""Loss functions, each with its gradient with respect to the network output right beside it.

Shapes: the output ``A`` and the target ``Y`` are both ``(n_samples, n_outputs)`` (class labels are
one-hot encoded before they get here). Every loss is a mean over the samples, so its value does not
depend on the batch size:

================== ====================================== =============================================
name               L                                      dL/dA
================== ====================================== =============================================
mae                mean |A - Y|                           sign(A - Y) / (n k)
mse                mean (A - Y)^2                         2 (A - Y) / (n k)
rmse               sqrt(mse)                              (A - Y) / (n k rmse)
binary_crossentropy -mean[Y log A + (1-Y) log(1-A)]       (A - Y) / (A (1 - A) n k)
crossentropy       -(1/n) sum Y log A                     -Y / (A n)
poisson            mean[A - Y log A + Y log Y - Y]         (1 - Y / A) / (n k)
================== ====================================== =============================================

(n samples, k outputs.) Two pairings are *fused*: sigmoid + binary cross-entropy and softmax +
cross-entropy. There the product of the loss gradient and the activation's Jacobian collapses to
``dL/dZ = (A - Y) / n`` (divided by k too for the elementwise binary loss), and the loss value is
computed from the logits ``Z`` with log-sum-exp, so pre-activations of size 1e4 give finite losses and
gradients instead of ``log(0)``.

:class:`SparseCrossEntropy` is cross-entropy taking the class labels ``(n,)`` themselves: a compiled ``fit``
given labels uses it, with the backend's ``A - one_hot(labels)`` in the fused gradient.
"""

from __future__ import annotations

import math

import array_api_compat

from ._registry import Registry
from ._validation import check_unit_interval, one_hot_host


class Loss:
    """Base class for losses.

    Attributes
    ----------
    fused_activation : str or None
        Name of the output activation whose pairing with this loss has the fused gradient.
    """

    name = "loss"
    fused_activation = None
    classification = False

    def encode_targets(self, y, n_outputs, name="y"):
        """Checked host targets ``y`` (NumPy, 1-D or 2-D) as the ``(n_samples, n_outputs)`` array the loss compares.

        This default takes values: a 1-D ``y`` becomes one column.
        """
        if y.ndim == 1:
            y = y[:, None]
        if y.shape[1] != n_outputs:
            raise ValueError(
                f"`{name}` has {y.shape[1]} output column(s) (shape {y.shape}), but the output layer has {n_outputs}."
            )
        return y

    def value(self, A, Y, *, xp):
        """Loss value, a 0-d array, from the output ``A`` and target ``Y``, both ``(n, k)``."""
        raise NotImplementedError

    def gradient(self, A, Y, *, xp):
        """``dL/dA``, shape ``(n, k)``."""
        raise NotImplementedError

    def value_from_logits(self, Z, Y, *, xp):
        """Loss value computed stably from the pre-activation ``Z`` (fused pairings only)."""
        raise NotImplementedError

    # -- what the model calls ---------------------------------------------------------------------
    def fuses(self, activation):
        return self.fused_activation is not None and getattr(activation, "name", None) == self.fused_activation

    def forward(self, Z, A, Y, activation, *, xp):
        """Loss value of the output layer (from logits when the pairing is fused)."""
        if self.fuses(activation):
            return self.value_from_logits(Z, Y, xp=xp)
        return self.value(A, Y, xp=xp)

    def backward(self, Z, A, Y, activation, *, xp):
        """``dL/dZ`` of the output layer, shape ``(n, k)``: fused when possible, else the chain rule."""
        if self.fuses(activation):
            return self.fused_gradient(A, Y, xp=xp)
        return activation.backward(Z, A, self.gradient(A, Y, xp=xp), xp=xp)

    def fused_gradient(self, A, Y, *, xp):
        raise NotImplementedError

    # -- sample weights ---------------------------------------------------------------------------
    def rows(self, Z, A, Y, activation, *, xp):
        """Each sample's share of the loss, ``(n,)``, whose mean is :meth:`forward`.

        What sample weights need of a loss: a loss that is a mean over samples of a per-sample value.
        """
        raise NotImplementedError(
            f"The loss {self.name!r} has no per-sample values (Loss.rows), so it cannot take sample weights."
        )

    def weighted_forward(self, Z, A, Y, activation, r, *, xp):
        """The weighted mean ``sum_i w_i l_i / sum_i w_i`` of the samples' losses.

        ``r`` ``(n,)`` holds the weights scaled to ``r_i = n w_i / sum_j w_j`` (all 0 when the weights add
        up to 0), so that the weighted mean is ``mean(r * rows)`` and ``r = 1`` is the plain loss.
        """
        return xp.sum(r * self.rows(Z, A, Y, activation, xp=xp)) / _count(A, xp=xp, rows=True)

    def weighted_backward(self, Z, A, Y, activation, r, *, xp):
        """``dL/dZ`` of :meth:`weighted_forward`: each sample's row of :meth:`backward` times ``r_i``.

        A mean over samples has each row of its gradient depend on that sample alone, so weighting the
        rows weights the samples.
        """
        return self.backward(Z, A, Y, activation, xp=xp) * r[:, None]

    def on_labels(self, y_shape, n_outputs, subtract_one_hot):
        """This loss taking class labels ``(n,)`` in place of its encoded targets, or None (the default).

        Parameters
        ----------
        y_shape : tuple
            The shape of the targets as given to ``fit``; the labels form is only for targets that
            :meth:`encode_targets` turns into one-hot rows.
        n_outputs : int
        subtract_one_hot : callable
            ``(A, labels) -> A - one_hot(labels)``, the backend's (:meth:`~anyarray_nn.Backend.subtract_one_hot`).
        """
        return None

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


def _count(A, *, xp, rows=False):
    """Entries of ``A`` (or its rows with ``rows=True``): the divisor of a mean.

    A Python int when the shape is known, which keeps results bit-identical to dividing by the shape.
    An unknown batch size (``None`` in the shape of an ndonnx graph input, ``nan`` for Dask chunks of
    unknown size) is counted with ``xp`` instead, as a 0-d array of ``A``'s dtype, so that the loss can
    be built without values.
    """
    if rows:
        if isinstance(A.shape[0], int):
            return A.shape[0]
    elif all(isinstance(n, int) for n in A.shape):
        return math.prod(A.shape)
    return xp.sum(xp.ones_like(A[:, 0] if rows else A))


def _eps(dtype, xp):
    """A clip margin for probabilities that is representable next to 1 in ``dtype``."""
    return 1e-7 if dtype == xp.float32 else 1e-15


class MAE(Loss):
    """Mean absolute error; the gradient is taken as 0 exactly at A == Y."""

    name = "mae"

    def value(self, A, Y, *, xp):
        return xp.mean(xp.abs(A - Y))

    def gradient(self, A, Y, *, xp):
        return xp.sign(A - Y) / _count(A, xp=xp)

    def rows(self, Z, A, Y, activation, *, xp):
        return xp.mean(xp.abs(A - Y), axis=1)


class MSE(Loss):
    """Mean squared error."""

    name = "mse"

    def value(self, A, Y, *, xp):
        D = A - Y
        return xp.mean(D * D)

    def gradient(self, A, Y, *, xp):
        return (2.0 / _count(A, xp=xp)) * (A - Y)

    def rows(self, Z, A, Y, activation, *, xp):
        D = A - Y
        return xp.mean(D * D, axis=1)


class RMSE(Loss):
    """Root mean squared error; the gradient is taken as 0 when the error is exactly 0."""

    name = "rmse"

    def value(self, A, Y, *, xp):
        D = A - Y
        return xp.sqrt(xp.mean(D * D))

    def gradient(self, A, Y, *, xp):
        D = A - Y
        rmse = xp.sqrt(xp.mean(D * D))
        # The tiny floor only matters at a perfect fit, where D is 0 and the gradient is 0 anyway.
        return D / (_count(A, xp=xp) * xp.maximum(rmse, 1e-30))

    # The square root of a mean is no mean over samples: weighted, it is the root of the weighted mean
    # squared error, and its gradient is D r / (n k rmse_w).
    def weighted_forward(self, Z, A, Y, activation, r, *, xp):
        return xp.sqrt(MSE().weighted_forward(Z, A, Y, activation, r, xp=xp))

    def weighted_backward(self, Z, A, Y, activation, r, *, xp):
        D = A - Y
        rmse = self.weighted_forward(Z, A, Y, activation, r, xp=xp)
        grad_A = (D * r[:, None]) / (_count(A, xp=xp) * xp.maximum(rmse, 1e-30))
        return activation.backward(Z, A, grad_A, xp=xp)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy for sigmoid outputs with 0/1 (or soft) targets, one column per label."""

    name = "binary_crossentropy"
    fused_activation = "sigmoid"
    classification = True

    def encode_targets(self, y, n_outputs, name="y"):
        """0/1 labels (or probabilities) as columns, one per output unit."""
        y = super().encode_targets(y, n_outputs, name)
        check_unit_interval(y, f"`{name}` for binary cross-entropy must hold 0/1 labels (or probabilities in [0, 1])")
        return y

    def value(self, A, Y, *, xp):
        eps = _eps(A.dtype, xp)
        P = xp.clip(A, eps, 1.0 - eps)
        return -xp.mean(Y * xp.log(P) + (1.0 - Y) * xp.log(1.0 - P))

    def gradient(self, A, Y, *, xp):
        eps = _eps(A.dtype, xp)
        P = xp.clip(A, eps, 1.0 - eps)
        return (P - Y) / (P * (1.0 - P) * _count(A, xp=xp))

    def value_from_logits(self, Z, Y, *, xp):
        # -[y log s(z) + (1-y) log(1-s(z))] = max(z, 0) - z y + log(1 + exp(-|z|))
        return xp.mean(xp.maximum(Z, 0.0) - Z * Y + xp.log1p(xp.exp(-xp.abs(Z))))

    def fused_gradient(self, A, Y, *, xp):
        return (A - Y) / _count(A, xp=xp)

    def rows(self, Z, A, Y, activation, *, xp):
        if self.fuses(activation):
            return xp.mean(xp.maximum(Z, 0.0) - Z * Y + xp.log1p(xp.exp(-xp.abs(Z))), axis=1)
        eps = _eps(A.dtype, xp)
        P = xp.clip(A, eps, 1.0 - eps)
        return -xp.mean(Y * xp.log(P) + (1.0 - Y) * xp.log(1.0 - P), axis=1)


class CrossEntropy(Loss):
    """Categorical cross-entropy for softmax outputs with one-hot (or probability) targets."""

    name = "crossentropy"
    fused_activation = "softmax"
    classification = True

    def encode_targets(self, y, n_outputs, name="y"):
        """Class labels ``(n,)`` one-hot encoded, or one-hot / probability rows ``(n, n_outputs)`` as they are."""
        if y.ndim == 2 and y.shape[1] == 1 and n_outputs > 1:
            y = y[:, 0]
        if y.ndim == 1:
            return one_hot_host(y, n_outputs, name)
        if y.shape[1] != n_outputs:
            raise ValueError(
                f"`{name}` one-hot targets have {y.shape[1]} columns, but the output layer has {n_outputs} classes."
            )
        check_unit_interval(y, f"`{name}` one-hot / probability targets must lie in [0, 1]")
        return y

    def value(self, A, Y, *, xp):
        eps = _eps(A.dtype, xp)
        return -xp.sum(Y * xp.log(xp.clip(A, eps, 1.0))) / _count(A, xp=xp, rows=True)

    def gradient(self, A, Y, *, xp):
        eps = _eps(A.dtype, xp)
        return -Y / (xp.clip(A, eps, 1.0) * _count(A, xp=xp, rows=True))

    def value_from_logits(self, Z, Y, *, xp):
        # log softmax(z) = z - max(z) - log(sum(exp(z - max(z)))), never log(0).
        S = Z - xp.max(Z, axis=1, keepdims=True)
        log_p = S - xp.log(xp.sum(xp.exp(S), axis=1, keepdims=True))
        return -xp.sum(Y * log_p) / _count(Z, xp=xp, rows=True)

    def fused_gradient(self, A, Y, *, xp):
        return (A - Y) / _count(A, xp=xp, rows=True)

    def rows(self, Z, A, Y, activation, *, xp):
        if self.fuses(activation):
            S = Z - xp.max(Z, axis=1, keepdims=True)
            return -xp.sum(Y * (S - xp.log(xp.sum(xp.exp(S), axis=1, keepdims=True))), axis=1)
        eps = _eps(A.dtype, xp)
        return -xp.sum(Y * xp.log(xp.clip(A, eps, 1.0)), axis=1)

    def on_labels(self, y_shape, n_outputs, subtract_one_hot):
        # Class labels are what encode_targets one-hot encodes; rows given as they are may be probabilities.
        labels = len(y_shape) == 1 or (len(y_shape) == 2 and y_shape[1] == 1 and n_outputs > 1)
        # A subclass may compute its loss otherwise than the labels form does.
        if labels and type(self) is CrossEntropy:
            return SparseCrossEntropy(subtract_one_hot)
        return None


class SparseCrossEntropy(CrossEntropy):
    """Categorical cross-entropy with class labels ``y`` ``(n,)`` as targets instead of their one-hot rows.

    The same loss as :class:`CrossEntropy` on ``one_hot(y)``, and the same fused softmax gradient
    ``(A - one_hot(y)) / n``, whose numerator comes from the backend (a scatter on JAX, which XLA compiles
    into a faster training step than the subtraction of one-hot rows). A compiled ``fit`` given class
    labels uses it (:meth:`CrossEntropy.on_labels`).

    Parameters
    ----------
    subtract_one_hot : callable
        ``(A, y) -> A - one_hot(y)`` for ``A`` ``(n, k)`` (:meth:`~anyarray_nn.Backend.subtract_one_hot`).
    """

    def __init__(self, subtract_one_hot):
        self.subtract_one_hot = subtract_one_hot

    @staticmethod
    def _one_hot(A, y, xp):
        """``(n, k)`` one-hot rows of the labels ``y`` ``(n,)`` in ``A``'s dtype."""
        columns = xp.arange(A.shape[1], dtype=y.dtype, device=array_api_compat.device(A))
        return xp.astype(y[:, None] == columns, A.dtype)

    def value(self, A, y, *, xp):
        return super().value(A, self._one_hot(A, y, xp), xp=xp)

    def gradient(self, A, y, *, xp):
        return super().gradient(A, self._one_hot(A, y, xp), xp=xp)

    def value_from_logits(self, Z, y, *, xp):
        return super().value_from_logits(Z, self._one_hot(Z, y, xp), xp=xp)

    def fused_gradient(self, A, y, *, xp):
        return self.subtract_one_hot(A, y) / _count(A, xp=xp, rows=True)

    def rows(self, Z, A, y, activation, *, xp):
        return super().rows(Z, A, self._one_hot(A, y, xp), activation, xp=xp)

    def on_labels(self, y_shape, n_outputs, subtract_one_hot):
        return None  # already takes labels

    def __repr__(self):
        return "SparseCrossEntropy()"


def _y_log_y(Y, *, xp):
    """``Y log Y`` with the limit 0 at ``Y = 0`` (the log of a 0 is never taken)."""
    positive = Y > 0
    safe = xp.where(positive, Y, xp.ones_like(Y))
    return xp.where(positive, Y * xp.log(safe), xp.zeros_like(Y))


class Poisson(Loss):
    """Half the Poisson deviance, for counts or rates ``Y >= 0`` predicted by a positive output ``A``.

    ``mean[Y log(Y / A) - Y + A]``: zero at ``A == Y``, so a perfect fit has no loss. Paired with the
    exponential output (``A = exp(Z)``, the log link) the gradient is fused to ``(A - Y) / (n k)`` and
    the value is computed from ``Z`` without taking the log of ``A``.
    """

    name = "poisson"
    fused_activation = "exponential"

    def encode_targets(self, y, n_outputs, name="y"):
        """Values, one column per output; they must be >= 0."""
        y = super().encode_targets(y, n_outputs, name)
        if (y < 0).any():
            raise ValueError(f"`{name}` for the Poisson loss must hold values >= 0, got a minimum of {y.min()!r}.")
        return y

    def value(self, A, Y, *, xp):
        # The floor keeps log finite where an output underflowed to 0.
        log_A = xp.log(xp.maximum(A, xp.full_like(A, 1e-300 if A.dtype == xp.float64 else 1e-37)))
        return xp.mean(_y_log_y(Y, xp=xp) - Y * log_A - Y + A)

    def gradient(self, A, Y, *, xp):
        return (1.0 - Y / A) / math.prod(A.shape)

    def value_from_logits(self, Z, Y, *, xp):
        return xp.mean(_y_log_y(Y, xp=xp) - Y * Z - Y + xp.exp(Z))

    def fused_gradient(self, A, Y, *, xp):
        return (A - Y) / math.prod(A.shape)

    def rows(self, Z, A, Y, activation, *, xp):
        if self.fuses(activation):
            return xp.mean(_y_log_y(Y, xp=xp) - Y * Z - Y + xp.exp(Z), axis=1)
        log_A = xp.log(xp.maximum(A, xp.full_like(A, 1e-300 if A.dtype == xp.float64 else 1e-37)))
        return xp.mean(_y_log_y(Y, xp=xp) - Y * log_A - Y + A, axis=1)


REGISTRY = Registry(
    "loss",
    Loss,
    aliases={
        "binarycrossentropy": "binary_crossentropy",
        "bce": "binary_crossentropy",
        "log_loss": "binary_crossentropy",
        "categorical_crossentropy": "crossentropy",
        "cross_entropy": "crossentropy",
        "ce": "crossentropy",
        "l1": "mae",
        "l2": "mse",
    },
)
for _cls in (MAE, MSE, RMSE, BinaryCrossEntropy, CrossEntropy, Poisson):
    REGISTRY.register(_cls)
names = REGISTRY.names
register = REGISTRY.register


def get(loss):
    """A loss object from a name (``"mse"``), a class or a :class:`Loss` instance; unknown names list the valid ones."""
    return REGISTRY.get(loss)
