"""Export a trained model to ONNX by running its forward math on ndonnx arrays.

The forward propagation of the library, ``Z = A_prev @ W + b`` then ``A = g(Z)`` per layer, is written
against the Array API standard. ndonnx is an Array API library whose arrays record the operations applied
to them as an ONNX graph, so running that same code on a symbolic ndonnx input, with the weights as
constants, yields the ONNX model: no second implementation of any activation to keep in step.

The exported model has one input and one or two outputs:

========== ================================ ===========================================================
name       shape                            content
========== ================================ ===========================================================
``X``      ``(N, n_features)``              the samples; float32 or float64; ``N`` is symbolic
``output`` ``(N, n_outputs)``               the network output ``A_L``, what ``Model.predict_proba``
                                            returns: probabilities for softmax and sigmoid outputs
``label``  ``(N,)`` or ``(N, n_outputs)``   softmax and sigmoid outputs only: what ``Model.predict``
                                            returns, int64 class indices (argmax over the classes) or
                                            0/1 labels (``output >= 0.5``; ``(N,)`` for one unit)
========== ================================ ===========================================================

The graph does not check its input, where ``Model.predict`` refuses NaN and infinities with a
ValueError: a row holding NaN (or an infinity, which the products turn into NaN) gets NaN in
``output`` and label 0 in ``label`` (ONNX's ArgMax and ``NaN >= 0.5`` both give 0), a valid class
that cannot be told from a real prediction. Check rows before serving them (for instance
``np.isfinite(X).all(axis=1)``) or read ``output`` for NaN.

ndonnx and onnx are optional dependencies: ``pip install ".[onnx]" in the anyarray_nn checkout``.
"""

from __future__ import annotations

import os

import numpy as np

from . import io
from .backend import to_numpy
from .model import Model

__all__ = ["export_onnx"]

_DTYPES = ("float32", "float64")
# protobuf cannot serialize a message of 2 GiB or more into one file.
_MAX_BYTES = 2**31 - 1
_INSTALL = 'pip install ".[onnx]" in the anyarray_nn checkout'


def export_onnx(model, path, *, dtype=None, opset=None):
    """Write ``model`` as an ONNX file that ``onnxruntime`` (or any ONNX runtime) can run.

    Parameters
    ----------
    model : Model
        A model on any backend; its weights are copied to the host with :func:`~anyarray_nn.to_numpy`.
    path : str or os.PathLike
        The ``.onnx`` file to write. It is written atomically: an existing file is replaced only once
        the new one is complete.
    dtype : {"float32", "float64"}, optional
        Float type of the input, the weights and the output; default the model's dtype.
    opset : int, optional
        ONNX operator set version of the default domain. By default the one ndonnx produces (21 with
        ndonnx 0.23); another is reached with :func:`onnx.version_converter.convert_version`, and one
        that cannot be reached raises a ``ValueError``.

    Returns
    -------
    onnx.ModelProto
        The model that was written.

    Raises
    ------
    ImportError
        Without ndonnx or onnx installed.
    TypeError, ValueError
        For a bad argument (the message names it), an activation whose forward cannot run on ndonnx
        arrays (the message names the layer and the activation), or an unreachable ``opset``.

    Notes
    -----
    The graph's input has the float type chosen here: feed ``X`` of exactly that dtype
    (``X.astype(np.float32)``), as ONNX runtimes do not convert inputs.

    The graph does not check values: a row holding NaN (or an infinity, which becomes NaN on the way)
    gives NaN in ``output`` and **label 0** in ``label``, which looks like a prediction of class 0,
    where ``Model.predict`` raises a ValueError for such input. Check the rows before serving them.
    """
    ndx, onnx = _require()
    dtype, opset = _check_args(model, path, dtype, opset)
    X = ndx.argument(shape=("N", model.n_features), dtype=getattr(ndx, dtype))
    A = network_output(model, X, dtype, ndx=ndx)
    outputs = {"output": A}
    label = _decide(model, A, ndx=ndx)
    if label is not None:
        outputs["label"] = label
    proto = build(model, {"X": X}, outputs, opset, output_shapes=_output_shapes(model))
    write_bytes(path, proto)
    return proto


# --------------------------------------------------------------------------------------------------
# pieces shared with the scikit-learn estimators and the command line
def _require():
    """The ndonnx and onnx modules, or an ImportError saying how to install them."""
    try:
        import ndonnx
        import onnx
    except ImportError as exc:
        raise ImportError(
            f"Exporting to ONNX needs ndonnx and onnx ({exc.name or exc} is not installed): {_INSTALL}."
        ) from exc
    return ndonnx, onnx


def _check_args(model, path, dtype, opset):
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be an anyarray_nn Model, got {type(model).__name__}.")
    check_path(path)
    return check_dtype(dtype, model.dtype), check_opset(opset)


def check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}.")
    path = os.fspath(path)
    if isinstance(path, bytes):
        raise TypeError("`path` must be a str or os.PathLike of str, got bytes.")
    if not path:
        raise ValueError("`path` must not be empty.")
    if os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is a folder; give the name of the .onnx file to write.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"The folder {folder!r} of `path` does not exist.")
    return path


def check_dtype(dtype, default):
    if dtype is None:
        return default
    if not isinstance(dtype, str):
        raise TypeError(f"`dtype` must be None or one of {list(_DTYPES)}, got {type(dtype).__name__}.")
    if dtype not in _DTYPES:
        raise ValueError(f"`dtype` must be None or one of {list(_DTYPES)}, got {dtype!r}.")
    return dtype


def check_opset(opset):
    if opset is None:
        return None
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"`opset` must be None or an int, got {type(opset).__name__}.")
    _, onnx = _require()
    newest = onnx.defs.onnx_opset_version()
    if not 1 <= opset <= newest:
        raise ValueError(f"`opset` must be between 1 and {newest} (the newest this onnx knows), got {opset}.")
    return int(opset)


def network_output(model, X, dtype, *, ndx):
    """Run the model's forward propagation on the ndonnx array ``X``; returns ``A_L`` (ndonnx).

    Each layer runs :meth:`~anyarray_nn.Layer.forward` (``Z = A_prev @ W + b``, ``A = g(Z)``) with ``xp``
    the ndonnx namespace and ``W`` and ``b`` as constants of the graph.
    """
    want = getattr(ndx, dtype)
    A = X
    for i, layer in enumerate(model.layers):
        W = ndx.asarray(np.ascontiguousarray(to_numpy(layer.W), dtype=dtype))
        b = ndx.asarray(np.ascontiguousarray(to_numpy(layer.b), dtype=dtype))
        act = layer.activation
        name = getattr(act, "name", type(act).__name__)
        try:
            # The layer's own forward code, on graph constants instead of its arrays.
            _, A = layer.forward(A, xp=ndx, params=(W, b))
        except Exception as exc:  # any failure of user code: say which layer, keep the cause chained
            raise ValueError(
                f"layers[{i}] (activation {name!r}) cannot be exported to ONNX: its forward(Z, xp=ndonnx) "
                f"raised {type(exc).__name__}: {exc}. Write it with Array API functions of `xp` only."
            ) from exc
        if not isinstance(A, ndx.Array):
            raise ValueError(
                f"layers[{i}] (activation {name!r}) cannot be exported to ONNX: its forward(Z, xp=ndonnx) "
                f"returned a {type(A).__name__}, not an ndonnx array (does it call NumPy directly?)."
            )
        if A.dtype != want or A.ndim != 2:
            raise ValueError(
                f"layers[{i}] (activation {name!r}) cannot be exported to ONNX: its forward returned a "
                f"{A.ndim}-D {A.dtype} array for a 2-D {want} input."
            )
    return A


def _decide(model, A, *, ndx):
    """The ``label`` output of :meth:`Model.predict` for outputs that decide classes, else None."""
    act = model.layers[-1].activation
    if not getattr(act, "classifier", False):
        return None
    labels = act.decide(A, xp=ndx)
    return labels[:, 0] if labels.ndim == 2 and model.n_outputs == 1 else labels


def _output_shapes(model):
    n = model.n_outputs
    shapes = {"output": ("N", n)}
    if getattr(model.layers[-1].activation, "classifier", False):
        shapes["label"] = ("N",) if model.output_activation == "softmax" or n == 1 else ("N", n)
    return shapes


def build(model, inputs, outputs, opset, output_shapes=None, metadata=None):
    """The checked ONNX model of ``outputs`` (ndonnx arrays) over ``inputs``, at ``opset`` if given.

    ``output_shapes`` names the dimensions of the outputs (``{"output": ("N", 3)}``), which ndonnx
    leaves unknown, so that the file tells its readers the batch size is shared by input and outputs.
    ``metadata`` (str to str) goes into the model's ``metadata_props``.
    """
    ndx, onnx = _require()
    proto = ndx.build(inputs, outputs)
    if output_shapes:
        for value in proto.graph.output:
            if value.name in output_shapes:
                shape = value.type.tensor_type.shape
                del shape.dim[:]
                for size in output_shapes[value.name]:
                    dim = shape.dim.add()
                    if isinstance(size, str):
                        dim.dim_param = size
                    else:
                        dim.dim_value = size
    proto.producer_name = "anyarray_nn"
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    if opset is not None and opset != _default_opset(proto):
        from onnx import version_converter

        before = _default_opset(proto)
        try:
            proto = version_converter.convert_version(proto, opset)
        except Exception as exc:  # the converter raises RuntimeError or its own ConvertError
            reason = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"`opset` {opset} cannot be reached from the opset {before} ndonnx produced: the ONNX version "
                f"converter failed ({reason}). Pass opset=None for {before}, or a newer opset."
            ) from exc
    if proto.ByteSize() > _MAX_BYTES:
        raise ValueError(
            f"The ONNX model of {model.n_params:,} parameters is larger than the 2 GiB that one protobuf "
            f"file can hold."
        )
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ValueError(f"The exported graph does not pass onnx.checker: {exc}") from exc
    return proto


def _default_opset(proto):
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def write_bytes(path, proto):
    """Write the serialized ``proto`` to ``path`` atomically: a temporary file beside it, then a rename."""
    data = proto.SerializeToString()
    io.atomic_write(os.fspath(path), lambda f: f.write(data))
