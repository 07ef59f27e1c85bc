"""Every kind of bad input gets a clear ValueError / TypeError that names the argument."""

import numpy as np
import pytest

import anyarray_nn as ann


@pytest.fixture
def clf():
    return ann.Model([ann.Layer(4, 5, "relu"), ann.Layer(5, 3, "softmax")], backend="numpy", seed=0)


X_OK = np.zeros((6, 4))
Y_OK = np.array([0, 1, 2, 0, 1, 2])
QUIET = ann.Settings(epochs=1, verbose=0)


@pytest.mark.parametrize(
    "X,error,pattern",
    [
        (np.zeros((6, 3)), ValueError, r"`X` has 3 features .* expects 4"),
        (np.zeros(6), ValueError, r"`X` must be 2-D"),
        (np.zeros((0, 4)), ValueError, r"`X` is empty"),
        (np.full((6, 4), np.nan), ValueError, r"`X` contains 24 NaN or infinite"),
        (np.array([[1, 2, 3, np.inf]] * 6), ValueError, r"`X` contains 6 NaN or infinite"),
        (np.array([["a", "b", "c", "d"]] * 6), TypeError, r"`X` must hold numbers"),
        ([[1, "x", 3, 4]] * 6, TypeError, r"`X` must hold numbers"),
        (None, TypeError, r"`X` must be an array of numbers, got None"),
        ("abc", TypeError, r"`X` must be an array of numbers"),
        (np.zeros((6, 4), dtype=complex), TypeError, r"`X` must hold numbers"),
    ],
    ids=["features", "1d", "empty", "nan", "inf", "strings", "mixed", "none", "str", "complex"],
)
def test_bad_X(clf, X, error, pattern):
    with pytest.raises(error, match=pattern):
        clf.fit(X, Y_OK, settings=QUIET)
    if X is not None and not isinstance(X, str):
        with pytest.raises(error, match=pattern.replace("24", r"\d+").replace("6 NaN", r"\d+ NaN")):
            clf.predict(X)


@pytest.mark.parametrize(
    "y,error,pattern",
    [
        (np.array([0, 1, 2]), ValueError, r"`X` and `y` have different numbers of samples: X has 6, y has 3"),
        (np.array([0, 1, 2, 3, 1, 2]), ValueError, r"`y` holds labels \[3\] outside the 3 classes"),
        (np.array([0, -1, 2, 0, 1, 2]), ValueError, r"`y` holds labels \[-1\] outside"),
        (np.array([0, 1.5, 2, 0, 1, 2]), ValueError, r"`y` class labels must be integers"),
        (np.array([0, np.nan, 2, 0, 1, 2]), ValueError, r"`y` contains 1 NaN"),
        (np.array(["a", "b", "c", "a", "b", "c"]), TypeError, r"`y` must hold numbers"),
        (np.zeros((6, 4)), ValueError, r"`y` one-hot targets have 4 columns, but the output layer has 3"),
        (np.zeros((6, 3, 1)), ValueError, r"`y` must be 1-D"),
    ],
    ids=["length", "label-too-big", "label-negative", "non-integer", "nan", "strings", "one-hot-width", "3d"],
)
def test_bad_y(clf, y, error, pattern):
    with pytest.raises(error, match=pattern):
        clf.fit(X_OK, y, settings=QUIET)


def test_bad_binary_and_regression_targets():
    binary = ann.Model([ann.Layer(2, 1, "sigmoid")], backend="numpy")
    with pytest.raises(ValueError, match=r"`y` for binary cross-entropy must hold 0/1 labels"):
        binary.fit(np.zeros((3, 2)), np.array([0, 1, 2]), settings=QUIET)
    reg = ann.Model([ann.Layer(2, 2, "linear")], backend="numpy")
    with pytest.raises(ValueError, match=r"`y` has 1 output column\(s\) .* the output layer has 2"):
        reg.fit(np.zeros((3, 2)), np.zeros(3), settings=QUIET)


def test_bad_validation_data(clf):
    with pytest.raises(ValueError, match=r"`validation_data\[0\]` has 2 features"):
        clf.fit(X_OK, Y_OK, settings=QUIET, validation_data=(np.zeros((2, 2)), np.array([0, 1])))
    with pytest.raises(ValueError, match=r"`validation_data\[1\]` holds labels \[7\]"):
        clf.fit(X_OK, Y_OK, settings=QUIET, validation_data=(np.zeros((2, 4)), np.array([0, 7])))
    with pytest.raises(TypeError, match=r"`validation_data` must be a tuple"):
        clf.fit(X_OK, Y_OK, settings=QUIET, validation_data=np.zeros((2, 4)))


@pytest.mark.parametrize(
    "make,error,pattern",
    [
        (lambda: ann.Layer(4, 5, "rleu"), ValueError, r"Unknown activation 'rleu'; expected one of \[.*'relu'.*\]"),
        (lambda: ann.Layer(4, 5, 42), TypeError, r"`activation` must be a name"),
        (lambda: ann.Layer(4, 5, init="hee"), ValueError, r"Unknown initializer 'hee' for `init`; expected one of"),
        (lambda: ann.Layer(4, 5, distribution="gauss"), ValueError, r"Unknown `distribution` 'gauss'"),
        (lambda: ann.Layer(0, 5), ValueError, r"`n_in` must be a positive integer, got 0"),
        (lambda: ann.Layer(4, 2.5), TypeError, r"`n_out` must be a positive integer, got 2.5"),
        (lambda: ann.Solver(loss="msee"), ValueError, r"Unknown loss 'msee'; expected one of \[.*'mse'.*\]"),
        (lambda: ann.Solver(optimizer="adamm"), ValueError, r"Unknown optimizer 'adamm'; expected one of"),
        (lambda: ann.Solver(learning_rate=-0.1), ValueError, r"`learning_rate` must be > 0, got -0.1"),
        (lambda: ann.Solver(learning_rate="fast"), TypeError, r"`learning_rate` must be a finite number"),
        (lambda: ann.Settings(epochs=0), ValueError, r"`epochs` must be a positive integer, got 0"),
        (lambda: ann.Settings(epochs=2.5), TypeError, r"`epochs` must be a positive integer, got 2.5"),
        (lambda: ann.Settings(batch_size=-4), ValueError, r"`batch_size` must be a positive integer, got -4"),
        (lambda: ann.Settings(batch_size="32"), TypeError, r"`batch_size` must be a positive integer"),
        (lambda: ann.Regularization("l3"), ValueError, r"Unknown regularization method 'l3' for `method`; expected one of"),
        (lambda: ann.Regularization("l2", lam=-1.0), ValueError, r"`lam` must be >= 0"),
        (lambda: ann.Regularization(dropout=1.0), ValueError, r"`dropout` must lie in \[0, 1\)"),
        (lambda: ann.Regularization("elasticnet", r=1.5), ValueError, r"`r` must lie in \[0, 1\]"),
        (lambda: ann.Model([ann.Layer(4, 5), ann.Layer(6, 3)], backend="numpy"), ValueError,
         r"`layers` do not chain: layers\[0\] has n_out=5 but layers\[1\] has n_in=6"),
        (lambda: ann.Model([], backend="numpy"), ValueError, r"`layers` must be a non-empty list"),
        (lambda: ann.Model(["relu"], backend="numpy"), TypeError, r"`layers\[0\]` must be a Layer, got str"),
        (lambda: ann.Model([ann.Layer(2, 2)], backend="jaxx"), ValueError, r"Unknown backend 'jaxx'; expected one of"),
        (lambda: ann.Model([ann.Layer(2, 2)], backend="numpy", dtype="float16"), ValueError,
         r"Unknown dtype 'float16' for `dtype`; expected one of \['float32', 'float64'\]"),
        (lambda: ann.Model([ann.Layer(2, 2)], backend="numpy", device="cuda"), ValueError, r"`device` must be None or 'cpu'"),
        (lambda: ann.Model([ann.Layer(2, 2)], backend="numpy", seed=-1), ValueError, r"`seed` must be None or an integer"),
    ],
    ids=lambda v: "" if callable(v) else None,
)
def test_bad_configuration(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_predict_batch_size_checked(clf):
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer"):
        clf.predict(X_OK, batch_size=0)


def test_bad_input_on_a_strict_device():
    """Same messages when the model lives on array_api_strict's second device and X arrives there."""
    strict = pytest.importorskip("array_api_strict")
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="array_api_strict", device="device1")
    X = strict.asarray(np.full((2, 4), np.nan), device=strict.Device("device1"))
    with pytest.raises(ValueError, match=r"`X` contains 8 NaN"):
        model.predict(X)
    X3 = strict.asarray(np.zeros((2, 3)), device=strict.Device("device1"))
    with pytest.raises(ValueError, match=r"`X` has 3 features"):
        model.predict(X3)
