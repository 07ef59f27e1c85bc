"""Saving and loading: round trips across backends, atomic writes, and every kind of bad file refused."""

from __future__ import annotations

import io as stdlib_io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyarray_nn as ann
from anyarray_nn import io as model_io
from anyarray_nn.io import ModelFileError

QUIET = ann.Settings(epochs=3, batch_size=16, verbose=0)


def _layers():
    return [
        ann.Layer(4, 6, "leaky_relu", init="he", distribution="uniform"),
        ann.Layer(6, 5, "tanh"),
        ann.Layer(5, 3, "softmax"),
    ]


def _trained(bk, iris_split, optimizer="adam"):
    Xtr, Xte, ytr, yte = iris_split
    model = bk.model(_layers())
    solver = ann.Solver(optimizer=optimizer, learning_rate=0.01, schedule="plateau", clip_norm=5.0)
    model.fit(bk.asarray(Xtr), ytr, solver=solver, settings=QUIET, validation_data=(Xte, yte))
    return model


@pytest.fixture
def saved(tmp_path):
    """A valid model file (numpy, float64, trained with Adam) and its path."""
    X, y = ann.datasets.load_iris()
    model = ann.Model(_layers(), backend="numpy", dtype="float64", seed=0)
    model.fit(X, y, solver=ann.Solver(optimizer="adam"), settings=QUIET)
    path = tmp_path / "model.npz"
    ann.save(model, path)
    return model, path


# --------------------------------------------------------------------------------------------------
# round trips
def test_round_trip_on_every_backend(bk, iris_split, tmp_path):
    Xte = iris_split[1]
    model = _trained(bk, iris_split)
    expected = ann.to_numpy(model.predict_proba(bk.asarray(Xte)))
    path = tmp_path / "m.npz"
    ann.save(model, path)

    same = ann.load(path, backend=bk.backend, device=bk.device)
    assert same.backend.name == bk.backend and same.dtype == bk.dtype
    assert same.backend.device_str == model.backend.device_str
    np.testing.assert_array_equal(ann.to_numpy(same.predict_proba(bk.asarray(Xte))), expected)
    for a, b in zip(model.parameters(), same.parameters()):
        np.testing.assert_array_equal(ann.to_numpy(a), ann.to_numpy(b))

    on_numpy = ann.load(path, backend="numpy")
    assert on_numpy.dtype == bk.dtype
    np.testing.assert_allclose(on_numpy.predict_proba(Xte), expected, rtol=bk.rtol, atol=bk.atol)
    np.testing.assert_array_equal(on_numpy.predict(Xte), ann.to_numpy(model.predict(bk.asarray(Xte))))

    # What fit needs to go on travelled too, onto the new backend.
    assert on_numpy.history_.loss == model.history_.loss
    assert on_numpy.history_.learning_rate == model.history_.learning_rate
    assert on_numpy.solver_.optimizer == model.solver_.optimizer
    assert on_numpy.solver_.clip_norm == 5.0
    assert on_numpy.solver_.schedule.state_dict() == model.solver_.schedule.state_dict()
    assert on_numpy.optimizer_state_["t"] == model.optimizer_state_["t"] > 0
    for a, b in zip(model.optimizer_state_["m"], on_numpy.optimizer_state_["m"]):
        assert isinstance(b, np.ndarray)
        np.testing.assert_array_equal(ann.to_numpy(a), b)
    assert on_numpy.backend.get_rng_state() == model.backend.get_rng_state()


def test_numpy_model_loads_on_every_backend(bk, saved, iris_split):
    model, path = saved
    Xte = iris_split[1]
    moved = ann.load(path, backend=bk.backend, device=bk.device, dtype=bk.dtype)
    assert moved.dtype == bk.dtype
    got = ann.to_numpy(moved.predict_proba(bk.asarray(Xte)))
    np.testing.assert_allclose(got, model.predict_proba(Xte), rtol=bk.rtol, atol=bk.atol)
    # The loaded model trains further on its backend with the restored optimizer state.
    moved.fit(bk.asarray(Xte), iris_split[3], solver=moved.solver_, settings=ann.Settings(epochs=1, verbose=0))
    assert moved.optimizer_state_["t"] > model.optimizer_state_["t"]


def test_untrained_model_round_trip(tmp_path):
    model = ann.Model([ann.Layer(3, 2, "sigmoid")], backend="numpy", seed=7)
    ann.save(model, str(tmp_path / "u.npz"))
    back = ann.load(str(tmp_path / "u.npz"))
    assert back.solver_ is None and back.history_ is None and back.optimizer_state_ is None
    assert back.backend.seed == 7
    assert back.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_array_equal(back.layers[0].W, model.layers[0].W)


def test_save_refuses_unregistered_activation(tmp_path):
    class Cube:
        name = "cube"

        def forward(self, Z, *, xp):
            return Z**3

        def derivative(self, Z, A, *, xp):
            return 3 * Z**2

    model = ann.Model([ann.Layer(2, 1, Cube())], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="not in the activation registry"):
        ann.save(model, tmp_path / "c.npz")
    assert not os.listdir(tmp_path)


def test_save_checks_arguments(tmp_path):
    with pytest.raises(TypeError, match="`model` must be a Model"):
        ann.save("model", tmp_path / "x.npz")
    model = ann.Model([ann.Layer(2, 1, "linear")], backend="numpy", seed=0)
    with pytest.raises(TypeError, match="`path` must be a str or os.PathLike"):
        ann.save(model, 3)


# --------------------------------------------------------------------------------------------------
# atomic writes
def test_failed_write_leaves_old_file_intact(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(model_io.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        ann.save(model, path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    ann.load(path)


def test_save_replaces_file_without_leftovers(saved):
    model, path = saved
    model.layers[0].W = np.ones((4, 6))
    ann.save(model, path)
    assert os.listdir(path.parent) == [path.name]
    np.testing.assert_array_equal(ann.load(path).layers[0].W, np.ones((4, 6)))


# --------------------------------------------------------------------------------------------------
# bad files, one kind per test
def _members(path):
    """The arrays and header of a valid file, to tamper with."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(bytes(arrays.pop("header")).decode())
    return header, arrays


def _write(path, header, arrays, raw_header=None):
    data = raw_header if raw_header is not None else json.dumps(header).encode()
    np.savez(path, header=np.frombuffer(data, dtype=np.uint8), **arrays)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        ann.load(tmp_path / "nope.npz")


def test_not_an_npz(tmp_path):
    path = tmp_path / "m.npz"
    path.write_text("W0,b0\n1,2\n")
    with pytest.raises(ModelFileError, match="not an .npz"):
        ann.load(path)


def test_empty_file(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError):
        ann.load(path)


def test_plain_npy_file(tmp_path, saved):
    path = tmp_path / "m.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ModelFileError, match="not an .npz"):
        ann.load(path)


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.999])
def test_truncated_file(saved, fraction):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match="not a valid anyarray_nn model file"):
        ann.load(path)


def test_corrupted_data(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside an array's data: the zip checksum catches it
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        ann.load(path)


def test_missing_header(saved):
    _, path = saved
    _, arrays = _members(path)
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="no header"):
        ann.load(path)


@pytest.mark.parametrize(
    "raw,pattern",
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"format": "something else"}', "does not name the format"),
        (b'{"format": "anyarray_nn.model", "format_version": "1"}', "invalid format_version"),
        (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
    ],
    ids=["syntax", "encoding", "list", "format", "version-type", "deep-nesting"],
)
def test_malformed_header(saved, raw, pattern):
    _, path = saved
    header, arrays = _members(path)
    _write(path, header, arrays, raw_header=raw)
    with pytest.raises(ModelFileError, match=pattern):
        ann.load(path)


@pytest.mark.parametrize("key", ["layers", "dtype", "arrays", "rng_state"])
def test_header_missing_entry(saved, key):
    _, path = saved
    header, arrays = _members(path)
    del header[key]
    _write(path, header, arrays)
    with pytest.raises(ModelFileError, match=f"lacks the entry '{key}'"):
        ann.load(path)


@pytest.mark.parametrize(
    "change,pattern",
    [
        (lambda h: h["layers"][0].update(activation="rleu"), "Unknown activation"),
        (lambda h: h["layers"][0].update(n_in=-4), "layer 0 of its header is invalid"),
        (lambda h: h["layers"][1].update(n_in=7), "do not chain|differ|shape"),
        (lambda h: h.update(dtype="float16"), "unknown dtype"),
        (lambda h: h["solver"].update(optimizer="adamm"), "Solver cannot be rebuilt"),
        (lambda h: h["solver"]["optimizer_config"].update(beta_1=2.0), "Solver cannot be rebuilt"),
        (lambda h: h["history"].update(loss=["a"]), "history entry 'loss'"),
        (lambda h: h.update(rng_state={"bit_generator": "MT19937"}), "not a valid"),
        (lambda h: h.update(optimizer_state={"t": 1, "m": [{"__array__": "state99"}]}), "missing array"),
        (lambda h: h["optimizer_state"].update(t="3"), "valid step count"),
        (lambda h: h.update(solver=None), "optimizer state but no Solver"),
    ],
    ids=["activation", "n_in", "chain", "dtype", "optimizer", "beta", "history", "rng", "state-ref", "t", "no-solver"],
)
def test_header_with_invalid_content(saved, change, pattern):
    _, path = saved
    header, arrays = _members(path)
    change(header)
    _write(path, header, arrays)
    with pytest.raises(ModelFileError, match=pattern):
        ann.load(path)


def test_newer_format_version(saved):
    _, path = saved
    header, arrays = _members(path)
    header["format_version"] = model_io.FORMAT_VERSION + 1
    _write(path, header, arrays)
    with pytest.raises(ModelFileError, match="newer than the format 1 .* upgrade anyarray_nn"):
        ann.load(path)


def test_array_shape_disagrees_with_header(saved):
    _, path = saved
    header, arrays = _members(path)
    arrays["W0"] = np.zeros((4, 7))
    _write(path, header, arrays)
    with pytest.raises(ModelFileError, match=r"'W0' has shape \(4, 7\) .* header says shape \(4, 6\)"):
        ann.load(path)


def test_header_and_layers_disagree(saved):
    _, path = saved
    header, arrays = _members(path)
    arrays["W0"] = np.zeros((4, 7))
    header["arrays"]["W0"]["shape"] = [4, 7]
    _write(path, header, arrays)
    with pytest.raises(ModelFileError, match=r"layer 0 \(4 -> 6\) needs a float array of shape \(4, 6\)"):
        ann.load(path)


def test_extra_or_missing_array(saved):
    _, path = saved
    header, arrays = _members(path)
    _write(path, header, {**arrays, "extra": np.zeros(2)})
    with pytest.raises(ModelFileError, match="differ from those its header lists"):
        ann.load(path)
    del arrays["b1"]
    _write(path, header, arrays)
    with pytest.raises(ModelFileError, match="differ from those its header lists"):
        ann.load(path)


def test_object_array(saved):
    _, path = saved
    header, arrays = _members(path)
    arrays["W0"] = np.array([[1, "x"]], dtype=object)
    _write(path, header, arrays)  # np.savez pickles object arrays
    with pytest.raises(ModelFileError, match="only numeric arrays are allowed"):
        ann.load(path)


class _Payload:
    """Unpickling this would create a file: the proof that code ran."""

    target = None

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_npz_crafted_to_hold_a_pickle(saved, tmp_path):
    _, path = saved
    flag = tmp_path / "code-ran"
    _Payload.target = str(flag)
    header, arrays = _members(path)
    arrays.pop("W0")
    buf = stdlib_io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("W0.npy", pickle.dumps(_Payload()))  # a raw pickle where an array should be
    path.write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError):
        ann.load(path)
    # A whole file that is a pickle.
    path.write_bytes(pickle.dumps({"W0": _Payload()}))
    with pytest.raises(ModelFileError):
        ann.load(path)
    assert not flag.exists()


def test_huge_declared_shape_is_refused_before_allocating(saved):
    _, path = saved
    header, arrays = _members(path)
    buf = stdlib_io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    buf.write(b"\x00" * 64)
    header["arrays"]["W0"]["shape"] = [10**6, 10**6]
    del arrays["W0"]
    tmp = stdlib_io.BytesIO()
    np.savez(tmp, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    with zipfile.ZipFile(tmp, "a") as zf:
        zf.writestr("W0.npy", buf.getvalue())
    path.write_bytes(tmp.getvalue())
    with pytest.raises(ModelFileError, match="declares shape"):
        ann.load(path)


def test_compressed_archive_refused(saved):
    _, path = saved
    header, arrays = _members(path)
    np.savez_compressed(path, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    with pytest.raises(ModelFileError, match="compressed"):
        ann.load(path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


# --------------------------------------------------------------------------------------------------
# fuzzing: random bytes, random archives, random damage to a valid file
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_or_refuse(path):
    """Loading either works or raises ModelFileError; any other exception fails the test."""
    try:
        ann.load(path, backend="numpy")
    except ModelFileError:
        pass


@FUZZ
@given(data=st.binary(max_size=2048), prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x93NUMPY", b"\x80\x04"]))
def test_fuzz_random_bytes(tmp_path, data, prefix):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(prefix + data)
    with pytest.raises(ModelFileError):
        ann.load(path)


_dtypes = st.sampled_from(["float32", "float64", "int64", "uint8", "bool", "complex64", "<U3", ">f8"])
_arrays = st.builds(
    lambda shape, dtype, seed: np.random.default_rng(seed).integers(0, 255, size=shape).astype(dtype),
    st.lists(st.integers(0, 4), max_size=3).map(tuple),
    _dtypes,
    st.integers(0, 2**32 - 1),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(
    arrays=st.dictionaries(st.sampled_from(["W0", "b0", "W1", "b1", "state0", "x"]), _arrays, max_size=4),
    header=st.one_of(
        st.none(),
        st.binary(max_size=200),
        _json.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"format": st.just("anyarray_nn.model"), "format_version": st.integers(0, 3)}, optional={"layers": _json}
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_fuzz_valid_looking_npz(tmp_path, arrays, header):
    path = tmp_path / "fuzz.npz"
    if header is not None:
        arrays = {**arrays, "header": np.frombuffer(header, dtype=np.uint8)}
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError):
        ann.load(path)


@FUZZ
@given(data=st.data())
def test_fuzz_damaged_valid_file(saved, data):
    _, path = saved
    original = path.read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(damaged) - 1))
        damaged[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    target = path.with_name("damaged.npz")
    target.write_bytes(bytes(damaged[:cut]))
    _load_or_refuse(target)


@FUZZ
@given(data=st.data())
def test_fuzz_tampered_header(saved, data):
    _, path = saved
    header, arrays = _members(path)
    # Replace one entry of the header (anywhere in it) by a random JSON value.
    node, key = header, None
    for _ in range(data.draw(st.integers(1, 4))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = data.draw(st.integers(0, len(node) - 1))
        else:
            break
        parent, node = node, node[key]
    if key is not None:
        parent[key] = data.draw(_json)
    target = path.with_name("tampered.npz")
    _write(target, header, arrays)
    _load_or_refuse(target)


def test_saved_file_gets_the_usual_permissions(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    umask = os.umask(0o022)
    os.umask(umask)
    model = ann.Model([ann.Layer(2, 1, "linear")], backend="numpy", seed=0)
    ann.save(model, tmp_path / "m.npz")
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o666 & ~umask
