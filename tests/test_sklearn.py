"""scikit-learn estimators: scikit-learn's own estimator checks, pipelines, parity with its MLP, backends."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import array_api_compat
import numpy as np
import pytest

pytest.importorskip("sklearn")
threadpoolctl = pytest.importorskip("threadpoolctl")
threadpool_limits = threadpoolctl.threadpool_limits

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, make_blobs  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import anyarray_nn as ann  # noqa: E402
from anyarray_nn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # Small matrices: extra BLAS threads only contend with each other (and with parallel test runs).
    with threadpool_limits(1):
        yield


# scikit-learn's estimator checks on the estimators as users get them: default parameters.
@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_import_error_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.delitem(sys.modules, "anyarray_nn.sklearn")
    with pytest.raises(ImportError, match=r'pip install "\.\[sklearn\]" in the anyarray_nn checkout'):
        import anyarray_nn.sklearn  # noqa: F401


# ------------------------------------------------------------------------------------------------------
# data
def _split(loader, seed=0):
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.fixture(scope="module")
def digits():
    return _split(load_digits)


def test_pipeline_in_grid_search_on_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), learning_rate_init=0.01, max_iter=20, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)], "mlpclassifier__alpha": [1e-4, 1e-1]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > 0.9
    assert search.score(X_test, y_test) > 0.9
    assert search.best_estimator_[-1].model_.n_features == 64


@pytest.mark.parametrize("loader", [load_digits, load_breast_cancer], ids=["digits", "breast_cancer"])
def test_accuracy_within_one_point_of_sklearn(loader):
    # Same split, same settings; the mean over three seeds of each estimator's test accuracy.
    X_train, X_test, y_train, y_test = _split(loader)
    settings = dict(hidden_layer_sizes=(64,), solver="adam", learning_rate_init=1e-3, alpha=1e-4, max_iter=200)
    ours, theirs = [], []
    for seed in range(3):
        ours.append(MLPClassifier(**settings, random_state=seed).fit(X_train, y_train).score(X_test, y_test))
        theirs.append(SkMLPClassifier(**settings, random_state=seed).fit(X_train, y_train).score(X_test, y_test))
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.01, (ours, theirs)
    assert np.mean(ours) > 0.9


# ------------------------------------------------------------------------------------------------------
# labels, outputs, fitted attributes
def test_string_labels_binary_has_one_sigmoid_unit(digits):
    X_train, X_test, y_train, y_test = digits
    names = np.where(y_train % 2 == 0, "even", "odd")
    clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=30, random_state=0).fit(X_train, names)
    assert clf.classes_.tolist() == ["even", "odd"]
    assert clf.out_activation_ == "logistic" and clf.model_.n_outputs == 1
    proba, scores, labels = clf.predict_proba(X_test), clf.decision_function(X_test), clf.predict(X_test)
    assert proba.shape == (len(X_test), 2) and scores.shape == (len(X_test),)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.array_equal(labels, np.where(scores > 0, "odd", "even"))
    assert clf.score(X_test, np.where(y_test % 2 == 0, "even", "odd")) > 0.85


def test_non_contiguous_labels_multiclass(digits):
    X_train, X_test, y_train, y_test = digits
    codes = np.array([-7, 3, 10, 11, 50, 51, 52, 99, 100, 1000])
    clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=30, random_state=0).fit(X_train, codes[y_train])
    assert clf.classes_.tolist() == sorted(codes.tolist())
    assert clf.out_activation_ == "softmax" and clf.model_.n_outputs == 10
    assert clf.n_features_in_ == 64 and clf.n_iter_ == len(clf.loss_curve_) > 0
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert isinstance(clf.model_, ann.Model)
    scores = clf.decision_function(X_test)
    assert scores.shape == (len(X_test), 10)
    assert np.array_equal(clf.predict(X_test), clf.classes_[np.argmax(scores, axis=1)])
    assert clf.score(X_test, codes[y_test]) > 0.9


def test_one_class_predicts_it_and_regression_targets_are_refused():
    # As scikit-learn's: a single class trains one sigmoid unit towards 0 and always predicts that class.
    X = np.random.default_rng(0).normal(size=(20, 3))
    clf = MLPClassifier(max_iter=2).fit(X, np.full(20, 7))
    assert clf.classes_.tolist() == [7] and clf.predict(X).tolist() == [7] * 20
    assert clf.predict_proba(X).shape == (20, 2)
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier(max_iter=2).fit(X, X[:, 0])


@pytest.mark.parametrize("shape", [(60,), (60, 1), (60, 3)])
def test_regressor_output_shape_follows_y(shape):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X @ rng.normal(size=(4, 3)))[:, : (shape[1] if len(shape) == 2 else 1)].reshape(shape)
    reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=200, dtype="float64", random_state=0).fit(X, y)
    assert reg.predict(X).shape == shape
    assert reg.n_outputs_ == (shape[1] if len(shape) == 2 else 1)
    assert reg.score(X, y) > 0.9


def test_partial_fit_needs_classes_then_continues(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier((16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X_train, y_train)
    clf.partial_fit(X_train[:200], y_train[:200], classes=np.arange(10))
    for _ in range(9):
        clf.partial_fit(X_train, y_train)
    # As scikit-learn's: n_iter_ counts the epochs of the last call, loss_curve_ those of all calls.
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 10 and clf.t_ == 200 + 9 * len(X_train)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X_train[:5], np.array([0, 1, 2, 3, 42]))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X_train[:, :10], y_train)


def test_early_stopping_records_validation_and_stops(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier(
        (32,), learning_rate_init=0.01, max_iter=300, early_stopping=True, n_iter_no_change=5, random_state=0
    ).fit(X_train, y_train)
    # scikit-learn's rule: stop after n_iter_no_change + 1 epochs without a validation accuracy above the
    # best by tol, and keep the weights of the best epoch.
    assert clf.n_iter_ < 300 and clf.best_loss_ is None
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert all(s < clf.best_validation_score_ + 1e-4 for s in clf.validation_scores_[-6:])


def test_fit_is_reproducible_and_pickles(digits):
    X_train, X_test, y_train, _ = digits
    est = MLPClassifier((16,), max_iter=5, random_state=3, dropout=0.1)
    a = est.fit(X_train, y_train).predict_proba(X_test)
    b = clone(est).fit(X_train, y_train).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict_proba(X_test), a)
    restored.partial_fit(X_train, y_train)  # the optimizer state came along
    assert len(restored.loss_curve_) == len(est.loss_curve_) + 1 and restored.t_ == est.t_ + len(X_train)


def test_penalties_dropout_and_learning_rates(digits):
    X_train, X_test, y_train, y_test = digits
    base = dict(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01, random_state=0)
    plain = MLPClassifier(**base, penalty="none").fit(X_train, y_train)
    sparse = MLPClassifier(**base, penalty="l1", alpha=2.0).fit(X_train, y_train)
    small = lambda est: np.mean(np.abs(ann.to_numpy(est.model_.layers[0].W)) < 1e-2)  # noqa: E731
    assert small(sparse) > small(plain) + 0.2
    for extra in (
        dict(penalty="elasticnet", l1_ratio=0.3, alpha=1e-3),
        dict(dropout=0.2),
        dict(learning_rate="adaptive", solver="sgd", learning_rate_init=0.2),
        dict(learning_rate=0.01, solver="momentum"),
        dict(learning_rate="cosine"),
    ):
        clf = MLPClassifier(**{**base, **extra}).fit(X_train, y_train)
        assert clf.score(X_test, y_test) > 0.8, extra


@pytest.mark.parametrize(
    "param, value",
    [
        ("hidden_layer_sizes", (10, 0)),
        ("activation", "softmax"),
        ("solver", "newton"),
        ("learning_rate", "linear"),
        ("power_t", -1.0),
        ("n_iter_no_change", 0),
        ("max_fun", 0),
        ("learning_rate_init", -1.0),
        ("penalty", "l3"),
        ("alpha", -1.0),
        ("dropout", 1.0),
        ("batch_size", 0),
        ("max_iter", 0),
    ],
)
def test_bad_parameters_name_themselves(param, value):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=param):
        MLPClassifier(**{param: value}).fit(X, np.arange(20) % 2)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = load_breast_cancer(return_X_y=True, as_frame=False)
    frame = pd.DataFrame(StandardScaler().fit_transform(X[:, :4]), columns=["a", "b", "c", "d"])
    clf = MLPClassifier((8,), max_iter=5, random_state=0).fit(frame, y)
    assert clf.feature_names_in_.tolist() == ["a", "b", "c", "d"]
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(frame.to_numpy())


# ------------------------------------------------------------------------------------------------------
# backends: arrays of the estimator's backend in, the same backend out; NumPy in, NumPy out
def test_backend_arrays_in_same_backend_out(bk):
    backend = bk.make()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, 7, 2)
    kwargs = dict(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=30, random_state=0)
    kwargs.update(backend=bk.backend, device=bk.device, dtype=bk.dtype)
    Xb, yb = bk.asarray(X), bk.asarray(y)
    clf = MLPClassifier(**kwargs).fit(Xb, yb)
    labels, proba, scores = clf.predict(Xb), clf.predict_proba(Xb), clf.decision_function(Xb)
    for out in (labels, proba, scores):
        assert backend.owns(out)
        assert array_api_compat.device(out) == array_api_compat.device(Xb)
    assert tuple(proba.shape) == (80, 2) and tuple(scores.shape) == (80,)
    assert set(ann.to_numpy(labels).tolist()) <= {2, 7}
    # NumPy in, NumPy out, with the same predictions.
    numpy_labels = clf.predict(X)
    assert isinstance(numpy_labels, np.ndarray)
    np.testing.assert_array_equal(numpy_labels, ann.to_numpy(labels))
    assert clf.score(Xb, yb) == clf.score(X, y) > 0.9

    reg = MLPRegressor(**kwargs).fit(Xb, bk.asarray(X[:, :2]))
    out = reg.predict(Xb)
    assert backend.owns(out) and tuple(out.shape) == (80, 2)
    assert isinstance(reg.predict(X), np.ndarray)


def test_arrays_of_another_backend_are_refused():
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="backend='torch'"):
        MLPClassifier(max_iter=2).fit(torch.asarray(X), np.arange(20) % 2)
    clf = MLPClassifier(max_iter=2).fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="backend='torch'"):
        clf.predict(torch.asarray(X))


# ------------------------------------------------------------------------------------------------------
# scikit-learn's training, reproduced
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_same_path_as_scikit_learn(solver):
    # Same initialization, shuffling and updates: the weights agree to rounding after training.
    X, y = load_digits(n_class=3, return_X_y=True)
    X = X[:200] / 16.0
    settings = dict(hidden_layer_sizes=(20,), solver=solver, random_state=1, max_iter=20)
    ours = MLPClassifier(**settings).fit(X, y[:200])
    theirs = SkMLPClassifier(**settings).fit(X, y[:200])
    tol = 1e-10 if solver == "sgd" else 1e-3
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=tol)
    if solver == "sgd":
        for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
            np.testing.assert_allclose(a, b, atol=1e-10)
        assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_dtype_follows_the_input(dtype):
    X = (np.random.default_rng(0).normal(size=(40, 3)) * 3).astype(dtype)
    expected = np.float32 if dtype == np.float32 else np.float64
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, X[:, 0].astype(float))
    assert reg.predict(X).dtype == expected and all(c.dtype == expected for c in reg.coefs_)
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, dtype="float32").fit(X, X[:, 0].astype(float))
    assert reg.predict(X).dtype == np.float32


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "squared", "poisson"])
def test_weighted_objective_gradient(kind):
    # The estimators' objective (scikit-learn's losses, sample weights, the penalty) against central
    # finite differences, in float64.
    from anyarray_nn import network

    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 4))
    y = {
        "multiclass": rng.integers(0, 3, 7),
        "binary": rng.integers(0, 2, 7),
        "multilabel": rng.integers(0, 2, (7, 3)),
        "squared": rng.normal(size=(7, 2)),
        "poisson": rng.poisson(2.0, 7).astype(float),
    }[kind]
    est = (MLPRegressor(loss="poisson" if kind == "poisson" else "squared_error", hidden_layer_sizes=(5,),
                        activation="tanh", max_iter=1, alpha=0.3)
           if kind in ("squared", "poisson") else MLPClassifier(hidden_layer_sizes=(5,), activation="tanh",
                                                              max_iter=1, alpha=0.3))
    w = rng.uniform(0.5, 2.0, 7)
    est.fit(X, y, sample_weight=w)
    Y = est._encode_targets(y, False, True, None) if kind not in ("squared", "poisson") else (
        y[:, None] if y.ndim == 1 else y)
    params = [np.array(p, dtype=np.float64) for p in est.model_.parameters()]
    # What the engine's step computes for this batch: the estimator's loss, weighted, and alpha / sum(w)
    # times the unit penalty.
    solver, layers = est._solver, est.model_.layers
    reg = solver.regularization
    assert reg.per_sample and reg.lam == 0.3

    def objective(params):
        cache = network.forward(layers, params, X, xp=np)
        value, gW, gb = network.backward(
            layers, params, cache, Y.astype(np.float64), solver.loss, reg.unit(), xp=np,
            weights=network.sample_shares(w, xp=np), penalty_scale=reg.batch_scale(7, np.sum(w), xp=np),
        )
        return value, [g for pair in zip(gW, gb) for g in pair]

    value, grads = objective(params)
    for p, g in zip(params, grads):
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + 1e-6
            up = float(objective(params)[0])
            p[i] = old - 1e-6
            down = float(objective(params)[0])
            p[i] = old
            numeric[i] = (up - down) / 2e-6
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)


# -- the estimators train on the library's engine -------------------------------------------------
def test_estimators_train_through_model_fit_with_callbacks_and_history():
    import inspect

    import anyarray_nn.sklearn as module

    source = inspect.getsource(module)
    for call in ("network.forward(", "network.backward(", "optimizer.step(", "lbfgs.minimize("):
        assert call not in source, call
    X, y = _blobs()
    seen = []

    class Count(ann.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, logs["loss"]))

    for solver in ("adam", "lbfgs"):
        seen.clear()
        est = MLPClassifier(hidden_layer_sizes=(6,), solver=solver, max_iter=7, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y, callbacks=[Count()])
        assert isinstance(est.history_, ann.History)
        assert est.history_.epochs == est.n_iter_ == len(seen)
        np.testing.assert_array_equal(est.loss_curve_, [loss for _, loss in seen])


def test_a_jax_estimator_trains_with_a_compiled_step():
    pytest.importorskip("jax")
    X, y = _blobs()
    fitted = {}
    for backend in ("jax", "numpy"):
        est = MLPClassifier(hidden_layer_sizes=(8,), backend=backend, max_iter=20, learning_rate_init=0.05, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted[backend] = est.fit(X, y)
    assert fitted["jax"].history_.compiled == "jax.jit"
    np.testing.assert_allclose(fitted["jax"].loss_curve_, fitted["numpy"].loss_curve_, rtol=1e-10)
    assert fitted["jax"].score(X, y) > 0.9


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_zero_weights_filling_a_batch_add_nothing(solver):
    """A batch whose weights are all 0 is neither refused nor counted: its rows' values do not matter."""
    X, y = _blobs()
    w = np.ones(X.shape[0])
    w[:20] = 0.0
    models = []
    for shift in (0.0, 50.0):
        Xs = X.copy()
        Xs[:20] += shift
        est = MLPClassifier(hidden_layer_sizes=(6,), solver=solver, batch_size=10, shuffle=False, max_iter=5,
                            random_state=0, alpha=1e-3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(Xs, y, sample_weight=w)
        assert np.all(np.isfinite(est.loss_curve_))
        models.append(est)
    for a, b in zip(models[0].coefs_, models[1].coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_warm_start_refuses_a_changed_network():
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        est.set_params(hidden_layer_sizes=(9, 4))
        with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(6,\).*hidden_layer_sizes=\(9, 4\).*warm_start=False"):
            est.fit(X, y)
        est.set_params(warm_start=False)
        est.fit(X, y)  # a fresh network, as asked
    assert [W.shape for W in est.coefs_] == [(X.shape[1], 9), (9, 4), (4, 3)]


def test_float64_data_on_jax_without_64_bit_types_trains_in_float32_with_one_warning():
    pytest.importorskip("jax")
    code = textwrap.dedent(
        """
        import warnings
        import numpy as np
        from anyarray_nn.sklearn import MLPClassifier
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 3))
        y = (X[:, 0] > 0).astype(int)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = MLPClassifier(hidden_layer_sizes=(4,), backend="jax", max_iter=3, random_state=0).fit(X, y)
            est.predict(X)
        said = [str(w.message) for w in caught if "float64" in str(w.message)]
        print(est.model_.dtype, len(said))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["float32", "1"], done.stdout


def _blobs():
    X, y = make_blobs(n_samples=90, centers=3, n_features=4, random_state=0)
    return (X - X.mean(0)) / X.std(0), y
