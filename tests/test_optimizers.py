"""Optimizers: the first updates against torch.optim and hand-worked values, state, validation, clipping."""

import math

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import optimizers

# Hyperparameters away from the defaults, so a mixed-up name or default shows.
CONFIGS = {
    "sgd": {},
    "momentum": {"momentum": 0.8},
    "nesterov": {"momentum": 0.7},
    "rmsprop": {"rho": 0.85, "epsilon": 1e-6},
    "adagrad": {"epsilon": 1e-7, "initial_accumulator_value": 0.1},
    "adam": {"beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-6},
    "adamw": {"beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-6, "weight_decay": 0.3},
}
# A different learning rate at each step, as a schedule would give.
LEARNING_RATES = [0.1, 0.05, 0.02]


def _problem():
    rng = np.random.default_rng(7)
    params = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    grads = [[rng.normal(size=p.shape) for p in params] for _ in LEARNING_RATES]
    return params, grads


def _torch_reference(name, params, grads):
    """Parameters after each of the steps, from torch.optim in float64."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    cfg = CONFIGS[name]
    lr = LEARNING_RATES[0]
    if name == "sgd":
        opt = torch.optim.SGD(tensors, lr=lr)
    elif name in ("momentum", "nesterov"):
        opt = torch.optim.SGD(tensors, lr=lr, momentum=cfg["momentum"], nesterov=name == "nesterov")
    elif name == "rmsprop":
        opt = torch.optim.RMSprop(tensors, lr=lr, alpha=cfg["rho"], eps=cfg["epsilon"])
    elif name == "adagrad":
        opt = torch.optim.Adagrad(
            tensors, lr=lr, eps=cfg["epsilon"], initial_accumulator_value=cfg["initial_accumulator_value"]
        )
    elif name == "adam":
        opt = torch.optim.Adam(tensors, lr=lr, betas=(cfg["beta_1"], cfg["beta_2"]), eps=cfg["epsilon"])
    else:
        # Weight matrices decay, biases do not (as documented for AdamW).
        groups = [{"params": [tensors[0]], "weight_decay": cfg["weight_decay"]}, {"params": [tensors[1]], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=lr, betas=(cfg["beta_1"], cfg["beta_2"]), eps=cfg["epsilon"])
    out = []
    for step_lr, gs in zip(LEARNING_RATES, grads):
        for group in opt.param_groups:
            group["lr"] = step_lr
        for t, g in zip(tensors, gs):
            t.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append([t.detach().numpy().copy() for t in tensors])
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_first_three_updates_match_torch(bk, name):
    params_np, grads_np = _problem()
    reference = _torch_reference(name, params_np, grads_np)
    b = bk.make()
    xp = b.xp
    opt = optimizers.get(name, **CONFIGS[name])
    params = [bk.asarray(p) for p in params_np]
    state = opt.init_state(params, xp=xp)
    rtol = 1e-6 if bk.dtype == "float64" else 1e-4
    for k, (lr, gs) in enumerate(zip(LEARNING_RATES, grads_np)):
        params, state = opt.step(params, [bk.asarray(g) for g in gs], state, lr, xp=xp)
        assert state["t"] == k + 1
        for p, ref in zip(params, reference[k]):
            assert p.dtype == b.dtype, f"{name} changed the dtype to {p.dtype}"
            np.testing.assert_allclose(ann.to_numpy(p), ref, rtol=rtol, atol=rtol * 1e-2, err_msg=f"{name} step {k + 1}")
    for key, value in state.items():
        if isinstance(value, list):
            assert all(a.dtype == b.dtype for a in value), f"state {key!r} changed dtype"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_float32_weights_stay_float32_in_training(name):
    model = ann.Model([ann.Layer(4, 5, "tanh"), ann.Layer(5, 3, "softmax")], backend="numpy", dtype="float32", seed=0)
    X, y = ann.datasets.load_iris()
    model.fit(X[::5], y[::5], solver=ann.Solver(optimizer=name, learning_rate=0.01), settings=ann.Settings(epochs=2, verbose=0))
    for p in model.parameters():
        assert p.dtype == np.float32
    for key, value in model.optimizer_state_.items():
        if isinstance(value, list):
            assert all(a.dtype == np.float32 for a in value), key


def test_sgd_by_hand(bk):
    xp = bk.make().xp
    p = [bk.asarray(np.array([1.0, -2.0]))]
    g = [bk.asarray(np.array([0.5, 0.25]))]
    opt = optimizers.get("sgd")
    state = opt.init_state(p, xp=xp)
    expected = [[0.95, -2.025], [0.9, -2.05], [0.85, -2.075]]
    for row in expected:
        p, state = opt.step(p, g, state, 0.1, xp=xp)
        np.testing.assert_allclose(ann.to_numpy(p[0]), row, rtol=bk.rtol * 10)


def test_momentum_by_hand(bk):
    # v1 = 0.5, p1 = 1 - 0.1*0.5 = 0.95; v2 = 0.9*0.5 + 0.5 = 0.95, p2 = 0.855; v3 = 1.355, p3 = 0.7195
    xp = bk.make().xp
    p = [bk.asarray(np.array([1.0]))]
    g = [bk.asarray(np.array([0.5]))]
    opt = optimizers.Momentum(momentum=0.9)
    state = opt.init_state(p, xp=xp)
    for value, velocity in [(0.95, 0.5), (0.855, 0.95), (0.7195, 1.355)]:
        p, state = opt.step(p, g, state, 0.1, xp=xp)
        np.testing.assert_allclose(ann.to_numpy(p[0]), [value], rtol=bk.rtol * 10)
        np.testing.assert_allclose(ann.to_numpy(state["velocity"][0]), [velocity], rtol=bk.rtol * 10)


def test_adam_first_step_is_learning_rate_times_sign():
    # m_hat = g and v_hat = g^2 after one step, so the step is lr * g / (|g| + eps).
    opt = optimizers.Adam()
    xp = ann.Backend("numpy", dtype="float64").xp
    p, state = opt.step([np.zeros(3)], [np.array([3.0, -0.2, 1e-3])], opt.init_state([np.zeros(3)], xp=xp), 0.01, xp=xp)
    np.testing.assert_allclose(p[0], -0.01 * np.array([3.0, -0.2, 1e-3]) / (np.array([3.0, 0.2, 1e-3]) + 1e-8))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_updates_in_place_and_read_only_arrays_alike(name):
    params_np, grads_np = _problem()
    xp = ann.Backend("numpy", dtype="float64").xp
    opt = optimizers.get(name, **CONFIGS[name])
    writable = [p.copy() for p in params_np]
    readonly = [p.copy() for p in params_np]
    for p in readonly:
        p.flags.writeable = False
    s1, s2 = opt.init_state(writable, xp=xp), opt.init_state(readonly, xp=xp)
    for lr, gs in zip(LEARNING_RATES, grads_np):
        out1, s1 = opt.step(writable, gs, s1, lr, xp=xp)
        out2, s2 = opt.step(readonly, gs, s2, lr, xp=xp)
        assert all(a is b for a, b in zip(out1, writable)), "writeable arrays are updated in place"
        for a, b in zip(out1, out2):
            np.testing.assert_allclose(a, b, rtol=1e-14)
        readonly = out2
    for p, original in zip(params_np, _problem()[0]):
        np.testing.assert_array_equal(p, original)  # the inputs of the functional path are untouched


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_rebuilds_the_optimizer(name):
    opt = optimizers.get(name, **CONFIGS[name])
    config = opt.get_config()
    assert all(isinstance(v, float) for v in config.values())
    assert optimizers.get(name)(**config) == opt
    assert optimizers.get(opt.name, **config) == opt
    assert repr(opt).startswith(type(opt).__name__)


def test_state_is_plain_and_counts_steps():
    X, y = ann.datasets.load_iris()
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", dtype="float64", seed=0)
    model.fit(X, y, solver=ann.Solver(optimizer="adam"), settings=ann.Settings(epochs=2, batch_size=50, verbose=0))
    state = model.optimizer_state_
    assert state["t"] == 6 and isinstance(state["t"], int)
    assert sorted(state) == ["m", "t", "v"]
    assert [tuple(a.shape) for a in state["m"]] == [(4, 3), (3,)]


def test_fit_does_not_modify_an_array_the_user_assigned():
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", dtype="float64", seed=0)
    W = np.ones((4, 3))
    model.layers[0].W = W
    X, y = ann.datasets.load_iris()
    model.fit(X, y, solver=ann.Solver(optimizer="sgd"), settings=ann.Settings(epochs=1, verbose=0))
    np.testing.assert_array_equal(W, np.ones((4, 3)))
    assert not np.allclose(model.layers[0].W, 1.0)


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: optimizers.Adam(beta_1=1.0), "beta_1"),
        (lambda: optimizers.Adam(beta_2=-0.1), "beta_2"),
        (lambda: optimizers.Adam(epsilon=0.0), "epsilon"),
        (lambda: optimizers.AdamW(weight_decay=-1e-3), "weight_decay"),
        (lambda: optimizers.Momentum(momentum=1.0), "momentum"),
        (lambda: optimizers.Nesterov(momentum=-0.5), "momentum"),
        (lambda: optimizers.RMSprop(rho=1.5), "rho"),
        (lambda: optimizers.Adagrad(initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: ann.Solver(learning_rate=-0.1), "learning_rate"),
        (lambda: ann.Solver(learning_rate=0.0), "learning_rate"),
        (lambda: ann.Solver(clip_norm=0.0), "clip_norm"),
    ],
)
def test_bad_values_name_the_argument(build, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        build()


def test_bad_types_and_names():
    with pytest.raises(TypeError, match="`beta_1`"):
        optimizers.Adam(beta_1="0.9")
    with pytest.raises(TypeError, match="`momentum`"):
        optimizers.Momentum(momentum=float("nan"))
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamm'; expected one of \['adagrad', 'adam', 'adamw'"):
        ann.Solver(optimizer="adamm")
    with pytest.raises(TypeError, match="beta1"):
        optimizers.get("adam", beta1=0.5)


def test_clip_by_global_norm(bk):
    xp = bk.make().xp
    grads = [bk.asarray(np.full((2, 2), 3.0)), bk.asarray(np.array([4.0]))]  # global norm sqrt(36 + 16)
    norm = math.sqrt(52.0)
    clipped = optimizers.clip_by_global_norm(grads, 2.0, xp=xp)
    total = math.sqrt(sum(float(np.sum(ann.to_numpy(g) ** 2)) for g in clipped))
    assert total == pytest.approx(2.0, rel=1e-5)
    np.testing.assert_allclose(ann.to_numpy(clipped[1]), [4.0 * 2.0 / norm], rtol=1e-5)
    assert all(g.dtype == grads[0].dtype for g in clipped)
    same = optimizers.clip_by_global_norm(grads, 100.0, xp=xp)
    for a, g in zip(same, grads):
        np.testing.assert_allclose(ann.to_numpy(a), ann.to_numpy(g), rtol=bk.rtol)


def test_clip_norm_bounds_the_step_in_fit(bk):
    X, y = ann.datasets.load_iris()
    model = bk.model([ann.Layer(4, 6, "tanh"), ann.Layer(6, 3, "softmax")])
    before = [ann.to_numpy(p).copy() for p in model.parameters()]
    solver = ann.Solver(optimizer="sgd", learning_rate=1.0, clip_norm=1e-3)
    model.fit(X, y, solver=solver, settings=ann.Settings(epochs=1, batch_size=150, shuffle=False, verbose=0))
    after = [ann.to_numpy(p) for p in model.parameters()]
    step = math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(after, before)))
    assert step == pytest.approx(1e-3, rel=1e-3)

