"""ONNX export: the graph ndonnx traces from the forward math agrees with predict_proba and predict."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ndonnx", reason="ONNX export needs ndonnx (pip install '.[onnx]')")
onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="running exported models needs onnxruntime")

import anyarray_nn as ann  # noqa: E402
from anyarray_nn import activations, cli  # noqa: E402
from anyarray_nn.pipeline import Pipeline  # noqa: E402

N_FEATURES = 6
BATCHES = (1, 7, 1000)
RTOL = {"float32": 1e-5, "float64": 1e-12}
# float32 linear outputs that cross zero: a value of ~1e-3 is a sum of terms of size ~1 whose rounding, in
# onnxruntime's summation order rather than NumPy's, is ~1e-7 of those terms, not of the small result.
# float64 agrees to rtol alone.
ATOL = {"float32": 1e-6, "float64": 0.0}


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).standard_normal((1000, N_FEATURES))


def _targets(X, output, n_out):
    """Targets the output layer trains on: class labels, 0/1 columns or values."""
    s = X[:, :3] @ np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 1.0]])
    if output == "softmax":
        return np.argmax(s[:, :n_out], axis=1)
    if output == "sigmoid":
        labels = (s[:, :n_out] > 0).astype(np.int64)
        return labels[:, 0] if n_out == 1 else labels
    return s[:, :n_out]


_MODELS = {}


def trained(X, hidden, output, n_out, dtype):
    """A NumPy model trained for a few epochs (so its weights are not the initial ones), cached per test module."""
    key = (hidden, output, n_out, dtype)
    if key not in _MODELS:
        layers = [ann.Layer(N_FEATURES, 8, hidden), ann.Layer(8, n_out, output)]
        model = ann.Model(layers, backend="numpy", dtype=dtype, seed=3)
        model.fit(X, _targets(X, output, n_out), settings=ann.Settings(epochs=3, batch_size=64, verbose=0))
        _MODELS[key] = model
    return _MODELS[key]


def run_onnx(path_or_proto, X):
    source = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X})))


def check_agrees(model, path, X, dtype):
    for n in BATCHES:
        rows = np.ascontiguousarray(X[:n], dtype=dtype)
        got = run_onnx(str(path), rows)
        proba = ann.to_numpy(model.predict_proba(rows))
        assert got["output"].dtype == np.dtype(dtype) and got["output"].shape == proba.shape
        np.testing.assert_allclose(got["output"], proba, rtol=RTOL[dtype], atol=ATOL[dtype])
        if model.output_activation in ("softmax", "sigmoid"):
            label = ann.to_numpy(model.predict(rows))
            assert got["label"].dtype == np.int64
            np.testing.assert_array_equal(got["label"], label)
        else:
            assert set(got) == {"output"}


CASES = [(h, "softmax", 3) for h in activations.names()] + [
    ("tanh", "sigmoid", 1),
    ("relu", "sigmoid", 3),
    ("elu", "linear", 1),
    ("silu", "linear", 2),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden, output, n_out", CASES, ids=[f"{h}-{o}{k}" for h, o, k in CASES])
def test_export_agrees_with_predict(tmp_path, X, hidden, output, n_out, dtype):
    model = trained(X, hidden, output, n_out, dtype)
    path = tmp_path / "model.onnx"
    proto = ann.export_onnx(model, path)
    assert path.is_file() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    onnx.checker.check_model(str(path), full_check=True)
    outputs = [o.name for o in proto.graph.output]
    assert outputs == (["output", "label"] if output in ("softmax", "sigmoid") else ["output"])
    check_agrees(model, path, X, dtype)


def _dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_batch_dimension_is_symbolic(tmp_path, X):
    model = trained(X, "relu", "sigmoid", 3, "float32")
    ann.export_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    (x,) = proto.graph.input
    assert x.name == "X" and _dims(x) == ["N", N_FEATURES]
    assert x.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    shapes = {o.name: _dims(o) for o in proto.graph.output}
    assert shapes == {"output": ["N", 3], "label": ["N", 3]}
    binary = trained(X, "tanh", "sigmoid", 1, "float32")
    shapes = {o.name: _dims(o) for o in ann.export_onnx(binary, tmp_path / "b.onnx").graph.output}
    assert shapes == {"output": ["N", 1], "label": ["N"]}


def test_dtype_can_differ_from_the_model(tmp_path, X):
    model = trained(X, "tanh", "softmax", 3, "float32")
    proto = ann.export_onnx(model, tmp_path / "m.onnx", dtype="float64")
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    got = run_onnx(str(tmp_path / "m.onnx"), X[:50])
    assert got["output"].dtype == np.float64
    # float32 weights widened exactly: agrees with the float32 model to float32 precision.
    np.testing.assert_allclose(got["output"], model.predict_proba(X[:50]), rtol=1e-5, atol=1e-6)


def test_opset(tmp_path, X):
    model = trained(X, "relu", "softmax", 3, "float32")
    default = ann.export_onnx(model, tmp_path / "a.onnx")
    version = {o.domain: o.version for o in default.opset_import}[""]
    assert version >= 20
    newer = ann.export_onnx(model, tmp_path / "b.onnx", opset=version + 1)
    assert {o.domain: o.version for o in newer.opset_import}[""] == version + 1
    np.testing.assert_array_equal(run_onnx(str(tmp_path / "b.onnx"), X[:20].astype(np.float32))["output"],
                                  run_onnx(str(tmp_path / "a.onnx"), X[:20].astype(np.float32))["output"])
    with pytest.raises(ValueError, match="`opset` 9 cannot be reached"):
        ann.export_onnx(model, tmp_path / "c.onnx", opset=9)
    assert not (tmp_path / "c.onnx").exists()
    with pytest.raises(ValueError, match="`opset` must be between 1 and"):
        ann.export_onnx(model, tmp_path / "c.onnx", opset=10_000)
    with pytest.raises(TypeError, match="`opset` must be None or an int"):
        ann.export_onnx(model, tmp_path / "c.onnx", opset="21")


def test_bad_arguments(tmp_path, X):
    model = trained(X, "relu", "softmax", 3, "float32")
    with pytest.raises(TypeError, match="`model` must be an anyarray_nn Model"):
        ann.export_onnx("model.npz", tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="`path` must be a str or os.PathLike"):
        ann.export_onnx(model, 3)
    with pytest.raises(ValueError, match="`path` .* is a folder"):
        ann.export_onnx(model, tmp_path)
    with pytest.raises(FileNotFoundError, match="of `path` does not exist"):
        ann.export_onnx(model, tmp_path / "missing" / "m.onnx")
    with pytest.raises(ValueError, match=r"`dtype` must be None or one of \['float32', 'float64'\], got 'float16'"):
        ann.export_onnx(model, tmp_path / "m.onnx", dtype="float16")
    with pytest.raises(TypeError, match="`dtype` must be None or one of"):
        ann.export_onnx(model, tmp_path / "m.onnx", dtype=np.float32)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_whole(tmp_path, X):
    model = trained(X, "relu", "softmax", 3, "float32")
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(ValueError):
        ann.export_onnx(model, path, opset=9)
    assert path.read_bytes() == b"old"
    ann.export_onnx(model, path)
    assert onnx.load(str(path)).graph.input[0].name == "X"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


class NumpyTanh:
    """A user activation that calls NumPy directly instead of ``xp``: it cannot be traced."""

    name = "numpy_tanh"

    def forward(self, Z, *, xp):
        return np.tanh(np.asarray(Z))

    def derivative(self, Z, A, *, xp):
        return 1.0 - A * A


class Cube:
    """A user activation written with the Array API only: it exports."""

    name = "cube"

    def forward(self, Z, *, xp):
        return Z * Z * Z

    def derivative(self, Z, A, *, xp):
        return 3.0 * Z * Z


def test_user_activations(tmp_path, X):
    rows = X[:7].astype(np.float32)
    model = ann.Model([ann.Layer(N_FEATURES, 4, Cube()), ann.Layer(4, 2, "softmax")], backend="numpy", seed=0)
    ann.export_onnx(model, tmp_path / "cube.onnx")
    np.testing.assert_allclose(run_onnx(str(tmp_path / "cube.onnx"), rows)["output"], model.predict_proba(rows),
                               rtol=1e-5, atol=1e-6)
    bad = ann.Model([ann.Layer(N_FEATURES, 4, "relu"), ann.Layer(4, 4, NumpyTanh()), ann.Layer(4, 2, "softmax")],
                    backend="numpy", seed=0)
    with pytest.raises(ValueError, match=r"layers\[1\] \(activation 'numpy_tanh'\) cannot be exported to ONNX"):
        ann.export_onnx(bad, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_without_the_extra(monkeypatch, tmp_path, X):
    model = trained(X, "relu", "softmax", 3, "float32")
    monkeypatch.setitem(sys.modules, "ndonnx", None)
    with pytest.raises(ImportError, match=r'pip install "\.\[onnx\]" in the anyarray_nn checkout'):
        ann.export_onnx(model, tmp_path / "m.onnx")


# --------------------------------------------------------------------------------------------------
# other backends export the very same graph
def _backends():
    cases = [("array_api_strict", None), ("array_api_strict", "device1")]
    try:
        import torch  # noqa: F401

        cases.insert(0, ("torch", "cpu"))
    except ImportError:
        pass
    return cases


@pytest.mark.parametrize("backend, device", _backends(), ids=lambda v: str(v))
def test_other_backends_export_the_same_graph(tmp_path, X, backend, device):
    pytest.importorskip(backend)
    if backend == "array_api_strict" and device is not None:
        import array_api_strict

        device = array_api_strict.Device(device)
    reference = trained(X, "elu", "softmax", 3, "float32")
    expected = ann.export_onnx(reference, tmp_path / "numpy.onnx").SerializeToString()
    ann.save(reference, tmp_path / "m.npz")
    moved = ann.load(tmp_path / "m.npz", backend=backend, device=device)
    assert moved.backend.name == backend
    assert ann.export_onnx(moved, tmp_path / "moved.onnx").SerializeToString() == expected
    rows = X[:7].astype(np.float32)
    got = run_onnx(str(tmp_path / "moved.onnx"), rows)
    np.testing.assert_allclose(got["output"], ann.to_numpy(moved.predict_proba(rows)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["label"], ann.to_numpy(moved.predict(rows)))


# --------------------------------------------------------------------------------------------------
# command line
def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("anyarray-nn export: error: "), err
    return err


def test_cli_export_of_a_saved_model(tmp_path, X, capsys):
    model = trained(X, "tanh", "sigmoid", 1, "float64")
    ann.save(model, tmp_path / "m.npz")
    assert cli.main(["export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out
    check_agrees(model, tmp_path / "m.onnx", X, "float64")
    assert cli.main(["export", str(tmp_path / "m.npz"), str(tmp_path / "m32.onnx"), "--dtype", "float32"]) == 0
    got = run_onnx(str(tmp_path / "m32.onnx"), X[:7].astype(np.float32))
    assert got["output"].dtype == np.float32


def test_cli_export_of_a_trained_run_standardizes_inside_the_graph(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "iris", "--epochs", "5", "--verbose", "0", "--no-plots", "--backend", "numpy",
                     "--out", str(run)]) == 0
    assert cli.main(["export", str(run / "model.npz"), str(run / "model.onnx")]) == 0
    assert "standardized inside the graph" in capsys.readouterr().out
    data = ann.datasets.load("iris")
    pipe = Pipeline.load(run / "model.npz", backend="numpy")
    model = pipe.model
    Xs = (data.X - pipe.scaler_mean) / pipe.scaler_scale
    got = run_onnx(str(run / "model.onnx"), data.X.astype(np.float32))
    np.testing.assert_allclose(got["output"], model.predict_proba(Xs), rtol=1e-4, atol=1e-6)
    assert np.mean(got["label"] == ann.to_numpy(model.predict(Xs))) == 1.0
    props = {p.key: p.value for p in onnx.load(str(run / "model.onnx")).metadata_props}
    assert json.loads(props["class_names"]) == pipe.class_names
    assert json.loads(props["feature_names"]) == pipe.feature_names


def test_cli_export_bad_input(tmp_path, X, capsys, monkeypatch):
    model = trained(X, "relu", "softmax", 3, "float32")
    ann.save(model, tmp_path / "m.npz")
    out = str(tmp_path / "m.onnx")
    assert cli.main(["export", str(tmp_path / "missing.npz"), out]) == 2
    assert "Model file not found" in _one_line_error(capsys)
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    assert cli.main(["export", str(tmp_path / "bad.npz"), out]) == 2
    assert "is not a valid anyarray_nn model file" in _one_line_error(capsys)
    assert cli.main(["export", str(tmp_path / "m.npz"), out, "--dtype", "float16"]) == 2
    assert "`dtype` must be None or one of" in _one_line_error(capsys)
    assert cli.main(["export", str(tmp_path / "m.npz"), str(tmp_path / "no" / "m.onnx")]) == 2
    assert "does not exist" in _one_line_error(capsys)
    monkeypatch.setitem(sys.modules, "ndonnx", None)
    assert cli.main(["export", str(tmp_path / "m.npz"), out]) == 2
    assert 'pip install ".[onnx]"' in _one_line_error(capsys)
    assert not (tmp_path / "m.onnx").exists()


# --------------------------------------------------------------------------------------------------
# scikit-learn
@pytest.mark.parametrize(
    "classes", [np.array([3, 7, 10]), np.array([0.0, 1.0]), np.array(["cat", "dog", "emu"])], ids=["int", "float", "str"]
)
def test_sklearn_classifier_export(tmp_path, X, classes):
    pytest.importorskip("sklearn")
    from anyarray_nn.sklearn import MLPClassifier

    y = classes[np.argmax(X[:, : len(classes)], axis=1)]
    clf = MLPClassifier((8,), max_iter=4, random_state=0, dtype="float32")
    with pytest.warns(Warning):
        clf.fit(X, y)
    proto = clf.export_onnx(tmp_path / "clf.onnx")
    assert json.loads({p.key: p.value for p in proto.metadata_props}["classes"]) == classes.tolist()
    for n in BATCHES:
        got = run_onnx(str(tmp_path / "clf.onnx"), X[:n].astype(np.float32))
        np.testing.assert_allclose(got["output"], clf.predict_proba(X[:n]), rtol=1e-5, atol=1e-6)
        label = got["label"] if classes.dtype.kind in "iuf" else clf.classes_[got["label"]]
        assert label.dtype == clf.predict(X[:n]).dtype
        np.testing.assert_array_equal(label, clf.predict(X[:n]))


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_sklearn_regressor_export(tmp_path, X, n_outputs):
    pytest.importorskip("sklearn")
    from anyarray_nn.sklearn import MLPRegressor

    y = X[:, 0] - X[:, 1] if n_outputs == 1 else X[:, :2] * 2.0
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=4, random_state=0, dtype="float64")
    with pytest.warns(Warning):
        reg.fit(X, y)
    reg.export_onnx(tmp_path / "reg.onnx")
    for n in BATCHES:
        got = run_onnx(str(tmp_path / "reg.onnx"), X[:n])
        assert got["output"].shape == reg.predict(X[:n]).shape
        np.testing.assert_allclose(got["output"], reg.predict(X[:n]), rtol=1e-12)
    with pytest.raises(ValueError, match="`dtype` must be"):
        reg.export_onnx(tmp_path / "x.onnx", dtype="half")


# --------------------------------------------------------------------------------------------------
def test_benchmark_script_runs(tmp_path):
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "onnx_export.py"), "--architecture", "20", "16", "3",
         "--train-samples", "200", "--batch-sizes", "1", "50", "--repeat", "2", "--rows-per-timing", "100",
         "--out-dir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "onnx_export.json").read_text())
    assert [r["batch_size"] for r in report["results"]] == [1, 50]
    for r in report["results"]:
        assert r["onnxruntime_rows_per_s"] > 0 and r["predict_proba_rows_per_s"] > 0
        assert r["max_abs_diff"] < 1e-5 and r["labels_equal"] == 1.0

