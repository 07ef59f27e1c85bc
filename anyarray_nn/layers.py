"""The dense layer: ``Z = A_prev @ W + b``, ``A = g(Z)``."""

from __future__ import annotations

from array_api_compat import is_writeable_array

from . import activations, initializers
from ._validation import check_positive_int


class Layer:
    """A fully connected layer.

    Parameters
    ----------
    n_in : int
        Number of inputs (features of the previous layer's output).
    n_out : int
        Number of units.
    activation : str or Activation, default "relu"
        See :func:`anyarray_nn.activations.names`.
    init : str, optional
        Initializer (``zeros``, ``random``, ``xavier``/``glorot``, ``he``/``kaiming``, ``lecun``).
        Default: ``he`` for ReLU-like activations, ``xavier`` otherwise.
    distribution : {"normal", "uniform"}, default "normal"
        Distribution the initial weights are drawn from (same variance either way).

    Attributes
    ----------
    W : array, shape (n_in, n_out)
        Weights, an array of the model's backend, once the layer belongs to a :class:`~anyarray_nn.Model`.
    b : array, shape (n_out,)
        Biases.

    Assigning ``layer.W`` or ``layer.b`` checks the shape and moves the value to the model's backend,
    device and dtype.
    """

    def __init__(self, n_in, n_out, activation="relu", init=None, distribution="normal"):
        self.n_in = check_positive_int(n_in, "n_in")
        self.n_out = check_positive_int(n_out, "n_out")
        self.activation = activations.get(activation)
        self.init = initializers.canonical(init) if init is not None else initializers.default_for(self.activation.name)
        self.distribution = initializers.check_distribution(distribution)
        self._backend = None
        self._W = None
        self._b = None

    # Parameters are properties so an assignment by a user is checked and lands on the right device.
    @property
    def W(self):
        return self._W

    @W.setter
    def W(self, value):
        self._W = self._checked(value, (self.n_in, self.n_out), "W")

    @property
    def b(self):
        return self._b

    @b.setter
    def b(self, value):
        self._b = self._checked(value, (self.n_out,), "b")

    def _checked(self, value, shape, name):
        if self._backend is None:
            raise RuntimeError(f"Layer.{name} can be assigned once the layer belongs to a Model.")
        arr = self._backend.asarray(value)
        if tuple(arr.shape) != shape:
            raise ValueError(f"Layer.{name} must have shape {shape}, got {tuple(arr.shape)}.")
        return arr

    def build(self, backend):
        """Draw the initial weights on ``backend`` (called by the Model)."""
        self._backend = backend
        self._W, self._b = initializers.initialize(backend, self.init, self.distribution, self.n_in, self.n_out)

    def bind(self, backend, W, b):
        """Attach to ``backend`` with the given parameters (used by Model.to and loading)."""
        self._backend = backend
        self.W = W
        self.b = b

    @property
    def n_params(self):
        return self.n_in * self.n_out + self.n_out

    def forward(self, A_prev, *, xp):
        """``(Z, A)`` for an input of shape ``(n_samples, n_in)``; both ``(n_samples, n_out)``."""
        Z = A_prev @ self._W
        # The product is a fresh array: adding the bias in place saves a temporary of its size.
        if is_writeable_array(Z):
            Z += self._b
        else:
            Z = Z + self._b
        return Z, self.activation.forward(Z, xp=xp)

    def get_config(self):
        act = self.activation
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": act.name,
            "activation_config": act.get_config() if hasattr(act, "get_config") else {},
            "init": self.init,
            "distribution": self.distribution,
        }

    def __repr__(self):
        return (
            f"Layer({self.n_in}, {self.n_out}, {self.activation.name!r}, init={self.init!r}, "
            f"distribution={self.distribution!r})"
        )
