"""The network math: forward and backward propagation over a list of layers, on given parameters.

Everything here is a function of ``(layers, params, arrays)``: the layers give the shapes and the
activations, ``params`` is the flat list ``[W_1, b_1, W_2, b_2, ...]`` and every array is already
checked and on the device. The :class:`~anyarray_nn.Model` calls these with its own parameters; the
pure training step (:mod:`anyarray_nn.step`) calls them with the parameters it is updating.
"""

from __future__ import annotations

import math

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


def pairs(params):
    """``[(W_1, b_1), (W_2, b_2), ...]`` from the flat list ``[W_1, b_1, W_2, b_2, ...]``."""
    return list(zip(params[0::2], params[1::2]))


def dropout_masks(layers, n_rows, rate, backend):
    """Inverted-dropout masks for the hidden layers of one batch: a list with None for the output layer.

    Drawn in layer order from the backend's generator; ``masks[l]`` has shape ``(n_rows, layers[l].n_out)``.
    """
    if rate <= 0.0:
        return None
    return [backend.dropout_mask((n_rows, layer.n_out), rate) for layer in layers[:-1]] + [None]


def forward(layers, params, X, masks=None, *, xp):
    """Forward propagation keeping every layer's ``(Z, A)`` ("FeedForward").

    Parameters
    ----------
    layers : list of Layer
    params : list of arrays
        ``[W_1, b_1, ...]`` with ``W_l`` of shape ``(n_in_l, n_out_l)``.
    X : array, shape (n_samples, n_features)
    masks : list, optional
        Per layer, the scaled dropout mask applied to its output ``A_l`` (None: no dropout there).

    Returns
    -------
    ForwardCache
    """
    cache = ForwardCache(X)
    for i, (layer, Wb) in enumerate(zip(layers, pairs(params))):
        Z, A = layer.forward(cache.inputs[-1], xp=xp, params=Wb)
        cache.append((Z, A))
        mask = None if masks is None else masks[i]
        cache.inputs.append(A if mask is None else A * mask)
        cache.masks.append(mask)
    return cache


def backward(
    layers, params, cache, T, loss, regularization, *, xp, scale=None, matmul_add=None, weights=None, penalty_scale=None
):
    """Backpropagation ("BackProp"): the loss and the gradients of every layer's parameters.

    Parameters
    ----------
    layers, params
        As for :func:`forward`.
    cache : ForwardCache
        From :func:`forward` on the same parameters.
    T : array, shape (n_samples, n_outputs)
        Encoded targets (:meth:`~anyarray_nn.losses.Loss.encode_targets`), or class labels
        ``(n_samples,)`` for a loss that takes them (:class:`~anyarray_nn.losses.SparseCrossEntropy`).
    loss : Loss
    regularization : Regularization
    scale : float or 0-d array, optional
        Every gradient comes multiplied by it. Every gradient is linear in the output gradient, so scaling
        that ``(n_samples, n_outputs)`` array scales them all for a few multiplications: plain SGD passes
        ``-lr`` and gets its updates.
    matmul_add : callable, optional
        ``(C, A, B) -> C + A @ B`` (:meth:`~anyarray_nn.Backend.matmul_add`). When given, each weight
        gradient is added to its weights as it is computed (in place where the library allows it) and
        ``grads_W`` holds the new weights: with ``scale=-lr`` and no weight penalty, plain SGD's step.
    weights : array, shape (n_samples,), optional
        Sample weights scaled to ``r_i = n w_i / sum_j w_j`` (:func:`sample_shares`): the data loss is
        the weighted mean of the samples' losses (:meth:`~anyarray_nn.losses.Loss.weighted_forward`).
    penalty_scale : float or 0-d array, optional
        The weight penalty comes multiplied by it (value and gradient): a per-sample penalty's
        ``lam / rows`` (:meth:`~anyarray_nn.Regularization.batch_scale`) with ``regularization`` at lam 1.

    Returns
    -------
    loss : 0-d array
        Data loss plus the weight penalty.
    grads_W : list of arrays, ``grads_W[l]`` of shape ``(n_in_l, n_out_l)``
        (the new weights with ``matmul_add``)
    grads_b : list of arrays, ``grads_b[l]`` of shape ``(n_out_l,)``
    """
    last = len(layers) - 1
    Ws, Wbs = params[0::2], pairs(params)
    penalized = regularization.active
    if matmul_add is not None and penalized:
        raise ValueError("backward: `matmul_add` adds the data gradient alone; it cannot take a weight penalty.")
    Z, A = cache[last]
    act = layers[last].activation
    if weights is None:
        value = loss.forward(Z, A, T, act, xp=xp)
        grad_Z = loss.backward(Z, A, T, act, xp=xp)
    else:
        value = loss.weighted_forward(Z, A, T, act, weights, xp=xp)
        grad_Z = loss.weighted_backward(Z, A, T, act, weights, xp=xp)
    if scale is not None:
        grad_Z = grad_Z * scale
    grads_W = [None] * len(layers)
    grads_b = [None] * len(layers)
    for i in range(last, -1, -1):
        grad_W, grads_b[i], grad_A = layers[i].backward(
            grad_Z, cache.inputs[i], xp=xp, params=Wbs[i], input_grad=i > 0, matmul_add=matmul_add
        )
        if penalized:
            penalty_grad = regularization.gradient(Ws[i], xp=xp)
            if penalty_scale is not None:
                penalty_grad = penalty_scale * penalty_grad
            if scale is not None:
                penalty_grad = penalty_grad * scale
            grad_W = grad_W + penalty_grad
        grads_W[i] = grad_W
        if i > 0:
            mask = cache.masks[i - 1]
            if mask is not None:
                grad_A = grad_A * mask
            Z, A = cache[i - 1]
            grad_Z = layers[i - 1].activation.backward(Z, A, grad_A, xp=xp)
    if penalized:
        penalty = regularization.penalty(Ws, xp=xp)
        value = value + (penalty if penalty_scale is None else penalty_scale * penalty)
    return value, grads_W, grads_b


def value_and_grad(layers, params, X, T, loss, regularization, *, xp, masks=None, **options):
    """Forward then backward propagation: the loss, its gradients and the network's output.

    The one place the training step, full-batch training (L-BFGS) and the gradient check compute a loss
    and its gradients (the diagnostics and the narrated step keep the cache, to show it); only this
    batch's activations are held, and they are let go of before returning.

    Parameters
    ----------
    layers, params, X, masks
        As for :func:`forward`.
    T, loss, regularization
        As for :func:`backward`.
    **options
        ``scale``, ``matmul_add``, ``weights``, ``penalty_scale`` of :func:`backward`.

    Returns
    -------
    value : 0-d array
    grads_W, grads_b : lists of arrays
        As :func:`backward` returns them.
    output : array, shape (n_samples, n_outputs)
        ``A_L``, for the output layer's decisions.
    """
    cache = forward(layers, params, X, masks, xp=xp)
    output = cache.output
    value, grads_W, grads_b = backward(layers, params, cache, T, loss, regularization, xp=xp, **options)
    return value, grads_W, grads_b, output


def sample_shares(w, *, xp, total=None, rows=None):
    """Sample weights ``w`` ``(n,)`` scaled to ``r_i = n w_i / sum_j w_j``: the weighted mean is ``mean(r * l)``.

    Weights that add up to 0 give ``r = 0``: such a batch adds nothing to the data loss or its gradient
    (no division by zero, no NaN). ``total`` (``sum(w)``, a 0-d array) and ``rows`` (``n``) may be given
    when already known, or when ``w`` is one chunk of a larger set whose weights they describe.
    """
    total = xp.sum(w) if total is None else total
    rows = w.shape[0] if rows is None else rows
    safe = xp.where(total > 0, total, xp.ones_like(total))
    return w * (float(rows) / safe)


def forward_output(layers, params, X, *, xp):
    """``(Z, A)`` of the output layer; unlike :func:`forward` it keeps no cache of the other layers."""
    Z = A = X
    for layer, Wb in zip(layers, pairs(params)):
        Z, A = layer.forward(A, xp=xp, params=Wb)
    return Z, A


def n_rows(X):
    """The number of rows of ``X`` as an int, or None where it is not known yet (lazy or traced arrays)."""
    n = X.shape[0]
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return None
    return int(n)


def output(layers, params, X, *, xp, move=None, batch_size=None, logits=False):
    """Output activations (or, with ``logits``, the output layer's ``Z``) of ``X``, in chunks of rows.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
    move : callable, optional
        Applied to each chunk before it enters the network (a host ``X`` goes to the device chunk by
        chunk, so it may be larger than the device's memory).
    batch_size : int, optional
        Rows per chunk, default :data:`PREDICT_BATCH_SIZE`. An ``X`` whose number of rows is not known
        (a lazy or traced array) goes through in one piece.

    Returns
    -------
    array, shape (n_samples, n_outputs)
    """
    move = move or (lambda rows: rows)
    pick = 0 if logits else 1
    n = n_rows(X)
    size = PREDICT_BATCH_SIZE if batch_size is None else batch_size
    if n is None or n <= size:
        return forward_output(layers, params, move(X), xp=xp)[pick]
    chunks = [
        forward_output(layers, params, move(X[start : min(start + size, n), :]), xp=xp)[pick]
        for start in range(0, n, size)
    ]
    return xp.concat(chunks, axis=0)
