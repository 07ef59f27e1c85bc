"""Plots: PNG files that decode, have the size asked for, and are not blank."""

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402

import anyarray_nn as ann  # noqa: E402
from anyarray_nn import metrics, plotting  # noqa: E402


def _png(path, width, height):
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (height, width)
    assert float(np.var(image[..., :3])) > 0.0  # not a blank canvas
    return image


def test_history_plot_with_accuracy(tmp_path, iris_split):
    Xtr, Xte, ytr, yte = iris_split
    model = ann.Model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], backend="numpy", seed=0)
    settings = ann.Settings(epochs=5, verbose=0)
    history = model.fit(Xtr, ytr, ann.Solver(learning_rate=0.1), settings, validation_data=(Xte, yte))
    path = plotting.plot_history(history, tmp_path / "curves" / "history.png", title="iris")
    _png(path, 1000, 400)


def test_history_plot_of_a_regression_has_one_panel(tmp_path):
    history = {"loss": [3.0, 2.0, 1.5, 1.2], "val_loss": [3.2, 2.4, 1.9, 1.7]}
    image = _png(plotting.plot_history(history, tmp_path / "h.png", figsize=(6.0, 4.0)), 600, 400)
    assert image.shape[1] == 600


def test_history_plot_needs_epochs(tmp_path):
    with pytest.raises(ValueError, match="no recorded epochs"):
        plotting.plot_history({"loss": []}, tmp_path / "h.png")
    with pytest.raises(TypeError, match="History"):
        plotting.plot_history([1, 2], tmp_path / "h.png")


def test_confusion_matrix_heatmap(bk, tmp_path):
    """A confusion matrix of any backend is drawn (moved to the host for the picture only)."""
    y_true = np.random.default_rng(0).integers(0, 3, 100)
    C = metrics.confusion_matrix(bk.asarray(y_true), bk.asarray(np.roll(y_true, 1)), n_classes=3)
    _png(plotting.plot_confusion_matrix(C, tmp_path / "cm.png", class_names=["a", "b", "c"]), 500, 450)


def test_confusion_matrix_heatmap_grows_with_classes(tmp_path):
    C = np.random.default_rng(1).integers(0, 30, (10, 10))
    _png(plotting.plot_confusion_matrix(C, tmp_path / "cm.png"), 750, 700)


def test_confusion_matrix_checks_names(tmp_path):
    with pytest.raises(ValueError, match="2 names for 3 classes"):
        plotting.plot_confusion_matrix(np.eye(3), tmp_path / "cm.png", class_names=["a", "b"])
    with pytest.raises(ValueError, match="square"):
        plotting.plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "cm.png")


def test_predictions_plot(tmp_path):
    y = np.linspace(-1.0, 1.0, 50)
    _png(plotting.plot_predictions(y, y + 0.1 * np.sin(7 * y), tmp_path / "p.png"), 500, 500)


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "\.\[plot\]" in the anyarray_nn checkout'):
        plotting.plot_history({"loss": [1.0]}, tmp_path / "h.png")

