"""Saving and loading models: :func:`save` and :func:`load` join the Model's state description
(:meth:`~anyarray_nn.Model.get_state` / :meth:`~anyarray_nn.Model.from_state`) and the file format
(:mod:`anyarray_nn.io`: one ``.npz`` with a JSON header, never pickle, written atomically).
"""

from __future__ import annotations

import os

from . import io
from .model import Model


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
        When a component (activation, loss, optimizer, schedule) is not in its name registry and so
        could not be rebuilt on loading; or when the weights or the optimizer state hold NaN or
        infinite values (see below).

    Notes
    -----
    A model whose weights or optimizer state hold NaN or infinities is refused here, with a ValueError
    naming each such array (``layers[1].W``, ``optimizer_state['v'][2]``) and how many of its values
    are NaN or infinite; nothing is written and an existing file at ``path`` is left as it was.
    :func:`load` refuses such values too (they are how a damaged file shows), so a file is never
    written that could not be loaded back. Such values come from a diverged fit, whose
    :class:`~anyarray_nn.callbacks.DivergenceGuard` normally keeps the last finite weights; when only
    the optimizer state is spoiled, ``model.optimizer_state_ = None`` saves the weights without it.
    A History that recorded a NaN loss is saved as it is. Checkpoints written during ``fit`` follow
    the same rule.
    """
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model, got {type(model).__name__}.")
    path = io.check_writable_path(path, "path")
    header, arrays = model.get_state()
    io.write_model_file(path, header, arrays)


def load(path, backend="auto", device=None, dtype=None):
    """Load a model saved by :func:`save` (or a checkpoint) onto any backend.

    Parameters
    ----------
    path : str or os.PathLike
    backend : str or module, default "auto"
        Where the model goes; need not be the backend it was saved from (see :class:`~anyarray_nn.Backend`).
    device : optional
        Device on that backend.
    dtype : {"float32", "float64"}, optional
        Default: the dtype it was saved with. Loading float64 weights beyond float32's range as float32
        is refused.

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
        When the file is not a valid model file, naming what is wrong (see docs/saving.md, "Safe to open").
    ValueError, ImportError, RuntimeError
        For a ``backend``, ``device`` or ``dtype`` that :class:`~anyarray_nn.Model` refuses.
    """
    header, arrays = io.read_model_file(path)
    return Model.from_state(header, arrays, backend=backend, device=device, dtype=dtype, source=os.fspath(path))
