"""The Model: a stack of dense layers with forward propagation, backpropagation, prediction and fit."""

from __future__ import annotations

from . import losses
from ._validation import check_positive_int, check_targets, check_X
from .backend import Backend
from .layers import Layer
from .regularization import check_dropout

# Rows per chunk when predicting: bounds the activations held at once whatever the size of X.
PREDICT_BATCH_SIZE = 8192


class ForwardCache(list):
    """What forward propagation keeps for backpropagation: a list of ``(Z, A)`` per layer.

    ``cache[l] = (Z_l, A_l)`` with both of shape ``(n_samples, n_out_l)``, ``Z_l`` the pre-activation and
    ``A_l = g_l(Z_l)`` the activation.

    Attributes
    ----------
    X : array, shape (n_samples, n_features)
        The input.
    inputs : list of arrays
        ``inputs[l]`` is what layer ``l`` multiplied by its weights: ``X`` for the first layer, then
        ``A_{l-1}``, times the dropout mask when dropout was applied during training.
    masks : list
        The scaled dropout mask applied to ``A_l`` (``None`` where no dropout was applied).
    """

    def __init__(self, X):
        super().__init__()
        self.X = X
        self.inputs = [X]
        self.masks = []

    @property
    def output(self):
        """The network output ``A_L``, shape ``(n_samples, n_outputs)``."""
        return self[-1][1]


class Model:
    """A multilayer perceptron.

    Parameters
    ----------
    layers : list of Layer
        Consecutive layers must chain: ``layers[i].n_out == layers[i + 1].n_in``.
    backend : {"auto", "numpy", "cupy", "torch", "array_api_strict"} or module, default "auto"
        The array library; ``"auto"`` picks CuPy when a CUDA device is present, else NumPy (see
        :class:`~anyarray_nn.backend.Backend`).
    device : optional
        Device on that backend (``"cuda:1"``, ``"device1"`` ...); the backend's default when omitted.
    dtype : {"float32", "float64"}, default "float32"
    seed : int, optional
        Seeds initial weights, shuffling and dropout. The same seed gives the same initial weights on
        every backend.

    Attributes
    ----------
    backend : Backend
        Library, namespace ``xp``, device, dtype and random generator.
    layers : list of Layer
    history_ : History or None
        What the last :meth:`fit` recorded.
    """

    def __init__(self, layers, backend="auto", device=None, dtype="float32", seed=None):
        layers = list(layers) if isinstance(layers, (list, tuple)) else layers
        if not isinstance(layers, list) or not layers:
            raise ValueError(f"`layers` must be a non-empty list of Layer, got {layers!r}.")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"`layers[{i}]` must be a Layer, got {type(layer).__name__}.")
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
            if a.n_out != b.n_in:
                raise ValueError(
                    f"`layers` do not chain: layers[{i}] has n_out={a.n_out} but layers[{i + 1}] has n_in={b.n_in}."
                )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"`seed` must be None or an integer >= 0, got {seed!r}.")
        self.layers = layers
        self.backend = Backend(backend, device=device, dtype=dtype, seed=seed)
        for layer in layers:
            layer.build(self.backend)
        self.history_ = None
        self.solver_ = None
        self.optimizer_state_ = None

    # ----------------------------------------------------------------------------------------------
    @property
    def xp(self):
        return self.backend.xp

    @property
    def device(self):
        return self.backend.device

    @property
    def dtype(self):
        return self.backend.dtype_name

    @property
    def n_features(self):
        return self.layers[0].n_in

    @property
    def n_outputs(self):
        return self.layers[-1].n_out

    @property
    def output_activation(self):
        return self.layers[-1].activation.name

    @property
    def n_params(self):
        return sum(layer.n_params for layer in self.layers)

    def parameters(self):
        """The flat list ``[W_1, b_1, W_2, b_2, ...]`` (the order optimizers see)."""
        return [p for layer in self.layers for p in (layer.W, layer.b)]

    def set_parameters(self, params):
        """Replace all parameters from a flat list ``[W_1, b_1, ...]`` (shapes are checked)."""
        for i, layer in enumerate(self.layers):
            layer.W, layer.b = params[2 * i], params[2 * i + 1]

    def _set_parameters_unchecked(self, params):
        # The training loop's path: the arrays come from the optimizer and already fit.
        for i, layer in enumerate(self.layers):
            layer._W, layer._b = params[2 * i], params[2 * i + 1]

    def __repr__(self):
        b = self.backend
        note = f", note={b.note!r}" if b.note else ""
        arch = "-".join(str(n) for n in [self.n_features] + [layer.n_out for layer in self.layers])
        return (
            f"Model({arch}, activations={[layer.activation.name for layer in self.layers]}, "
            f"backend={b.name!r}, device={b.device_str!r}, dtype={b.dtype_name!r}, params={self.n_params}{note})"
        )

    # ----------------------------------------------------------------------------------------------
    # forward propagation
    def forward(self, X, training=False, dropout=0.0):
        """Forward propagation ("FeedForward"), keeping every layer's ``Z`` and ``A``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        training : bool, default False
            Apply dropout (only meaningful with ``dropout > 0``).
        dropout : float, default 0.0
            Probability of dropping each hidden unit when ``training``.

        Returns
        -------
        ForwardCache
            ``cache[l] = (Z_l, A_l)``, each of shape ``(n_samples, layers[l].n_out)``.
        """
        dropout = check_dropout(dropout)
        X = check_X(X, self.backend, self.n_features)
        return self._forward(X, dropout if training else 0.0)

    def _forward(self, X, dropout=0.0):
        xp = self.xp
        cache = ForwardCache(X)
        A = X
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            Z, A = layer.forward(cache.inputs[-1], xp=xp)
            cache.append((Z, A))
            mask = None
            if dropout > 0.0 and i < last:
                mask = self.backend.dropout_mask(tuple(A.shape), dropout)
                cache.inputs.append(A * mask)
            else:
                cache.inputs.append(A)
            cache.masks.append(mask)
        return cache

    # ----------------------------------------------------------------------------------------------
    # backpropagation
    def backward(self, cache, y, solver=None):
        """Backpropagation ("BackProp"): the loss and its gradients for every layer.

        Parameters
        ----------
        cache : ForwardCache
            From :meth:`forward` on the same samples.
        y : array-like
            Targets for those samples (class labels, one-hot rows, 0/1 or values; see the README).
        solver : Solver, optional
            Gives the loss and the regularization; default :func:`~anyarray_nn.training.default_solver`.

        Returns
        -------
        loss : 0-d array
            Data loss plus the weight penalty.
        grads_W : list of arrays
            ``grads_W[l]`` has the shape of ``layers[l].W``, ``(n_in, n_out)``.
        grads_b : list of arrays
            ``grads_b[l]`` has the shape of ``layers[l].b``, ``(n_out,)``.
        """
        from .training import default_solver

        if not isinstance(cache, ForwardCache) or len(cache) != len(self.layers):
            raise TypeError("`cache` must be the ForwardCache that model.forward(X) returned.")
        solver = default_solver(self, solver)
        T = check_targets(y, self.backend, solver.loss.name, self.n_outputs, cache.X.shape[0])
        return self._backward(cache, T, solver.loss, solver.regularization)

    def _backward(self, cache, T, loss, regularization, scale=None):
        """:meth:`backward` on checked targets; with ``scale`` every gradient comes multiplied by it.

        Every gradient is linear in the output gradient, so scaling that ``(n_samples, n_outputs)`` array
        scales them all for a few multiplications: plain SGD passes ``-lr`` and gets its updates.
        """
        xp = self.xp
        last = len(self.layers) - 1
        Z, A = cache[last]
        act = self.layers[last].activation
        value = loss.forward(Z, A, T, act, xp=xp)
        grad_Z = loss.backward(Z, A, T, act, xp=xp)
        if scale is not None:
            grad_Z = grad_Z * scale
        grads_W = [None] * len(self.layers)
        grads_b = [None] * len(self.layers)
        for i in range(last, -1, -1):
            layer = self.layers[i]
            grad_W = cache.inputs[i].T @ grad_Z
            penalty_grad = regularization.gradient(layer.W, xp=xp)
            if penalty_grad is not None and scale is not None:
                penalty_grad = penalty_grad * scale
            grads_W[i] = grad_W if penalty_grad is None else grad_W + penalty_grad
            grads_b[i] = xp.sum(grad_Z, axis=0)
            if i > 0:
                grad_A = grad_Z @ layer.W.T
                mask = cache.masks[i - 1]
                if mask is not None:
                    grad_A = grad_A * mask
                Z, A = cache[i - 1]
                grad_Z = self.layers[i - 1].activation.backward(Z, A, grad_A, xp=xp)
        if regularization.active:
            value = value + regularization.penalty([layer.W for layer in self.layers], xp=xp)
        return value, grads_W, grads_b

    # ----------------------------------------------------------------------------------------------
    # prediction
    def predict_proba(self, X, batch_size=None):
        """Network outputs for ``X``: class probabilities for softmax / sigmoid outputs.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        batch_size : int, optional
            Rows per chunk (default 8192), so the activations of a huge ``X`` are never all held at once.
            An ``X`` from the host (NumPy, lists) is moved to the device chunk by chunk too, so it may be
            larger than the device's memory.

        Returns
        -------
        array of the backend, shape (n_samples, n_outputs)
        """
        X = check_X(X, self.backend, self.n_features, to_device=False)
        return self._output(X, batch_size)

    def _output(self, X, batch_size=None, logits=False):
        """Output activations (or, with ``logits``, the output layer's ``Z``) of a checked ``X``, in chunks."""
        xp = self.xp
        n = X.shape[0]
        size = PREDICT_BATCH_SIZE if batch_size is None else check_positive_int(batch_size, "batch_size")
        # A host X (check_X with to_device=False) goes to the device one chunk at a time.
        move = (lambda rows: rows) if self.backend.owns(X) else self.backend.asarray
        pick = 0 if logits else 1
        if n <= size:
            return self._forward_output(move(X))[pick]
        chunks = [
            self._forward_output(move(X[start : min(start + size, n), :]))[pick] for start in range(0, n, size)
        ]
        return xp.concat(chunks, axis=0)

    def _forward_output(self, X):
        """``(Z, A)`` of the output layer; unlike :meth:`forward` it keeps no cache of the other layers."""
        xp = self.xp
        Z = A = X
        for layer in self.layers:
            Z, A = layer.forward(A, xp=xp)
        return Z, A

    def predict(self, X, batch_size=None):
        """Predictions for ``X``.

        Returns
        -------
        array of the backend
            Softmax output: class indices, shape ``(n_samples,)``. Sigmoid output: 0/1 labels,
            shape ``(n_samples,)`` for one unit or ``(n_samples, n_outputs)`` (multi-label). Otherwise the
            outputs, ``(n_samples,)`` for one unit or ``(n_samples, n_outputs)``.
        """
        xp = self.xp
        A = self.predict_proba(X, batch_size=batch_size)
        return self._decide(A, xp)

    def _decide(self, A, xp):
        if self.output_activation == "softmax":
            return xp.argmax(A, axis=1)
        if self.output_activation == "sigmoid":
            labels = xp.astype(A >= 0.5, xp.int64)
            return labels[:, 0] if self.n_outputs == 1 else labels
        return A[:, 0] if self.n_outputs == 1 else A

    # ----------------------------------------------------------------------------------------------
    def fit(self, X, y, solver=None, settings=None, validation_data=None, **kwargs):
        """Train the model; see :func:`anyarray_nn.training.fit` for the parameters.

        Returns
        -------
        History
        """
        from .training import fit

        return fit(self, X, y, solver=solver, settings=settings, validation_data=validation_data, **kwargs)

    def evaluate(self, X, y, solver=None):
        """The loss (with penalty) and, for classifiers, the accuracy on ``(X, y)`` as Python floats."""
        from .training import default_solver, evaluate

        solver = default_solver(self, solver)
        X = check_X(X, self.backend, self.n_features)
        T = check_targets(y, self.backend, solver.loss.name, self.n_outputs, X.shape[0])
        return evaluate(self, X, T, solver)

    # ----------------------------------------------------------------------------------------------
    def summary(self, batch_size=1):
        """The dimension table: shapes of W, b, Z and A per layer for a batch of ``batch_size`` samples.

        Returns
        -------
        str
        """
        m = check_positive_int(batch_size, "batch_size")
        rows = [("layer", "activation", "init", "W", "b", "Z, A", "params")]
        rows.append(("input", "", "", "", "", f"X: ({m}, {self.n_features})", ""))
        for i, layer in enumerate(self.layers, start=1):
            rows.append(
                (
                    str(i),
                    layer.activation.name,
                    f"{layer.init}/{layer.distribution}",
                    f"({layer.n_in}, {layer.n_out})",
                    f"({layer.n_out},)",
                    f"({m}, {layer.n_out})",
                    f"{layer.n_params:,}",
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
        b = self.backend
        out = [f"Model on {b.name} ({b.device_str}, {b.dtype_name})" + (f" [{b.note}]" if b.note else "")]
        out += [line(rows[0]), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in rows[1:]]
        out.append(f"Total parameters: {self.n_params:,}   (Z = A_prev @ W + b, A = g(Z); samples are rows)")
        return "\n".join(out)

    # ----------------------------------------------------------------------------------------------
    def to(self, backend, device=None, dtype=None):
        """Move the model (parameters and optimizer state) to another backend / device / dtype, in place.

        Returns
        -------
        Model
            ``self``, for chaining.
        """
        old = self.backend
        new = Backend(backend, device=device, dtype=old.dtype_name if dtype is None else dtype, seed=None)
        new.rng = old.rng  # the random stream continues where it was
        new.seed = old.seed
        for layer in self.layers:
            W, b = old.to_numpy(layer.W), old.to_numpy(layer.b)
            layer.bind(new, W, b)
        if self.optimizer_state_ is not None:
            self.optimizer_state_ = _move_state(self.optimizer_state_, old, new)
        self.backend = new
        return self


def _move_state(state, old, new):
    if isinstance(state, dict):
        return {k: _move_state(v, old, new) for k, v in state.items()}
    if isinstance(state, list):
        return [_move_state(v, old, new) for v in state]
    if old.owns(state):
        return new.asarray(old.to_numpy(state))
    return state


def output_loss(model, loss=None):
    """The loss object for ``model``: the named one, or the default for its output activation."""
    return losses.get(losses.default_for(model.output_activation) if loss is None else loss)
