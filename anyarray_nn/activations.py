"""Activation functions, each with its derivative right beside it.

An activation maps the pre-activation ``Z = A_prev @ W + b`` of shape ``(n_samples, n_out)`` to the
layer output ``A = g(Z)`` of the same shape. In backpropagation the layer receives ``grad_A = dL/dA`` and
needs ``grad_Z = dL/dZ``. For an elementwise ``g`` that is ``grad_A * g'(Z)``; softmax couples the
outputs of a row, so it overrides :meth:`Activation.backward` with its Jacobian-vector product.

Every function takes the array namespace as ``xp`` so the same code runs on NumPy, CuPy, torch, ...
"""

from __future__ import annotations

from ._registry import Registry
from ._validation import check_number
from .backend import fresh_writeable


class Activation:
    """Base class: subclass it (or pass any object with ``forward`` and ``derivative``) for your own.

    Methods
    -------
    forward(Z, *, xp) -> A
        ``g(Z)``, shape ``(n_samples, n_out)``.
    derivative(Z, A, *, xp) -> dA/dZ
        Elementwise derivative ``g'(Z)``; ``A = g(Z)`` is passed too because many derivatives are
        cheapest in terms of the output (sigmoid: ``A (1 - A)``).
    backward(Z, A, grad_A, *, xp) -> grad_Z
        ``dL/dZ`` from ``dL/dA``; ``grad_A * g'(Z)`` unless the activation couples its outputs.
    decide(A, *, xp) -> predictions
        What an output layer with this activation predicts from its output ``A`` (n_samples, n_out):
        the values themselves, unless the activation turns outputs into decisions (softmax, sigmoid).

    Attributes
    ----------
    default_init : str
        The initializer a :class:`~anyarray_nn.Layer` with this activation gets when none is named.
    default_loss : str
        The loss training uses for an output layer with this activation when the Solver names none.
    classifier : bool
        Whether an output layer with this activation predicts classes (``decide`` gives labels).
    kink : float or None
        Where ``g'`` jumps (ReLU: 0), or None where it is continuous. A finite-difference gradient check
        keeps away from it (:func:`anyarray_nn.gradcheck.rows_away_from_kinks`).
    """

    name = "activation"
    default_init = "xavier"
    default_loss = "mse"
    classifier = False
    kink = None

    def forward(self, Z, *, xp):
        raise NotImplementedError

    def derivative(self, Z, A, *, xp):
        raise NotImplementedError

    def backward(self, Z, A, grad_A, *, xp):
        return grad_A * self.derivative(Z, A, xp=xp)

    def decide(self, A, *, xp):
        return A

    def get_config(self):
        """Constructor arguments, for saving; ``get(name)(**config)`` rebuilds the activation."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Linear(Activation):
    """Identity ``g(z) = z``; ``g'(z) = 1``. The output of a regression network."""

    name = "linear"

    def forward(self, Z, *, xp):
        return Z

    def derivative(self, Z, A, *, xp):
        return xp.ones_like(Z)

    def backward(self, Z, A, grad_A, *, xp):
        return grad_A


class Sigmoid(Activation):
    """Logistic ``g(z) = 1 / (1 + exp(-z))``; ``g'(z) = g(z) (1 - g(z))``."""

    name = "sigmoid"
    default_loss = "binary_crossentropy"
    classifier = True

    def forward(self, Z, *, xp):
        # exp of a non-positive number only: no overflow for |z| of 1e4 and beyond.
        E = xp.exp(-xp.abs(Z))
        return xp.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))

    def derivative(self, Z, A, *, xp):
        return A * (1.0 - A)

    def decide(self, A, *, xp):
        """0/1 labels, one column per output unit: ``A >= 0.5``, as int64."""
        return xp.astype(A >= 0.5, xp.int64)


class Tanh(Activation):
    """Hyperbolic tangent ``g(z) = tanh(z)``; ``g'(z) = 1 - tanh(z)^2``."""

    name = "tanh"

    def forward(self, Z, *, xp):
        return xp.tanh(Z)

    def derivative(self, Z, A, *, xp):
        return 1.0 - A * A


class ReLU(Activation):
    """Rectified linear ``g(z) = max(z, 0)``; ``g'(z) = 1 if z > 0 else 0`` (0 at the kink)."""

    name = "relu"
    default_init = "he"
    kink = 0.0

    def forward(self, Z, *, xp):
        # Against a row of zeros rather than the scalar 0.0: NumPy's maximum has no vectorized loop for a
        # broadcast scalar and runs about three times slower with one.
        zeros = xp.zeros_like(Z[:1, ...]) if Z.ndim > 0 else 0.0
        return xp.maximum(Z, zeros)

    def derivative(self, Z, A, *, xp):
        return xp.astype(Z > 0, Z.dtype)

    def backward(self, Z, A, grad_A, *, xp):
        # A multiply by the 0/1 mask, not xp.where: NumPy's where is a branchy loop that runs about
        # fifteen times slower on the random sign pattern of a hidden layer. The mask is a fresh array,
        # so the product can go into it: one temporary of the batch's size fewer.
        mask = xp.astype(Z > 0, grad_A.dtype)
        if not fresh_writeable(mask):
            return grad_A * mask
        mask *= grad_A
        return mask


class LeakyReLU(Activation):
    """``g(z) = z if z > 0 else alpha z``; ``g'(z) = 1 if z > 0 else alpha``.

    Parameters
    ----------
    alpha : float, default 0.01
        Slope for negative inputs.
    """

    name = "leaky_relu"
    default_init = "he"
    kink = 0.0

    def __init__(self, alpha=0.01):
        self.alpha = check_number(alpha, "alpha")

    def forward(self, Z, *, xp):
        return xp.where(Z > 0, Z, self.alpha * Z)

    def derivative(self, Z, A, *, xp):
        return xp.where(Z > 0, xp.ones_like(Z), xp.full_like(Z, self.alpha))

    def backward(self, Z, A, grad_A, *, xp):
        return xp.where(Z > 0, grad_A, self.alpha * grad_A)

    def get_config(self):
        return {"alpha": self.alpha}


class ELU(Activation):
    """``g(z) = z if z > 0 else alpha (exp(z) - 1)``; ``g'(z) = 1 if z > 0 else g(z) + alpha``."""

    name = "elu"
    default_init = "he"

    def __init__(self, alpha=1.0):
        self.alpha = check_number(alpha, "alpha", low=0.0)

    @property
    def kink(self):
        """0 unless ``alpha`` is 1: ``g'`` is 1 on the right of 0 and ``alpha`` on its left."""
        return None if self.alpha == 1.0 else 0.0

    def forward(self, Z, *, xp):
        # expm1 of min(z, 0): the unused branch never overflows.
        return xp.where(Z > 0, Z, self.alpha * xp.expm1(xp.minimum(Z, 0.0)))

    def derivative(self, Z, A, *, xp):
        return xp.where(Z > 0, xp.ones_like(Z), A + self.alpha)

    def get_config(self):
        return {"alpha": self.alpha}


class Softplus(Activation):
    """``g(z) = log(1 + exp(z))``, a smooth ReLU; ``g'(z) = sigmoid(z)``."""

    name = "softplus"
    default_init = "he"

    def forward(self, Z, *, xp):
        # max(z, 0) + log1p(exp(-|z|)) is the overflow-free form.
        return xp.maximum(Z, 0.0) + xp.log1p(xp.exp(-xp.abs(Z)))

    def derivative(self, Z, A, *, xp):
        return SIGMOID.forward(Z, xp=xp)


class SiLU(Activation):
    """Swish / SiLU ``g(z) = z sigmoid(z)``; ``g'(z) = s + z s (1 - s)`` with ``s = sigmoid(z)``."""

    name = "silu"
    default_init = "he"

    def forward(self, Z, *, xp):
        return Z * SIGMOID.forward(Z, xp=xp)

    def derivative(self, Z, A, *, xp):
        s = SIGMOID.forward(Z, xp=xp)
        return s + Z * s * (1.0 - s)


class Softmax(Activation):
    """Row-wise ``g(z)_j = exp(z_j) / sum_k exp(z_k)`` over the classes of each sample.

    Its Jacobian per sample is ``diag(a) - a a^T``, so the vector-Jacobian product is
    ``grad_Z = a * (grad_A - sum_k grad_A_k a_k)``. Paired with cross-entropy the output gradient is
    fused to ``(A - Y) / n`` (see :mod:`anyarray_nn.losses`).
    """

    name = "softmax"
    default_loss = "crossentropy"
    classifier = True

    def forward(self, Z, *, xp):
        # Shifting by the row maximum changes nothing mathematically and keeps exp from overflowing.
        E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
        return E / xp.sum(E, axis=1, keepdims=True)

    def derivative(self, Z, A, *, xp):
        """The diagonal of the Jacobian, ``a (1 - a)``; use :meth:`backward` for the full product."""
        return A * (1.0 - A)

    def backward(self, Z, A, grad_A, *, xp):
        return A * (grad_A - xp.sum(grad_A * A, axis=1, keepdims=True))

    def decide(self, A, *, xp):
        """The class with the highest probability in each row, shape ``(n_samples,)``."""
        return xp.argmax(A, axis=1)


class Exponential(Activation):
    """``g(z) = exp(z)``; ``g'(z) = exp(z) = g(z)``. The output of a Poisson regression network (log link).

    Paired with the ``poisson`` loss the output gradient is fused to ``(A - Y) / n`` (see
    :mod:`anyarray_nn.losses`).
    """

    name = "exponential"
    default_loss = "poisson"

    def forward(self, Z, *, xp):
        return xp.exp(Z)

    def derivative(self, Z, A, *, xp):
        return A


SIGMOID = Sigmoid()

REGISTRY = Registry(
    "activation", Activation, aliases={"identity": "linear", "logistic": "sigmoid", "swish": "silu", "leakyrelu": "leaky_relu",
             "exp": "exponential"}
)
for _cls in (Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, SiLU, Softmax, Exponential):
    REGISTRY.register(_cls)
names = REGISTRY.names
register = REGISTRY.register


def get(activation):
    """An activation object from a name (``"relu"``), a class, or an object with ``forward`` and ``derivative``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    TypeError
        For anything else that is not an activation.
    """
    if isinstance(activation, (str, type, Activation)):
        return REGISTRY.get(activation)
    if callable(getattr(activation, "forward", None)) and callable(getattr(activation, "derivative", None)):
        return _Wrapped(activation)
    raise TypeError(
        f"`activation` must be a name in {names()} or an object with forward(Z, *, xp) and "
        f"derivative(Z, A, *, xp), got {type(activation).__name__}."
    )


class _Wrapped(Activation):
    """Gives a duck-typed user object the default ``backward`` and ``decide``."""

    def __init__(self, inner):
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)

    def forward(self, Z, *, xp):
        return self.inner.forward(Z, xp=xp)

    def derivative(self, Z, A, *, xp):
        return self.inner.derivative(Z, A, xp=xp)

    def backward(self, Z, A, grad_A, *, xp):
        if callable(getattr(self.inner, "backward", None)):
            return self.inner.backward(Z, A, grad_A, xp=xp)
        return grad_A * self.inner.derivative(Z, A, xp=xp)

    def __repr__(self):
        return repr(self.inner)
