"""Metrics on inputs of two libraries at once, and on JAX without 64-bit types (no UserWarnings).

Every case of the ``any_backend`` fixture (NumPy, array_api_strict on both devices, torch CPU, JAX,
Dask) is paired with labels and predictions of each other library (NumPy, plain lists, Dask, JAX, torch,
array_api_strict on ``device1``), in both orders; every metric must give the NumPy figures, with
its arrays in the library and on the device of the first argument that is not NumPy.
"""

import json
import os
import subprocess
import sys

import array_api_compat
import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import metrics
from anyarray_nn.backend import common_library, library_of

PARTNERS = ["numpy", "list", "dask", "jax", "torch", "strict-device1"]


def _partner(name, x):
    """``x`` (NumPy) as an array of the partner library."""
    if name == "numpy":
        return x
    if name == "list":
        return x.tolist()
    if name == "dask":
        da = pytest.importorskip("dask.array", reason="dask is not installed")
        return da.from_array(x, chunks=max(1, x.shape[0] // 3))
    if name == "jax":
        jnp = pytest.importorskip("jax.numpy", reason="jax is not installed")
        return jnp.asarray(x)
    if name == "torch":
        torch = pytest.importorskip("torch", reason="torch is not installed")
        return torch.asarray(x)
    xs = pytest.importorskip("array_api_strict", reason="array_api_strict is not installed")
    return xs.asarray(x, device=xs.Device("device1"))


def _data(seed=0, n=60, k=3):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, k, n))
    Z = rng.normal(size=(n, k))
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    t = rng.normal(size=(n, 2))
    return y_true, y_pred, P, t, t + 0.3 * rng.normal(size=(n, 2))


def _figures(y_true, y_pred, P, t, p):
    """Every metric on the pair; arrays read back to NumPy."""
    pr, rc, f1, support = metrics.precision_recall_f1(y_true, y_pred)
    return {
        "accuracy": metrics.accuracy(y_true, y_pred),
        "confusion": ann.to_numpy(metrics.confusion_matrix(y_true, y_pred, n_classes=3)),
        "precision": ann.to_numpy(pr),
        "recall": ann.to_numpy(rc),
        "f1": ann.to_numpy(f1),
        "support": ann.to_numpy(support),
        "averages": [
            f(y_true, y_pred, average=a)
            for f in (metrics.precision, metrics.recall, metrics.f1_score)
            for a in ("macro", "weighted", "micro")
        ],
        "report": metrics.classification_report(y_true, y_pred, class_names=["a", "b", "c"]),
        "log_loss": metrics.log_loss(y_true, P),
        "mae": metrics.mean_absolute_error(t, p),
        "mse": metrics.mean_squared_error(t, p),
        "rmse": metrics.root_mean_squared_error(t, p),
        "r2": metrics.r2_score(t, p),
        "regression_report": metrics.regression_report(t, p),
    }


def _same(ours, ref, rtol):
    assert ours.keys() == ref.keys()
    for key in ref:
        if isinstance(ref[key], str):
            assert ours[key] == ref[key], key
        else:
            np.testing.assert_allclose(np.asarray(ours[key], dtype=float), np.asarray(ref[key], dtype=float),
                                       rtol=rtol, err_msg=key)


@pytest.mark.parametrize("partner", PARTNERS)
def test_every_metric_on_two_libraries_gives_the_numpy_figures(any_backend, partner):
    y_true, y_pred, P, t, p = _data()
    ref = _figures(y_true, y_pred, P, t, p)
    rtol = 1e-10 if any_backend.dtype == "float64" else 1e-5

    def ours(x):
        return any_backend.asarray(x)

    def theirs(x):
        return _partner(partner, x)

    # The backend's array first, then the partner's first (NumPy labels, a model's predictions).
    _same(_figures(ours(y_true), theirs(y_pred), ours(P), ours(t), theirs(p)), ref, rtol)
    _same(_figures(theirs(y_true), ours(y_pred), theirs(P), theirs(t), ours(p)), ref, rtol)


@pytest.mark.parametrize("partner", PARTNERS)
def test_arrays_come_back_in_the_first_non_numpy_library(any_backend, partner):
    y_true, y_pred, *_ = _data(1)
    mine = any_backend.asarray(y_pred)
    for first, second in ((_partner(partner, y_true), mine), (mine, _partner(partner, y_true))):
        C = metrics.confusion_matrix(first, second)
        numpy = library_of(np.zeros(1))
        lead = next((a for a in (first, second) if library_of(a) not in (None, numpy)), np.zeros(1))
        assert library_of(C) is library_of(lead)
        assert array_api_compat.device(C) == array_api_compat.device(lead)


def test_numpy_labels_and_dask_predictions_the_reported_case():
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    y = np.array([0, 1, 2, 2, 1, 0])
    assert metrics.accuracy(y, da.from_array(np.array([0, 1, 2, 1, 1, 0]))) == pytest.approx(5 / 6)
    assert metrics.accuracy(da.from_array(y), y) == 1.0


def test_common_library_keeps_none_and_numpy_and_names_bad_input():
    xp, (a, b) = common_library(np.arange(3), [1, 2, 3])
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    with pytest.raises(TypeError, match="`y_true` must hold integer class labels, got dtype object"):
        metrics.accuracy(np.array([object()]), np.array([1]))
    with pytest.raises(TypeError, match="`y_true` and `y_pred` must be arrays of numbers"):
        metrics.accuracy(np.array([object()]), _partner("torch", np.array([1])))
    with pytest.raises(TypeError, match="`y_pred` must be an array, got None"):
        metrics.accuracy(np.array([1]), None)


_NO_X64 = r"""
import json, sys, warnings
import numpy as np
import jax
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp
from anyarray_nn import metrics
import anyarray_nn as ann
warnings.simplefilter("error")  # any UserWarning (int64 / float64 truncated) fails the script
rng = np.random.default_rng(0)
y, yp = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
Z = rng.normal(size=(50, 3)); P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
t = rng.normal(size=(50, 2)); p = t + 0.3 * rng.normal(size=(50, 2))
out = {}
for name, (a, b) in {"jax": (jnp.asarray(y), jnp.asarray(yp)), "numpy_then_jax": (y, jnp.asarray(yp)),
                     "jax_one_hot": (jnp.asarray(np.eye(3)[y], dtype=jnp.float32), jnp.asarray(P, dtype=jnp.float32))}.items():
    C = metrics.confusion_matrix(a, b)
    pr, rc, f1, s = metrics.precision_recall_f1(a, b)
    out[name] = {
        "accuracy": metrics.accuracy(a, b), "confusion": np.asarray(C).tolist(), "dtype": str(C.dtype),
        "f1": np.asarray(f1).tolist(), "support": np.asarray(s).tolist(),
        "macro": [metrics.precision(a, b, average="macro"), metrics.recall(a, b, average="weighted"),
                  metrics.f1_score(a, b, average="micro")],
        "report": metrics.classification_report(a, b),
    }
out["log_loss"] = metrics.log_loss(jnp.asarray(y), jnp.asarray(P, dtype=jnp.float32))
out["log_loss_numpy_labels"] = metrics.log_loss(y, jnp.asarray(P, dtype=jnp.float32))
jt, jp = jnp.asarray(t, dtype=jnp.float32), jnp.asarray(p, dtype=jnp.float32)
out["regression"] = [metrics.r2_score(jt, jp), metrics.mean_absolute_error(t, jp),
                     metrics.root_mean_squared_error(jt, p), metrics.mean_squared_error(jt, jp)]
out["regression_report"] = metrics.regression_report(jt, jp)
json.dump(out, sys.stdout)
"""


def test_jax_without_64_bit_types_gives_no_warnings_and_exact_counts():
    pytest.importorskip("jax", reason="jax is not installed")
    from sklearn import metrics as skm

    env = {**os.environ, "JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    result = subprocess.run([sys.executable, "-c", _NO_X64], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr
    out = json.loads(result.stdout)
    rng = np.random.default_rng(0)
    y, yp = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    Z = rng.normal(size=(50, 3))
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    t = rng.normal(size=(50, 2))
    p = t + 0.3 * rng.normal(size=(50, 2))
    for name, pred in (("jax", yp), ("numpy_then_jax", yp), ("jax_one_hot", P.argmax(axis=1))):
        found = out[name]
        assert found["dtype"] == "int32"
        assert found["accuracy"] == skm.accuracy_score(y, pred)  # exact: an integer count over n
        assert found["confusion"] == skm.confusion_matrix(y, pred).tolist()
        np.testing.assert_allclose(found["f1"], skm.f1_score(y, pred, average=None), rtol=1e-6)
        assert found["support"] == np.bincount(y, minlength=3).tolist()
        np.testing.assert_allclose(found["macro"], [skm.precision_score(y, pred, average="macro"),
                                                    skm.recall_score(y, pred, average="weighted"),
                                                    skm.f1_score(y, pred, average="micro")], rtol=1e-6)
        assert metrics.classification_report(y, pred) == found["report"]
    assert out["log_loss"] == pytest.approx(skm.log_loss(y, P), rel=1e-5)
    assert out["log_loss_numpy_labels"] == pytest.approx(skm.log_loss(y, P), rel=1e-5)
    np.testing.assert_allclose(out["regression"], [skm.r2_score(t, p), skm.mean_absolute_error(t, p),
                                                   np.sqrt(((t - p) ** 2).mean(axis=0)).mean(),
                                                   skm.mean_squared_error(t, p)], rtol=1e-5)
