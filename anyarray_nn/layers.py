"""The dense layer: ``Z = A_prev @ W + b``, ``A = g(Z)``, and its backward products.

Forward, for an input ``A_prev`` of shape ``(n, n_in)``::

    Z = A_prev @ W + b          (n, n_out)
    A = g(Z)                    (n, n_out)

Backward, given ``grad_Z = dL/dZ`` of shape ``(n, n_out)``::

    grad_W = A_prev.T @ grad_Z  (n_in, n_out)
    grad_b = sum_rows(grad_Z)   (n_out,)
    grad_A_prev = grad_Z @ W.T  (n, n_in)     what the layer below receives

Plain SGD can take the step inside the weight product: with ``-lr`` folded into ``grad_Z``,
``W + A_prev.T @ grad_Z`` is the new ``W``, one BLAS call with ``beta = 1`` on libraries that offer it.

Both take the parameters as arguments (by default the layer's own), so the same code serves the
model's forward pass, a pure training step on parameters held elsewhere and a traced export.
"""

from __future__ import annotations

from . import activations, initializers
from ._validation import check_positive_int
from .backend import fresh_writeable


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
        Default: the activation's ``default_init`` (``he`` for ReLU-like activations, ``xavier`` otherwise).
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
        self.init = initializers.canonical(init if init is not None else getattr(self.activation, "default_init", "xavier"))
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
        self._W = self.checked(value, (self.n_in, self.n_out), "W")

    @property
    def b(self):
        return self._b

    @b.setter
    def b(self, value):
        self._b = self.checked(value, (self.n_out,), "b")

    def checked(self, value, shape, name):
        """``value`` moved to the model's backend, device and dtype, or a ValueError when its shape differs."""
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

    def attach(self, backend):
        """Belong to a model on ``backend`` from now on (its parameters are set next)."""
        self._backend = backend

    def bind_unchecked(self, W, b):
        """Hold ``W`` and ``b`` as they are: arrays of the model's backend with the right shapes already."""
        self._W, self._b = W, b

    @property
    def n_params(self):
        return self.n_in * self.n_out + self.n_out

    def forward(self, A_prev, *, xp, params=None):
        """``(Z, A)`` for an input of shape ``(n_samples, n_in)``; both ``(n_samples, n_out)``.

        ``params`` is a pair ``(W, b)`` to use instead of the layer's own.
        """
        W, b = (self._W, self._b) if params is None else params
        Z = A_prev @ W
        # The product is a fresh array: adding the bias in place saves a temporary of its size.
        if fresh_writeable(Z):
            Z += b
        else:
            Z = Z + b
        return Z, self.activation.forward(Z, xp=xp)

    def backward(self, grad_Z, A_prev, *, xp, params=None, input_grad=True, matmul_add=None):
        """Gradients of the loss from ``grad_Z = dL/dZ`` of shape ``(n_samples, n_out)``.

        Parameters
        ----------
        grad_Z : array, shape (n_samples, n_out)
        A_prev : array, shape (n_samples, n_in)
            What the layer multiplied by ``W`` in the forward pass.
        params : pair (W, b), optional
            The parameters of that forward pass; default the layer's own.
        input_grad : bool, default True
            Whether to compute ``grad_A_prev`` (the first layer's is not needed).
        matmul_add : callable, optional
            ``matmul_add(C, A, B) -> C + A @ B`` (:meth:`~anyarray_nn.Backend.matmul_add`). When given,
            the layer returns ``W + A_prev.T @ grad_Z`` in place of ``grad_W``, possibly written into ``W``:
            plain SGD, whose ``grad_Z`` already carries ``-lr``, gets its new weights from the product.

        Returns
        -------
        grad_W : array, shape (n_in, n_out)
            Or the new ``W`` with ``matmul_add``.
        grad_b : array, shape (n_out,)
        grad_A_prev : array, shape (n_samples, n_in), or None without ``input_grad``
        """
        W = self._W if params is None else params[0]
        # Before the weight product: with matmul_add that may overwrite W.
        grad_A_prev = grad_Z @ W.T if input_grad else None
        grad_W = A_prev.T @ grad_Z if matmul_add is None else matmul_add(W, A_prev.T, grad_Z)
        grad_b = xp.sum(grad_Z, axis=0)
        return grad_W, grad_b, grad_A_prev

    def get_config(self):
        """The layer's architecture as JSON-able values; :meth:`from_config` rebuilds it."""
        act = self.activation
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": act.name,
            "activation_config": act.get_config() if hasattr(act, "get_config") else {},
            "init": self.init,
            "distribution": self.distribution,
        }

    @classmethod
    def from_config(cls, config):
        """A new (unbuilt) layer from :meth:`get_config`'s dict; every field is checked.

        The activation is looked up by name in the activation registry, so a user's activation must be
        registered (:func:`anyarray_nn.activations.register`) to be rebuilt.

        Raises
        ------
        TypeError, ValueError
            Naming the field that is missing, unknown or of the wrong kind.
        """
        if not isinstance(config, dict):
            raise TypeError(f"A layer configuration must be a dict, got {type(config).__name__}.")
        expected = {"n_in", "n_out", "activation", "activation_config", "init", "distribution"}
        if set(config) != expected:
            raise ValueError(
                f"A layer configuration has the fields {sorted(expected)}, got {sorted(config)}."
            )
        act = activations.REGISTRY.rebuild(config["activation"], config["activation_config"])
        return cls(config["n_in"], config["n_out"], act, init=config["init"], distribution=config["distribution"])

    def __repr__(self):
        return (
            f"Layer({self.n_in}, {self.n_out}, {self.activation.name!r}, init={self.init!r}, "
            f"distribution={self.distribution!r})"
        )
