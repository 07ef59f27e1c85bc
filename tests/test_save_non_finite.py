"""A model holding NaN or infinities is refused at save, naming the arrays; no unreadable file is written.

Loading refuses such values (they are how a damaged file shows), so saving refuses them too: every
file :func:`anyarray_nn.save` writes can be loaded back. On every backend of the ``any_backend`` fixture.
"""

import os

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import io


def _model(case):
    return case.model([ann.Layer(3, 4, "tanh"), ann.Layer(4, 2, "softmax")])


def _spoil(case, model, layer, what, values):
    """``model`` with ``layers[layer].<what>`` holding ``values`` at its first entries (host round trip)."""
    params = [ann.to_numpy(p).copy() for p in model.parameters()]
    k = 2 * layer + (0 if what == "W" else 1)
    flat = params[k].reshape(-1)
    flat[: len(values)] = values
    model.set_parameters([case.asarray(p) for p in params], check=False)


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 3))
    return X, (X[:, 0] > 0).astype(int)


def test_finite_models_round_trip(any_backend, tmp_path):
    model = _model(any_backend)
    path = tmp_path / "ok.npz"
    ann.save(model, path)
    back = ann.load(path, backend="numpy")
    for a, b in zip(model.parameters(), back.parameters()):
        np.testing.assert_array_equal(ann.to_numpy(a), ann.to_numpy(b))


def test_nan_and_infinite_weights_are_refused_naming_the_arrays(any_backend, tmp_path):
    model = _model(any_backend)
    _spoil(any_backend, model, 1, "W", [np.nan, np.nan, np.inf])
    _spoil(any_backend, model, 0, "b", [-np.inf])
    path = tmp_path / "bad.npz"
    with pytest.raises(ValueError) as info:
        ann.save(model, path)
    msg = str(info.value)
    assert f"Cannot save to {str(path)!r}" in msg
    assert "layers[1].W (W1) holds 2 NaN, 1 infinite of its 8 values" in msg
    assert "layers[0].b (b0) holds 1 infinite of its 4 values" in msg
    assert "W0" not in msg and "b1" not in msg  # finite arrays are not named
    assert "lower learning rate" in msg and "nothing was written" in msg
    assert not os.path.exists(path)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary file left behind


def test_an_existing_file_is_kept_when_the_new_model_is_refused(any_backend, tmp_path):
    path = tmp_path / "model.npz"
    good = _model(any_backend)
    ann.save(good, path)
    before = path.read_bytes()
    bad = _model(any_backend)
    _spoil(any_backend, bad, 0, "W", [np.nan])
    with pytest.raises(ValueError, match=r"layers\[0\]\.W \(W0\) holds 1 NaN"):
        ann.save(bad, path)
    assert path.read_bytes() == before
    ann.load(path, backend="numpy")


def test_a_spoiled_optimizer_state_is_refused_and_can_be_dropped(any_backend, tmp_path):
    model = _model(any_backend)
    X, y = _data()
    model.fit(X, y, solver=ann.Solver(optimizer="adam", learning_rate=0.01), settings=ann.Settings(epochs=1, verbose=0))
    state = model.optimizer_state_
    v = [ann.to_numpy(a).copy() for a in state["v"]]
    v[2].reshape(-1)[0] = np.inf
    state["v"] = [any_backend.asarray(a) for a in v]
    path = tmp_path / "state.npz"
    with pytest.raises(ValueError) as info:
        ann.save(model, path)
    msg = str(info.value)
    assert "optimizer_state['v'][2]" in msg and "holds 1 infinite of its 8 values" in msg
    assert "`model.optimizer_state_ = None`" in msg
    assert not os.path.exists(path)
    model.optimizer_state_ = None
    ann.save(model, path)
    back = ann.load(path, backend="numpy")
    assert back.optimizer_state_ is None
    np.testing.assert_array_equal(ann.to_numpy(back.layers[1].W), ann.to_numpy(model.layers[1].W))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_diverged_fit_still_saves_and_loads(tmp_path):
    model = ann.Model([ann.Layer(3, 4, "relu"), ann.Layer(4, 1, "linear")], backend="numpy", seed=0)
    X, _ = _data()
    with pytest.warns(RuntimeWarning, match="diverged at epoch 2"):
        model.fit(X, 3 * X[:, 0], solver=ann.Solver(optimizer="sgd", learning_rate=1e30),
                  settings=ann.Settings(epochs=3, verbose=0))
    assert model.history_.loss[-1] == np.inf
    path = tmp_path / "diverged.npz"
    ann.save(model, path)  # the guard kept finite weights; the History's infinite loss is kept as recorded
    back = ann.load(path, backend="numpy")
    assert back.history_.loss == model.history_.loss


def test_the_file_layer_names_non_finite_arrays():
    header = {"optimizer_state": {"m": [{"__array__": "state0"}], "v": [{"__array__": "state1"}], "t": 3}}
    arrays = {
        "W0": np.zeros((2, 2)),
        "b0": np.array([np.nan, 1.0]),
        "state0": np.zeros(2),
        "state1": np.array([np.inf, -np.inf, np.nan], dtype=np.float32),
        "counts": np.array([1, 2]),
    }
    assert io.non_finite_arrays(header, arrays) == {
        "b0": "layers[0].b (b0) holds 1 NaN of its 2 values",
        "state1": "optimizer_state['v'][0] (state1) holds 1 NaN, 2 infinite of its 3 values",
    }
