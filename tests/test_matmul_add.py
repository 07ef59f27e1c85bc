"""``Backend.matmul_add``: ``C + A @ B`` in one BLAS call where the library has one, and plain SGD's
weight update taken inside the weight-gradient product.

The fused form must give what the product and the addition give: on every backend, for plain and
transposed operands, through the fast paths (NumPy's own OpenBLAS ``gemm``, torch's ``addmm_``) and
through the fallbacks (operands BLAS cannot read as they are, mixed dtypes, overlapping memory).
"""

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import backend as backend_module
from anyarray_nn import network
from conftest import BackendCase


def _operands(seed=0, m=7, k=5, n=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, n)).astype(dtype), rng.standard_normal((m, k)).astype(dtype),
            rng.standard_normal((k, n)).astype(dtype))


@pytest.mark.parametrize("transposed", [False, True])
def test_matmul_add_equals_the_product_plus_the_sum_on_every_backend(any_backend, transposed):
    C, A, B = _operands(dtype=np.dtype(any_backend.dtype))
    b = any_backend.make()
    expected = C + A @ B
    # A as the transpose of a stored (k, m) matrix: how backpropagation passes A_prev.T.
    A_dev = b.asarray(np.ascontiguousarray(A.T)).T if transposed else b.asarray(A)
    out = b.matmul_add(b.asarray(C), A_dev, b.asarray(B))
    assert tuple(out.shape) == C.shape
    np.testing.assert_allclose(ann.to_numpy(out), expected, rtol=any_backend.rtol, atol=any_backend.atol)


def test_matmul_add_writes_into_c_where_the_library_allows_it(bk):
    C, A, B = _operands(dtype=np.dtype(bk.dtype))
    b = bk.make()
    expected = C + A @ B
    C_dev = b.asarray(C)
    out = b.matmul_add(C_dev, b.asarray(A), b.asarray(B))
    # The libraries of the bk fixture all have writeable arrays: C holds the result.
    assert out is C_dev
    np.testing.assert_allclose(ann.to_numpy(C_dev), expected, rtol=bk.rtol, atol=bk.atol)


def _numpy_gemm_or_skip():
    # Every size: these tests check the call itself, not when it pays.
    gemm = backend_module._NumPyGemm(min_size=0)
    C, A, B = _operands()
    if not gemm.add(C.copy(), A, B):
        pytest.skip("this NumPy is not linked to the scipy-openblas build whose gemm the fast path calls")
    return gemm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_numpy_fast_path_matches_the_product_for_every_layout(dtype, trans_a, trans_b):
    gemm = _numpy_gemm_or_skip()
    C, A, B = _operands(seed=1, m=33, k=65, n=17, dtype=dtype)
    expected = C + A @ B
    A_in = np.ascontiguousarray(A.T).T if trans_a else A
    B_in = np.ascontiguousarray(B.T).T if trans_b else B
    assert gemm.add(C, A_in, B_in) is True  # one gemm call, written into C
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(C, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "case",
    ["strided A", "float32 A with float64 C", "C overlaps A", "read-only C", "1-D B", "shapes disagree", "empty"],
)
def test_numpy_fast_path_declines_what_blas_cannot_take_and_the_fallback_is_right(case):
    gemm = _numpy_gemm_or_skip()
    rng = np.random.default_rng(2)
    C, A, B = _operands(seed=2)
    if case == "strided A":
        A = rng.standard_normal((7, 10))[:, ::2]
    elif case == "float32 A with float64 C":
        A = A.astype(np.float32)
    elif case == "C overlaps A":
        C = rng.standard_normal((5, 5))
        A, B = C, rng.standard_normal((5, 5))  # C += C @ B: BLAS must not read what it writes
    elif case == "read-only C":
        C.setflags(write=False)
    elif case == "1-D B":
        B = B[:, 0]
    elif case == "shapes disagree":
        B = rng.standard_normal((6, 4))
    elif case == "empty":
        A, B = A[:, :0], B[:0, :]
    before = C.copy()
    assert gemm.add(C, A, B) is False
    np.testing.assert_array_equal(C, before)  # declined: nothing written
    if case in ("1-D B", "shapes disagree", "read-only C"):
        return  # no product to compare: the generic path raises as NumPy does
    b = ann.Backend("numpy", dtype="float64")
    out = b.matmul_add(np.array(C), A, B)
    np.testing.assert_allclose(out, before + A @ B, rtol=1e-12, atol=1e-12)


def test_numpy_fast_path_leaves_small_products_to_numpy():
    """Below ``MIN_SIZE`` elements of C the ctypes call costs more than the pass it saves: declined."""
    _numpy_gemm_or_skip()
    gemm = backend_module._NumPyGemm()
    side = int(np.sqrt(gemm.MIN_SIZE))
    small, A, B = _operands(seed=3, m=side - 1, k=8, n=side)
    before = small.copy()
    assert small.size < gemm.MIN_SIZE and gemm.add(small, A, B) is False
    np.testing.assert_array_equal(small, before)
    large, A, B = _operands(seed=4, m=side, k=8, n=side)
    expected = large + A @ B
    assert large.size >= gemm.MIN_SIZE and gemm.add(large, A, B) is True
    np.testing.assert_allclose(large, expected, rtol=1e-12, atol=1e-12)


def test_numpy_fast_path_finds_the_blas_numpy_uses():
    """On NumPy's wheels the fast path is found for both float dtypes (else the suite says so)."""
    gemm = _numpy_gemm_or_skip()
    assert set(gemm._functions) == {np.dtype(np.float32), np.dtype(np.float64)}


def test_layer_backward_with_matmul_add_returns_the_new_weights_and_the_old_input_gradient(bk64):
    b = bk64.make()
    layer = ann.Layer(5, 4, "relu")
    layer.build(b)
    rng = np.random.default_rng(3)
    G, A_prev = rng.standard_normal((7, 4)), rng.standard_normal((7, 5))
    W0 = ann.to_numpy(layer.W).copy()
    W = b.xp.asarray(layer.W, copy=True)
    new_W, grad_b, grad_A = layer.backward(
        b.asarray(G), b.asarray(A_prev), xp=b.xp, params=(W, layer.b), matmul_add=b.matmul_add
    )
    np.testing.assert_allclose(ann.to_numpy(new_W), W0 + A_prev.T @ G, rtol=1e-12, atol=1e-12)
    # The product for the layer below used the weights of the forward pass, not the updated ones.
    np.testing.assert_allclose(ann.to_numpy(grad_A), G @ W0.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ann.to_numpy(grad_b), G.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_backward_refuses_matmul_add_with_a_weight_penalty():
    b = ann.Backend("numpy", dtype="float64")
    model = ann.Model([ann.Layer(3, 2, "softmax")], backend="numpy", dtype="float64", seed=0)
    X, T = np.ones((4, 3)), np.tile([1.0, 0.0], (4, 1))
    cache = network.forward(model.layers, model.parameters(), X, xp=b.xp)
    with pytest.raises(ValueError, match="matmul_add.*weight penalty"):
        network.backward(
            model.layers, model.parameters(), cache, T, ann.losses.get("crossentropy"),
            ann.Regularization("l2", lam=0.1), xp=b.xp, scale=-0.1, matmul_add=b.matmul_add,
        )


def _fit(bk, **solver):
    X, y = ann.datasets.load_iris()
    X = (X - X.mean(0)) / X.std(0)
    model = bk.model([ann.Layer(4, 16, "relu"), ann.Layer(16, 8, "tanh"), ann.Layer(8, 3, "softmax")], seed=1)
    history = model.fit(
        X, y, ann.Solver(optimizer="sgd", learning_rate=0.1, **solver),
        ann.Settings(epochs=6, batch_size=16, verbose=0),
    )
    return history, [ann.to_numpy(p) for p in model.parameters()]


@pytest.mark.parametrize("solver", [{}, {"regularization": ann.Regularization(dropout=0.2)}], ids=["sgd", "sgd+dropout"])
def test_plain_sgd_fit_with_the_fused_update_equals_the_product_then_add(bk64, monkeypatch, solver):
    # Iris's weight matrices are below the size where NumPy's gemm call pays: take it anyway.
    monkeypatch.setattr(backend_module._NUMPY_GEMM, "min_size", 0)
    fused_history, fused = _fit(bk64, **solver)
    # The same fit with the library's matmul_add replaced by the generic product-then-add.
    monkeypatch.setattr(type(bk64.make().library), "matmul_add", backend_module.Library.matmul_add)
    plain_history, plain = _fit(bk64, **solver)
    np.testing.assert_allclose(fused_history.loss, plain_history.loss, rtol=1e-12)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_sgd_with_a_weight_penalty_keeps_the_product_then_add(monkeypatch):
    """With an L2 penalty the step adds the penalty's gradient to the product: matmul_add is not used."""
    calls = []
    original = backend_module.Library.matmul_add

    def counting(self, C, A, B):
        calls.append(1)
        return original(self, C, A, B)

    monkeypatch.setattr(backend_module.NumPy, "matmul_add", counting)
    case = BackendCase("numpy", None, "float64", "numpy-cpu-float64")
    _fit(case, regularization=ann.Regularization("l2", lam=1e-3))
    assert calls == []
    _fit(case)
    assert len(calls) == 3 * 6 * 10  # three layers, six epochs of ten batches
