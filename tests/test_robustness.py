"""Robustness: a training process killed while saving, divergence, bad input, and memory of predict."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import anyarray_nn as ann

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------------------------------------------
# a training process killed while it writes checkpoints
_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import anyarray_nn as ann
    import anyarray_nn.io as model_io

    path, mode = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 300)), rng.integers(0, 10, size=32)
    model = ann.Model([ann.Layer(300, 300, "relu"), ann.Layer(300, 10, "softmax")], backend="numpy",
                      dtype="float64", seed=0)
    if mode == "stall":
        # Block inside the first write of the checkpoint: the parent kills us there, half-way through.
        real_savez = model_io.np.savez

        class Stalling:
            def __init__(self, f):
                self.f, self.written = f, 0

            def write(self, data):
                n = self.f.write(data)
                self.written += n
                if self.written > 100000:
                    self.f.flush()
                    print("mid-write", flush=True)
                    time.sleep(60)
                return n

            def __getattr__(self, name):
                return getattr(self.f, name)

        model_io.np.savez = lambda f, **arrays: real_savez(Stalling(f), **arrays)
    resume = path if os.path.exists(path) else None
    solver = ann.Solver(optimizer="adam", learning_rate=1e-3)
    print("start", flush=True)
    model.fit(X, y, solver=solver, settings=ann.Settings(epochs=10**6, batch_size=8, verbose=0),
              checkpoint=path, resume_from=resume)
    """
)


def _spawn(script, path, mode):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout.readline().strip() == "start", proc.stderr.read()
    return proc


def _kill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_while_checkpointing_leaves_a_loadable_file(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    path = tmp_path / "ckpt.npz"
    rand = random.Random(0)
    epochs_seen = [0]

    # Killed at random moments: saving happens every epoch, so many kills land in a write.
    for _ in range(4):
        proc = _spawn(script, path, "run")
        deadline = time.monotonic() + 60
        while ann.load(path).history_.epochs <= epochs_seen[-1] if path.exists() else True:
            assert time.monotonic() < deadline and proc.poll() is None, "the child made no checkpoint"
            time.sleep(0.01)
        time.sleep(rand.uniform(0.0, 0.3))
        _kill(proc)
        model = ann.load(path)  # whatever moment the kill came, the file is whole
        assert model.history_.epochs >= epochs_seen[-1]  # and the next run resumed from the last one
        epochs_seen.append(model.history_.epochs)

    # Killed for certain half-way through writing a checkpoint.
    before = path.read_bytes()
    proc = _spawn(script, path, "stall")
    assert proc.stdout.readline().strip() == "mid-write"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the half-written temporary file should be there"
    _kill(proc)
    assert path.read_bytes() == before  # the old checkpoint, untouched
    model = ann.load(path)
    assert model.history_.epochs == epochs_seen[-1]
    # Training goes on from it.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 300)), rng.integers(0, 10, size=32)
    history = model.fit(X, y, settings=ann.Settings(epochs=epochs_seen[-1] + 1, batch_size=8, verbose=0), resume_from=path)
    assert history.epochs == epochs_seen[-1] + 1


# --------------------------------------------------------------------------------------------------
# divergence guard
def _regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    return X, X @ np.array([1.0, 2.0, 3.0])


def _regressor(bk, seed=0):
    return bk.model([ann.Layer(3, 8, "relu"), ann.Layer(8, 1, "linear")], seed=seed)


def test_divergence_stops_and_keeps_last_finite_weights(bk):
    X, y = _regression()
    X = bk.asarray(X)
    model = _regressor(bk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's own overflow warnings
        with pytest.warns(RuntimeWarning, match=r"diverged at epoch \d+: .* Try a lower learning rate"):
            history = model.fit(X, y, solver=ann.Solver(learning_rate=10.0), settings=ann.Settings(epochs=50, verbose=0))
    bad = history.epochs
    assert 1 < bad < 50
    assert not np.isfinite(history.loss[-1]) and all(np.isfinite(history.loss[:-1]))
    assert history.stop_reason.startswith(f"diverged at epoch {bad}")
    assert f"kept the weights of epoch {bad - 1}" in history.stop_reason
    assert model.optimizer_state_ is None
    # The weights are those the same run had after the epoch before.
    reference = _regressor(bk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X, y, solver=ann.Solver(learning_rate=10.0), settings=ann.Settings(epochs=bad - 1, verbose=0))
    for p, q in zip(model.parameters(), reference.parameters()):
        p = ann.to_numpy(p)
        assert np.all(np.isfinite(p))
        np.testing.assert_array_equal(p, ann.to_numpy(q))
    assert np.all(np.isfinite(ann.to_numpy(model.predict(X))))


def test_divergence_of_the_weights_behind_a_finite_loss(bk):
    # One batch per epoch: the loss is measured before the step that overflows the weights.
    X, _ = _regression()
    model = _regressor(bk)
    initial = [ann.to_numpy(p).copy() for p in model.parameters()]
    # Targets whose squared error still fits the dtype, and a step that does not.
    target, lr = (1e18, 1e25) if bk.dtype == "float32" else (1e150, 1e200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.warns(RuntimeWarning, match="diverged at epoch 1: the weights became NaN or infinite"):
            history = model.fit(
                bk.asarray(X), np.full(64, target), solver=ann.Solver(learning_rate=lr),
                settings=ann.Settings(epochs=5, batch_size=64, verbose=0),
            )
    assert history.epochs == 1 and np.isfinite(history.loss[0])
    for p, q in zip(model.parameters(), initial):
        np.testing.assert_array_equal(ann.to_numpy(p), q)


# --------------------------------------------------------------------------------------------------
# bad input to fit and predict
def _clf():
    return ann.Model([ann.Layer(4, 5, "relu"), ann.Layer(5, 3, "softmax")], backend="numpy", dtype="float32", seed=0)


_valid_rows = st.integers(1, 6)
_float = st.floats(-1e3, 1e3, allow_nan=False)
_bad_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5).filter(
    lambda s: not (len(s) == 2 and s[1] == 4 and s[0] > 0)
)
_bad_X = st.one_of(
    hnp.arrays(np.float64, _bad_shapes, elements=_float),  # wrong shape or empty
    st.tuples(_valid_rows, st.sampled_from([np.nan, np.inf, -np.inf]), st.integers(0, 100)).map(
        lambda t: np.where(np.arange(t[0] * 4).reshape(t[0], 4) == t[2] % (t[0] * 4), t[1], 1.0)
    ),  # NaN / inf
    _valid_rows.map(lambda n: np.full((n, 4), 1e300)),  # beyond float32
    st.tuples(_valid_rows, st.sampled_from(["complex128", "U3", "S2", "datetime64[s]", "timedelta64[s]"])).map(
        lambda t: np.zeros((t[0], 4)).astype(t[1])
    ),  # dtypes that are not numbers
    st.lists(st.lists(st.text(max_size=3), min_size=4, max_size=4), min_size=1, max_size=4),  # strings
    st.lists(st.lists(_float, min_size=0, max_size=6), min_size=1, max_size=4).filter(
        lambda rows: any(len(r) != 4 for r in rows)
    ),  # ragged / wrong width
    st.lists(st.lists(st.one_of(st.none(), st.text(max_size=2), _float), min_size=4, max_size=4), min_size=1).filter(
        lambda rows: any(not isinstance(v, float) for r in rows for v in r)
    ),  # mixed objects
    st.sampled_from([None, 3, 2.5, "abc", b"xy", {"a": 1}, {1, 2}, [], [[]], object(), np.float64(1.0)]),
)
_bad_y = st.one_of(
    st.integers(0, 10).filter(lambda k: k != 6).map(lambda k: np.zeros(k)),  # mismatched length
    st.sampled_from([3, -1, 7]).map(lambda v: np.array([0, 1, 2, v, 1, 0])),  # labels outside the classes
    st.sampled_from([np.nan, np.inf, 0.5]).map(lambda v: np.array([0, 1, 2, v, 1, 0])),  # NaN, inf, fractions
    st.lists(st.text(min_size=1, max_size=3), min_size=6, max_size=6),  # strings
    st.just(np.zeros((6, 2, 1))),
    st.just(np.zeros((6, 5))),  # one-hot of the wrong width
    st.sampled_from([None, "abc", 1.0]),
)

X_OK, Y_OK = np.zeros((6, 4)), np.array([0, 1, 2, 0, 1, 2])
QUIET = ann.Settings(epochs=1, verbose=0)
HYP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _assert_refused(call, name):
    with pytest.raises((ValueError, TypeError)) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a silent conversion warning is not an answer either
            call()
    assert f"`{name}`" in str(info.value), str(info.value)


@HYP
@given(X=_bad_X)
def test_bad_X_is_refused_naming_X(X):
    model = _clf()
    n = len(X) if isinstance(X, list) or (isinstance(X, np.ndarray) and X.ndim > 0) else 6
    y = np.arange(max(n, 1)) % 3
    _assert_refused(lambda: model.fit(X, y, settings=QUIET), "X")
    _assert_refused(lambda: model.predict(X), "X")
    _assert_refused(lambda: model.predict_proba(X), "X")
    _assert_refused(lambda: model.fit(X_OK, Y_OK, settings=QUIET, validation_data=(X, y)), "validation_data[0]")


@HYP
@given(y=_bad_y)
def test_bad_y_is_refused_naming_y(y):
    model = _clf()
    _assert_refused(lambda: model.fit(X_OK, y, settings=QUIET), "y")
    _assert_refused(lambda: model.evaluate(X_OK, y), "y")
    _assert_refused(lambda: model.fit(X_OK, Y_OK, settings=QUIET, validation_data=(X_OK, y)), "validation_data[1]")


def test_bad_input_leaves_the_model_untouched():
    model = _clf()
    before = [np.array(p) for p in model.parameters()]
    with pytest.raises(ValueError):
        model.fit(X_OK, np.array([0, 1, 2, 3, 1, 0]), settings=QUIET)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.parameters()))


def test_values_beyond_float32_are_named():
    with pytest.raises(ValueError, match=r"`X` has 4 value\(s\) beyond the range of float32"):
        _clf().predict(np.full((1, 4), 1e300))
    with pytest.raises(ValueError, match=r"`y` has 1 value\(s\) beyond the range of float32"):
        reg = ann.Model([ann.Layer(4, 1, "linear")], backend="numpy", dtype="float32", seed=0)
        reg.fit(X_OK, [1.0, 2.0, 3.0, 4.0, 5.0, -1e39], settings=QUIET)


# --------------------------------------------------------------------------------------------------
# memory of predict on an input larger than what one pass should hold
def test_predict_peak_memory_stays_below_twice_the_input():
    rows, features = 50_000, 784
    model = ann.Model(
        [ann.Layer(features, 256, "relu"), ann.Layer(256, 128, "relu"), ann.Layer(128, 10, "softmax")],
        backend="numpy",
        dtype="float32",
        seed=0,
    )
    model_bytes = sum(p.nbytes for p in model.parameters())
    tracemalloc.start()
    try:
        X = np.ones((rows, features), dtype=np.float32)
        X[::7] = 0.5
        tracemalloc.reset_peak()
        labels = model.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert labels.shape == (rows,)
    assert peak < 2 * X.nbytes + model_bytes, f"peak {peak / 2**20:.1f} MiB for an input of {X.nbytes / 2**20:.1f} MiB"


def test_host_input_goes_to_the_device_chunk_by_chunk(bk):
    if bk.backend == "numpy":
        pytest.skip("a NumPy model computes on the host arrays themselves")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4))
    model = bk.model([ann.Layer(4, 6, "relu"), ann.Layer(6, 3, "softmax")])
    whole = ann.to_numpy(model.predict_proba(bk.asarray(X)))
    moved = []
    real = model.backend.asarray
    model.backend.asarray = lambda x, dtype=None: moved.append(tuple(x.shape)) or real(x, dtype)
    chunked = ann.to_numpy(model.predict_proba(X, batch_size=128))
    assert moved and max(shape[0] for shape in moved) <= 128
    np.testing.assert_allclose(chunked, whole, rtol=bk.rtol, atol=bk.atol)
    if bk.dtype == "float32":  # checked on the host, before any chunk moves
        X[[3, 700], 1] = [1e300, -1e300]
        with pytest.raises(ValueError, match=r"`X` has 2 value\(s\) beyond the range of float32"):
            model.predict(X)


def test_fit_evaluates_validation_data_in_chunks(iris_split):
    Xtr, Xte, ytr, yte = iris_split
    histories = []
    for size in (None, 7):
        model = ann.Model([ann.Layer(4, 5, "tanh"), ann.Layer(5, 3, "softmax")], backend="numpy", dtype="float64", seed=0)
        histories.append(model.fit(Xtr, ytr, settings=QUIET, validation_data=(Xte, yte), eval_batch_size=size))
    np.testing.assert_allclose(histories[1].val_loss, histories[0].val_loss, rtol=1e-12)
    with pytest.raises(ValueError, match="`eval_batch_size` must be a positive integer"):
        _clf().fit(X_OK, Y_OK, settings=QUIET, eval_batch_size=0)
