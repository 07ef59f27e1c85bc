"""Backends: the one module that knows which array library is underneath.

Everything here is library specific on purpose: resolving a name or a namespace to an Array API
namespace, picking the device, random numbers (the Array API standard has none), moving data to and
from the host, and synchronizing a device before a clock is read. The math modules only ever see
``backend.xp``.

What anyarray_nn needs to know about one library is one small :class:`Library` entry in
:data:`LIBRARIES`. The base class is the generic entry: it works for any library that follows the Array
API standard (device from ``__array_namespace_info__()``, host copies through DLPack), so an entry only
overrides what its library does differently. Adding a library is adding one entry.

Random numbers are drawn on the host by one seeded NumPy generator and moved to the device, so the same
seed gives the same initial weights and the same shuffling order on every backend.
"""

from __future__ import annotations

import collections
import copy
import ctypes
import functools
import glob
import importlib
import os
import types
import warnings

import array_api_compat
import array_api_compat.numpy  # noqa: F401  (the submodule is the NumPy namespace)
import numpy as np

DTYPES = ("float32", "float64")


class Library:
    """How anyarray_nn uses one array library. The defaults work for any Array API library.

    Parameters
    ----------
    xp : module, optional
        The namespace, for a library without an entry of its own (see :meth:`for_namespace`).

    Attributes
    ----------
    name : str
        The ``backend=`` name.
    package : str
        The module that must import (named in the ImportError; its ``__version__`` goes in ``info()``).
    install : str
        How to install the package, shown when it is missing.
    """

    name = "generic"
    package = ""
    install = ""

    def __init__(self, xp=None):
        self._xp = xp
        if xp is not None:
            self.name = self.package = xp.__name__

    @classmethod
    def for_namespace(cls, xp):
        """The generic entry for a namespace module, or None when ``xp`` is no Array API namespace."""
        if all(hasattr(xp, attr) for attr in ("__array_namespace_info__", "asarray", "zeros", "astype")):
            return cls(xp)
        return None

    # -- recognising the library ---------------------------------------------------------------
    def is_namespace(self, ns):
        return ns is self._xp

    def is_array(self, x):
        ns = getattr(x, "__array_namespace__", None)
        return ns is not None and not isinstance(x, type) and self.is_namespace(ns())

    def namespace(self):
        """Import the library and return its Array API namespace (ImportError naming the install)."""
        if self._xp is not None:
            return self._xp
        try:
            importlib.import_module(self.package)
        except ImportError as exc:
            msg = f"backend={self.name!r} needs the {self.package!r} package, which is not installed: {self.install}."
            raise ImportError(msg) from exc
        return self._import_namespace()

    def _import_namespace(self):
        return importlib.import_module(self.package)

    # -- devices -----------------------------------------------------------------------------------
    def device(self, xp, device):
        """The native device object for the user's ``device=`` argument (None: the default device)."""
        info = xp.__array_namespace_info__()
        if device is None:
            return info.default_device()
        devices = [d for d in info.devices() if d is not None]
        for d in devices:
            if device is d or str(device) == str(d):
                return d
        raise ValueError(
            f"Invalid `device` {device!r} for backend={self.name!r}; expected one of {[str(d) for d in devices]}."
        )

    def device_str(self, device):
        """A short printable name of ``device``, which :meth:`device` accepts back."""
        return str(device)

    def is_gpu(self, device):
        return False

    # -- host transfer -----------------------------------------------------------------------------
    def to_numpy(self, x):
        """A NumPy copy (or view) of ``x``: DLPack when the array offers it, else ``numpy.asarray``."""
        if hasattr(x, "__dlpack__"):
            try:
                return np.from_dlpack(x)
            except (BufferError, RuntimeError, TypeError, ValueError):
                pass  # a device NumPy cannot read, or an old protocol version: try the array protocol
        return np.asarray(x)

    def plain(self, x):
        """An input array of this library as the math uses it (torch: without autograd history)."""
        return x

    def upload_async(self, backend, host):
        """``host`` (a NumPy array) on the device without making the host wait; a plain copy by default.

        Floats must already have the backend's dtype; integers keep theirs.
        """
        return backend.from_host(host)

    def has_values(self, x):
        """Whether the values of ``x`` can be read now (not a symbolic or traced array)."""
        return all(isinstance(n, int) for n in x.shape)

    def materialize(self, arrays):
        """Compute lazily held ``arrays`` (nested lists / dicts allowed); eager libraries return them as is."""
        return arrays

    # -- device generator (GPU libraries only: dropout masks drawn where they are used) ---------
    def generator(self, seed, device):
        raise NotImplementedError(f"backend={self.name!r} has no device random generator.")

    def uniform(self, generator, shape, backend):
        raise NotImplementedError(f"backend={self.name!r} has no device random generator.")

    def synchronize(self, device):
        """Wait until ``device`` has finished queued work; nothing to wait for on the CPU."""

    def dtype_hint(self, dtype_name):
        """How to make the library give ``dtype_name`` arrays, for the error when it does not."""
        return ""

    # -- fused products --------------------------------------------------------------------------
    def matmul_add(self, C, A, B):
        """``C + A @ B``, written into ``C`` where the library allows it (``C`` is then returned).

        The generic form makes the product, then adds it; an entry whose library can add a product to
        an array in one call (BLAS ``gemm`` with ``beta = 1``) does that instead, saving a pass over
        ``C`` and a temporary of its size.
        """
        if array_api_compat.is_writeable_array(C):
            C += A @ B
            return C
        return C + A @ B

    # -- class labels --------------------------------------------------------------------------------
    def subtract_one_hot(self, xp, A, labels):
        """``A - one_hot(labels)``: every row ``i`` of ``A`` with 1 taken off ``A[i, labels[i]]``.

        The generic form compares ``labels`` with the column numbers and subtracts the rows it gets.
        """
        columns = xp.arange(A.shape[1], dtype=labels.dtype, device=array_api_compat.device(A))
        return A - xp.astype(labels[:, None] == columns, A.dtype)

    # -- communication -----------------------------------------------------------------------------
    def allreduce_sum(self, backend, comm, flat):
        """Sum ``flat`` over ``comm`` through a host buffer (MPI reads NumPy memory without a copy)."""
        from mpi4py import MPI

        if isinstance(flat, np.ndarray) and flat.flags.writeable and flat.flags.c_contiguous:
            host = flat  # summed in place
        else:
            host = np.array(self.to_numpy(flat), copy=True)
        comm.Allreduce(MPI.IN_PLACE, host)
        return host if host is flat else backend.asarray(host)

    # -- compiler ----------------------------------------------------------------------------------
    #: The library's compiler, by name (None: the library has none), and whether ``compile="auto"`` uses it.
    compiler = None
    compile_by_default = False
    #: Whether a compiled function takes NumPy arrays as inputs and moves them to the device itself
    #: (jax.jit does, in its C++ dispatch, cheaper than an upload call per array).
    compiled_takes_host = False

    def compile(self, step, donate=()):
        """``step`` compiled by the library's compiler (only called when :attr:`compiler` is set).

        ``donate``: positions of the arguments the caller does not use after a call, whose buffers the
        compiled code may reuse for its results.
        """
        raise NotImplementedError(f"backend={self.name!r} has no compiler.")

    def trace_errors(self):
        """The errors the compiler raises for a function it cannot trace (Python decisions on values)."""
        return ()

    def is_deleted(self, x):
        """Whether the buffer of ``x`` was given to a compiled call (donated) and no longer exists."""
        return False


class NumPy(Library):
    name, package, install = "numpy", "numpy", "pip install numpy"
    is_array = staticmethod(array_api_compat.is_numpy_array)

    def is_namespace(self, ns):
        return array_api_compat.is_numpy_namespace(ns) or ns is _numpy_namespace()

    def _import_namespace(self):
        return _numpy_namespace()

    def device(self, xp, device):
        if device not in (None, "cpu"):
            raise ValueError(f"backend='numpy' runs on the CPU only; `device` must be None or 'cpu', got {device!r}.")
        return "cpu"

    def to_numpy(self, x):
        return np.asarray(x)

    def matmul_add(self, C, A, B):
        # One gemm call into NumPy's own BLAS where it can be found and the arrays suit it.
        if type(C) is np.ndarray and C.flags.writeable:
            if C.size >= _NUMPY_GEMM.min_size and _NUMPY_GEMM.add(C, A, B):
                return C
            C += A @ B
            return C
        return C + A @ B


@functools.cache
def _numpy_namespace():
    """array_api_compat's NumPy namespace, with the calls a training step makes most taken straight to NumPy.

    ``numpy.sum(x)`` runs about a microsecond of Python (argument dispatch, keyword filtering) before the
    ufunc's ``reduce``; with a few dozen such calls a step, a small network spends more time there than
    in its arithmetic. The functions below call the same NumPy routine with the same arguments on plain
    ``ndarray`` inputs (so the results are the same to the bit) and leave anything else (subclasses,
    NumPy scalars, a ``device``) to array_api_compat's own function. Built once: every NumPy backend
    shares it.
    """
    compat = array_api_compat.numpy
    xp = types.ModuleType("anyarray_nn.numpy_namespace", _numpy_namespace.__doc__)
    kept = ("__array_namespace_info__", "__array_api_version__", "__all__")
    xp.__dict__.update({k: v for k, v in vars(compat).items() if not k.startswith("_") or k in kept})
    ndarray, add, maximum, minimum = np.ndarray, np.add, np.maximum, np.minimum

    def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001
        if type(x) is ndarray:
            return add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)
        return compat.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(x, /, *, axis=None, keepdims=False):  # noqa: A001
        if type(x) is ndarray:
            return maximum.reduce(x, axis=axis, keepdims=keepdims)
        return compat.max(x, axis=axis, keepdims=keepdims)

    def min(x, /, *, axis=None, keepdims=False):  # noqa: A001
        if type(x) is ndarray:
            return minimum.reduce(x, axis=axis, keepdims=keepdims)
        return compat.min(x, axis=axis, keepdims=keepdims)

    def argmax(x, /, *, axis=None, keepdims=False):
        if type(x) is ndarray:
            return x.argmax(axis=axis, keepdims=keepdims)
        return compat.argmax(x, axis=axis, keepdims=keepdims)

    def take(x, indices, /, *, axis=None):
        if type(x) is ndarray:
            return x.take(indices, axis=axis)
        return compat.take(x, indices, axis=axis)

    def reshape(x, /, shape, *, copy=None):
        if type(x) is ndarray:
            return x.reshape(shape) if copy is None else x.reshape(shape, copy=copy)
        return compat.reshape(x, shape, copy=copy)

    def astype(x, dtype, /, *, copy=True, device=None):
        if type(x) is ndarray and device is None:
            return x.astype(dtype, copy=copy)
        return compat.astype(x, dtype, copy=copy, device=device)

    def zeros_like(x, /, *, dtype=None, device=None):
        if type(x) is ndarray and device is None and x.flags.c_contiguous:
            return np.zeros(x.shape, dtype=x.dtype if dtype is None else dtype)
        return compat.zeros_like(x, dtype=dtype, device=device)

    for fn in (sum, max, min, argmax, take, reshape, astype, zeros_like):
        fn.__doc__ = getattr(compat, fn.__name__).__doc__
        setattr(xp, fn.__name__, fn)
    return xp


class _NumPyGemm:
    """``C += A @ B`` as one call of the ``cblas_?gemm`` of the OpenBLAS that NumPy itself is linked to.

    NumPy has no matrix product with ``beta = 1``. Its wheels carry OpenBLAS (``scipy-openblas``), which
    exports ``cblas_sgemm`` / ``cblas_dgemm`` (with the prefix and 64-bit integer suffix of that build);
    loading the same file reuses the library NumPy loaded, with its thread pool. Where the library cannot
    be found (another BLAS, another platform's layout), :meth:`add` answers False and the caller falls
    back to the product and an addition.
    """

    _ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

    #: Smallest ``C`` (in elements) worth the call. Reaching the BLAS through ctypes costs about 5 µs a
    #: call (checks, three pointers, argument conversion) while NumPy's product and in-place addition cost
    #: about 1 µs besides the arithmetic; the pass over ``C`` that the gemm saves pays for that from about
    #: 16,384 elements (measured for batches of 16 to 256 rows, float32 and float64).
    MIN_SIZE = 16384

    def __init__(self, min_size=MIN_SIZE):
        self._functions = None  # {dtype: ctypes function}, found on first use
        self.min_size = min_size

    def _find(self):
        functions = {}
        here = os.path.dirname(np.__file__)
        # Where NumPy's wheels keep their OpenBLAS: numpy.libs beside the package (Linux, Windows), .dylibs
        # inside it (macOS).
        patterns = [
            os.path.join(here, "..", "numpy.libs", "libscipy_openblas*"),
            os.path.join(here, ".dylibs", "libscipy_openblas*"),
        ]
        files = sorted(f for pattern in patterns for f in glob.glob(pattern))
        for path in files:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for names, integer in ((("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"), ctypes.c_int64),
                                   (("scipy_cblas_sgemm", "scipy_cblas_dgemm"), ctypes.c_int)):
                found = [getattr(lib, name, None) for name in names]
                if None in found:
                    continue
                for fn, dtype, real in zip(found, (np.float32, np.float64), (ctypes.c_float, ctypes.c_double)):
                    fn.restype = None
                    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, real,
                                   ctypes.c_void_p, integer, ctypes.c_void_p, integer, real, ctypes.c_void_p, integer]
                    functions[np.dtype(dtype)] = fn
                return functions
        return functions

    @classmethod
    def _operand(cls, X):
        """``(transpose flag, leading dimension)`` of a 2-D operand, or None when BLAS cannot read it as is."""
        if X.flags.c_contiguous:
            return cls._NO_TRANS, X.shape[1]
        if X.flags.f_contiguous:  # the transpose of a C-ordered matrix, such as A_prev.T
            return cls._TRANS, X.shape[0]
        return None

    def add(self, C, A, B):
        """Add ``A @ B`` into ``C`` in one gemm call; False (nothing done) where that is not possible or,
        for a ``C`` of fewer than :attr:`min_size` elements, not faster."""
        if type(C) is not np.ndarray or C.size < self.min_size:
            return False
        if self._functions is None:
            self._functions = self._find()
        gemm = self._functions.get(C.dtype)
        if gemm is None or type(A) is not np.ndarray or type(B) is not np.ndarray:
            return False
        if A.dtype != C.dtype or B.dtype != C.dtype or A.ndim != 2 or B.ndim != 2 or C.ndim != 2:
            return False
        (m, k), (k2, n) = A.shape, B.shape
        if k != k2 or C.shape != (m, n) or 0 in (m, n, k):
            return False
        if not (C.flags.c_contiguous and C.flags.writeable and C.flags.aligned and A.flags.aligned and B.flags.aligned):
            return False
        a, b = self._operand(A), self._operand(B)
        if a is None or b is None or np.may_share_memory(C, A) or np.may_share_memory(C, B):
            return False
        gemm(self._ROW_MAJOR, a[0], b[0], m, n, k, 1.0, A.ctypes.data, a[1], B.ctypes.data, b[1], 1.0, C.ctypes.data, n)
        return True


_NUMPY_GEMM = _NumPyGemm()


class CuPy(Library):
    name, package = "cupy", "cupy"
    install = "pip install '.[cuda12]' in the anyarray_nn checkout (or [cuda13], matching your CUDA toolkit)"
    is_namespace = staticmethod(array_api_compat.is_cupy_namespace)
    is_array = staticmethod(array_api_compat.is_cupy_array)

    def _import_namespace(self):
        import cupy

        if _cuda_device_count(cupy) == 0:
            raise RuntimeError("backend='cupy' needs a CUDA device, and none is visible.")
        return importlib.import_module("array_api_compat.cupy")

    def device(self, xp, device):
        import cupy

        if device is None or device == "cuda":
            index = cupy.cuda.Device().id
        elif isinstance(device, int):
            index = device
        elif isinstance(device, str) and device.startswith("cuda:"):
            index = int(device[5:])
        elif isinstance(device, cupy.cuda.Device):
            index = device.id
        else:
            raise ValueError(f"`device` for backend='cupy' must be 'cuda', 'cuda:N' or an int, got {device!r}.")
        return cupy.cuda.Device(index)

    def device_str(self, device):
        return f"cuda:{device.id}"

    def is_gpu(self, device):
        return True

    def to_numpy(self, x):
        return x.get()

    def upload_async(self, backend, host):
        import cupy
        import cupyx

        with backend.device:
            pinned = cupyx.empty_pinned(host.shape, dtype=host.dtype)
            pinned[...] = host
            out = cupy.empty(host.shape, dtype=host.dtype)
            out.set(pinned, stream=cupy.cuda.get_current_stream())
        # The copy reads the buffer after this returns: keep it alive while a few later uploads are made
        # (batches read ahead are used, and waited for, long before eight more have been uploaded).
        kept = backend.__dict__.setdefault("_pinned", collections.deque(maxlen=8))
        kept.append(pinned)
        return out

    def generator(self, seed, device):
        import cupy

        with device:
            return cupy.random.default_rng(seed)

    def uniform(self, generator, shape, backend):
        with backend.device:
            return generator.random(shape, dtype=backend.dtype_name)

    def allreduce_sum(self, backend, comm, flat):
        """Sum on the GPUs with NCCL; the NCCL communicator's id travels over MPI once."""
        import cupy
        from cupy.cuda import nccl

        key = id(comm)
        communicators = backend.__dict__.setdefault("_nccl", {})
        if key not in communicators:
            uid = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None, root=0)
            with backend.device:
                communicators[key] = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
        dtype = nccl.NCCL_FLOAT64 if flat.dtype == cupy.float64 else nccl.NCCL_FLOAT32
        stream = cupy.cuda.get_current_stream()
        communicators[key].allReduce(flat.data.ptr, flat.data.ptr, flat.size, dtype, nccl.NCCL_SUM, stream.ptr)
        return flat

    def synchronize(self, device):
        device.synchronize()


class Torch(Library):
    name, package, install = "torch", "torch", "pip install torch"
    is_namespace = staticmethod(array_api_compat.is_torch_namespace)
    is_array = staticmethod(array_api_compat.is_torch_array)

    compiler = "torch.compile"  # slow to compile and not always faster: used only with compile=True

    def compile(self, step, donate=()):
        import torch

        # dynamic=None: a Python int that changes (the batch's first row) is made symbolic after its
        # first change instead of recompiling for every value.
        return torch.compile(step)

    def _import_namespace(self):
        return importlib.import_module("array_api_compat.torch")

    def device(self, xp, device):
        import torch

        if isinstance(device, int):
            device = f"cuda:{device}"
        try:
            dev = torch.device("cpu" if device is None else device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"Invalid `device` {device!r} for backend='torch': {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"`device`={device!r} asks for CUDA, but torch sees no CUDA device.")
        return dev

    def matmul_add(self, C, A, B):
        # addmm_ adds the product in the BLAS call itself (beta = 1).
        if C.requires_grad or A.dtype != C.dtype or B.dtype != C.dtype:
            return super().matmul_add(C, A, B)
        return C.addmm_(A, B)

    def plain(self, x):
        # Inputs come in without autograd history: the library computes its own gradients, and a
        # tensor that requires grad would make every weight carry a growing graph.
        return x.detach() if x.requires_grad else x

    def is_gpu(self, device):
        return device.type == "cuda"

    def to_numpy(self, x):
        # detach: a tensor that requires grad refuses .numpy(); resolve_conj / resolve_neg: lazy views.
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()

    def has_values(self, x):
        return array_api_compat.device(x).type != "meta"

    def upload_async(self, backend, host):
        import torch

        if backend.device.type != "cuda":  # page-locking needs CUDA
            return backend.from_host(host)
        return torch.from_numpy(host).pin_memory().to(backend.device, non_blocking=True)

    def generator(self, seed, device):
        import torch

        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        return generator

    def uniform(self, generator, shape, backend):
        import torch

        return torch.rand(shape, generator=generator, device=backend.device, dtype=backend.dtype)

    def synchronize(self, device):
        if device.type == "cuda":
            import torch

            torch.cuda.synchronize(device)


class ArrayApiStrict(Library):
    name, package = "array_api_strict", "array_api_strict"
    install = "pip install '.[test]' in the anyarray_nn checkout (or pip install array-api-strict)"
    is_namespace = staticmethod(array_api_compat.is_array_api_strict_namespace)

    def is_array(self, x):
        ns = getattr(x, "__array_namespace__", None)
        return ns is not None and not isinstance(x, type) and array_api_compat.is_array_api_strict_namespace(ns())

    def device(self, xp, device):
        if device is None:
            return xp.Device("CPU_DEVICE")
        if isinstance(device, str):
            try:
                return xp.Device(device)
            except ValueError:
                raise ValueError(
                    f"Invalid `device` {device!r} for backend='array_api_strict'; expected one of "
                    f"{[d._device for d in xp.__array_namespace_info__().devices()]}."
                ) from None
        return device

    def device_str(self, device):
        return str(device._device)

    def to_numpy(self, x):
        # Only the CPU device converts to NumPy: "device1" refuses on purpose, to expose hidden copies.
        return np.asarray(x.to_device(x.__array_namespace__().Device("CPU_DEVICE")))


class Jax(Library):
    name, package, install = "jax", "jax", "pip install '.[jax]' in the anyarray_nn checkout (or pip install jax)"
    is_namespace = staticmethod(array_api_compat.is_jax_namespace)
    is_array = staticmethod(array_api_compat.is_jax_array)

    compiler, compile_by_default = "jax.jit", True
    compiled_takes_host = True

    def compile(self, step, donate=()):
        import jax

        # Donated arguments: XLA may write the step's results into their buffers, as the in-place update
        # does on NumPy.
        return jax.jit(step, donate_argnums=tuple(donate))

    def trace_errors(self):
        import jax

        errors = jax.errors
        return (
            errors.ConcretizationTypeError, errors.TracerBoolConversionError, errors.TracerIntegerConversionError,
            errors.TracerArrayConversionError,
        )

    def is_deleted(self, x):
        return bool(getattr(x, "is_deleted", lambda: False)())

    def subtract_one_hot(self, xp, A, labels):
        # A scatter, the form jax.grad gives the gradient of a log-probability gathered at the labels.
        # The generic subtraction of one-hot rows compiles, on XLA's CPU backend, into a training step
        # measured about 0.1 s an epoch slower (784-512-256-10, batch 64, 60,000 samples, 2 cores).
        return A.at[xp.arange(A.shape[0]), labels].add(-1)

    def _import_namespace(self):
        return importlib.import_module("jax.numpy")

    def device(self, xp, device):
        import jax

        if device is None:
            return jax.devices()[0]
        if isinstance(device, int):
            return jax.devices()[device]
        if isinstance(device, str):
            platform, _, index = device.partition(":")
            platform = "gpu" if platform == "cuda" else platform
            try:
                return jax.devices(platform)[int(index or 0)]
            except (RuntimeError, ValueError, IndexError) as exc:
                raise ValueError(f"Invalid `device` {device!r} for backend='jax': {exc}") from None
        return device

    def is_gpu(self, device):
        return device.platform == "gpu"

    def has_values(self, x):
        import jax

        return not isinstance(x, jax.core.Tracer)

    def generator(self, seed, device):
        import jax

        return [jax.random.key(seed)]  # a list: the key is replaced after each draw

    def uniform(self, generator, shape, backend):
        import jax

        generator[0], key = jax.random.split(generator[0])
        return jax.device_put(jax.random.uniform(key, shape, dtype=backend.dtype), backend.device)

    def dtype_hint(self, dtype_name):
        return (
            'enable 64-bit types before creating any array: jax.config.update("jax_enable_x64", True), '
            "or set the environment variable JAX_ENABLE_X64=1"
        )


class Dask(Library):
    name, package, install = "dask", "dask", "pip install '.[dask]' in the anyarray_nn checkout (or pip install 'dask[array]')"
    is_namespace = staticmethod(array_api_compat.is_dask_namespace)
    is_array = staticmethod(array_api_compat.is_dask_array)

    def _import_namespace(self):
        return importlib.import_module("array_api_compat.dask.array")

    def to_numpy(self, x):
        return np.asarray(x.compute())

    def materialize(self, arrays):
        import dask

        # One call computes all the graphs together, sharing their common parts.
        (out,) = dask.persist(arrays)
        return out


class Ndonnx(Library):
    name, package, install = "ndonnx", "ndonnx", "pip install ndonnx"
    is_namespace = staticmethod(array_api_compat.is_ndonnx_namespace)
    is_array = staticmethod(array_api_compat.is_ndonnx_array)

    def device(self, xp, device):
        if device not in (None, "cpu"):
            raise ValueError(f"backend='ndonnx' has one device; `device` must be None or 'cpu', got {device!r}.")
        return xp.__array_namespace_info__().default_device()

    def device_str(self, device):
        return "cpu"

    def to_numpy(self, x):
        return x.unwrap_numpy()

    def has_values(self, x):
        if None in x.shape:
            return False
        try:
            x.unwrap_numpy()
        except ValueError:  # a symbolic input of the graph: "no propagated value available"
            return False
        return True


# The libraries by ``backend=`` name. Order matters only for recognising arrays and namespaces.
LIBRARIES = {lib.name: lib for lib in (NumPy(), CuPy(), Torch(), ArrayApiStrict(), Jax(), Dask(), Ndonnx())}
BACKENDS = (*LIBRARIES, "auto")


def library_of(x):
    """The :class:`Library` entry whose arrays ``x`` is, or None."""
    for lib in LIBRARIES.values():
        if lib.is_array(x):
            return lib
    return None


def _cuda_device_count(cupy):
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, no device or a broken CUDA install all mean: no GPU
        return 0


class Backend:
    """An array library, a device on it and a floating dtype, plus a seeded random generator.

    Parameters
    ----------
    backend : str or module, default "auto"
        The array library: a name in :data:`LIBRARIES` (``"numpy"``, ``"cupy"``, ``"torch"``,
        ``"array_api_strict"``, ``"jax"``, ``"dask"``, ``"ndonnx"``), ``"auto"``, or a namespace module
        (``numpy``, ``jax.numpy``, ``dask.array``, the ``array_api_compat`` wrappers, or the namespace
        of any other Array API library). ``"auto"`` takes CuPy when it imports and a CUDA device is
        present, else NumPy; the reason for the choice is kept in :attr:`note` and shown in the repr.
    device : optional
        Device on that library: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, an integer GPU index,
        ``"device1"`` for array_api_strict, or a native device object. Default: the library's default.
    dtype : {"float32", "float64"}, default "float32"
        Refused with a ValueError when the library cannot make arrays of it (JAX without 64-bit types).
    seed : int or None
        Seed of the generator behind initial weights, shuffling and dropout masks.
    """

    def __init__(self, backend="auto", device=None, dtype="float32", seed=None):
        self.note = ""
        self.library = self._resolve(backend)
        self.name = self.library.name
        self.xp = self.library.namespace()
        self.device = self.library.device(self.xp, device)
        if dtype not in DTYPES:
            allowed = list(DTYPES)
            given = getattr(dtype, "__name__", dtype)
            # Accept the dtype objects of any library by their printed name ("float32", torch.float32).
            text = str(given).rsplit(".", 1)[-1]
            if text not in DTYPES:
                raise ValueError(f"Unknown dtype {dtype!r} for `dtype`; expected one of {allowed}.")
            dtype = text
        self.dtype_name = dtype
        self.dtype = getattr(self.xp, dtype)
        self._check_dtype()
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._device_generator = None

    # ----------------------------------------------------------------------------------------------
    # resolution
    def _resolve(self, backend):
        if isinstance(backend, types.ModuleType):
            for lib in LIBRARIES.values():
                if lib.is_namespace(backend):
                    return lib
            lib = Library.for_namespace(backend)
            if lib is None:
                raise ValueError(
                    f"Unsupported array namespace {backend.__name__!r} for `backend`: it is not an Array API "
                    f"namespace (no __array_namespace_info__). Expected one of {list(LIBRARIES)} (as modules "
                    f"or names) or the namespace of another Array API library."
                )
            return lib
        if not isinstance(backend, str):
            raise TypeError(f"`backend` must be a string or an array namespace, got {type(backend).__name__}.")
        if backend == "auto":
            return LIBRARIES[self._auto()]
        if backend not in LIBRARIES:
            raise ValueError(
                f"Unknown backend {backend!r}; expected one of {list(BACKENDS)}, or an Array API namespace module."
            )
        return LIBRARIES[backend]

    def _auto(self):
        try:
            import cupy
        except ImportError:
            self.note = "auto: CuPy is not installed, using NumPy on the CPU"
            return "numpy"
        if _cuda_device_count(cupy) == 0:
            self.note = "auto: CuPy imports but no CUDA device is present, using NumPy on the CPU"
            warnings.warn(f"backend='auto' fell back to NumPy: {self.note[6:]}.", RuntimeWarning, stacklevel=5)
            return "numpy"
        self.note = "auto: CUDA device found, using CuPy"
        return "cupy"

    @property
    def has_float64(self):
        """Whether the library makes float64 arrays on this device (JAX: only with 64-bit types enabled)."""
        xp = self.xp
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # JAX warns that it truncates
            return xp.zeros((1,), dtype=getattr(xp, "float64"), device=self.device).dtype == xp.float64

    def _check_dtype(self):
        """Refuse a dtype the library would silently replace (JAX makes float32 when asked for float64)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # JAX warns about the truncation; the error below says more
            made = self.xp.zeros((1,), dtype=self.dtype, device=self.device).dtype
        if made != self.dtype:
            hint = self.library.dtype_hint(self.dtype_name)
            raise ValueError(
                f"backend={self.name!r} cannot make {self.dtype_name} arrays (asked for {self.dtype_name}, got "
                f"{made})" + (f"; {hint}" if hint else "") + f". Or use dtype={'float32'!r}."
            )

    def __repr__(self):
        note = f", note={self.note!r}" if self.note else ""
        return f"Backend(name={self.name!r}, device={self.device_str}, dtype={self.dtype_name!r}{note})"

    @property
    def device_str(self):
        """A short printable name of the device ("cpu", "cuda:0", "device1")."""
        return self.library.device_str(self.device)

    # ----------------------------------------------------------------------------------------------
    # copies: the namespace module cannot be pickled, so a copy is rebuilt from its description
    def __getstate__(self):
        known = LIBRARIES.get(self.name) is self.library
        return {
            "backend": self.name if known else None,
            "namespace": None if known else self.xp.__name__,
            "device": self.device_str,
            "dtype": self.dtype_name,
            "seed": self.seed,
            "note": self.note,
            "rng_state": self.get_rng_state(),
        }

    def __setstate__(self, state):
        backend = state["backend"] or importlib.import_module(state["namespace"])
        self.__init__(backend, device=state["device"], dtype=state["dtype"], seed=state["seed"])
        self.note = state["note"]
        # The device generator is not copied: it is reseeded from the restored host state on first use.
        self.set_rng_state(state["rng_state"])

    def __deepcopy__(self, memo):
        new = type(self).__new__(type(self))
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    # ----------------------------------------------------------------------------------------------
    # data movement
    def asarray(self, x, dtype=None):
        """Move ``x`` (NumPy, list, or an array of any supported library) to this backend and device.

        The dtype is the backend's float dtype unless another one of ``xp`` is given.
        """
        dtype = self.dtype if dtype is None else dtype
        if self.owns(x):
            x = self.library.plain(x)
            if array_api_compat.device(x) != self.device:
                x = array_api_compat.to_device(x, self.device)
            return x if x.dtype == dtype else self.xp.astype(x, dtype)
        return self.xp.asarray(np.ascontiguousarray(to_numpy(x)), dtype=dtype, device=self.device)

    def owns(self, x):
        """Whether ``x`` is an array of this backend's library (on any of its devices); False for scalars."""
        return self.library.is_array(x)

    def to_numpy(self, x):
        return to_numpy(x)

    def upload(self, host):
        """A host batch (NumPy, floats already in the backend's dtype) on the device.

        On a GPU the copy goes through page-locked memory without making the host wait, where the
        library offers it (CuPy, torch on CUDA); JAX copies asynchronously by itself. Called by the
        thread that reads batches ahead, so that the copy overlaps the step that runs meanwhile.
        """
        if self.is_gpu:
            return self.library.upload_async(self, host)
        return self.from_host(host)

    def from_host(self, host):
        """A host (NumPy) array on this backend: floats in the backend's dtype, integers keep theirs."""
        host = np.asarray(host)
        if host.dtype.kind == "f":
            return self.asarray(host)
        return self.asarray(host, dtype=getattr(self.xp, host.dtype.name))

    # -- what data-parallel training asks of the library (see anyarray_nn.distributed) -------------
    def derive_rng(self, *keys):
        """Switch the host generator to a stream derived from ``keys`` (ints): a rank's own stream."""
        self.rng = np.random.default_rng(list(keys))
        self._device_generator = None

    def broadcast(self, comm, arrays, root=0):
        """``root``'s ``arrays`` (a list of arrays of this backend) on every process of ``comm``."""
        flat = np.concatenate([np.asarray(self.to_numpy(a), dtype=np.float64).reshape(-1) for a in arrays])
        comm.Bcast(flat, root=root)
        out, start = [], 0
        for a in arrays:
            size = int(np.prod(a.shape))
            out.append(self.asarray(flat[start : start + size].reshape(tuple(a.shape))))
            start += size
        return out

    def allreduce_sum(self, comm, flat):
        """The element-wise sum of the 1-D array ``flat`` over the processes of ``comm``, on this device."""
        return self.library.allreduce_sum(self, comm, flat)

    def index_array(self, idx):
        """A host integer index array as a device ``int64`` array (for ``xp.take``)."""
        return self.xp.asarray(np.asarray(idx, dtype=np.int64), device=self.device)

    def has_values(self, x):
        """Whether the values of the array ``x`` can be read now.

        False for arrays that only describe a computation: JAX tracers inside ``jax.jit``, ndonnx
        arrays with a symbolic dimension, torch tensors on the ``meta`` device. Input checks that read
        values are skipped for them (there is nothing to read yet).
        """
        return self.library.has_values(x)

    def materialize(self, arrays):
        """Compute ``arrays`` now when the library is lazy, so their graphs stop growing.

        Parameters
        ----------
        arrays : array, or list / tuple / dict nesting arrays
            Parameters and optimizer state, say; called once per epoch.

        Returns
        -------
        The same structure: Dask arrays persisted in one ``dask.persist`` call, other libraries' arrays
        unchanged.
        """
        return self.library.materialize(arrays)

    # ----------------------------------------------------------------------------------------------
    # fused products
    def matmul_add(self, C, A, B):
        """``C + A @ B``, written into ``C`` where the library allows it, in one BLAS call where it has one.

        Parameters
        ----------
        C : array, shape (m, n)
            May be overwritten: use only the returned array afterwards.
        A : array, shape (m, k)
        B : array, shape (k, n)
        """
        return self.library.matmul_add(C, A, B)

    # ----------------------------------------------------------------------------------------------
    # random numbers, all from one host generator
    def normal(self, shape, std=1.0):
        """Normal(0, std) samples of ``shape`` on the device, in the backend dtype."""
        return self.asarray(self.rng.standard_normal(shape) * std)

    def uniform(self, shape, low, high):
        """Uniform[low, high) samples of ``shape`` on the device, in the backend dtype."""
        return self.asarray(self.rng.uniform(low, high, size=shape))

    def permutation(self, n, host=False):
        """A random permutation of ``range(n)`` as a device integer array (a NumPy one with ``host=True``).

        Drawn on the host (the same order on every backend for a seed, and for in-memory data and data
        read from a source). On a GPU it travels through page-locked memory in an asynchronous copy
        where the library offers one: a plain copy from pageable memory would make the host wait for
        the device once more per epoch.
        """
        order = self.rng.permutation(n)
        if host:
            return order
        if self.is_gpu:
            return self.library.upload_async(self, order)
        return self.index_array(order)

    def dropout_mask(self, shape, rate):
        """Inverted-dropout mask: ``keep / (1 - rate)`` with ``keep ~ Bernoulli(1 - rate)``.

        On the CPU backends the mask comes from the host generator, so a seed reproduces it on all of
        them. On a GPU a host-drawn mask would cost a host-to-device copy per batch (and a wait), so the
        library's own device generator draws it, seeded once from the host generator: reproducible on
        that backend, but not equal to the CPU masks.
        """
        if self.is_gpu:
            keep = self._device_uniform(shape) >= rate
            return self.xp.astype(keep, self.dtype) * (1.0 / (1.0 - rate))
        keep = self.rng.random(shape) >= rate
        return self.asarray(keep / (1.0 - rate))

    @property
    def is_gpu(self):
        return self.library.is_gpu(self.device)

    def _device_uniform(self, shape):
        """U[0, 1) samples drawn on the device by the library's own generator."""
        if getattr(self, "_device_generator", None) is None:
            seed = int(self.rng.integers(2**62))
            self._device_generator = self.library.generator(seed, self.device)
        return self.library.uniform(self._device_generator, shape, self)

    def start_epoch(self):
        """Called by ``fit`` as each epoch starts: the device generator is reseeded from the host one.

        The host generator's state then determines every later epoch's dropout masks on a GPU too, so
        a fit resumed from a checkpoint (which saves the host state) draws the same masks as the
        uninterrupted run. It costs one generator setup per epoch.
        """
        self._device_generator = None

    def get_rng_state(self):
        return self.rng.bit_generator.state

    def set_rng_state(self, state):
        self.rng.bit_generator.state = state
        self._device_generator = None  # reseeded from the restored host state on first use

    def subtract_one_hot(self, A, labels):
        """``A - one_hot(labels)``, the fused softmax + cross-entropy gradient's numerator.

        Parameters
        ----------
        A : array, shape (m, k)
        labels : integer array, shape (m,)
            Class numbers ``0 .. k - 1``.

        Returns
        -------
        array, shape (m, k)
            ``A`` with 1 taken off ``A[i, labels[i]]`` in every row, as the library computes it best (a
            scatter on JAX).
        """
        return self.library.subtract_one_hot(self.xp, A, labels)

    # ----------------------------------------------------------------------------------------------
    @property
    def compiler(self):
        """The name of the library's compiler (``"jax.jit"``, ``"torch.compile"``), or None."""
        return self.library.compiler

    def compile(self, step, when="auto", donate=()):
        """``step`` compiled where the library has a compiler, and how it ran (for History and repr).

        Parameters
        ----------
        step : callable
            The pure training step (:func:`anyarray_nn.step.make_train_step`).
        when : {"auto", True, False}
            "auto" compiles where the library's compiler pays off by default (JAX); True compiles
            wherever there is a compiler (torch too); False never.
        donate : tuple of int, default ()
            Positions of ``step``'s arguments that the caller does not use after a call: the compiled
            code may write its results into their buffers (JAX's donation). Other libraries ignore it.

        Returns
        -------
        step : callable
            Compiled, or ``step`` itself.
        how : str
            ``"jax.jit"``, ``"torch.compile"`` or why not (``"eager: numpy has no compiler"``).
        """
        compiles, how = self.compile_plan(when)
        return (self.library.compile(step, donate) if compiles else step), how

    @property
    def compiled_takes_host(self):
        """Whether a compiled step may be given NumPy arrays, which its call moves to the device itself."""
        return self.library.compiled_takes_host

    def trace_errors(self):
        """The errors :meth:`compile`'s compiler raises for a function it cannot trace (a tuple)."""
        return self.library.trace_errors()

    def is_deleted(self, x):
        """Whether ``x``'s buffer was donated to a compiled call (JAX) and can no longer be read."""
        return self.library.is_deleted(x)

    def compile_plan(self, when="auto"):
        """``(compiles, how)``: whether :meth:`compile` with ``when`` compiles, and its ``how``."""
        lib = self.library
        if when is False:
            return False, "eager: compile=False"
        if lib.compiler is None:
            return False, f"eager: {self.name} has no compiler"
        if when == "auto" and not lib.compile_by_default:
            return False, f"eager: {lib.compiler} only with compile=True"
        return True, lib.compiler

    def synchronize(self):
        """Wait until the device has finished queued work (before a clock is read)."""
        self.library.synchronize(self.device)

    def info(self):
        """A dict describing this backend: library, version, device and dtype."""
        version = getattr(importlib.import_module(self.library.package), "__version__", "?")
        return {"backend": self.name, "version": str(version), "device": self.device_str, "dtype": self.dtype_name}


def to_numpy(x):
    """Copy an array of any library (or a list of numbers) to a NumPy array on the host.

    For I/O, reports and tests; the training math never calls it.

    Raises
    ------
    TypeError
        When the result would be an array of Python objects: ``x`` is no array of numbers (``numpy``
        wraps anything it cannot read in a 0-d object array).
    """
    if isinstance(x, np.ndarray):
        out = x
    else:
        lib = library_of(x)
        out = (lib or Library()).to_numpy(x)
    if out.dtype == object:
        raise TypeError(
            f"to_numpy needs an array of numbers, got {type(x).__module__}.{type(x).__qualname__}, "
            f"which converts to an array of Python objects."
        )
    return out


def fresh_writeable(x):
    """Whether ``x``, a new result of an array operation, may be written into (``x += y``).

    A new result of NumPy, CuPy or torch may be, one of JAX or array_api_strict may not. The answer is
    ``array_api_compat.is_writeable_array``'s for the first array of each type, then kept: for a fresh
    result it depends on the library alone, and asking again costs about a microsecond a call, several
    times a training step. Not for arrays a caller gave (a read-only NumPy array is a fresh result's type).
    """
    kind = type(x)
    answer = _FRESH_WRITEABLE.get(kind)
    if answer is None:
        answer = _FRESH_WRITEABLE[kind] = bool(array_api_compat.is_writeable_array(x))
    return answer


_FRESH_WRITEABLE = {}


def namespace_of(*arrays):
    """The array-api-compat namespace of ``arrays`` (NumPy for lists and scalars)."""
    arrays = [a for a in arrays if a is not None and not isinstance(a, (list, tuple, int, float))]
    if not arrays:
        return array_api_compat.numpy
    return array_api_compat.array_namespace(*arrays)


#: The dtypes of each kind from the widest down, for :func:`widest_dtype`.
_WIDEST = {"integral": ("int64", "int32", "int16"), "real floating": ("float64", "float32")}


def widest_dtype(xp, device, kind):
    """The widest dtype of ``kind`` (``"integral"`` or ``"real floating"``) ``xp`` makes on ``device``.

    int64 / float64, or int32 / float32 where the library has no 64-bit types there (JAX unless 64-bit
    types are enabled; asking JAX for int64 anyway gives int32 and a UserWarning each time).
    """
    info = xp.__array_namespace_info__()
    try:
        have = info.dtypes(device=device, kind=kind)
    except (TypeError, ValueError):  # a library whose info takes no device
        have = info.dtypes(kind=kind)
    for name in _WIDEST[kind]:
        if name in have:
            return have[name]
    return info.default_dtypes(device=device)[kind]


def _host_dtype_for(xp, device, host):
    """The NumPy dtype ``host`` must have to become an array of ``xp`` on ``device`` without a warning."""
    kind = {"i": "integral", "u": "integral", "f": "real floating"}.get(host.dtype.kind)
    if kind is None:
        return host.dtype
    info = xp.__array_namespace_info__()
    try:
        have = info.dtypes(device=device, kind=kind)
    except (TypeError, ValueError):
        have = info.dtypes(kind=kind)
    if host.dtype.name in have:
        return host.dtype
    return np.dtype(str(widest_dtype(xp, device, kind)).rsplit(".", 1)[-1])


def common_library(*arrays):
    """``arrays`` (of any libraries, lists or NumPy) as arrays of one library on one device.

    The library and device are those of the first argument that is neither NumPy nor a list (NumPy
    when all are): an array of another library or device is copied there through the host, keeping its
    dtype where the library has it (int64 labels become int32 on JAX without 64-bit types). So a metric
    takes NumPy test labels with Dask, JAX or torch predictions, or any two libraries at once.

    Returns
    -------
    xp : namespace
        The array-api-compat namespace of the result.
    arrays : list
        In the order given; None stays None.

    Raises
    ------
    TypeError
        When an argument is no array of numbers (from :func:`to_numpy`).
    """
    lead = next((a for a in arrays if a is not None and library_of(a) not in (None, LIBRARIES["numpy"])), None)
    if lead is None:
        xp = array_api_compat.numpy
        return xp, [None if a is None else a if isinstance(a, np.ndarray) else np.asarray(to_numpy(a)) for a in arrays]
    xp = array_api_compat.array_namespace(lead)
    lib, device = library_of(lead), array_api_compat.device(lead)
    out = []
    for a in arrays:
        if a is None or a is lead:
            out.append(a)
        elif library_of(a) is lib:
            out.append(a if array_api_compat.device(a) == device else array_api_compat.to_device(a, device))
        else:
            host = np.asarray(to_numpy(a))
            host = host.astype(_host_dtype_for(xp, device, host), copy=False)
            if not host.flags.writeable:  # a read-only DLPack view (JAX): torch warns about those
                host = host.copy()
            out.append(xp.asarray(host, device=device))
    return xp, out


def random_permutation(n, seed=None):
    """A permutation of ``range(n)`` as a list of ints, from a generator seeded with ``seed``."""
    return np.random.default_rng(seed).permutation(n).tolist()


# PCG64, the host generator of every backend: its state as numpy.random.PCG64().state has it.
_RNG_KEYS = {"bit_generator", "state", "has_uint32", "uinteger"}


def rng_state_mismatch(rng):
    """Why ``rng`` is not a state of the backends' host generator (PCG64) ('' when it is)."""
    if not isinstance(rng, dict) or set(rng) != _RNG_KEYS:
        return f"expected a dict with the entries {sorted(_RNG_KEYS)}"
    if rng["bit_generator"] != "PCG64":
        return f"the generator must be 'PCG64', got {rng['bit_generator']!r}"
    inner = rng["state"]
    if not isinstance(inner, dict) or set(inner) != {"state", "inc"}:
        return "its 'state' must be a dict with the entries ['inc', 'state']"
    for name, value, bound in (
        ("state", inner["state"], 2**128),
        ("inc", inner["inc"], 2**128),
        ("has_uint32", rng["has_uint32"], 2),
        ("uinteger", rng["uinteger"], 2**32),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
            return f"{name!r} must be an integer in [0, {bound}), got {value!r}"
    try:
        # Tried on a scratch generator, so a state numpy refuses is a file error now rather than later.
        np.random.PCG64().state = rng
    except (TypeError, ValueError, OverflowError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def fresh_entropy():
    """63 bits of fresh entropy, for a stream that must be shared (data-parallel ranks without a seed)."""
    return int(np.random.SeedSequence().entropy % 2**63)
