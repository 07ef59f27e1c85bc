"""Checks of user input, done once at the public boundary so the math never sees bad data.

Every error names the argument, what was expected and what was given.

This is boundary code, not math: input that is not yet an array of the model's backend (lists, NumPy
arrays, another library's tensors) is read and checked on the host with NumPy before its one move to
the device; input already on the backend is checked there with ``xp``.

The NaN / infinity check reads values, so it runs only on arrays that hold them: NumPy, CuPy, torch,
array_api_strict, eager JAX arrays, Dask arrays (computed once for the check). Arrays that only describe
a computation (a JAX tracer inside ``jax.jit``, an ndonnx input with a symbolic batch size) pass
unchecked, since there is nothing to read yet; see ``Backend.has_values``.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np

from .backend import to_numpy


def host_array(value):
    """``value`` as a NumPy array: arrays of any library are read back, lists and the like converted."""
    if array_api_compat.is_array_api_obj(value) and not isinstance(value, np.ndarray):
        return to_numpy(value)
    return np.asarray(value)


def _describe(value):
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    return type(value).__name__


def _host_numeric(value, name):
    """``value`` as a NumPy array of numbers, or a TypeError naming ``name``."""
    if value is None:
        raise TypeError(f"`{name}` must be an array of numbers, got None.")
    if isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"`{name}` must be an array of numbers, got {type(value).__name__}.")
    try:
        # Lists, DataFrames and NumPy arrays through NumPy itself: an object array is read as numbers below.
        is_foreign = array_api_compat.is_array_api_obj(value) and not isinstance(value, np.ndarray)
        arr = to_numpy(value) if is_foreign else np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be an array of numbers; could not read {_describe(value)}: {exc}") from None
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"`{name}` must hold numbers only, got values of dtype object (mixed or non-numeric).") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"`{name}` must hold numbers (bool, int or float), got dtype {arr.dtype}"
            + (" (strings: encode the labels or use anyarray_nn.sklearn)" if arr.dtype.kind in "USO" else "")
            + "."
        )
    return arr


# Rows per block when counting non-finite values: bounds the boolean temporaries of a huge input.
_CHECK_BLOCK = 65536


def _count_nonfinite(x, xp):
    """Number of NaN / infinite entries of a float array, as a Python int (one host read).

    The sum of an array is finite only when every entry is, so one reduction without a temporary
    settles the usual case; only a non-finite sum (a bad value, or an overflow of the sum) leads to an
    exact count, done by row blocks so that no temporary as large as ``x`` is ever made.
    """
    if x.ndim == 0:
        return int(not bool(xp.isfinite(x)))
    if bool(xp.isfinite(xp.sum(x))):
        return 0
    n = x.shape[0]
    total = 0
    for start in range(0, n, _CHECK_BLOCK):
        block = x[start : min(start + _CHECK_BLOCK, n), ...]
        total = total + xp.sum(xp.astype(xp.logical_not(xp.isfinite(block)), xp.int64))
    return int(total)


def _check_finite_host(arr, name):
    if arr.dtype.kind == "f":
        bad = _count_nonfinite(arr, np)
        if bad:
            raise ValueError(f"`{name}` contains {bad} NaN or infinite value(s); clean or impute them first.")


def _to_backend(arr, backend, name):
    """``arr`` (host, already checked) on the backend; values beyond the backend dtype's range are refused."""
    with np.errstate(over="ignore"):  # an overflowing cast is reported below, by name
        out = backend.asarray(arr)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > np.dtype(backend.dtype_name).itemsize:
        bad = _count_nonfinite(out, backend.xp)
        if bad:
            raise _range_error(name, bad, backend.dtype_name)
    return out


def _check_range_host(arr, backend, name):
    """Refuse host values that the backend dtype cannot hold, by two reductions (no temporaries)."""
    if arr.dtype.kind != "f" or arr.size == 0 or arr.dtype.itemsize <= np.dtype(backend.dtype_name).itemsize:
        return
    limit = np.finfo(backend.dtype_name).max
    if arr.max() > limit or arr.min() < -limit:
        n = arr.shape[0]
        bad = sum(
            int(np.count_nonzero(np.abs(arr[start : min(start + _CHECK_BLOCK, n)]) > limit))
            for start in range(0, n, _CHECK_BLOCK)
        )
        raise _range_error(name, bad, backend.dtype_name)


def _range_error(name, bad, dtype_name):
    limit = float(np.finfo(dtype_name).max)
    return ValueError(
        f"`{name}` has {bad} value(s) beyond the range of {dtype_name} (about +-{limit:.3g}); "
        f"rescale it or use dtype='float64'."
    )


def check_X(X, backend, n_features, name="X", to_device=True):
    """Validate a feature matrix and move it to the backend.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
    backend : Backend
    n_features : int
        Features the first layer expects.
    to_device : bool, default True
        False leaves an input that is not an array of the backend's library on the host, checked, for a
        caller that moves it in chunks (prediction on inputs larger than the device's memory).

    Returns
    -------
    array of the backend, shape (n_samples, n_features), backend dtype
        Or the checked NumPy array with ``to_device=False`` when ``X`` came from elsewhere.
    """
    if backend.owns(X):
        # Already on the model's library: check on the device, with one host read for finiteness
        # (none for a symbolic or traced array, whose values do not exist yet).
        xp = backend.xp
        if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
            raise TypeError(f"`{name}` must hold numbers (bool, int or float), got dtype {X.dtype}.")
        _check_shape(tuple(X.shape), n_features, name)
        with np.errstate(over="ignore"):  # an overflowing cast is reported below, by name
            Xd = backend.asarray(X)
        bad = _count_nonfinite(Xd, xp) if backend.has_values(Xd) else 0
        if bad:
            if X.dtype != Xd.dtype and _count_nonfinite(X, xp) == 0:
                raise _range_error(name, bad, backend.dtype_name)
            raise ValueError(f"`{name}` contains {bad} NaN or infinite value(s); clean or impute them first.")
        return Xd
    arr = _host_numeric(X, name)
    _check_shape(arr.shape, n_features, name)
    _check_finite_host(arr, name)
    if not to_device:
        _check_range_host(arr, backend, name)
        return arr
    return _to_backend(arr, backend, name)


def unknown_rows_error(name, shape):
    """The ValueError for an array whose number of rows is unknown (Dask chunks of unknown size)."""
    return ValueError(
        f"`{name}` has chunks of unknown size (shape {tuple(shape)}), so its rows cannot be counted or matched "
        f"with other arrays; compute them first with `{name.split('[')[0]}.compute_chunk_sizes()` (Dask), or "
        f"pass the computed array."
    )


def rows_unknown(n):
    """Whether a first dimension ``n`` is unknown: ``nan`` (Dask chunks of unknown size) or None."""
    return n is None or (isinstance(n, float) and math.isnan(n))


def check_known_rows(x, name):
    """Refuse an array whose number of rows is unknown (see :func:`unknown_rows_error`); return ``x``."""
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) and rows_unknown(shape[0]):
        raise unknown_rows_error(name, shape)
    return x


def _check_shape(shape, n_features, name):
    if len(shape) != 2:
        hint = " (for a single feature use X.reshape(-1, 1); for one sample X.reshape(1, -1))" if len(shape) == 1 else ""
        raise ValueError(f"`{name}` must be 2-D with shape (n_samples, n_features), got shape {shape}{hint}.")
    if shape[0] == 0:
        raise ValueError(f"`{name}` is empty: it has shape {shape}, and at least one sample is needed.")
    if shape[1] != n_features:
        raise ValueError(
            f"`{name}` has {shape[1]} features (shape {shape}), but the model's first layer expects {n_features}."
        )


def check_targets(y, backend, loss, n_out, n_samples, name="y"):
    """Validate targets for ``loss`` and an output layer of ``n_out`` units, and move them to the backend.

    The generic checks (numbers, 1-D or 2-D, one row per sample, finite) are made here; the loss encodes
    what is left (:meth:`~anyarray_nn.losses.Loss.encode_targets`: one-hot rows for class labels under
    cross-entropy, columns of values otherwise).

    Returns
    -------
    array of the backend, shape (n_samples, n_out), backend dtype
    """
    if rows_unknown(n_samples):
        # The features' rows are unknown (a Dask X of chunks of unknown size), not a count of "nan" rows.
        raise ValueError(
            f"`X` has chunks of unknown size (it has {n_samples} rows), so its rows cannot be matched with "
            f"`{name}`'s; compute them first with `X.compute_chunk_sizes()` (Dask), or pass the computed array."
        )
    arr = _host_numeric(y, name)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"`{name}` must be 1-D (n_samples,) or 2-D (n_samples, n_outputs), got shape {arr.shape}.")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"`X` and `{name}` have different numbers of samples: X has {n_samples}, {name} has {arr.shape[0]}."
        )
    _check_finite_host(arr, name)
    return _to_backend(loss.encode_targets(arr, n_out, name), backend, name)


def shape_of(y):
    """The shape of ``y`` as given (an array of any library, or nested lists), without reading its values."""
    shape = getattr(y, "shape", None)
    return tuple(shape) if shape is not None else np.shape(y)


def check_unit_interval(arr, message):
    """A ValueError starting with ``message`` when the host array ``arr`` has values outside [0, 1]."""
    outside = (arr < 0) | (arr > 1)
    if np.any(outside):
        raise ValueError(f"{message}, found {arr[outside][0]!r} (values span [{arr.min()}, {arr.max()}]).")


def one_hot_host(labels, n_classes, name="y"):
    """One-hot encode integer ``labels`` (n,) into (n, n_classes) float64 on the host, checking the range."""
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError(f"`{name}` class labels must be integers 0..{n_classes - 1}, got non-integer values.")
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        outside = sorted(set(labels[(labels < 0) | (labels >= n_classes)].tolist()))[:5]
        raise ValueError(
            f"`{name}` holds labels {outside} outside the {n_classes} classes of the output layer "
            f"(expected integers 0..{n_classes - 1})."
        )
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def check_number(value, name, low=None, high=None, low_open=False, high_open=True):
    """``value`` as a float within the given bounds, or a TypeError / ValueError naming ``name``.

    The default interval is ``[low, high)``; ``low_open`` / ``high_open`` open or close either end, and a
    bound of None leaves that side unbounded.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"`{name}` must be a finite number, got {value!r}.")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        if high is None:
            wanted = f"be {'>' if low_open else '>='} {low:g}"
        elif low is None:
            wanted = f"be {'<' if high_open else '<='} {high:g}"
        else:
            wanted = f"lie in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"`{name}` must {wanted}, got {value!r}.")
    return float(value)


def check_positive_int(value, name):
    """``value`` as an int >= 1, or a TypeError / ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be a positive integer, got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)
