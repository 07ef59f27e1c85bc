# %% [markdown]
# # Walkthrough 002: an L-layer network from scratch (the Julia tutorial), step by step
#
# The tutorial: "How to build a deep neural network from scratch with Julia" (Data Driven Investor),
# with its code at github.com/XabierGA/DNN_Julia (`deepnn.jl`). It teaches binary classification with
# L layers, ReLU hidden layers and a sigmoid output, through small helper functions: `init_param`,
# `forward_linear`, `relu` / `sigmoid`, `model_forward_step`, `cost_function`, `backward_linear_step`,
# `backward_relu` / `backward_sigmoid`, `model_backwards_step`, `update_param`, `train_nn`. Its arrays
# hold one example per column: `W[l]` is `(n[l], n[l-1])`, `A[l]` is `(n[l], m)`.
#
# This walkthrough takes the helpers in that order. Each is written out with the backend's Array API
# namespace `xp`, in the tutorial's column layout, and checked against the library's call
# (`model.forward`, `model.backward`, `fit`), which works in rows. Then it measures what the article's
# own setting does, and what changes when the data has something to learn.
#
#     python examples/walkthrough_002_l_layer.py --backend numpy --out examples/output/walkthrough_002
#
# Figures go to `--out`; any backend works (`--backend torch`, `jax`, `array_api_strict`, `cupy`, ...).

# %%
import argparse
import os
import time

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import anyarray_nn as ann
from anyarray_nn import metrics, plotting
from anyarray_nn.gradcheck import rows_away_from_kinks
from anyarray_nn.diagnostics import TrainingDiagnostics
from anyarray_nn.preprocessing import train_test_split


def _in_notebook():
    try:
        return get_ipython() is not None  # noqa: F821 - defined inside IPython only
    except NameError:
        return False


parser = argparse.ArgumentParser(description="The Julia L-layer tutorial, step by step, on any backend.")
parser.add_argument("--backend", default="numpy", help="numpy, torch, jax, array_api_strict, cupy, dask, ...")
parser.add_argument("--device", default=None, help="device on the backend (cuda:0, device1, ...)")
parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
parser.add_argument("--iterations", type=int, default=100,
                    help="iterations of the article's own training (it runs 10000; its cost does not move in the first thousands)")
parser.add_argument("--memorize-iterations", type=int, default=150, help="iterations of the He-initialized run on the same data")
parser.add_argument("--moons-iterations", type=int, default=2000, help="iterations on the two moons")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=os.path.join("examples", "output", "walkthrough_002"), help="folder for the figures")
args = parser.parse_args([] if _in_notebook() else None)
if args.backend == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)  # JAX keeps float64 off unless asked
os.makedirs(args.out, exist_ok=True)
started = time.perf_counter()
figures = []


def largest_difference(a, b):
    return float(np.max(np.abs(ann.to_numpy(a) - ann.to_numpy(b))))


# %% [markdown]
# ## 1. The problem and its data
# The article's code trains on `X = rand(10, 500)` and `Y = rand([0, 1], 500)`: 500 examples of 10
# features uniform in [0, 1), one per column, with labels drawn *independently of the features*. We
# draw the same (seeded), plus 200 more examples the same way as a held-out set, which the article does
# not have. The library takes the transpose: `X_rows = X_columns.T`, `(500, 10)`.

# %%
print("\n## 1. The problem and its data")
rng = np.random.default_rng(args.seed)
X_columns = rng.random((10, 500))
Y_columns = rng.integers(0, 2, (1, 500))
X_rows, y = X_columns.T, Y_columns[0]
X_held_out, y_held_out = rng.random((200, 10)), rng.integers(0, 2, 200)
print(f"columns (article): X {X_columns.shape}, Y {Y_columns.shape};  rows (library): X {X_rows.shape}, y {y.shape}")
print(f"share of ones: {y.mean():.3f} (training), {y_held_out.mean():.3f} (held out)")

# %% [markdown]
# ## 2. The architecture and `init_param`
# `layers_dimensions = (10, 16, 32, 64, 128, 256, 128, 64, 32, 16, 8, 1)`: 11 layers, ReLU in the first
# 10 and a sigmoid in the last. `init_param` draws `W[l] = 0.1 * randn(n[l], n[l-1])` and
# `b[l] = zeros(n[l], 1)`. The library holds `W` transposed, so the article's weights go in as
# `layer.W = W_columns.T`.

# %%
print("\n## 2. The architecture and init_param")
dims = (10, 16, 32, 64, 128, 256, 128, 64, 32, 16, 8, 1)


def l_layer(dims, init="he", dtype=args.dtype, seed=args.seed):
    layers = [ann.Layer(a, b, "relu", init=init) for a, b in zip(dims[:-2], dims[1:-1])]
    layers.append(ann.Layer(dims[-2], dims[-1], "sigmoid", init="xavier" if init == "he" else init))
    return ann.Model(layers, backend=args.backend, device=args.device, dtype=dtype, seed=seed)


def init_param(model, scale=0.1, seed=args.seed):
    """The article's init_param: W[l] = scale * randn(n[l], n[l-1]) in its layout, b[l] = 0; set transposed."""
    draw = np.random.default_rng(seed)
    for layer in model.layers:
        W_columns = scale * draw.standard_normal((layer.n_out, layer.n_in))
        layer.W = W_columns.T  # (n[l-1], n[l]): the library's layout
        layer.b = np.zeros(layer.n_out)


model = l_layer(dims)
init_param(model)
xp = model.xp
print(model.summary(batch_size=500, layout="columns"))
figures.append(plotting.plot_network(model, os.path.join(args.out, "network.png"), batch_size=500, layout="columns",
                                     max_units=6, title="The article's 11 layers, shapes as it writes them (m = 500)"))

# %% [markdown]
# ## 3. The forward step
# `forward_linear(A, W, b)` computes `Z = W A .+ b` and caches `(A, W, b)`; `relu` and `sigmoid` return
# the activation and cache `Z`; `model_forward_step` applies them layer after layer. The library's
# `model.forward` keeps the same cache, `(Z, A)` per layer, in rows. Below, per layer: the shapes in
# both layouts, whether they agree, and the spread of the activations (`std(A)`): watch it shrink.

# %%
print("\n## 3. The forward step")


def forward_linear(A, W, b):
    return W @ A + b, (A, W, b)


def relu(Z):
    return xp.where(Z > 0, Z, xp.zeros_like(Z)), Z


def sigmoid(Z):
    return 1.0 / (1.0 + xp.exp(-Z)), Z


def model_forward_step(X, params):
    """The article's forward pass in its layout; params holds (W, b) per layer as it stores them."""
    caches, A = [], X
    for l, (W, b) in enumerate(params, start=1):
        Z, linear_cache = forward_linear(A, W, b)
        A, activation_cache = (sigmoid if l == len(params) else relu)(Z)
        caches.append((linear_cache, activation_cache))
    return A, caches


params_columns = [(W.T, xp.reshape(b, (-1, 1))) for W, b in zip(model.parameters()[0::2], model.parameters()[1::2])]
X_device = model.backend.asarray(X_columns)
A_L, caches = model_forward_step(X_device, params_columns)
cache = model.forward(X_rows)
print(f"  {'layer':>5s}  {'Z (columns)':>12s}  {'Z (rows)':>12s}  {'max |Z - Zc.T|':>14s}  {'std(A)':>9s}")
for l, ((_, Z_c), (Z, A)) in enumerate(zip(caches, cache), start=1):
    print(f"  {l:5d}  {str(tuple(Z_c.shape)):>12s}  {str(tuple(Z.shape)):>12s}  {largest_difference(Z, Z_c.T):14.2g}  {ann.to_numpy(A).std():9.2e}")

# %% [markdown]
# With `W = 0.1 randn`, a ReLU layer of `n` inputs scales the spread of the signal by about
# `0.1 * sqrt(n / 2)`: a quarter for 10 inputs, 1.1 for 256. Over these 11 layers the spread falls from
# about 0.3 to about 1e-5 (the `std(A)` column), so the output `A[11]` is 0.5 for every example to four
# decimals, whatever its features.
#
# ## 4. `cost_function`
# `cost = -mean(Y .* log.(AL) + (1 .- Y) .* log.(1 .- AL))`. The library computes the same from `Z[L]`,
# which matters once the output saturates: in float64 `sigmoid(40)` is exactly 1.0, so `log(1 - AL)` is
# `-Inf` and the article's cost of a confident mistake is infinite.

# %%
print("\n## 4. cost_function")
solver = ann.Solver(loss="binary_crossentropy", optimizer="sgd", learning_rate=8.0)
Y_device = model.backend.asarray(Y_columns.astype(np.float64))
cost = -xp.mean(Y_device * xp.log(A_L) + (1.0 - Y_device) * xp.log(1.0 - A_L))
loss, grads_W, grads_b = model.backward(cache, y, solver)
print(f"  article's cost {float(cost):.6f}   model.backward's {float(loss):.6f}   (log 2 = {np.log(2.0):.6f})")
bce, sigmoid_activation = ann.losses.get("binary_crossentropy"), ann.activations.get("sigmoid")
Z_big = model.backend.asarray(np.array([[40.0]]))
A_big = sigmoid_activation.forward(Z_big, xp=xp)
zero = model.backend.asarray(np.array([[0.0]]))
with np.errstate(divide="ignore"):
    article = -xp.mean(zero * xp.log(A_big) + (1.0 - zero) * xp.log(1.0 - A_big))
print(f"  z = 40, y = 0: a = {float(A_big[0, 0])!r}; article's cost {float(article)}, "
      f"the library's {float(bce.forward(Z_big, A_big, zero, sigmoid_activation, xp=xp)):.1f}")

# %% [markdown]
# ## 5. The backward step
# `model_backwards_step` starts from `dA[L] = -(Y ./ AL) .+ (1 .- Y) ./ (1 .- AL)`, the cost's
# derivative for each example, then for every layer from the last:
#
# * `backward_sigmoid` / `backward_relu`: `dZ = dA .* g'(Z)`;
# * `backward_linear_step`: `dW = dZ A_prev' / m`, `db = sum(dZ, dims=2) / m`, `dA_prev = W' dZ`.
#
# The library fuses the first two products, `dZ[L] = (A[L] - Y) / m`, and divides by `m` there rather
# than in every `dW` and `db`. The gradients are the same:

# %%
print("\n## 5. The backward step")


def backward_linear_step(dZ, linear_cache):
    A_prev, W, b = linear_cache
    m = A_prev.shape[1]
    return dZ @ A_prev.T / m, xp.sum(dZ, axis=1, keepdims=True) / m, W.T @ dZ


def backward_relu(dA, Z):
    return dA * xp.astype(Z > 0, dA.dtype)


def backward_sigmoid(dA, Z):
    s = 1.0 / (1.0 + xp.exp(-Z))
    return dA * s * (1.0 - s)


def model_backwards_step(A_L, Y, caches):
    grads = {}
    L = len(caches)
    dA = -(Y / A_L) + (1.0 - Y) / (1.0 - A_L)
    for l in range(L, 0, -1):
        linear_cache, Z = caches[l - 1]
        dZ = backward_sigmoid(dA, Z) if l == L else backward_relu(dA, Z)
        grads[f"dW_{l}"], grads[f"db_{l}"], dA = backward_linear_step(dZ, linear_cache)
    return grads


grads = model_backwards_step(A_L, Y_device, caches)
fused = (cache[-1][1] - model.backend.asarray(y[:, None].astype(np.float64))) / 500
print(f"  dZ[L]: the article's dA .* sigmoid'(Z) / m against the library's fused (A - Y) / m: "
      f"{largest_difference(backward_sigmoid(-(Y_device / A_L) + (1.0 - Y_device) / (1.0 - A_L), caches[-1][1]) / 500, fused.T):.2g}")
print(f"  {'layer':>5s}  {'dW shape (columns)':>18s}  {'|dW|':>9s}  {'max |dW - model.backward.T|':>28s}")
for l in range(1, len(dims)):
    dW = grads[f"dW_{l}"]
    print(f"  {l:5d}  {str(tuple(dW.shape)):>18s}  {np.linalg.norm(ann.to_numpy(dW)):9.2e}  "
          f"{largest_difference(dW, grads_W[l - 1].T):28.2g}")
agreement = max(
    [largest_difference(Z, Z_c.T) for (_, Z_c), (Z, _) in zip(caches, cache)]
    + [largest_difference(grads[f"dW_{l}"], grads_W[l - 1].T) for l in range(1, len(dims))]
    + [largest_difference(grads[f"db_{l}"], xp.reshape(grads_b[l - 1], (-1, 1))) for l in range(1, len(dims))]
)
print(f"  the two layouts, all layers, Z, dW and db: max difference {agreement:.2g}")

# %% [markdown]
# Every layer's gradient is tiny, about 1e-5: the last layers multiply by activations that have all
# but vanished, and the backward signal that reaches the first layers has been multiplied by ten
# layers of weights of 0.1.
#
# ## 6. Gradient check
# Central differences for every parameter cost two forward passes each; the article's network has
# 88,081 parameters. The check runs on an L-layer network of the same kind and 20 examples,
# 10 -> 16 -> 8 -> 4 -> 1, in float64, on rows whose ReLU pre-activations keep away from the kink at 0.

# %%
print("\n## 6. Gradient check")
small = l_layer((10, 16, 8, 4, 1), dtype="float64")
rows = rows_away_from_kinks(small, X_rows[:100], 20)
result = ann.gradcheck(small, X_rows[rows], y[rows])
print(result)
print("  " + "  ".join(f"{name} {error:.1e}" for name, error in result.per_parameter.items()))

# %% [markdown]
# ## 7. `update_param` and `train_nn`
# `W[l] -= learning_rate * dW[l]`, `b[l] -= learning_rate * db[l]`, with the article's learning rate
# of 8.0, inside `train_nn`: forward, cost, accuracy, backward, update, for `n_iter` iterations (10000
# in the article). By hand first, then the same with `fit` (the whole set as one batch, in order),
# with the diagnostics callback recording each layer.

# %%
print("\n## 7. update_param and train_nn")


def update_param(model, grads_W, grads_b, learning_rate):
    new = []
    for layer, dW, db in zip(model.layers, grads_W, grads_b):
        new += [layer.W - learning_rate * dW, layer.b - learning_rate * db]
    model.set_parameters(new, check=False)


def train_nn(model, X, y, learning_rate, n_iter):
    costs, accuracy = [], []
    truth = model.backend.asarray(y[:, None].astype(np.float64))
    for i in range(n_iter):
        cache = model.forward(X)
        cost, grads_W, grads_b = model.backward(cache, y, solver)
        costs.append(cost)
        accuracy.append(xp.mean(xp.astype((cache.output > 0.5) == (truth > 0.5), truth.dtype)))
        update_param(model, grads_W, grads_b, learning_rate)
    both = ann.to_numpy(xp.stack([xp.stack(costs), xp.stack(accuracy)]))  # one read, after the loop
    return both[0].tolist(), both[1].tolist()


start = [xp.asarray(p, copy=True) for p in model.parameters()]
t0 = time.perf_counter()
hand_costs, hand_accuracy = train_nn(model, X_rows, y, 8.0, args.iterations)
print(f"  by hand: cost {hand_costs[0]:.6f} -> {hand_costs[-1]:.6f}, accuracy {hand_accuracy[0]:.3f} -> "
      f"{hand_accuracy[-1]:.3f}  ({time.perf_counter() - t0:.1f} s)")
model.set_parameters(start)
article_diagnostics = TrainingDiagnostics(X_rows, y, max_samples=100)  # a probe of 100 rows keeps it cheap
history = model.fit(X_rows, y, solver, ann.Settings(epochs=args.iterations, batch_size=500, shuffle=False, verbose=0),
                    validation_data=(X_held_out, y_held_out), callbacks=[article_diagnostics])
print(f"  fit:     cost {history.loss[0]:.6f} -> {history.loss[-1]:.6f}, accuracy {history.accuracy[0]:.3f} -> "
      f"{history.accuracy[-1]:.3f};  largest cost difference {max(abs(a - b) for a, b in zip(hand_costs, history.loss)):.2g}")
g, r = article_diagnostics.grad_norm[-1], article_diagnostics.update_ratio[-1]
print(f"  after the last iteration: gradient norms from {min(g):.1e} to {max(g):.1e}; each step moves the weights by "
      f"{min(r):.1e} to {max(r):.1e} of their size (the rule of thumb asks for about 1e-3)")
dead = article_diagnostics.dead_relu[-1][:-1]
print(f"  share of dead ReLU units per layer: {[round(v, 2) for v in dead]}")
figures.append(plotting.plot_diagnostics(article_diagnostics, os.path.join(args.out, "diagnostics_article.png"),
                                         title="The article's setting: W = 0.1 randn, 11 layers, learning rate 8"))

# %% [markdown]
# ## 8. Results: what its plot of cost and accuracy can show
# The article ends with a plot of the cost and the accuracy against the iterations "to ensure our
# learning algorithm works" (the picture is not in the text). Its labels are random, so no network can
# predict new examples better than by always answering the more common label: a rising training
# accuracy there could only be memorization. With its initialization it does not even get that far:
# the cost stays at log 2 and the accuracy at the share of the common label, because the gradients of
# the early layers vanish (figure `diagnostics_article.png`).
#
# He initialization (`sqrt(2 / n[l-1])`, made for ReLU layers) and Adam (learning rate 0.001) let the
# same 11 layers learn, and they memorize: the training accuracy climbs to 1 while the held-out
# accuracy stays at chance. The same L-layer code on data with a pattern, the two moons, learns something that
# holds on new examples.

# %%
print("\n## 8. Results")
memorizer = l_layer(dims, init="he")
t0 = time.perf_counter()
memorized = memorizer.fit(X_rows, y, ann.Solver(optimizer="adam", learning_rate=0.001),
                          ann.Settings(epochs=args.memorize_iterations, batch_size=500, shuffle=False, verbose=0),
                          validation_data=(X_held_out, y_held_out))
print(f"  He init, Adam at 0.001, {args.memorize_iterations} iterations: training accuracy "
      f"{memorized.accuracy[-1]:.3f}, held-out accuracy {memorized.val_accuracy[-1]:.3f} "
      f"(the common label's share: {max(y_held_out.mean(), 1 - y_held_out.mean()):.3f})  ({time.perf_counter() - t0:.1f} s)")

moons = ann.datasets.make_moons(400, noise=0.2, seed=args.seed)
Xm_train, Xm_test, ym_train, ym_test = train_test_split(moons.X, moons.y, test_size=0.25, stratify=moons.y, seed=args.seed)
moon_model = l_layer((2, 16, 16, 8, 1), init="he")
moon_history = moon_model.fit(Xm_train, ym_train, ann.Solver(learning_rate=0.1),
                              ann.Settings(epochs=args.moons_iterations, batch_size=Xm_train.shape[0], shuffle=False, verbose=0),
                              validation_data=(Xm_test, ym_test))
moon_test = metrics.accuracy(ym_test, moon_model.predict(Xm_test))
print(f"  moons, 2 -> 16 -> 16 -> 8 -> 1, {args.moons_iterations} iterations at 0.1: training accuracy "
      f"{moon_history.accuracy[-1]:.3f}, test accuracy {moon_test:.3f}")
figures.append(plotting.plot_decision_boundary(moon_model, Xm_test, ym_test, os.path.join(args.out, "moons_boundary.png"),
                                               class_names=moons.target_names, title="L-layer network, test points"))

# %% [markdown]
# With the defaults (NumPy) this prints: in the article's setting the cost stays at 0.693 (log 2) and
# the training accuracy hovers at the common label's share (0.51) through the 100 iterations; the
# gradient norms are 1e-5 to 1e-4 and each step moves the weights of the hidden layers by 1e-6 to 1e-4
# of their size (the output layer alone moves faster), far below the 1e-3 of the rule of thumb; and in
# layers 9 and 10, 75 % and 88 % of the ReLU units are dead, silent for every example. He
# initialization with Adam memorizes the 500 random labels in 150 iterations (training accuracy 0.998)
# while its held-out accuracy is 0.49, chance. On the moons the same code reaches 0.99 on test points.

# %%
fig = Figure(figsize=(11, 4))
ax_cost, ax_acc = fig.subplots(1, 2)
it_article = np.arange(1, args.iterations + 1)
it_memo = np.arange(1, args.memorize_iterations + 1)
it_moons = np.arange(1, args.moons_iterations + 1)
ax_cost.plot(it_article, hand_costs, label="article's setting (W = 0.1 randn, rate 8)")
ax_cost.plot(it_memo, memorized.loss, label="He init, Adam, random labels")
ax_cost.plot(it_moons, moon_history.loss, label="He init, rate 0.1, two moons")
ax_cost.set_xscale("log")
ax_cost.set_xlabel("iteration")
ax_cost.set_ylabel("cost")
ax_cost.set_title("Cost against iterations (training data)", fontsize=10)
ax_cost.grid(alpha=0.3)
ax_cost.legend(fontsize=8)
ax_acc.plot(it_article, hand_accuracy, color="C0", label="article's setting, training")
ax_acc.plot(it_memo, memorized.accuracy, color="C1", label="random labels, training")
ax_acc.plot(it_memo, memorized.val_accuracy, color="C1", linestyle="--", label="random labels, held out")
ax_acc.plot(it_moons, moon_history.accuracy, color="C2", label="moons, training")
ax_acc.plot(it_moons, moon_history.val_accuracy, color="C2", linestyle="--", label="moons, test")
ax_acc.axhline(0.5, color="0.5", linestyle=":", linewidth=1)
ax_acc.set_xscale("log")
ax_acc.set_xlabel("iteration")
ax_acc.set_ylabel("accuracy")
ax_acc.set_ylim(0.3, 1.02)
ax_acc.set_title("Accuracy: training against held-out examples", fontsize=10)
ax_acc.grid(alpha=0.3)
ax_acc.legend(fontsize=8)
fig.tight_layout()
FigureCanvasAgg(fig)
path = os.path.join(args.out, "cost_accuracy.png")
fig.savefig(path, dpi=plotting.DPI)
figures.append(path)
print(f"\nsaved {', '.join(os.path.basename(p) for p in figures)} in {args.out}  "
      f"({time.perf_counter() - started:.1f} s on {model.backend.name})")
