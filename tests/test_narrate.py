"""The narrated step and the column layout of the dimension table: what learners compare their own code with."""

import io

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn.narrate import narrate_step


def _batch():
    X = np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8], [0.1, 0.4]])
    y = np.array([0, 1, 2, 1])
    return X, y


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_narrated_step_matches_backward_and_applies_the_update(bk, layout):
    X, y = _batch()
    model = bk.model([ann.Layer(2, 3, "relu"), ann.Layer(3, 3, "softmax")], seed=0)
    solver = ann.Solver(learning_rate=0.3)
    before = [ann.to_numpy(p).copy() for p in model.parameters()]
    loss, grads_W, grads_b = model.backward(model.forward(X), y, solver)
    expected = []
    for W, b, gW, gb in zip(before[0::2], before[1::2], grads_W, grads_b):
        expected += [W - 0.3 * ann.to_numpy(gW), b - 0.3 * ann.to_numpy(gb)]
    out = io.StringIO()
    step = narrate_step(model, X, y, solver, layout=layout, file=out)
    text = out.getvalue()
    assert text.strip() == step.text.strip()
    tol = 1e-12 if bk.dtype == "float64" else 1e-5
    assert step.max_difference <= tol and step.forward_difference <= tol
    for got, want in zip(model.parameters(), expected):
        np.testing.assert_allclose(ann.to_numpy(got), want, rtol=bk.rtol, atol=bk.atol)
    if layout == "rows":
        assert "Z1 = A0 @ W1 + b1" in text and "(4, 2) @ (2, 3) + (3,) -> (4, 3)" in text
        assert "dW2 = A1.T @ dZ2" in text and "dA1 = dZ2 @ W2.T" in text
    else:
        assert "Z1 = W1 @ A0 + b1" in text and "(3, 2) @ (2, 4) + (3, 1) -> (3, 4)" in text
        assert "dW2 = dZ2 @ A1.T" in text and "dA1 = W2.T @ dZ2" in text and "db1" in text and "(3, 1)" in text
    assert "softmax + crossentropy gradient, fused" in text
    assert "dZ1 = dA1 * relu'(Z1)" in text
    assert step.loss == pytest.approx(float(ann.to_numpy(loss)), rel=tol)


def test_printed_values_are_those_of_the_layout_shown():
    X, y = _batch()
    model = ann.Model([ann.Layer(2, 3, "tanh"), ann.Layer(3, 3, "softmax")], backend="numpy", dtype="float64", seed=1)
    Z1 = X @ model.layers[0].W + model.layers[0].b
    rows = narrate_step(model, X, y, update=False, file=False, n_values=2).text
    cols = narrate_step(model, X, y, update=False, file=False, n_values=2, layout="columns").text
    assert f"Z1[0, :2] = [{Z1[0, 0]:.4g}, {Z1[0, 1]:.4g}, ...]" in rows  # first sample, units 1-2
    assert f"Z1[0, :2] = [{Z1[0, 0]:.4g}, {Z1[1, 0]:.4g}, ...]" in cols  # unit 1, samples 1-2
    assert "samples are columns" in cols and "W_columns = layer.W.T" in cols


def test_update_false_leaves_the_model_and_other_losses_and_penalties_agree():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    y = rng.normal(size=5)
    model = ann.Model([ann.Layer(3, 4, "tanh"), ann.Layer(4, 1, "linear")], backend="numpy", dtype="float64", seed=0)
    before = [p.copy() for p in model.parameters()]
    solver = ann.Solver(loss="mse", optimizer="adam", learning_rate=0.05, regularization=ann.Regularization("elasticnet", lam=0.1, r=0.3))
    step = narrate_step(model, X, y, solver, update=False, file=False)
    assert not step.updated
    for got, want in zip(model.parameters(), before):
        np.testing.assert_array_equal(got, want)
    assert step.max_difference < 1e-13
    assert "the chain rule" in step.text and "elasticnet penalty" in step.text
    assert "plain gradient descent; the solver's 'adam'" in step.text
    loss, _, _ = model.backward(model.forward(X), y, solver)
    assert step.loss == pytest.approx(float(loss), rel=1e-12)


def test_bad_arguments_are_named():
    X, y = _batch()
    model = ann.Model([ann.Layer(2, 3, "relu"), ann.Layer(3, 3, "softmax")], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="`layout` must be 'rows' or 'columns'"):
        narrate_step(model, X, y, layout="cols", file=False)
    with pytest.raises(TypeError, match="`model` must be an anyarray_nn Model"):
        narrate_step("model", X, y, file=False)
    with pytest.raises(ValueError, match="`n_values` must be a positive integer"):
        narrate_step(model, X, y, n_values=0, file=False)
    with pytest.raises(ValueError, match="`learning_rate`"):
        narrate_step(model, X, y, learning_rate=-1.0, file=False)
    with pytest.raises(ValueError, match="features"):
        narrate_step(model, X[:, :1], y, file=False)
    with pytest.raises(TypeError, match="`update` must be True or False"):
        narrate_step(model, X, y, update="yes", file=False)


def test_summary_in_the_tutorials_column_layout():
    model = ann.Model([ann.Layer(3, 5, "relu"), ann.Layer(5, 4, "relu"), ann.Layer(4, 1, "sigmoid")], backend="numpy", seed=0)
    rows = model.summary(batch_size=7)
    cols = model.summary(batch_size=7, layout="columns")
    table = [line.split() for line in cols.splitlines()[3:-1]]
    assert table[0] == ["input", "X:", "(3,", "7)"]
    # layer, activation, init, W (n_out, n_in), b (n_out, 1), Z and A (n_out, m), params
    assert table[1][3:] == ["(5,", "3)", "(5,", "1)", "(5,", "7)", "20"]
    assert table[2][3:] == ["(4,", "5)", "(4,", "1)", "(4,", "7)", "24"]
    assert table[3][3:] == ["(1,", "4)", "(1,", "1)", "(1,", "7)", "5"]
    assert "Z = W @ A_prev + b" in cols and "samples are columns" in cols
    assert "(3, 5)  (5,)  (7, 5)" in rows and "samples are rows" in rows
    # The shapes are those of the transposed arrays.
    W = model.layers[0].W
    assert f"({W.T.shape[0]}, {W.T.shape[1]})" in cols
    assert model.summary(7, layout="rows") == rows
    with pytest.raises(ValueError, match="`layout` must be 'rows' or 'columns'"):
        model.summary(layout="column")
