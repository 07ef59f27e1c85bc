"""Decision boundaries and the network diagram: any backend, any classifier output, clear errors."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import anyarray_nn as ann  # noqa: E402
from anyarray_nn import plotting  # noqa: E402


def _image(path, size):
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (size[1], size[0])
    assert float(np.var(image[..., :3])) > 0.0
    return image


def test_softmax_boundary_on_any_backend(bk, tmp_path):
    X, y = ann.datasets.make_spirals(90, n_classes=3, seed=0)
    model = bk.model([ann.Layer(2, 16, "relu"), ann.Layer(16, 3, "softmax")], seed=0)
    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.02), ann.Settings(epochs=5, batch_size=30, verbose=0))
    path = plotting.plot_decision_boundary(model, bk.asarray(X), y, tmp_path / "b.png", resolution=40, title="spirals")
    _image(path, (550, 500))


def test_sigmoid_boundary_and_one_hot_labels_and_axes(tmp_path):
    pytest.importorskip("array_api_strict")
    X, y = ann.datasets.make_moons(80, seed=0)
    model = ann.Model([ann.Layer(2, 8, "tanh"), ann.Layer(8, 1, "sigmoid")], backend="array_api_strict", device="device1", seed=0)
    model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=0.05), ann.Settings(epochs=5, verbose=0))
    _image(plotting.plot_decision_boundary(model, X, y, tmp_path / "s.png", resolution=30), (550, 500))
    # One-hot labels give the same picture; an Axes of a larger figure is drawn on and returned.
    fig = Figure(figsize=(8, 4))
    left, right = fig.subplots(1, 2)
    assert plotting.plot_decision_boundary(model, X, np.eye(2)[y], ax=left, resolution=20, class_names=["a", "b"]) is left
    assert plotting.plot_decision_boundary(model, X, ax=right, resolution=20) is right
    assert "accuracy" in left.get_title() and right.get_title() == ""
    FigureCanvasAgg(fig)
    fig.savefig(tmp_path / "two.png")


class _HalfPlane:
    """A classifier without the library: class 1 right of x0 = 0, with scikit-learn's two-column output."""

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-20.0 * np.asarray(X)[:, 0]))
        return np.stack([1.0 - p, p], axis=1)


def test_regions_have_their_class_colour(tmp_path):
    X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    path = plotting.plot_decision_boundary(_HalfPlane(), X, y, tmp_path / "h.png", resolution=50, padding=0.5,
                                           mark_errors=False)
    image = _image(path, (550, 500))[..., :3]
    # Sample the plot area away from the points: left blue (class 0), right orange (class 1).
    row = image.shape[0] // 2
    cols = np.where(np.abs(image[row] - 1.0).sum(axis=1) > 0.05)[0]  # non-white pixels of that row
    left, right = image[row, cols[5]], image[row, cols[-5]]
    assert left[2] > left[0]   # blue
    assert right[0] > right[2]  # orange


def test_decision_boundary_errors(tmp_path):
    X, y = ann.datasets.make_moons(20, seed=0)
    clf = ann.Model([ann.Layer(2, 3, "relu"), ann.Layer(3, 2, "softmax")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="needs `path`"):
        plotting.plot_decision_boundary(clf, X, y)
    with pytest.raises(ValueError, match=r"`X` must have shape \(n_samples, 2\)"):
        plotting.plot_decision_boundary(clf, np.zeros((5, 3)), path=tmp_path / "x.png")
    with pytest.raises(TypeError, match="predict_proba"):
        plotting.plot_decision_boundary(object(), X, path=tmp_path / "x.png")
    regressor = ann.Model([ann.Layer(2, 3, "relu"), ann.Layer(3, 1, "linear")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="needs a classifier"):
        plotting.plot_decision_boundary(regressor, X, y, tmp_path / "x.png")
    multi = ann.Model([ann.Layer(2, 3, "relu"), ann.Layer(3, 2, "sigmoid")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="multi-label"):
        plotting.plot_decision_boundary(multi, X, y, tmp_path / "x.png")
    with pytest.raises(ValueError, match="`resolution`"):
        plotting.plot_decision_boundary(clf, X, y, tmp_path / "x.png", resolution=5)
    with pytest.raises(ValueError, match="different numbers of samples"):
        plotting.plot_decision_boundary(clf, X, y[:5], tmp_path / "x.png")
    with pytest.raises(ValueError, match="`class_names` has 3 names"):
        plotting.plot_decision_boundary(clf, X, y, tmp_path / "x.png", class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="labels outside 0..1"):
        plotting.plot_decision_boundary(clf, X, y + 2, tmp_path / "x.png")
    wide = ann.Model([ann.Layer(3, 3, "relu"), ann.Layer(3, 2, "softmax")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="takes 3 features"):
        plotting.plot_decision_boundary(wide, X, y, tmp_path / "x.png")


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_network_diagram(tmp_path, layout):
    model = ann.Model([ann.Layer(3, 20, "relu"), ann.Layer(20, 4, "tanh"), ann.Layer(4, 1, "sigmoid")], backend="numpy", seed=0)
    path = plotting.plot_network(model, tmp_path / "n.png", batch_size=32, layout=layout)
    _image(path, (920, 520))


def test_network_diagram_errors(tmp_path):
    model = ann.Model([ann.Layer(3, 2, "relu"), ann.Layer(2, 1, "sigmoid")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="`layout`"):
        plotting.plot_network(model, tmp_path / "n.png", layout="col")
    with pytest.raises(ValueError, match="`max_units`"):
        plotting.plot_network(model, tmp_path / "n.png", max_units=2)
    with pytest.raises(ValueError, match="`batch_size`"):
        plotting.plot_network(model, tmp_path / "n.png", batch_size=0)
    with pytest.raises(TypeError, match="Model with layers"):
        plotting.plot_network(object(), tmp_path / "n.png")
