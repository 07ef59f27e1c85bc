"""Smaller failure modes: a finite loss that explodes, Dask arrays of unknown chunk sizes, NaN rows in ONNX.

- The divergence guard warns once when a finite loss grows by orders of magnitude (Adam with a learning
  rate of 1e10 gives losses near 1e20), on every backend of the ``any_backend`` fixture, in real fits.
- A Dask array whose chunk sizes are unknown is reported as such, with how to compute them, not as an
  array of "nan" samples.
- An exported ONNX graph gives label 0 to rows holding NaN, as its documentation says.
"""

import math
import os
import warnings

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import metrics
from anyarray_nn.callbacks import DivergenceGuard


def _iris():
    from anyarray_nn.preprocessing import StandardScaler

    X, y = ann.datasets.load_iris()
    return StandardScaler().fit(X).transform(X), y


def _fit_recording(model, *args, **kwargs):
    """``(history, messages of the 'exploded' warnings)``; other warnings (NumPy overflows) pass."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(*args, **kwargs)
    exploded = [str(w.message) for w in caught if "exploded" in str(w.message)]
    assert all(w.category is RuntimeWarning for w in caught if "exploded" in str(w.message))
    return history, exploded


def test_adam_with_a_huge_learning_rate_warns_once_in_the_first_epoch(any_backend):
    X, y = _iris()
    model = any_backend.model([ann.Layer(4, 16, "relu"), ann.Layer(16, 3, "softmax")])
    history, exploded = _fit_recording(
        model, X, y, solver=ann.Solver(optimizer="adam", learning_rate=1e10),
        settings=ann.Settings(epochs=4, batch_size=16, verbose=0),
    )
    assert history.loss[0] > 1e6 * math.log(3)  # the reported case: finite, and 20 orders too large
    assert len(exploded) == 1
    assert exploded[0].startswith("The training loss exploded at epoch 1: ")
    assert "times log(3), the cross-entropy of giving each of the 3 classes the same probability" in exploded[0]
    assert "try a lower learning rate (now 1e+10)" in exploded[0]
    assert history.epochs == 4  # a warning, not a stop: the loss stayed finite


def test_a_regression_loss_that_explodes_later_warns_once_against_the_first_epoch(any_backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    model = any_backend.model([ann.Layer(3, 1, "linear")])
    # Plain gradient descent just past its stable step: the loss grows about 16 times an epoch.
    history, exploded = _fit_recording(
        model, X, y, solver=ann.Solver(optimizer="sgd", learning_rate=2.0),
        settings=ann.Settings(epochs=10, batch_size=64, shuffle=False, verbose=0),
    )
    first = history.loss[0]
    crossed = next(e for e, loss in enumerate(history.loss, start=1) if loss > 1e6 * first)
    assert all(math.isfinite(v) for v in history.loss) and history.epochs == 10
    assert len(exploded) == 1
    assert exploded[0].startswith(f"The training loss exploded at epoch {crossed}: ")
    assert f"times the loss of epoch 1, the first of this fit ({first:.3g})" in exploded[0]


def test_healthy_fits_do_not_warn(any_backend):
    X, y = _iris()
    model = any_backend.model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")])
    history, exploded = _fit_recording(model, X, y, solver=ann.Solver(optimizer="adam", learning_rate=0.01),
                                       settings=ann.Settings(epochs=5, verbose=0))
    assert exploded == [] and history.loss[-1] < history.loss[0]
    rng = np.random.default_rng(1)
    Xr = rng.standard_normal((64, 3))
    regression = any_backend.model([ann.Layer(3, 4, "tanh"), ann.Layer(4, 1, "linear")])
    # Tiny targets: a small loss, which falls; its scale is the first epoch's.
    _, exploded = _fit_recording(regression, Xr, Xr[:, :1] * 1e-3, solver=ann.Solver(optimizer="sgd", learning_rate=0.05),
                                 settings=ann.Settings(epochs=5, verbose=0))
    assert exploded == []


class _Model:
    """What the guard reads of a model, for checks of the rule alone."""

    def __init__(self, loss=None, n_outputs=3, history=None):
        self.solver_ = None if loss is None else ann.Solver(loss=loss)
        self.n_outputs, self.history_ = n_outputs, history
        self.xp = ann.Backend("numpy").xp

    def parameters(self):
        return []

    def set_parameters(self, params, check=True):
        pass


def _run(guard, model, losses):
    guard.set_model(model)
    guard.on_train_begin({})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch, loss in enumerate(losses, start=1):
            guard.on_epoch_end(epoch, {"loss": loss, "weights_finite": True})
    return [str(w.message) for w in caught]


def test_the_rule_references_and_factor():
    # Classifiers: against the loss of uniform predictions, from the first epoch on.
    assert len(_run(DivergenceGuard(), _Model("crossentropy"), [2e6, 1e7, 1e8])) == 1
    assert _run(DivergenceGuard(), _Model("crossentropy", n_outputs=10), [2e6]) == []  # log(10) * 1e6 = 2.3e6
    assert len(_run(DivergenceGuard(), _Model("binary_crossentropy", n_outputs=1), [7e5, 1.0])) == 1
    # Other losses: against the first positive loss, never the first epoch itself.
    assert _run(DivergenceGuard(), _Model("mse"), [1e30]) == []
    assert _run(DivergenceGuard(), _Model("mse"), [0.0, 1e-3, 999.0]) == []  # 0 sets no scale
    assert len(_run(DivergenceGuard(), _Model("mse"), [0.0, 1e-3, 1001.0])) == 1
    assert len(_run(DivergenceGuard(factor=10.0), _Model("mse"), [1.0, 11.0])) == 1
    # A resumed fit keeps the scale of its History.
    history = ann.History()
    history.loss = [2.0, 1.0]
    assert len(_run(DivergenceGuard(), _Model("mse", history=history), [3e6])) == 1
    guard = DivergenceGuard()
    _run(guard, _Model(), [1.0, 1e7])  # no Solver: the first epoch sets the scale
    assert guard.exploded == {"epoch": 2, "loss": 1e7, "reference": 1.0}
    for bad in (1.0, 0.5, -1, "big"):
        with pytest.raises((ValueError, TypeError), match="factor"):
            DivergenceGuard(factor=bad)


# --------------------------------------------------------------------------------------------------
# Dask arrays of unknown chunk sizes
def _unknown_chunks():
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install '.[dask]')")
    X = da.from_array(np.random.default_rng(0).standard_normal((40, 3)), chunks=10)
    return X[X[:, 0] > -10]  # a boolean filter: dask no longer knows the rows of each chunk


@pytest.mark.parametrize("backend", ["dask", "numpy"])
def test_unknown_chunk_sizes_are_named_with_the_way_to_compute_them(backend):
    X = _unknown_chunks()
    assert math.isnan(X.shape[0])
    y = np.zeros(40, dtype=int)
    model = ann.Model([ann.Layer(3, 2, "softmax")], backend=backend, seed=0)
    with pytest.raises(ValueError, match=r"`X` has chunks of unknown size.*X\.compute_chunk_sizes\(\)") as info:
        model.fit(X, y, settings=ann.Settings(epochs=1, verbose=0))
    assert "nan samples" not in str(info.value) and "X has nan" not in str(info.value)
    if backend == "dask":
        for call in (lambda: model.evaluate(X, y), lambda: model.backward(model.forward(X), y)):
            with pytest.raises(ValueError, match=r"`X` has chunks of unknown size .*`X\.compute_chunk_sizes\(\)`"):
                call()
    with pytest.raises(ValueError, match=r"`y_pred` has chunks of unknown size .*`y_pred\.compute_chunk_sizes\(\)`"):
        metrics.accuracy(y, X[:, 0] > 0)
    # Once computed, the same array trains.
    X.compute_chunk_sizes()
    model.fit(X, y, settings=ann.Settings(epochs=1, verbose=0))


def test_unknown_rows_of_the_targets_are_named_or_computed():
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install '.[dask]')")
    y = da.from_array(np.zeros(40, dtype=int), chunks=10)
    y = y[y >= 0]
    # Read by batches (a NumPy model), the rows of y must be known to be indexed.
    model = ann.Model([ann.Layer(3, 2, "softmax")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match=r"`y` has chunks of unknown size.*compute_chunk_sizes"):
        model.fit(da.from_array(np.zeros((40, 3))), y, settings=ann.Settings(epochs=1, verbose=0))
    # A Dask model takes the targets whole: they are computed once, as the checks of y need.
    model = ann.Model([ann.Layer(3, 2, "softmax")], backend="dask", seed=0)
    history = model.fit(da.from_array(np.zeros((40, 3))), y, settings=ann.Settings(epochs=1, verbose=0))
    assert history.epochs == 1


# --------------------------------------------------------------------------------------------------
# ONNX rows holding NaN
def test_onnx_rows_holding_nan_get_label_zero_as_documented(tmp_path):
    pytest.importorskip("ndonnx", reason="ONNX export needs ndonnx (pip install '.[onnx]')")
    ort = pytest.importorskip("onnxruntime", reason="running exported models needs onnxruntime")
    from anyarray_nn import export

    for n_out, act in ((3, "softmax"), (1, "sigmoid"), (2, "sigmoid")):
        model = ann.Model([ann.Layer(4, 5, "relu"), ann.Layer(5, n_out, act)], backend="numpy", seed=1)
        path = os.path.join(tmp_path, f"{act}{n_out}.onnx")
        ann.export_onnx(model, path)
        X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
        X[1, 2], X[2, 0] = np.nan, np.inf
        output, label = ort.InferenceSession(path).run(None, {"X": X})
        assert np.isnan(output[1:]).all()
        assert (label[1:] == 0).all()
        with pytest.raises(ValueError, match="NaN or infinite"):
            model.predict(X)
    assert "label 0" in export.__doc__ and "**label 0**" in export.export_onnx.__doc__
