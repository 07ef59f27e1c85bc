"""What keeps an epoch close to the cost of its matrix products, checked without a clock.

* float32 stays float32: every input, activation, loss, gradient and parameter of the batch loop keeps
  the model's dtype (a stray float64 doubles the memory traffic and, on GPUs, the time);
* one host read per epoch: nothing in the batch loop waits for the device (``float``, ``bool``, ``int``
  or a copy to NumPy), counted on array_api_strict's arrays, whose conversions can be intercepted, and
  through ``Backend.to_numpy`` on every backend;
* no work that is not needed: no dropout masks without dropout, one shuffled index per epoch.
"""

from __future__ import annotations

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.backend import Backend

# Conversions of an array to a Python scalar: each one waits for the device.
SCALAR_CONVERSIONS = ("__float__", "__bool__", "__int__", "__index__", "__complex__")


def _data(n=40, n_features=5, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    y = rng.integers(0, n_classes, size=n)
    return X, y


def _model(bk, n_features=5, n_classes=3):
    return bk.model([ann.Layer(n_features, 8, "relu"), ann.Layer(8, 6, "tanh"), ann.Layer(6, n_classes, "softmax")])


class _Recording(ann.optimizers.SGD):
    """SGD that counts its updates and records the dtype of every array going in and coming out."""

    def __init__(self):
        super().__init__()
        self.seen = []
        self.steps = 0

    def _recorded(self, update, params, grads, *args, **kwargs):
        self.steps += 1
        self.seen += [a.dtype for a in list(params) + list(grads)]
        params, state = update(params, grads, *args, **kwargs)
        self.seen += [a.dtype for a in params]
        return params, state


class _DtypeSpy(_Recording):
    """Records what ``step`` sees; overriding ``step`` keeps the training loop on it."""

    def step(self, params, grads, state, learning_rate, *, xp):
        return self._recorded(super().step, params, grads, state, learning_rate, xp=xp)


class _FoldedDtypeSpy(_Recording):
    """Plain SGD (the loop folds the learning rate into backprop) that records what ``apply_updates`` sees."""

    def apply_updates(self, params, updates, state, *, xp):
        return self._recorded(super().apply_updates, params, updates, state, xp=xp)


@pytest.mark.parametrize("spy", [_DtypeSpy, _FoldedDtypeSpy], ids=["step", "folded-lr"])
@pytest.mark.parametrize(
    "regularization", [None, ann.Regularization("l2", lam=1e-3, dropout=0.25)], ids=["plain", "l2-dropout"]
)
def test_training_keeps_the_model_dtype(bk, regularization, spy, monkeypatch):
    X, y = _data()
    model = _model(bk)
    seen = []
    forward, backward = ann.network.forward, ann.network.backward

    def spy_forward(*args, **kwargs):
        cache = forward(*args, **kwargs)
        seen.extend(a.dtype for pair in cache for a in pair)
        seen.extend(a.dtype for a in cache.inputs)
        seen.extend(m.dtype for m in cache.masks if m is not None)
        return cache

    def spy_backward(layers, params, cache, Tb, *args, **kwargs):
        seen.append(Tb.dtype)
        value, grads_W, grads_b = backward(layers, params, cache, Tb, *args, **kwargs)
        seen.extend(a.dtype for a in [value, *grads_W, *grads_b])
        return value, grads_W, grads_b

    monkeypatch.setattr(ann.network, "forward", spy_forward)
    monkeypatch.setattr(ann.network, "backward", spy_backward)
    optimizer = spy()
    assert ann.optimizers.folds_learning_rate(optimizer) == (spy is _FoldedDtypeSpy)
    solver = ann.Solver(optimizer=optimizer, learning_rate=0.05, regularization=regularization)
    model.fit(X, y, solver, ann.Settings(epochs=2, batch_size=16, verbose=0), validation_data=(X, y))

    assert optimizer.steps == 2 * 3  # 40 samples in batches of 16: 3 steps per epoch
    dtype = model.backend.dtype
    assert len(seen) > 2 * 3 * 10
    for where, dtypes in (("the batch loop", seen), ("the optimizer", optimizer.seen)):
        stray = {str(d) for d in dtypes if d != dtype}
        assert not stray, f"{where} saw dtypes {stray}; expected only {bk.dtype}"
    assert all(p.dtype == dtype for p in model.parameters())


@pytest.mark.parametrize(
    "regularization",
    [None, ann.Regularization("l2", lam=1e-2, dropout=0.25), ann.Regularization("elasticnet", lam=1e-2, r=0.3)],
    ids=["plain", "l2-dropout", "elasticnet"],
)
def test_folded_learning_rate_trains_like_the_sgd_step(bk64, regularization):
    """Plain SGD's shortcut (backprop scaled by -lr, then p += update) equals p -= lr * g up to rounding."""
    X, y = _data()
    folded, stepped = _model(bk64), _model(bk64)
    schedule = ann.schedules.get("step", step_size=1, gamma=0.5)
    histories = []
    for model, optimizer in ((folded, ann.optimizers.SGD()), (stepped, _DtypeSpy())):
        solver = ann.Solver(optimizer=optimizer, learning_rate=0.2, regularization=regularization, schedule=schedule)
        histories.append(model.fit(X, y, solver, ann.Settings(epochs=3, batch_size=16, verbose=0)))
    assert ann.optimizers.folds_learning_rate(folded.solver_.optimizer)
    assert not ann.optimizers.folds_learning_rate(stepped.solver_.optimizer)
    assert histories[1].learning_rate == [0.2, 0.1, 0.05]
    np.testing.assert_allclose(histories[0].loss, histories[1].loss, rtol=1e-12)
    moved = 0.0
    for p, q, p0 in zip(folded.parameters(), stepped.parameters(), _model(bk64).parameters()):
        p, q, p0 = (folded.backend.to_numpy(a) for a in (p, q, p0))
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
        moved += float(np.abs(p - p0).sum())
    assert moved > 0.1  # the weights did train


def test_clipping_keeps_the_sgd_step(bk64, monkeypatch):
    """With clip_norm the loop needs true gradients, so plain SGD goes through ``step``; without, it folds."""
    X, y = _data()
    calls = {"step": 0, "apply_updates": 0}
    SGD = ann.optimizers.SGD
    for name in calls:
        original = getattr(SGD, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(SGD, name, counting)
    for clip_norm, expected in ((1.0, {"step": 3, "apply_updates": 0}), (None, {"step": 0, "apply_updates": 3})):
        calls.update(step=0, apply_updates=0)
        solver = ann.Solver(optimizer="sgd", learning_rate=0.1, clip_norm=clip_norm)
        _model(bk64).fit(X, y, solver, ann.Settings(epochs=1, batch_size=16, verbose=0))
        assert calls == expected, f"clip_norm={clip_norm}"


def _count_host_reads(monkeypatch, model):
    """A dict whose ``"n"`` counts host reads: ``Backend.to_numpy`` calls and scalar conversions."""
    counter = {"n": 0}
    to_numpy = Backend.to_numpy

    def counting_to_numpy(self, x):
        counter["n"] += 1
        return to_numpy(self, x)

    monkeypatch.setattr(Backend, "to_numpy", counting_to_numpy)
    if model.backend.name == "array_api_strict":
        array_type = type(model.xp.asarray(0.0))
        for name in SCALAR_CONVERSIONS:
            original = getattr(array_type, name)

            def counting(self, *args, _original=original, **kwargs):
                counter["n"] += 1
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(array_type, name, counting)
    return counter


def _reads_of_fit(monkeypatch, bk, epochs, batch_size, validation=False):
    X, y = _data()
    model = _model(bk)
    Xd, yd = model.backend.asarray(X), model.backend.asarray(y, dtype=model.xp.int64)
    solver = ann.Solver(learning_rate=0.05)
    settings = ann.Settings(epochs=epochs, batch_size=batch_size, verbose=0)
    val = (Xd, yd) if validation else None
    with monkeypatch.context() as m:
        counter = _count_host_reads(m, model)
        model.fit(Xd, yd, solver, settings, validation_data=val)
    return counter["n"]


@pytest.mark.parametrize("validation", [False, True], ids=["train", "train+validation"])
def test_one_host_read_per_epoch(bk, monkeypatch, validation):
    one = _reads_of_fit(monkeypatch, bk, epochs=1, batch_size=4, validation=validation)
    three = _reads_of_fit(monkeypatch, bk, epochs=3, batch_size=4, validation=validation)
    assert three - one == 2, f"{three - one} host reads for 2 more epochs (of 10 batches each); expected 2"
    # Ten times fewer batches, the same reads: nothing is read per batch.
    assert _reads_of_fit(monkeypatch, bk, epochs=3, batch_size=40, validation=validation) == three


def test_strict_counter_sees_a_host_read(monkeypatch):
    """The counter of the test above notices a scalar conversion (it would not pass vacuously)."""
    pytest.importorskip("array_api_strict")
    model = ann.Model([ann.Layer(2, 1, "sigmoid")], backend="array_api_strict", device="device1", seed=0)
    counter = _count_host_reads(monkeypatch, model)
    x = model.xp.sum(model.layers[0].W)
    float(x)
    bool(x > 0)
    model.backend.to_numpy(x)
    assert counter["n"] == 3


def test_no_dropout_masks_without_dropout(bk, monkeypatch):
    X, y = _data()
    calls = {"masks": 0, "permutations": 0}
    mask, permutation = Backend.dropout_mask, Backend.permutation

    def counting_mask(self, shape, rate):
        calls["masks"] += 1
        return mask(self, shape, rate)

    def counting_permutation(self, n):
        calls["permutations"] += 1
        return permutation(self, n)

    monkeypatch.setattr(Backend, "dropout_mask", counting_mask)
    monkeypatch.setattr(Backend, "permutation", counting_permutation)
    model = _model(bk)
    model.fit(X, y, ann.Solver(learning_rate=0.05), ann.Settings(epochs=2, batch_size=8, verbose=0))
    assert calls == {"masks": 0, "permutations": 2}  # one shuffled index per epoch, taken from on the device
    model.fit(
        X, y, ann.Solver(learning_rate=0.05, regularization=ann.Regularization(dropout=0.5)),
        ann.Settings(epochs=1, batch_size=8, verbose=0),
    )
    assert calls["masks"] == 5 * 2  # the counter works: 5 batches, 2 hidden layers


def test_no_cuda_synchronization_in_the_batch_loop():
    """On a CUDA device torch itself reports every synchronization.

    Per epoch: the one host read; the epoch's order, drawn on the host, goes up in an asynchronous copy
    from page-locked memory. None per batch.
    """
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    import warnings

    X, y = _data()

    def syncs(epochs, batch_size, shuffle):
        model = ann.Model(
            [ann.Layer(5, 8, "relu"), ann.Layer(8, 3, "softmax")], backend="torch", device="cuda", seed=0
        )
        Xd = model.backend.asarray(X)
        yd = model.backend.asarray(y, dtype=torch.int64)
        settings = ann.Settings(epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=0)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.fit(Xd, yd, ann.Solver(learning_rate=0.05), settings)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message) for w in caught)

    assert syncs(3, 4, shuffle=False) - syncs(1, 4, shuffle=False) == 2
    assert syncs(3, 4, shuffle=True) - syncs(1, 4, shuffle=True) == 2
    assert syncs(3, 4, shuffle=True) == syncs(3, 40, shuffle=True)  # ten times the batches, the same syncs


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_epoch_statistics_match_a_full_evaluation(bk, shuffle):
    """History's loss and accuracy, summed once per epoch, are means over all samples.

    With a learning rate too small to move the weights, they equal the loss and accuracy of the model on
    the whole data: the last, smaller batch (40 = 16 + 16 + 8) is weighted by its size, and predictions
    are compared with the targets in the order the epoch took them.
    """
    X, y = _data()
    y[32:] = (y[32:] + 1) % 3  # a last batch unlike the others, so a plain mean of batch losses differs
    model = _model(bk)
    loss, accuracy = model.evaluate(X, y)
    batch_losses = [model.evaluate(X[s : s + 16], y[s : s + 16])[0] for s in (0, 16, 32)]
    assert abs(sum(batch_losses) / 3 - loss) > 1e-3 * abs(loss)  # the weighting is visible in this data

    settings = ann.Settings(epochs=1, batch_size=16, shuffle=shuffle, verbose=0)
    history = model.fit(X, y, ann.Solver(learning_rate=1e-12), settings)
    tol = 1e-9 if bk.dtype == "float64" else 1e-5
    assert history.loss[0] == pytest.approx(loss, rel=tol)
    assert history.accuracy[0] == pytest.approx(accuracy, abs=1e-6)  # one sample is 0.025


def _numpy_wrapper_calls(rows):
    """Calls into NumPy's Python-level function wrappers (``numpy/_core/fromnumeric.py``) during a fit of
    one epoch in batches of 8."""
    import sys

    X, y = _data(n=rows)
    model = ann.Model([ann.Layer(5, 8, "relu"), ann.Layer(8, 3, "softmax")], backend="numpy", seed=0)
    calls = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.endswith("fromnumeric.py"):
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        model.fit(X, y, ann.Solver(optimizer="adam"), ann.Settings(epochs=1, batch_size=8, verbose=0))
    finally:
        sys.setprofile(None)
    return calls


def test_numpy_training_steps_call_the_ufuncs_directly():
    """On NumPy the namespace takes a step's reductions, take, argmax and astype straight to the ufuncs and
    array methods: NumPy's function wrappers cost about a microsecond a call, a fifth of a small network's
    step. Epochs of 8 and 24 steps make the same wrapper calls (those of setting up the fit and the epoch)."""
    assert _numpy_wrapper_calls(64) == _numpy_wrapper_calls(192)
