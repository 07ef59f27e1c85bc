"""anyarray_nn: a from-scratch multilayer perceptron written once against the Python Array API standard.

The same forward, backward and update code runs on NumPy, CuPy, torch and any Array API library.
"""

from . import activations, datasets, initializers, losses, metrics, optimizers, plotting, preprocessing, schedules
from .backend import Backend, to_numpy
from .export import export_onnx
from .gradcheck import gradcheck
from .io import ModelFileError, load, save
from .layers import Layer
from .model import ForwardCache, Model
from .regularization import Regularization
from .training import EarlyStopping, History, Settings, Solver

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "EarlyStopping",
    "ForwardCache",
    "History",
    "Layer",
    "Model",
    "ModelFileError",
    "Regularization",
    "Settings",
    "Solver",
    "activations",
    "datasets",
    "export_onnx",
    "gradcheck",
    "initializers",
    "load",
    "losses",
    "metrics",
    "optimizers",
    "plotting",
    "preprocessing",
    "schedules",
    "save",
    "to_numpy",
    "__version__",
]
