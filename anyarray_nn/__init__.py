"""anyarray_nn: a from-scratch multilayer perceptron written once against the Python Array API standard.

The same forward, backward and update code runs on NumPy, CuPy, torch, JAX, Dask and any Array API library.
"""

from . import activations, callbacks, datasets, diagnostics, distributed, initializers, losses, metrics, network, optimizers, plotting, preprocessing, runner, schedules, sources, step, weighting
from ._version import __version__
from .backend import Backend, to_numpy
from .callbacks import Callback, EarlyStopping, History
from .diagnostics import TrainingDiagnostics
from .export import export_onnx
from .gradcheck import gradcheck
from .io import ModelFileError
from .layers import Layer
from .model import Model
from .narrate import narrate_step
from .network import ForwardCache
from .regularization import Regularization
from .saving import load, save
from .training import Settings, Solver

__all__ = [
    "Backend",
    "Callback",
    "EarlyStopping",
    "ForwardCache",
    "History",
    "Layer",
    "Model",
    "ModelFileError",
    "Regularization",
    "Settings",
    "Solver",
    "TrainingDiagnostics",
    "activations",
    "datasets",
    "diagnostics",
    "export_onnx",
    "gradcheck",
    "initializers",
    "load",
    "losses",
    "metrics",
    "narrate_step",
    "optimizers",
    "plotting",
    "preprocessing",
    "schedules",
    "save",
    "to_numpy",
    "__version__",
]
