"""Training from batch sources: memmaps, h5py-like arrays, Dask arrays, data sets and batch iterables.

A source fit reads its rows a batch at a time, in the order drawn from the model's generator: with the
same seed it gives the very model an in-memory fit gives (NumPy float64, equal to the bit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.sources import Prefetcher, read_rows


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
    return X, y


class SortedRows:
    """An h5py-like array: ``shape``, ``dtype`` and ``__getitem__`` on slices and increasing row indices only."""

    def __init__(self, array):
        self._array = np.asarray(array)
        self.shape, self.dtype = self._array.shape, self._array.dtype
        self.reads = 0

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        self.reads += 1
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.ndim != 1 or np.any(np.diff(key) <= 0):
                raise TypeError("Indexing elements must be in increasing order")
        return self._array[key].copy()


class RowsDataset:
    """A map-style data set: ``len`` and ``dataset[rows] -> (X_rows, y_rows)``."""

    def __init__(self, X, y, w=None):
        self.X, self.y, self.w = X, y, w

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, rows):
        assert isinstance(rows, np.ndarray) and rows.ndim == 1
        item = (self.X[rows], self.y[rows])
        return item if self.w is None else item + (self.w[rows],)


class Batches:
    """A re-iterable of batches: each iter() is one epoch."""

    def __init__(self, X, y, size):
        self.X, self.y, self.size = X, y, size

    def __iter__(self):
        for start in range(0, self.X.shape[0], self.size):
            yield self.X[start : start + self.size], self.y[start : start + self.size]


def _model(seed=3):
    return ann.Model(
        [ann.Layer(4, 12, "relu"), ann.Layer(12, 3, "softmax")], backend="numpy", dtype="float64", seed=seed
    )


def _fit(X, y, optimizer, *, validation=None, early=False, dropout=0.0, epochs=6, **kwargs):
    model = _model()
    solver = ann.Solver(optimizer=optimizer, learning_rate=0.05 if optimizer == "sgd" else 0.01, regularization={"dropout": dropout})
    settings = ann.Settings(
        epochs=epochs, batch_size=16, verbose=0,
        early_stopping=ann.EarlyStopping(patience=2, monitor="val_loss") if early else None,
    )
    history = model.fit(X, y, solver, settings, validation_data=validation, **kwargs)
    return model, history


def _sources(tmp_path, X, y):
    """Each kind of source of ``(X, y)``, as the arguments of fit."""
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    out = {
        "memmap": (np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")),
        "h5py-like": (SortedRows(X), SortedRows(y)),
        "dataset": (RowsDataset(X, y), None),
    }
    try:
        import dask.array as da

        out["dask"] = (da.from_array(X, chunks=37), da.from_array(y, chunks=37))
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("kind", ["memmap", "h5py-like", "dask", "dataset"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_source_trains_to_the_weights_of_in_memory_arrays(tmp_path, kind, optimizer):
    """Shuffled, with dropout, a validation source and early stopping: equal to the bit."""
    X, y = _data()
    Xt, yt, Xv, yv = X[:110], y[:110], X[110:], y[110:]
    train = _sources(tmp_path / "t", Xt, yt) if (tmp_path / "t").mkdir() is None else None
    val = _sources(tmp_path / "v", Xv, yv) if (tmp_path / "v").mkdir() is None else None
    if kind not in train:
        pytest.skip("dask is not installed")
    ref, ref_history = _fit(Xt, yt, optimizer, validation=(Xv, yv), early=True, dropout=0.2, epochs=30)
    Xs, ys = train[kind]
    validation = (val[kind][0],) if val[kind][1] is None else val[kind]
    got, history = _fit(Xs, ys, optimizer, validation=validation, early=True, dropout=0.2, epochs=30)
    for p, q in zip(ref.parameters(), got.parameters()):
        np.testing.assert_array_equal(ann.to_numpy(p), ann.to_numpy(q))
    assert history.epochs == ref_history.epochs
    np.testing.assert_allclose(history.loss, ref_history.loss, rtol=1e-12)
    np.testing.assert_allclose(history.val_loss, ref_history.val_loss, rtol=1e-12)
    np.testing.assert_allclose(history.accuracy, ref_history.accuracy, rtol=1e-12)


def test_rows_are_read_in_increasing_order_and_put_back_in_the_drawn_order():
    array = SortedRows(np.arange(20.0)[:, None] * np.ones((1, 3)))
    rows = np.array([7, 2, 19, 3])
    np.testing.assert_array_equal(read_rows(array, rows)[:, 0], [7.0, 2.0, 19.0, 3.0])
    # Consecutive rows are one slice.
    np.testing.assert_array_equal(read_rows(array, np.arange(4, 9))[:, 0], np.arange(4.0, 9.0))


def test_a_batch_iterable_trains_and_a_generator_gives_one_epoch_only():
    X, y = _data(64)
    model = _model()
    history = model.fit(Batches(X, y, 16), None, settings=ann.Settings(epochs=3, verbose=0))
    assert history.epochs == 3 and np.all(np.isfinite(history.loss))
    # Without shuffling, the same batches as the arrays in their order.
    ref = _model()
    ref.fit(X, y, settings=ann.Settings(epochs=3, batch_size=16, shuffle=False, verbose=0))
    for p, q in zip(ref.parameters(), model.parameters()):
        np.testing.assert_allclose(ann.to_numpy(p), ann.to_numpy(q), rtol=1e-12)

    one_shot = ((X[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16))
    with pytest.raises(ValueError, match="one-shot iterator"):
        _model().fit(one_shot, None, settings=ann.Settings(epochs=2, verbose=0))
    one_shot = ((X[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16))
    assert _model().fit(one_shot, None, settings=ann.Settings(epochs=1, verbose=0)).epochs == 1


def test_a_bad_batch_is_refused_naming_its_rows(tmp_path):
    X, y = _data(40)
    X = X.copy()
    X[13, 2] = np.nan
    with pytest.raises(ValueError, match=r"`X` \(.*rows.*\) contains 1 NaN"):
        _model().fit(SortedRows(X), SortedRows(y), settings=ann.Settings(epochs=1, batch_size=8, shuffle=False, verbose=0))
    with pytest.raises(ValueError, match=r"rows 8, 9, .*|8 rows between 8 and 15"):
        _model().fit(SortedRows(X), SortedRows(y), settings=ann.Settings(epochs=1, batch_size=8, shuffle=False, verbose=0))
    bad_y = y.copy()
    bad_y[3] = 7
    with pytest.raises(ValueError, match="y"):
        _model().fit(RowsDataset(X[:8], bad_y[:8]), None, settings=ann.Settings(epochs=1, verbose=0))
    with pytest.raises(TypeError, match=r"dataset\[rows\]"):
        _model().fit(_BadDataset(), None, settings=ann.Settings(epochs=1, verbose=0))


class _BadDataset:
    def __len__(self):
        return 4

    def __getitem__(self, rows):
        return np.zeros((len(rows), 4))


def test_unknown_dask_chunks_are_reported_as_such():
    da = pytest.importorskip("dask.array")
    X, y = _data(40)
    Xd = da.from_array(X, chunks=10)
    Xd = Xd[Xd[:, 0] > -10]  # chunk sizes unknown
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        _model().fit(Xd, da.from_array(y, chunks=10), settings=ann.Settings(epochs=1, verbose=0))


def test_resuming_a_source_fit_from_a_checkpoint_is_exact(tmp_path):
    X, y = _data(120)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    Xm, ym = np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")
    solver = ann.Solver(optimizer="adam", learning_rate=0.01, regularization={"dropout": 0.1})
    whole = _model()
    whole.fit(Xm, ym, solver, ann.Settings(epochs=6, batch_size=16, verbose=0))

    path = tmp_path / "run.npz"
    first = _model()
    solver = ann.Solver(optimizer="adam", learning_rate=0.01, regularization={"dropout": 0.1})
    first.fit(Xm, ym, solver, ann.Settings(epochs=3, batch_size=16, verbose=0), checkpoint=path)
    resumed = _model()
    history = resumed.fit(Xm, ym, settings=ann.Settings(epochs=6, batch_size=16, verbose=0), resume_from=path)
    assert history.epochs == 6
    for p, q in zip(whole.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(ann.to_numpy(p), ann.to_numpy(q))


def test_validation_split_holds_out_the_last_rows(tmp_path):
    X, y = _data(100)
    a, ha = _fit(X, y, "sgd", validation_split=0.2)
    b, hb = _fit(X[:80], y[:80], "sgd", validation=(X[80:], y[80:]))
    np.testing.assert_array_equal(ha.val_loss, hb.val_loss)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    c, hc = _fit(np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r"), "sgd", validation_split=0.2)
    np.testing.assert_allclose(hc.val_loss, hb.val_loss, rtol=1e-12)
    with pytest.raises(ValueError, match="validation_split"):
        _fit(X, y, "sgd", validation_split=1.5)
    with pytest.raises(ValueError, match="not both"):
        _fit(X, y, "sgd", validation_split=0.2, validation=(X, y))


def test_prefetcher_hands_on_errors_and_stops_early():
    def produce():
        yield 1
        yield 2
        raise KeyError("row 17 missing")

    got = []
    with pytest.raises(KeyError, match="row 17"):
        for item in Prefetcher(produce):
            got.append(item)
    assert got == [1, 2]

    endless = Prefetcher(lambda: iter(range(10**9)), depth=2)
    for i, item in enumerate(endless):
        if i == 3:
            break
    assert not endless._thread.is_alive()


def test_every_backend_trains_from_a_memmap_like_from_arrays(bk, tmp_path):
    X, y = _data(60)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    models = []
    for data in ((X, y), (np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r"))):
        model = bk.model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], seed=1)
        model.fit(*data, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=2, batch_size=16, verbose=0))
        models.append(model)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(ann.to_numpy(p), ann.to_numpy(q), rtol=bk.rtol, atol=bk.atol)


def test_jax_compiled_fit_from_a_source_equals_its_fit_from_arrays(tmp_path):
    pytest.importorskip("jax")
    X, y = _data(80)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    histories, weights = [], []
    for data in ((X, y), (np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r"))):
        model = ann.Model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], backend="jax", dtype="float64", seed=1)
        histories.append(model.fit(*data, ann.Solver(optimizer="adam", learning_rate=0.01), ann.Settings(epochs=3, batch_size=16, verbose=0)))
        weights.append([ann.to_numpy(p) for p in model.parameters()])
    assert histories[1].compiled == "jax.jit"
    for p, q in zip(*weights):
        np.testing.assert_allclose(p, q, rtol=1e-10)
    np.testing.assert_allclose(histories[0].loss, histories[1].loss, rtol=1e-10)


# -- weights --------------------------------------------------------------------------------------
def test_integer_sample_weights_equal_duplicated_rows():
    X, y = _data(40)
    w = np.random.default_rng(1).integers(0, 4, size=40)
    duplicated = np.repeat(np.arange(40), w)
    for optimizer, batch in (("lbfgs", None), ("sgd", 10**6)):
        results = []
        for args, kwargs in (((X, y), {"sample_weight": w}), ((X[duplicated], y[duplicated]), {})):
            model = _model()
            settings = ann.Settings(epochs=5, batch_size=batch or 32, shuffle=False, verbose=0)
            history = model.fit(*args, ann.Solver(optimizer=optimizer, learning_rate=0.1), settings, **kwargs)
            results.append(([ann.to_numpy(p) for p in model.parameters()], history.loss))
        for p, q in zip(results[0][0], results[1][0]):
            np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-9)


@pytest.mark.parametrize("loss,output,n_out", [
    ("mse", "linear", 2), ("mae", "linear", 2), ("rmse", "linear", 2), ("poisson", "exponential", 2),
    ("binary_crossentropy", "sigmoid", 1), ("crossentropy", "softmax", 3),
])
def test_weighted_loss_is_the_weighted_mean_for_every_loss(loss, output, n_out):
    """Gradients of the weighted loss against central differences, and its value against the definition."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 3))
    if output == "softmax":
        y = rng.integers(0, 3, size=7)
    elif output == "sigmoid":
        y = rng.integers(0, 2, size=7)
    else:
        y = np.abs(rng.standard_normal((7, n_out)))
    w = rng.uniform(0, 2, size=7)
    model = ann.Model([ann.Layer(3, 5, "tanh"), ann.Layer(5, n_out, output)], backend="numpy", dtype="float64", seed=0)
    solver = ann.Solver(loss=loss)
    from anyarray_nn import network
    from anyarray_nn._validation import check_targets

    xp, params = model.xp, model.parameters()
    T = check_targets(y, model.backend, solver.loss, n_out, 7)
    r = network.sample_shares(xp.asarray(w), xp=xp)

    def value(ps):
        cache = network.forward(model.layers, ps, X, xp=xp)
        return float(network.backward(model.layers, ps, cache, T, solver.loss, solver.regularization, xp=xp, weights=r)[0])

    # The definition: sum_i w_i l_i / sum_i w_i, with l_i each row's own loss (RMSE: the root of the weighted MSE).
    per_row = []
    for i in range(7):
        cache = network.forward(model.layers, params, X[i : i + 1], xp=xp)
        Z, A = cache[-1]
        per_row.append(float(solver.loss.forward(Z, A, T[i : i + 1], model.layers[-1].activation, xp=xp)))
    per_row = np.array(per_row)
    expected = np.sqrt(np.sum(w * per_row**2) / w.sum()) if loss == "rmse" else np.sum(w * per_row) / w.sum()
    assert value(params) == pytest.approx(expected, rel=1e-12)

    cache = network.forward(model.layers, params, X, xp=xp)
    _, gW, gb = network.backward(model.layers, params, cache, T, solver.loss, solver.regularization, xp=xp, weights=r)
    grads = [g for pair in zip(gW, gb) for g in pair]
    eps = 1e-6
    for k, p in enumerate(params):
        for index in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[k][index] += eps
            minus[k][index] -= eps
            numeric = (value(plus) - value(minus)) / (2 * eps)
            assert grads[k][index] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_balanced_class_weight_is_scikit_learns():
    sklearn_utils = pytest.importorskip("sklearn.utils")
    from anyarray_nn.weighting import class_weight_table

    y = np.array([0] * 30 + [1] * 7 + [2] * 3)
    expected = sklearn_utils.compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(class_weight_table("balanced", y, 3), expected, rtol=1e-15)
    # A class absent from y keeps weight 1, the others as scikit-learn over the classes present.
    y2 = np.array([0, 0, 0, 2])
    expected = sklearn_utils.compute_class_weight("balanced", classes=np.array([0, 2]), y=y2)
    np.testing.assert_allclose(class_weight_table("balanced", y2, 3)[[0, 2]], expected)
    # class_weight equals the same weights given per row.
    X, _ = _data(40)
    table = class_weight_table("balanced", y, 3)
    a, _ = _fit(X, y, "sgd", class_weight="balanced")
    b, _ = _fit(X, y, "sgd", sample_weight=table[y])
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(ann.to_numpy(p), ann.to_numpy(q))
    with pytest.raises(ValueError, match="class_weight"):
        _fit(X, y, "sgd", class_weight={5: 1.0})
    with pytest.raises(ValueError, match="class_weight"):
        _fit(X, y, "sgd", class_weight="balanceed")


@pytest.mark.parametrize("compile", [False, "auto"])
def test_a_batch_whose_weights_are_all_zero_adds_nothing(compile):
    backend = "jax" if compile == "auto" else "numpy"
    if backend == "jax":
        pytest.importorskip("jax")
    X, y = _data(32)
    w = np.ones(32)
    w[:16] = 0.0  # the first batch (no shuffling) weighs nothing
    model = ann.Model([ann.Layer(4, 12, "relu"), ann.Layer(12, 3, "softmax")], backend=backend, dtype="float64", seed=3)
    settings = ann.Settings(epochs=3, batch_size=16, shuffle=False, verbose=0, compile=compile)
    history = model.fit(X, y, ann.Solver(optimizer="sgd", learning_rate=0.1), settings, sample_weight=w)
    assert np.all(np.isfinite(history.loss))
    ref = ann.Model([ann.Layer(4, 12, "relu"), ann.Layer(12, 3, "softmax")], backend=backend, dtype="float64", seed=3)
    ref.fit(X[16:], y[16:], ann.Solver(optimizer="sgd", learning_rate=0.1), settings)
    for p, q in zip(ref.parameters(), model.parameters()):
        np.testing.assert_allclose(ann.to_numpy(p), ann.to_numpy(q), rtol=1e-12)
    with pytest.raises(ValueError, match="sample_weight"):
        _fit(X, y, "sgd", sample_weight=-w)


def test_a_data_set_may_carry_weights():
    X, y = _data(48)
    w = np.random.default_rng(4).uniform(0.0, 2.0, size=48)
    a, _ = _fit(RowsDataset(X, y, w), None, "adam")
    b, _ = _fit(X, y, "adam", sample_weight=w)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(ann.to_numpy(p), ann.to_numpy(q))


# -- larger than memory ---------------------------------------------------------------------------
_BOUNDED = textwrap.dedent(
    """
    import os, resource, sys
    import numpy as np
    import anyarray_nn as ann

    path, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    class FileRows:
        # Rows of a raw float32 file, read with pread: an array-like that holds nothing in memory.
        def __init__(self, path, n, d):
            self.fd, self.shape, self.dtype = os.open(path, os.O_RDONLY), (n, d), np.dtype(np.float32)
        def __len__(self):
            return self.shape[0]
        def __getitem__(self, rows):
            if isinstance(rows, slice):
                start, stop, _ = rows.indices(self.shape[0])
                buf = os.pread(self.fd, (stop - start) * self.shape[1] * 4, start * self.shape[1] * 4)
                return np.frombuffer(buf, dtype=np.float32).reshape(stop - start, self.shape[1])
            return np.stack([self[int(r) : int(r) + 1][0] for r in rows])

    X = FileRows(path, n, d)
    y = (np.arange(n) % 10).astype(np.int64)
    model = ann.Model([ann.Layer(d, 32, "relu"), ann.Layer(32, 10, "softmax")], backend="numpy", seed=0)
    # Allow the process only a little more address space than it has now: far less than the file.
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    limit = vm + 160 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    history = model.fit(X, y, ann.Solver(optimizer="adam", learning_rate=1e-3), ann.Settings(epochs=1, batch_size=256, verbose=0))
    with open("/proc/self/status") as f:  # ru_maxrss would carry the parent's peak across exec
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    try:  # the limit bites: the file's rows could not be held in memory at once
        np.ones((n, d), dtype=np.float32)
        print("the whole file fits: the limit does not bite")
        sys.exit(3)
    except MemoryError:
        pass
    print(f"file {os.path.getsize(path) / 2**20:.0f} MiB, address space allowed {limit / 2**20:.0f} MiB "
          f"(+160 MiB), peak resident {peak / 2**20:.0f} MiB, loss {history.loss[-1]:.4f}")
    """
)


@pytest.mark.slow
def test_one_epoch_from_a_file_larger_than_the_memory_allowed(tmp_path):
    """A 480 MiB file, with the process allowed 160 MiB more address space than it had on starting."""
    n, d = 160_000, 784
    path = tmp_path / "X.f32"
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for start in range(0, n, 20_000):
            f.write(rng.standard_normal((20_000, d), dtype=np.float32).tobytes())
    script = tmp_path / "bounded.py"
    script.write_text(_BOUNDED)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(path), str(n), str(d)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    assert "loss" in done.stdout


def test_a_dask_model_trains_on_dask_arrays_and_another_reads_them_by_batch():
    da = pytest.importorskip("dask.array")
    X, y = _data(64)
    histories = []
    for backend in ("dask", "numpy"):
        model = ann.Model([ann.Layer(4, 8, "tanh"), ann.Layer(8, 3, "softmax")], backend=backend, dtype="float64", seed=0)
        histories.append(model.fit(da.from_array(X, chunks=16), da.from_array(y, chunks=16),
                                   settings=ann.Settings(epochs=2, batch_size=16, verbose=0)))
        if backend == "dask":
            assert type(model.parameters()[0]).__module__.startswith("dask")
    np.testing.assert_allclose(histories[0].loss, histories[1].loss, rtol=1e-12)
