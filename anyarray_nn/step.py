"""One training step as a pure function: the seam where compiled steps, the data-parallel all-reduce
and gradient checks plug in.

``step(params, state, Xb, Tb, masks, lr, wb=None) -> (params, state, loss, predictions)``::

    cache = forward(params, Xb, masks)                   # (Z, A) per layer
    loss, grads = backward(cache, Tb, wb)                # fused output gradient where possible;
                                                         # with sample weights wb, their weighted mean
                                                         # (plain SGD: W + A.T @ (-lr G) in one product)
    grads = reduce(grads)                                # data-parallel: sum over processes
    grads = clip(grads)                                  # optional, after the reduction
    params, state = optimizer.step(params, grads, state, lr)

It reads nothing back to the host and changes nothing outside what it returns: the caller keeps the
new parameters and state. (Where the array library allows it, the optimizer writes the new values into
the old arrays to save allocations, so the old ones must not be used again, as with JAX's donated
buffers.)
"""

from __future__ import annotations

import math

from . import network, optimizers
from . import regularization as regularization_module


class Packing:
    """Parameters and per-parameter optimizer state as views of one flat array each.

    An elementwise optimizer (:attr:`~anyarray_nn.optimizers.Optimizer.elementwise`) then updates every
    parameter in one pass of a few operations over the flat arrays, instead of a few per array: for a
    small network the per-array calls cost more than the arithmetic. Each entry's update is the same
    operation on the same numbers, so the results are the same to the bit. Only for libraries that
    update in place (NumPy, CuPy, torch, array_api_strict), where the views see the flat array's updates.

    Parameters
    ----------
    params : list of arrays
        ``[W_1, b_1, ...]``; copied into the flat array.
    state : dict
        The optimizer state: its lists of one array per parameter are packed, other entries kept.
    """

    def __init__(self, params, state, *, xp):
        self.xp = xp
        self.pack(params, state)

    def pack(self, params, state):
        """Copy ``params`` and ``state`` into new flat arrays; :attr:`params` and :attr:`state` view them."""
        xp = self.xp
        self.shapes = [tuple(p.shape) for p in params]
        self.keys = [k for k, v in state.items() if isinstance(v, list) and len(v) == len(params)]
        self.flat = xp.concat([xp.reshape(p, (-1,)) for p in params])
        self.flat_state = {k: xp.concat([xp.reshape(a, (-1,)) for a in state[k]]) for k in self.keys}
        self.params = self._views(self.flat)
        self.state = {**state, **{k: self._views(v) for k, v in self.flat_state.items()}}

    def _views(self, flat):
        views, start = [], 0
        for shape in self.shapes:
            size = math.prod(shape)
            views.append(self.xp.reshape(flat[start : start + size], shape))
            start += size
        return views

    def holds(self, params, state):
        """Whether ``params`` and ``state`` are this packing's views (a callback may have replaced them)."""
        return (
            params[0] is self.params[0] and isinstance(state, dict)
            and all(state.get(k) is self.state[k] for k in self.keys)
        )

    def update(self, optimizer, grads, state, lr, fold):
        """The optimizer's step on the flat arrays; the views (the same objects) and the new state."""
        xp = self.xp
        flat_grads = [xp.concat([xp.reshape(g, (-1,)) for g in grads])]
        packed = {**state, **{k: [v] for k, v in self.flat_state.items()}}
        if fold:
            (flat,), new = optimizer.apply_updates([self.flat], flat_grads, packed, xp=xp)
        else:
            (flat,), new = optimizer.step([self.flat], flat_grads, packed, lr, xp=xp)
        if flat is not self.flat or any(new[k][0] is not self.flat_state[k] for k in self.keys):
            # Not updated in place after all: the views follow the new arrays.
            self.flat, self.flat_state = flat, {k: new[k][0] for k in self.keys}
            self.params = self._views(self.flat)
            self.state = {**new, **{k: self._views(v) for k, v in self.flat_state.items()}}
        return self.params, {**new, **{k: self.state[k] for k in self.keys}}


def make_train_step(layers, solver, *, xp, reduce_gradients=None, matmul_add=None, loss=None, packing=None):
    """The training step of ``layers`` under ``solver``.

    Parameters
    ----------
    layers : list of Layer
        Give the shapes and activations; their own parameters are not used.
    solver : Solver
        Loss (filled in), regularization, optimizer and gradient clipping.
    reduce_gradients : callable, optional
        ``(grads, weight_sum) -> grads`` applied to the flat gradient list before clipping and the update
        (the data-parallel all-reduce); ``weight_sum`` is the batch's sum of sample weights (a 0-d array),
        or None without sample weights.
    matmul_add : callable, optional
        ``(C, A, B) -> C + A @ B``, the backend's :meth:`~anyarray_nn.Backend.matmul_add`. Plain SGD
        without a weight penalty then adds each weight update inside its product (one BLAS call where
        the library has one) instead of making the product and adding it after.
    loss : Loss, optional
        Takes the place of ``solver.loss``: :class:`~anyarray_nn.losses.SparseCrossEntropy` for a step
        given class labels ``(m,)`` as ``Tb``.
    packing : Packing, optional
        When the step is given its views as ``params`` and ``state``, the optimizer updates the flat
        arrays instead (see :class:`Packing`); other arrays are updated one by one.

    Returns
    -------
    step : callable
        ``step(params, state, Xb, Tb, masks, lr, wb=None)`` with ``params`` the flat list ``[W_1, b_1, ...]``,
        ``state`` the optimizer state, ``Xb`` ``(m, n_features)``, ``Tb`` ``(m, n_outputs)`` encoded
        targets (class labels ``(m,)`` with a ``loss`` that takes them), ``masks`` from
        :func:`anyarray_nn.network.dropout_masks` (or None), ``lr`` the learning rate and ``wb`` the
        batch's sample weights ``(m,)`` (None: equal weights; see :func:`anyarray_nn.network.sample_shares`
        for a batch whose weights add up to 0). It returns
        ``(params, state, loss, predictions)``: the new parameters and state, the batch's loss (a 0-d
        array, penalty included) and, for classifiers, the output layer's decisions ``(m,)`` or
        ``(m, n_outputs)`` (None otherwise).
    """
    loss = solver.loss if loss is None else loss
    regularization, optimizer = solver.regularization, solver.optimizer
    # A per-sample penalty: lam / batch times the penalty at lam 1, computed for each batch.
    per_sample = regularization.per_sample and regularization.active
    penalty = regularization.unit() if per_sample else regularization
    # Data-parallel, each process reduces its data gradient alone; the penalty's, the same on every process,
    # is added once after the reduction (a process without rows, or a step whose weights are all 0, gets it too).
    split_penalty = reduce_gradients is not None and regularization.active
    if split_penalty:
        penalty = regularization_module.Regularization()
    clip_norm = solver.clip_norm
    output_activation = layers[-1].activation
    classifier = is_classifier(layers, solver)
    # Plain SGD gets its updates straight from backpropagation (clipping needs true gradients).
    fold = (
        solver.fuse and optimizers.folds_learning_rate(optimizer) and clip_norm is None and reduce_gradients is None
    )
    # ... and with nothing else joining the weight gradient, the product itself can add the update.
    fused = fold and matmul_add is not None and not regularization.active

    def update(params, state, grads, lr, weight_sum=None):
        """The second half of a step: reduce, clip, then the optimizer's update."""
        if reduce_gradients is not None:
            grads = reduce_gradients(grads, weight_sum)
            if split_penalty:
                grads = [
                    g + regularization.gradient(p, xp=xp) if i % 2 == 0 else g  # weights, not biases
                    for i, (g, p) in enumerate(zip(grads, params))
                ]
        if clip_norm is not None:
            grads = optimizers.clip_by_global_norm(grads, clip_norm, xp=xp)
        if packing is not None and packing.holds(params, state):
            return packing.update(optimizer, grads, state, lr, fold)
        if fold:
            return optimizer.apply_updates(params, grads, state, xp=xp)
        return optimizer.step(params, grads, state, lr, xp=xp)

    def step(params, state, Xb, Tb, masks, lr, wb=None):
        total = None if wb is None else xp.sum(wb)
        shares = None if wb is None else network.sample_shares(wb, xp=xp, total=total)
        penalty_scale = regularization.batch_scale(Xb.shape[0], total, xp=xp) if per_sample else None
        value, grads_W, grads_b, output = network.value_and_grad(
            layers, params, Xb, Tb, loss, penalty, xp=xp, masks=masks, scale=-lr if fold else None,
            matmul_add=matmul_add if fused else None, weights=shares, penalty_scale=penalty_scale,
        )
        if split_penalty:
            value = value + regularization.penalty(params[0::2], xp=xp)
        predictions = output_activation.decide(output, xp=xp) if classifier else None
        del output
        if fused:  # grads_W are the new weights already; the biases take their updates
            biases, state = optimizer.apply_updates(params[1::2], grads_b, state, xp=xp)
            return [p for pair in zip(grads_W, biases) for p in pair], state, value, predictions
        params, state = update(params, state, [g for pair in zip(grads_W, grads_b) for g in pair], lr, total)
        return params, state, value, predictions

    # A process of data-parallel training with no rows left for a step still takes part in its update
    # (``step.update(params, state, zeros, lr, weight_sum)``, with a weight sum of 0 under sample weights).
    step.update = update
    return step


def is_classifier(layers, solver):
    """Whether training counts correct predictions: a classification loss on a deciding output layer."""
    return bool(getattr(solver.loss, "classification", False) and getattr(layers[-1].activation, "classifier", False))


def make_batch_step(step, *, xp, labels=False):
    """The step of a compiled fit: gather the batch, take the step, add its loss and hits to running sums.

    ``batch_step(head, tail, state, sums, X, T, truth, order, start, template, masks, lr, w=None)`` takes the
    parameters in two parts, ``head = [W_1, b_1]`` and ``tail = [W_2, b_2, ...]``, and rows
    ``order[start + template]`` of ``X`` and ``T`` (``start + template`` when ``order`` is None), with
    ``template = arange(rows)`` fixing the batch's shape, so that taking the batch costs no operation
    outside the compiled code. ``w`` holds the sample weights of ``X``'s rows (None: equal weights).
    ``sums = (loss_sum, hits, rows)``: each batch's loss times its rows, the decisions equal to ``truth``
    (the output activation's decisions on the targets) and the rows so far. Returns
    ``(head, tail, state, sums)``.

    :data:`DONATE` names the arguments a compiler may overwrite. ``head`` and ``state`` are read only
    before their own update, so their new values can go into their buffers. Every weight of ``tail`` is
    read again by the backward product for the layer below, which does not depend on the weight's update:
    writing the update into its buffer would need a copy of the weights first.

    With ``labels=True`` the step gets the batch's rows of ``truth`` (class labels) as its targets in place
    of the rows of ``T``: for a step made with the labels form of its loss, on one-hot targets.
    """

    def batch_step(head, tail, state, sums, X, T, truth, order, start, template, masks, lr, w=None):
        idx = start + template if order is None else xp.take(order, start + template, axis=0)
        Xb = xp.take(X, idx, axis=0)
        truth_b = None if truth is None else xp.take(truth, idx, axis=0)
        Tb = truth_b if labels else xp.take(T, idx, axis=0)
        wb = None if w is None else xp.take(w, idx, axis=0)
        params, state, loss, predictions = step(list(head) + list(tail), state, Xb, Tb, masks, lr, wb)
        loss_sum, hits, rows = sums
        loss_sum = loss_sum + loss * float(template.shape[0])
        rows = rows + float(template.shape[0])
        if predictions is not None:
            hits = hits + xp.sum(xp.astype(predictions == truth_b, loss.dtype))
        return params[:2], params[2:], state, (loss_sum, hits, rows)

    return batch_step


#: The arguments of :func:`make_batch_step`'s step that a compiler may overwrite: ``head`` and ``state``.
DONATE = (0, 2)


def make_epoch_figures(*, xp):
    """The figures of a compiled fit's epoch in one call, for a library whose every eager call costs.

    ``figures(params, sums, labels) -> (3,) array``: the mean loss ``loss_sum / rows``, the share of
    correct decisions ``hits / labels`` and the weight checksum (the sum of every parameter, which is
    non-finite when any weight is), from ``sums = (loss_sum, hits, rows)`` of :func:`make_batch_step`.
    """

    def figures(params, sums, labels):
        loss_sum, hits, rows = sums
        checksum = sum(xp.sum(p) for p in params)
        return xp.stack([loss_sum / rows, hits / labels, checksum])

    return figures
