"""The model file format: one ``.npz`` file, arrays plus a JSON header, never pickle.

This module knows the format only: it writes a header dict and a dict of NumPy arrays atomically, and
reads them back after checking the archive's structure. What the header means (layers, Solver,
optimizer state, History) is read and checked by :meth:`anyarray_nn.Model.from_state`;
:func:`anyarray_nn.save` and :func:`anyarray_nn.load` join the two.

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

The arrays of a model file are finite: weights or optimizer state holding NaN or infinities are refused
when writing (naming each such array), as they are when reading, so no file is written that the library
would not read back.

Reading never unpickles: files are opened with ``numpy.load(..., allow_pickle=False)``, object arrays
are refused before their data is touched, and the header is plain JSON (a diverged loss is written as
``NaN``, as Python's json module does). Writing is atomic: the file is
written to a temporary file in the same folder, flushed to disk, then renamed over the target, so an
interruption leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
import zipfile

import array_api_compat.numpy
import numpy as np

from ._version import __version__


FORMAT_NAME = "anyarray_nn.model"
#: The newest file format this library reads and the one it writes.
FORMAT_VERSION = 1

_HEADER_KEY = "header"
# The entries of a format-1 header; "saved_from" is informative (where the model was saved from), and
# "pipeline" (optional) describes how a trained pipeline prepares inputs and reads outputs
# (anyarray_nn.pipeline reads and checks it; a plain model load ignores it).
_HEADER_ENTRIES = {
    "format", "format_version", "library_version", "dtype", "saved_from", "seed", "layers", "arrays", "solver",
    "optimizer_state", "history", "rng_state", "training", "pipeline",
}
# An epoch count beyond this cannot come from a fit.
_MAX_EPOCH = 2**53
# The largest header written or read. The History dominates a header: six series of floats take about
# 120 bytes per epoch, so 16 MiB holds a History of over 100,000 epochs with validation. Python's json
# module can take some 25 times a crafted header's size in objects while parsing, so the bound is what
# keeps opening a hostile file within a few hundred MB; it is checked before the header is read.
MAX_HEADER_BYTES = 16 * 2**20
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
def write_model_file(path, header, arrays):
    """Write ``header`` (a JSON-able dict) and ``arrays`` (name -> NumPy array) to ``path``, atomically.

    The format name and version and the list of arrays with their shapes and dtypes are added to the
    header. An existing file is replaced only once the new one is complete.

    Raises
    ------
    TypeError
        For a path that is not a str or os.PathLike, or a header entry that is not JSON.
    ValueError
        When an array holds NaN or infinite values (naming each, see :func:`non_finite_arrays`):
        loading refuses such a file, so none is written and an existing file is left as it was.
    """
    path = _check_path(path)
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "library_version": __version__, **header}
    arrays = dict(arrays)
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"Array {name!r} must be a numeric NumPy array to be saved, got {type(a).__name__} {getattr(a, 'dtype', '')}.")
    bad = non_finite_arrays(header, arrays)
    if bad:
        only_state = all(name.startswith("state") for name in bad)
        raise ValueError(
            f"Cannot save to {path!r}: "
            + "; ".join(bad.values())
            + ". A model file holds finite numbers only (loading refuses NaN and infinities, as a sign of a "
            "damaged file), so nothing was written. The fit that made them diverged: train again with a lower "
            "learning rate (the divergence guard keeps the last finite weights)"
            + (
                ", or set `model.optimizer_state_ = None` to save the (finite) weights without the optimizer "
                "state; a later fit then starts the optimizer afresh."
                if only_state
                else "."
            )
        )
    header["arrays"] = {name: {"shape": list(a.shape), "dtype": a.dtype.name} for name, a in arrays.items()}
    data = json.dumps(jsonable(header, "header"), allow_nan=True, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_HEADER_BYTES:
        # Refused here, so that no file is written that could not be opened again.
        raise ValueError(
            f"The model's header would take {len(data)} bytes, more than the {MAX_HEADER_BYTES} a model file "
            f"may hold (the History is the large part: about 120 bytes per epoch)."
        )
    arrays[_HEADER_KEY] = np.frombuffer(data, dtype=np.uint8)
    _atomic_savez(path, arrays)


def non_finite_arrays(header, arrays):
    """``{member: description}`` of the float arrays that hold NaN or infinite values ({} when none).

    A description names the array as the model knows it (``layers[1].W``, an optimizer state entry such
    as ``optimizer_state['v'][2]``), its member, and how many values are NaN and infinite.
    """
    out = {}
    for name, a in arrays.items():
        if a.dtype.kind != "f" or all_finite(a):
            continue
        nan, inf = int(np.count_nonzero(np.isnan(a))), int(np.count_nonzero(np.isinf(a)))
        counts = ", ".join(f"{k} {what}" for k, what in ((nan, "NaN"), (inf, "infinite")) if k)
        out[name] = f"{_array_label(header, name)} holds {counts} of its {a.size} values"
    return out


def _array_label(header, name):
    """``layers[1].W (W1)`` or ``optimizer_state['v'][2] (state5)``: a member as the model knows it."""
    kind, index = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")):]
    if kind in ("W", "b") and index:
        return f"layers[{index}].{kind} ({name})"
    path = _find_reference(header.get("optimizer_state"), name, "optimizer_state")
    return f"{path} ({name})" if path else name


def _find_reference(tree, name, path, depth=0):
    """The path in ``tree`` of the reference ``{"__array__": name}`` (None when absent)."""
    if depth > _MAX_NESTING:
        return None
    if isinstance(tree, dict):
        if tree == {"__array__": name}:
            return path
        items = ((f"{path}[{k!r}]", v) for k, v in tree.items())
    elif isinstance(tree, (list, tuple)):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(tree))
    else:
        return None
    for sub, value in items:
        found = _find_reference(value, name, sub, depth + 1)
        if found:
            return found
    return None


def check_writable_path(path, name="path"):
    """Check before a long computation that ``path`` can be written: its folder exists and is a folder.

    Raises
    ------
    FileNotFoundError, NotADirectoryError, IsADirectoryError
        Naming the argument ``name``.
    """
    path = _check_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise FileNotFoundError(f"`{name}` {path!r}: the folder {folder!r} does not exist.")
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"`{name}` {path!r}: {folder!r} is not a folder.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"`{name}` {path!r} is a folder; give a file name.")
    return path


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}.")
    return os.fspath(path)


def _atomic_savez(path, arrays):
    atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write(path, write):
    """Write a file atomically: ``write(f)`` fills a temporary file beside ``path``, which is flushed to
    disk and renamed over ``path``. A crash leaves the old file or the new one, never half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_temporary(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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


def jsonable(value, what, depth=0):
    """``value`` with NumPy scalars turned into Python numbers; a TypeError for anything not JSON."""
    if depth > _MAX_NESTING:
        raise ValueError(f"The {what} is nested too deeply to be saved.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
        return value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v, what, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, what, depth + 1) for v in value]
    raise TypeError(f"The {what} holds a {type(value).__name__}, which cannot be saved.")


def encode_tree(value, arrays, prefix, to_host, depth=0):
    """Nested dicts / lists of arrays and numbers, JSON-able: each array is moved into ``arrays``.

    An array becomes ``{"__array__": "<prefix><k>"}`` and its host copy (``to_host(array)``) the member of
    that name; :func:`decode_tree` reverses it.
    """
    if depth > _MAX_NESTING:
        raise ValueError("The optimizer state is nested too deeply to be saved.")
    if isinstance(value, dict):
        return {str(k): encode_tree(v, arrays, prefix, to_host, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_tree(v, arrays, prefix, to_host, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
        return value.item()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        name = f"{prefix}{sum(1 for k in arrays if k.startswith(prefix))}"
        arrays[name] = np.asarray(to_host(value))
        return {"__array__": name}
    raise TypeError(f"The optimizer state holds a {type(value).__name__}, which cannot be saved.")


# --------------------------------------------------------------------------------------------------
# reading
def read_model_file(path):
    """The header dict and the arrays (name -> NumPy array) of a model file, after checking its structure.

    Checked here: a regular file (never a FIFO or device, which could block), a zip archive of
    uncompressed ``.npy`` members with numeric dtypes (no objects, no pickles), a header of bounded size
    that is a JSON object naming this format and a version this library reads, the header's list of
    arrays equal to the members with their shapes and dtypes, and each member's size equal to what its
    shape declares. The meaning of the entries is checked by whoever builds from them.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ModelFileError
        When the file is not a valid model file.
    """
    return _read(path)


def _read(path):
    path = _check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    if not stat.S_ISREG(os.stat(path).st_mode):
        _fail(path, "it is not a regular file (a folder, FIFO or device); only regular files are opened.")
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
        if shape[0] > MAX_HEADER_BYTES:
            _fail(path, f"its header has {shape[0]} bytes, more than the {MAX_HEADER_BYTES} allowed.")
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
        arrays = {name: _native(npz[name]) for name in declared}
    return header, arrays


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
    unknown = sorted(set(header) - _HEADER_ENTRIES)
    if unknown:
        _fail(path, f"its header has unknown entries {unknown} (format version {version} has {sorted(_HEADER_ENTRIES)}).")
    expected = {
        "library_version": str,
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
        if set(training) != {"epoch"}:
            _fail(path, f"its header entry 'training' must hold 'epoch' only, got {sorted(training)}.")
        epoch = training["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= _MAX_EPOCH:
            _fail(path, f"its header has an invalid training epoch {epoch!r}.")
    saved_from = header.get("saved_from")
    if saved_from is not None:
        ok = (
            isinstance(saved_from, dict)
            and set(saved_from) == {"backend", "device"}
            and all(isinstance(v, str) and len(v) <= 200 for v in saved_from.values())
        )
        if not ok:
            _fail(path, f"its header entry 'saved_from' must be {{'backend': str, 'device': str}}, got {saved_from!r}.")
    if not isinstance(header.get("pipeline", {}), dict):
        _fail(path, f"its header entry 'pipeline' must be an object, got {type(header['pipeline']).__name__}.")
    return header


def decode_tree(value, arrays, prefix, depth=0):
    """The nested dicts / lists :func:`encode_tree` wrote, with the arrays back in place.

    Raises
    ------
    ValueError
        When an array reference names no member of ``arrays`` with ``prefix``, or nesting is too deep.
    """
    if depth > _MAX_NESTING:
        raise ValueError("the optimizer state is nested too deeply")
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            name = value["__array__"]
            if not isinstance(name, str) or not name.startswith(prefix) or name not in arrays:
                raise ValueError(f"the optimizer state refers to a missing array {name!r}")
            return arrays[name]
        return {k: decode_tree(v, arrays, prefix, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_tree(v, arrays, prefix, depth + 1) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# checks of the arrays a file holds (NumPy arrays on the host)
#: The Array API namespace of the arrays read from a file.
HOST_XP = array_api_compat.numpy


def all_finite(a):
    """Whether the host array ``a`` holds no NaN or infinity."""
    return bool(np.all(np.isfinite(a)))


def overflows(a, dtype_name):
    """The largest magnitude of ``a`` when it does not fit ``dtype_name``'s range, else None."""
    if a.dtype.itemsize <= np.dtype(dtype_name).itemsize or not a.size:
        return None
    largest = float(np.max(np.abs(a)))
    # Compared as Python floats: NumPy would cast `largest` to the narrower dtype and warn of an overflow.
    return largest if largest > float(np.finfo(dtype_name).max) else None


def array_mismatch(a, shape, nonnegative=False):
    """Why ``a`` is not a finite float array of ``shape`` (non-negative if asked); '' when it is."""
    if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype.kind != "f":
        return f"must be a float array of shape {shape}"
    if not all_finite(a):
        return "holds NaN or infinite values"
    if nonnegative and np.any(a < 0):
        return "holds negative values (it accumulates squares)"
    return ""
