"""Saving and loading models: one ``.npz`` file, arrays plus a JSON header, never pickle.

Layout of a model file (a zip archive of ``.npy`` members, written uncompressed by :func:`numpy.savez`):

=============== ============================================================================
member          content
=============== ============================================================================
``header``      the JSON header, UTF-8 encoded, as a 1-D ``uint8`` array
``W0``, ``b0``  weights ``(n_in, n_out)`` and biases ``(n_out,)`` of layer 0, then layer 1 ...
``state0`` ...  the arrays of the optimizer state (moments, velocities), numbered in order
=============== ============================================================================

The header records the format version, the library version, the architecture (per layer ``n_in``,
``n_out``, activation name and configuration, initializer, distribution), the dtype, the Solver (loss,
optimizer and its hyperparameters, learning rate, regularization, schedule), the optimizer state with
its arrays replaced by ``{"__array__": "state3"}`` references, the History, the random generator state
and, for checkpoints, the number of epochs done. It also lists every array with its shape and dtype,
and loading checks the members against that list before reading any data.

Reading never unpickles: files are opened with ``numpy.load(..., allow_pickle=False)``, object arrays
are refused before their data is touched, and the header is plain JSON (a diverged loss is written as
``NaN``, as Python's json module does). Writing is atomic: the file is
written to a temporary file in the same folder, flushed to disk, then renamed over the target, so an
interruption leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import secrets
import zipfile

import numpy as np

from . import activations, losses, optimizers
from . import regularization as regularization_module
from .backend import to_numpy

FORMAT_NAME = "anyarray_nn.model"
#: The newest file format this library reads and the one it writes.
FORMAT_VERSION = 1

_HEADER_KEY = "header"
# A header larger than this is not one we wrote (histories of a million epochs stay far below it).
_MAX_HEADER_BYTES = 64 * 2**20
_MAX_NESTING = 32
_ARRAY_KINDS = "biuf"


class ModelFileError(ValueError):
    """A file that is not a valid anyarray_nn model file.

    Raised by :func:`load` (and by ``fit(..., resume_from=path)``) for a file that is not an ``.npz``
    archive, is truncated or corrupted, lacks or has a malformed header, was written by a newer format
    version, holds arrays whose shapes disagree with its header, holds object arrays or pickled data.
    Nothing from such a file is executed. A subclass of :class:`ValueError`.
    """


# --------------------------------------------------------------------------------------------------
# writing
def save(model, path):
    """Save ``model`` to ``path`` (an ``.npz`` file), atomically.

    Parameters
    ----------
    model : Model
        Its parameters, architecture, dtype, and what its last :meth:`~anyarray_nn.Model.fit` left:
        the Solver, the optimizer state, the History and the random generator state.
    path : str or os.PathLike
        The file to write; an existing file is replaced only once the new one is complete.

    Raises
    ------
    TypeError
        For an argument of the wrong type.
    ValueError
        When a component (activation, loss, optimizer) is not in its name registry and so could not
        be rebuilt on loading.
    """
    _write(model, path)


def _write(model, path, training=None):
    from .model import Model

    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model, got {type(model).__name__}.")
    path = _check_path(path)
    header, arrays = _collect(model)
    header["training"] = training
    text = json.dumps(header, allow_nan=True, separators=(",", ":"))
    arrays[_HEADER_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    _atomic_savez(path, arrays)


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}.")
    return os.fspath(path)


def _atomic_savez(path, arrays):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_temporary(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    # The rename itself is durable only once the folder's entry is on disk.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some platforms (Windows)
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _create_temporary(folder, name):
    """A new file beside the target. Unlike tempfile.mkstemp (mode 0600) it gets the usual permissions."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _collect(model):
    """The header dict and the dict of NumPy arrays describing ``model``."""
    from . import __version__

    arrays = {}
    layers = []
    for i, layer in enumerate(model.layers):
        act = layer.activation
        _check_registered(activations, act, f"layers[{i}].activation")
        layers.append(
            {
                "n_in": layer.n_in,
                "n_out": layer.n_out,
                "activation": act.name,
                "activation_config": _jsonable(act.get_config(), f"layers[{i}].activation config"),
                "init": layer.init,
                "distribution": layer.distribution,
            }
        )
        arrays[f"W{i}"] = to_numpy(layer.W)
        arrays[f"b{i}"] = to_numpy(layer.b)
    backend = model.backend
    state = None
    if model.optimizer_state_ is not None:
        state = _encode_state(model.optimizer_state_, arrays, 0)
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "dtype": backend.dtype_name,
        "saved_from": {"backend": backend.name, "device": backend.device_str},
        "seed": backend.seed,
        "layers": layers,
        "solver": None if model.solver_ is None else _solver_config(model.solver_),
        "optimizer_state": state,
        "history": None if model.history_ is None else _jsonable(model.history_.as_dict(), "history"),
        "rng_state": _jsonable(backend.get_rng_state(), "random generator state"),
    }
    header["arrays"] = {name: {"shape": list(a.shape), "dtype": a.dtype.name} for name, a in arrays.items()}
    return header, arrays


def _check_registered(registry, obj, what):
    try:
        rebuilt = registry.get(obj.name)
    except (ValueError, TypeError, AttributeError):
        rebuilt = None
    if rebuilt is None or type(rebuilt) is not type(obj):
        raise ValueError(
            f"{what} {obj!r} is not in the registry of {registry.__name__}, so a saved model could not "
            f"rebuild it; register it under its name (or use one of {registry.names()})."
        )


def _solver_config(solver):
    _check_registered(losses, solver.loss, "The Solver's loss")
    opt = solver.optimizer
    _check_registered(optimizers, opt, "The Solver's optimizer")
    config = {
        "loss": solver.loss.name,
        "optimizer": opt.name,
        "optimizer_config": _jsonable(opt.get_config(), "optimizer config"),
        "learning_rate": solver.learning_rate,
        "regularization": _jsonable(solver.regularization.get_config(), "regularization config"),
    }
    schedule = getattr(solver, "schedule", None)
    if schedule is not None:
        config["schedule"] = {
            "name": schedule.name,
            "config": _jsonable(schedule.get_config(), "schedule config"),
            "state": _jsonable(schedule.state_dict(), "schedule state") if hasattr(schedule, "state_dict") else None,
        }
    # Other plain options of the Solver (gradient clipping ...) travel as they are.
    known = {"loss", "optimizer", "learning_rate", "regularization", "schedule"}
    extra = {
        k: v
        for k, v in vars(solver).items()
        if k not in known and not k.startswith("_") and (v is None or isinstance(v, (bool, int, float, str)))
    }
    config["options"] = extra
    return config


def _jsonable(value, what, depth=0):
    """``value`` with NumPy scalars turned into Python numbers; a TypeError for anything not JSON."""
    if depth > _MAX_NESTING:
        raise ValueError(f"The {what} is nested too deeply to be saved.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v, what, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, what, depth + 1) for v in value]
    raise TypeError(f"The {what} holds a {type(value).__name__}, which cannot be saved.")


def _encode_state(value, arrays, depth):
    """Nested dicts / lists of arrays and numbers, with each array moved into ``arrays``."""
    if depth > _MAX_NESTING:
        raise ValueError("The optimizer state is nested too deeply to be saved.")
    if isinstance(value, dict):
        return {str(k): _encode_state(v, arrays, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_state(v, arrays, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
        return value.item()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        name = f"state{sum(1 for k in arrays if k.startswith('state'))}"
        arrays[name] = np.asarray(to_numpy(value))
        return {"__array__": name}
    raise TypeError(f"The optimizer state holds a {type(value).__name__}, which cannot be saved.")


# --------------------------------------------------------------------------------------------------
# reading
def load(path, backend="auto", device=None, dtype=None):
    """Load a model saved by :func:`save` onto any backend.

    Parameters
    ----------
    path : str or os.PathLike
    backend : {"auto", "numpy", "cupy", "torch", "array_api_strict"} or module, default "auto"
        Where the model goes; need not be the backend it was saved from.
    device : optional
        Device on that backend.
    dtype : {"float32", "float64"}, optional
        Default: the dtype it was saved with.

    Returns
    -------
    Model
        With its parameters, and, when the file holds them, ``solver_``, ``optimizer_state_`` (on the
        new backend), ``history_`` and the random generator state, so that ``fit`` can go on.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ModelFileError
        When the file is not a valid model file (see :class:`ModelFileError`).
    ValueError, ImportError, RuntimeError
        For a ``backend``, ``device`` or ``dtype`` that :class:`~anyarray_nn.Model` refuses.
    """
    from .model import Model

    content = _read(path)
    model = Model(
        content.layers,
        backend=backend,
        device=device,
        dtype=content.header["dtype"] if dtype is None else dtype,
        seed=content.header["seed"],
    )
    model.set_parameters([model.backend.asarray(a) for a in content.params])
    _restore_extras(model, content)
    return model


class _Content:
    """A validated model file: header dict, Layer objects, NumPy parameters and the rest, rebuilt."""

    def __init__(self, header, layers, params, solver, state, history):
        self.header, self.layers, self.params = header, layers, params
        self.solver, self.state, self.history = solver, state, history


def _read(path):
    path = _check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    try:
        return _parse(path)
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse a file is the file's fault
        raise ModelFileError(f"{path!r} is not a valid anyarray_nn model file: {type(exc).__name__}: {exc}") from exc


def _fail(path, why):
    raise ModelFileError(f"{path!r} is not a valid anyarray_nn model file: {why}")


def _parse(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] != b"PK":
        _fail(path, "it is not an .npz (zip) archive.")
    with np.load(path, allow_pickle=False) as npz:
        if not isinstance(npz, np.lib.npyio.NpzFile):
            _fail(path, "it is not an .npz archive.")
        members = {}
        for info in npz.zip.infolist():
            if not info.filename.endswith(".npy"):
                _fail(path, f"it holds a member {info.filename!r} that is not a .npy array.")
            members[info.filename[:-4]] = info
        if _HEADER_KEY not in members:
            _fail(path, "it has no header (the 'header' array is missing).")
        shapes = {name: _peek(npz, path, info, size) for name, info in members.items()}
        shape, dtype = shapes[_HEADER_KEY]
        if dtype != np.uint8 or len(shape) != 1:
            _fail(path, f"its header must be a 1-D uint8 array, got shape {shape} and dtype {dtype}.")
        if shape[0] > _MAX_HEADER_BYTES:
            _fail(path, f"its header has {shape[0]} bytes, more than the {_MAX_HEADER_BYTES} allowed.")
        header = _decode_header(path, npz[_HEADER_KEY])
        declared = header["arrays"]
        if set(declared) != set(shapes) - {_HEADER_KEY}:
            _fail(
                path,
                f"its arrays {sorted(set(shapes) - {_HEADER_KEY})} differ from those its header lists "
                f"{sorted(declared)}.",
            )
        for name, spec in declared.items():
            if tuple(spec["shape"]) != shapes[name][0] or spec["dtype"] != shapes[name][1].name:
                _fail(
                    path,
                    f"array {name!r} has shape {shapes[name][0]} and dtype {shapes[name][1].name}, but the "
                    f"header says shape {tuple(spec['shape'])} and dtype {spec['dtype']}.",
                )
        layers = _layers(path, header)
        for i, layer in enumerate(layers):
            for name, expected in ((f"W{i}", (layer.n_in, layer.n_out)), (f"b{i}", (layer.n_out,))):
                if name not in shapes:
                    _fail(path, f"array {name!r} of layer {i} is missing.")
                if shapes[name][0] != expected or shapes[name][1].kind != "f":
                    _fail(
                        path,
                        f"array {name!r} has shape {shapes[name][0]} and dtype {shapes[name][1]}, but layer {i} "
                        f"({layer.n_in} -> {layer.n_out}) needs a float array of shape {expected}.",
                    )
        arrays = {name: _native(npz[name]) for name in declared}
    params = [arrays[f"{p}{i}"] for i in range(len(layers)) for p in ("W", "b")]
    solver = _solver(path, header["solver"])
    state = _decode_state(path, header["optimizer_state"], arrays, 0)
    if state is not None:
        t = state.get("t") if isinstance(state, dict) else None
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            _fail(path, "its optimizer state lacks a valid step count 't'.")
        if header["solver"] is None:
            _fail(path, "it holds an optimizer state but no Solver.")
    history = _history(path, header["history"])
    if header["rng_state"] is not None:
        # Tried on a scratch generator, so a bad state is a file error now rather than later.
        np.random.default_rng().bit_generator.state = header["rng_state"]
    return _Content(header, layers, params, solver, state, history)


def _peek(npz, path, info, archive_size):
    """Shape and dtype of one member from its ``.npy`` header, refusing objects before any data is read."""
    if info.compress_type != zipfile.ZIP_STORED:
        _fail(path, f"member {info.filename!r} is compressed; model files are written uncompressed.")
    if info.file_size > archive_size:
        _fail(path, f"member {info.filename!r} claims {info.file_size} bytes, more than the file holds.")
    with npz.zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            _fail(path, f"member {info.filename!r} uses .npy format version {version}, which is not supported.")
        data_start = f.tell()
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        _fail(path, f"member {info.filename!r} has dtype {dtype}; only numeric arrays are allowed (no objects).")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != info.file_size - data_start:
        _fail(
            path,
            f"member {info.filename!r} declares shape {shape} ({nbytes} bytes) but holds "
            f"{info.file_size - data_start} bytes of data (truncated or tampered with).",
        )
    return tuple(shape), dtype


def _native(arr):
    """A writable array in native byte order (loaded arrays become model parameters, updated in place)."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr


def _decode_header(path, raw):
    try:
        header = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        _fail(path, f"its header is not valid JSON ({exc}).")
    if not isinstance(header, dict):
        _fail(path, "its header is not a JSON object.")
    if header.get("format") != FORMAT_NAME:
        _fail(path, f"its header does not name the format {FORMAT_NAME!r}.")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        _fail(path, f"its header has an invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        written_by = header.get("library_version")
        raise ModelFileError(
            f"{path!r} uses model file format {version}, newer than the format {FORMAT_VERSION} this version "
            f"of anyarray_nn reads (it was written by anyarray_nn {written_by!r}); upgrade anyarray_nn to load it."
        )
    expected = {
        "dtype": str,
        "layers": list,
        "arrays": dict,
        "seed": (int, type(None)),
        "solver": (dict, type(None)),
        "optimizer_state": (dict, list, type(None)),
        "history": (dict, type(None)),
        "rng_state": (dict, type(None)),
        "training": (dict, type(None)),
    }
    for key, types in expected.items():
        if key not in header:
            _fail(path, f"its header lacks the entry {key!r}.")
        if not isinstance(header[key], types) or isinstance(header[key], bool):
            _fail(path, f"its header entry {key!r} has the wrong type ({type(header[key]).__name__}).")
    if header["dtype"] not in ("float32", "float64"):
        _fail(path, f"its header has an unknown dtype {header['dtype']!r}.")
    if header["seed"] is not None and header["seed"] < 0:
        _fail(path, f"its header has an invalid seed {header['seed']!r}.")
    for name, spec in header["arrays"].items():
        ok = (
            isinstance(spec, dict)
            and isinstance(spec.get("shape"), list)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in spec["shape"])
            and isinstance(spec.get("dtype"), str)
        )
        if not ok:
            _fail(path, f"its header describes array {name!r} badly: {spec!r}.")
    training = header["training"]
    if training is not None:
        epoch = training.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            _fail(path, f"its header has an invalid training epoch {epoch!r}.")
    return header


def _layers(path, header):
    from .layers import Layer

    specs = header["layers"]
    if not specs:
        _fail(path, "its header lists no layers.")
    layers = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            _fail(path, f"layer {i} of its header is not an object.")
        try:
            act = type(activations.get(spec["activation"]))(**spec.get("activation_config", {}))
            layer = Layer(spec["n_in"], spec["n_out"], act, init=spec["init"], distribution=spec["distribution"])
        except (KeyError, TypeError, ValueError) as exc:
            _fail(path, f"layer {i} of its header is invalid ({type(exc).__name__}: {exc}).")
        layers.append(layer)
    for i, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
        if a.n_out != b.n_in:
            _fail(path, f"its layers do not chain: layer {i} has n_out={a.n_out}, layer {i + 1} has n_in={b.n_in}.")
    return layers


def _solver(path, config):
    from .training import Solver

    if config is None:
        return None
    try:
        optimizer = type(optimizers.get(config["optimizer"]))(**config["optimizer_config"])
        kwargs = {
            "loss": config["loss"],
            "optimizer": optimizer,
            "learning_rate": config["learning_rate"],
            "regularization": regularization_module.Regularization(**config["regularization"]),
        }
        accepted = inspect.signature(Solver).parameters
        kwargs.update({k: v for k, v in config.get("options", {}).items() if k in accepted})
        schedule = config.get("schedule")
        if schedule is not None:
            from . import schedules

            sched = schedules.get(schedule["name"], **schedule["config"])
            if schedule.get("state") is not None and hasattr(sched, "load_state_dict"):
                sched.load_state_dict(schedule["state"])
            kwargs["schedule"] = sched
        return Solver(**kwargs)
    except (KeyError, TypeError, ValueError, ImportError, AttributeError) as exc:
        _fail(path, f"its Solver cannot be rebuilt ({type(exc).__name__}: {exc}).")


def _decode_state(path, value, arrays, depth):
    if depth > _MAX_NESTING:
        _fail(path, "its optimizer state is nested too deeply.")
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            name = value["__array__"]
            if not isinstance(name, str) or not name.startswith("state") or name not in arrays:
                _fail(path, f"its optimizer state refers to a missing array {name!r}.")
            return arrays[name]
        return {k: _decode_state(path, v, arrays, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_state(path, v, arrays, depth + 1) for v in value]
    return value


def _history(path, record):
    from .training import History

    if record is None:
        return None
    history = History()
    for key, value in record.items():
        if key == "stop_reason":
            if not isinstance(value, str):
                _fail(path, "its history has a stop_reason that is not a string.")
            history.stop_reason = value
        elif key.isidentifier() and not key.startswith("_"):
            setattr(history, key, value)
    for key in History.KEYS:
        values = getattr(history, key)
        ok = isinstance(values, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if not ok:
            _fail(path, f"its history entry {key!r} is not a list of numbers.")
    return history


def _restore_extras(model, content):
    """Solver, optimizer state (moved to the model's backend), History and random state from a file."""
    backend = model.backend
    model.solver_ = content.solver
    model.optimizer_state_ = None if content.state is None else _state_to(content.state, backend)
    model.history_ = content.history
    rng_state = content.header["rng_state"]
    if rng_state is not None:
        backend.set_rng_state(rng_state)


def _state_to(value, backend):
    if isinstance(value, dict):
        return {k: _state_to(v, backend) for k, v in value.items()}
    if isinstance(value, list):
        return [_state_to(v, backend) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return backend.asarray(value)
        return backend.asarray(value, dtype=getattr(backend.xp, value.dtype.name))
    return value


# --------------------------------------------------------------------------------------------------
# checkpoints (used by fit)
def save_checkpoint(model, path, epoch):
    """Save ``model`` as a checkpoint after ``epoch`` epochs of the current fit (atomically)."""
    _write(model, path, training={"epoch": int(epoch)})


def restore_checkpoint(model, path):
    """Load a checkpoint written during ``fit`` into ``model``, in place, to resume training.

    ``model`` must have the architecture the file describes. Its parameters, random generator state,
    optimizer state, Solver and History are replaced by the file's.

    Returns
    -------
    epoch : int
        Epochs done when the checkpoint was written (0 for a model saved outside ``fit``).
    """
    content = _read(path)
    mine = [(layer.n_in, layer.n_out, layer.activation.name) for layer in model.layers]
    theirs = [(layer.n_in, layer.n_out, layer.activation.name) for layer in content.layers]
    if mine != theirs:
        raise ValueError(
            f"`resume_from` {os.fspath(path)!r} holds a model with layers {theirs} (n_in, n_out, activation), "
            f"but the model being fitted has {mine}."
        )
    backend = model.backend
    model.set_parameters([backend.asarray(a) for a in content.params])
    _restore_extras(model, content)
    training = content.header["training"]
    return 0 if training is None else training["epoch"]
