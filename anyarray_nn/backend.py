"""Backends: the one module that knows which array library is underneath.

Everything here is library specific on purpose: resolving a name to an Array API namespace, picking the
device, random numbers (the Array API standard has none), moving data to and from the host, and
synchronizing a device before a clock is read. The math modules only ever see ``backend.xp``.

Random numbers are drawn on the host by one seeded NumPy generator and moved to the device, so the same
seed gives the same initial weights and the same shuffling order on every backend.
"""

from __future__ import annotations

import types
import warnings

import array_api_compat
import array_api_compat.numpy  # noqa: F401  (the submodule is the NumPy namespace)
import numpy as np

BACKENDS = ("numpy", "cupy", "torch", "array_api_strict", "auto")
DTYPES = ("float32", "float64")

# The pip extra that provides each optional backend, named in the ImportError a user sees.
_EXTRAS = {
    "cupy": "pip install 'anyarray-nn[cuda12]' (or [cuda13], matching your CUDA toolkit)",
    "torch": "pip install torch",
    "array_api_strict": "pip install 'anyarray-nn[test]' (or pip install array-api-strict)",
}


def _import(name):
    try:
        return __import__(name)
    except ImportError as exc:
        msg = f"backend={name!r} needs the {name!r} package, which is not installed: {_EXTRAS[name]}."
        raise ImportError(msg) from exc


def _cuda_device_count(cupy):
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, no device or a broken CUDA install all mean: no GPU
        return 0


def _name_of_namespace(ns):
    """Map a namespace (module) a user passed to the backend name it stands for."""
    checks = (
        ("numpy", array_api_compat.is_numpy_namespace),
        ("cupy", array_api_compat.is_cupy_namespace),
        ("torch", array_api_compat.is_torch_namespace),
        ("array_api_strict", array_api_compat.is_array_api_strict_namespace),
    )
    for name, check in checks:
        if check(ns):
            return name
    return None


class Backend:
    """An array library, a device on it and a floating dtype, plus a seeded random generator.

    Parameters
    ----------
    backend : {"numpy", "cupy", "torch", "array_api_strict", "auto"} or module, default "auto"
        The array library. ``"auto"`` takes CuPy when it imports and a CUDA device is present, else
        NumPy; the reason for the choice is kept in :attr:`note` and shown in the repr. A module
        (``numpy``, ``cupy``, ``torch``, ``array_api_strict`` or their array-api-compat wrappers) is
        accepted as well.
    device : optional
        Device on that library: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, an integer GPU index,
        ``"device1"`` for array_api_strict, or a native device object. Default: the library's default.
    dtype : {"float32", "float64"}, default "float32"
    seed : int or None
        Seed of the generator behind initial weights, shuffling and dropout masks.
    """

    def __init__(self, backend="auto", device=None, dtype="float32", seed=None):
        self.note = ""
        name = self._resolve_name(backend)
        self.name = name
        self.xp, self.device = self._namespace_and_device(name, device)
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
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    # ----------------------------------------------------------------------------------------------
    # resolution
    def _resolve_name(self, backend):
        if isinstance(backend, types.ModuleType):
            name = _name_of_namespace(backend)
            if name is None:
                raise ValueError(
                    f"Unsupported array namespace {backend.__name__!r} for `backend`; expected one of "
                    f"numpy, cupy, torch, array_api_strict (or their names as strings)."
                )
            return name
        if not isinstance(backend, str):
            raise TypeError(f"`backend` must be a string or an array namespace, got {type(backend).__name__}.")
        if backend not in BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}; expected one of {list(BACKENDS)}.")
        if backend != "auto":
            return backend
        try:
            import cupy
        except ImportError:
            self.note = "auto: CuPy is not installed, using NumPy on the CPU"
            return "numpy"
        if _cuda_device_count(cupy) == 0:
            self.note = "auto: CuPy imports but no CUDA device is present, using NumPy on the CPU"
            warnings.warn(f"backend='auto' fell back to NumPy: {self.note[6:]}.", RuntimeWarning, stacklevel=4)
            return "numpy"
        self.note = "auto: CUDA device found, using CuPy"
        return "cupy"

    def _namespace_and_device(self, name, device):
        if name == "numpy":
            if device not in (None, "cpu"):
                raise ValueError(f"backend='numpy' runs on the CPU only; `device` must be None or 'cpu', got {device!r}.")
            return array_api_compat.numpy, "cpu"
        if name == "cupy":
            cupy = _import("cupy")
            if _cuda_device_count(cupy) == 0:
                raise RuntimeError("backend='cupy' needs a CUDA device, and none is visible.")
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
            import array_api_compat.cupy as xp

            return xp, cupy.cuda.Device(index)
        if name == "torch":
            torch = _import("torch")
            import array_api_compat.torch as xp

            if isinstance(device, int):
                device = f"cuda:{device}"
            try:
                dev = torch.device("cpu" if device is None else device)
            except (RuntimeError, TypeError) as exc:
                raise ValueError(f"Invalid `device` {device!r} for backend='torch': {exc}") from None
            if dev.type == "cuda" and not torch.cuda.is_available():
                raise RuntimeError(f"`device`={device!r} asks for CUDA, but torch sees no CUDA device.")
            return xp, dev
        if name == "array_api_strict":
            xp = _import("array_api_strict")
            if device is None:
                return xp, xp.Device("CPU_DEVICE")
            if isinstance(device, str):
                try:
                    return xp, xp.Device(device)
                except ValueError:
                    raise ValueError(
                        f"Invalid `device` {device!r} for backend='array_api_strict'; expected one of "
                        f"{[d._device for d in xp.__array_namespace_info__().devices()]}."
                    ) from None
            return xp, device
        raise AssertionError(name)  # unreachable: names are checked above

    def __repr__(self):
        note = f", note={self.note!r}" if self.note else ""
        return f"Backend(name={self.name!r}, device={self.device_str}, dtype={self.dtype_name!r}{note})"

    @property
    def device_str(self):
        """A short printable name of the device ("cpu", "cuda:0", "device1")."""
        if self.name == "cupy":
            return f"cuda:{self.device.id}"
        if self.name == "array_api_strict":
            return str(self.device._device)
        return str(self.device)

    # ----------------------------------------------------------------------------------------------
    # data movement
    def asarray(self, x, dtype=None):
        """Move ``x`` (NumPy, list, or an array of any supported library) to this backend and device.

        The dtype is the backend's float dtype unless another one of ``xp`` is given.
        """
        dtype = self.dtype if dtype is None else dtype
        if self.owns(x):
            if getattr(x, "requires_grad", False):
                # Inputs come in without autograd history: the library computes its own gradients.
                x = x.detach()
            if x.device != self.device:
                x = self._to_device(x, self.device)
            return x if x.dtype == dtype else self.xp.astype(x, dtype)
        return self.xp.asarray(np.ascontiguousarray(to_numpy(x)), dtype=dtype, device=self.device)

    def owns(self, x):
        """Whether ``x`` is an array of this backend's library (on any of its devices)."""
        if self.name == "numpy":
            return array_api_compat.is_numpy_array(x)
        if self.name == "cupy":
            return array_api_compat.is_cupy_array(x)
        if self.name == "torch":
            return array_api_compat.is_torch_array(x)
        return array_api_compat.is_array_api_strict_namespace(getattr(x, "__array_namespace__", lambda: None)())

    def _to_device(self, x, device):
        return array_api_compat.to_device(x, device)

    def to_numpy(self, x):
        return to_numpy(x)

    def index_array(self, idx):
        """A host integer index array as a device ``int64`` array (for ``xp.take``)."""
        return self.xp.asarray(np.asarray(idx, dtype=np.int64), device=self.device)

    # ----------------------------------------------------------------------------------------------
    # random numbers, all from one host generator
    def normal(self, shape, std=1.0):
        """Normal(0, std) samples of ``shape`` on the device, in the backend dtype."""
        return self.asarray(self.rng.standard_normal(shape) * std)

    def uniform(self, shape, low, high):
        """Uniform[low, high) samples of ``shape`` on the device, in the backend dtype."""
        return self.asarray(self.rng.uniform(low, high, size=shape))

    def permutation(self, n):
        """A random permutation of ``range(n)`` as a device integer array.

        Drawn on the host (the same order on every backend for a seed). On a GPU it travels through
        page-locked memory in an asynchronous copy: a plain copy from pageable memory would make the
        host wait for the device once more per epoch.
        """
        order = self.rng.permutation(n)
        if self.is_gpu:
            return self._upload_async(order)
        return self.index_array(order)

    def _upload_async(self, host):
        """Copy the int64 host array ``host`` to the GPU without waiting for the device."""
        if self.name == "torch":
            import torch

            if self.device.type != "cuda":  # page-locking needs CUDA
                return self.index_array(host)
            return torch.from_numpy(host).pin_memory().to(self.device, non_blocking=True)
        import cupy
        import cupyx

        with self.device:
            pinned = cupyx.empty_pinned(host.shape, dtype=np.int64)
            pinned[...] = host
            out = cupy.empty(host.shape, dtype=cupy.int64)
            out.set(pinned, stream=cupy.cuda.get_current_stream())
        # The copy reads the buffer after this returns: keep it alive until the next epoch's upload,
        # by which time the epoch's host read has waited for the device.
        self._pinned = pinned
        return out

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
        return self.name == "cupy" or (self.name == "torch" and self.device.type == "cuda")

    def _device_uniform(self, shape):
        """U[0, 1) samples drawn on the GPU by CuPy's or torch's generator."""
        if getattr(self, "_device_generator", None) is None:
            seed = int(self.rng.integers(2**62))
            if self.name == "cupy":
                import cupy

                with self.device:
                    self._device_generator = cupy.random.default_rng(seed)
            else:
                import torch

                self._device_generator = torch.Generator(device=self.device)
                self._device_generator.manual_seed(seed)
        if self.name == "cupy":
            with self.device:
                return self._device_generator.random(shape, dtype=self.dtype_name)
        import torch

        return torch.rand(shape, generator=self._device_generator, device=self.device, dtype=self.dtype)

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

    # ----------------------------------------------------------------------------------------------
    def synchronize(self):
        """Wait until the device has finished queued work (before a clock is read)."""
        if self.name == "cupy":
            import cupy

            cupy.cuda.Device(self.device.id).synchronize()
        elif self.name == "torch" and self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)

    def info(self):
        """A dict describing this backend: library, version, device and dtype."""
        module = {"numpy": "numpy", "cupy": "cupy", "torch": "torch", "array_api_strict": "array_api_strict"}[self.name]
        version = getattr(__import__(module), "__version__", "?")
        return {"backend": self.name, "version": str(version), "device": self.device_str, "dtype": self.dtype_name}


def to_numpy(x):
    """Copy an array of any supported library (or a list) to a NumPy array on the host.

    For I/O, reports and tests; the training math never calls it.
    """
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    ns = getattr(x, "__array_namespace__", None)
    if ns is not None and array_api_compat.is_array_api_strict_namespace(ns()):
        strict = ns()
        return np.asarray(x.to_device(strict.Device("CPU_DEVICE")))
    return np.asarray(x)


def namespace_of(*arrays):
    """The array-api-compat namespace of ``arrays`` (NumPy for lists and scalars)."""
    arrays = [a for a in arrays if a is not None and not isinstance(a, (list, tuple, int, float))]
    if not arrays:
        return array_api_compat.numpy
    return array_api_compat.array_namespace(*arrays)




def random_permutation(n, seed=None):
    """A permutation of ``range(n)`` as a list of ints, from a generator seeded with ``seed``."""
    return np.random.default_rng(seed).permutation(n).tolist()
