# %% [markdown]
# # Walkthrough 001: the Julia MLP on iris, equation by equation, on any backend
#
# The tutorial: A. Mhamdi, "Understanding neural networks: a from-scratch implementation in Julia"
# (SITE'24), with its code at github.com/a-mhamdi/neural-network-from-scratch-in-Julia. It trains
# 4 -> 40 (ReLU) -> 3 (softmax) on iris with plain SGD and reports a test accuracy of 83 %.
#
# Its API maps one to one onto this library's:
#
# | tutorial (Julia)                               | anyarray_nn                                                 |
# |------------------------------------------------|-------------------------------------------------------------|
# | `Layer(nf, n1, relu; distribution='n')`        | `ann.Layer(nf, n1, "relu", init="he", distribution="normal")` |
# | `Settings(epochs, batch_size)`                 | `ann.Settings(epochs=..., batch_size=...)`                  |
# | `Regularization(method, λ, r, dropout)`        | `ann.Regularization(method, lam, r, dropout)`               |
# | `Solver(loss, optimizer, η, reg)`              | `ann.Solver(loss, optimizer, learning_rate, regularization)`|
# | `data_cache = FeedForward(model, data_in)`     | `cache = model.forward(X)`                                  |
# | `loss, ∇W, ∇b = BackProp(model, cache, y)`     | `loss, grads_W, grads_b = model.backward(cache, y, solver)` |
# | `TrainNN(...)` per batch, inside an epoch loop | `model.fit(X, y, solver, settings, validation_data=...)`, the whole loop |
#
# The walkthrough follows the tutorial's order: data, the network, the forward pass, the loss,
# backpropagation, a gradient check, the update, the training loop by hand and then with `fit`, and
# last the results beside the tutorial's, where we measure where its 83 % comes from.
#
#     python examples/walkthrough_001_iris.py --backend numpy --out examples/output/walkthrough_001
#
# Every array lives on the chosen backend (`--backend torch`, `jax`, `array_api_strict`, `cupy`, ...);
# the math below is written with the backend's Array API namespace `xp`. Figures go to `--out`.

# %%
import argparse
import copy
import os
import time

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import anyarray_nn as ann
from anyarray_nn import metrics, plotting
from anyarray_nn.gradcheck import rows_away_from_kinks
from anyarray_nn.preprocessing import StandardScaler, train_val_test_split


def _in_notebook():
    try:
        return get_ipython() is not None  # noqa: F821 - defined inside IPython only
    except NameError:
        return False


parser = argparse.ArgumentParser(description="The Julia iris tutorial, step by step, and where its 83 % comes from.")
parser.add_argument("--backend", default="numpy", help="numpy, torch, jax, array_api_strict, cupy, dask, ...")
parser.add_argument("--device", default=None, help="device on the backend (cuda:0, device1, ...)")
parser.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="the tutorial computes in Float64")
parser.add_argument("--epochs", type=int, default=20, help="epochs of the tutorial's training (it runs 20)")
parser.add_argument("--repeats", type=int, default=50, help="seeds per variant when measuring the results")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=os.path.join("examples", "output", "walkthrough_001"), help="folder for the figures")
args = parser.parse_args([] if _in_notebook() else None)
if args.backend == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)  # JAX keeps float64 off unless asked
os.makedirs(args.out, exist_ok=True)
started = time.perf_counter()
figures = []


def show(label, x, note=""):
    """One line: name, shape and the first values of an array."""
    a = ann.to_numpy(x)
    first = ", ".join(f"{v + 0.0:.4g}" for v in a.ravel()[:3])
    print(f"  {label:<40s} {str(tuple(a.shape)):<9s} [{first}{', ...' if a.size > 3 else ''}]  {note}")


def largest_difference(a, b):
    return float(np.max(np.abs(ann.to_numpy(a) - ann.to_numpy(b)))) if ann.to_numpy(a).size else 0.0


# %% [markdown]
# ## 1. The data and its shapes
# Iris: 150 flowers, 4 measurements in cm, 3 species. The tutorial keeps one flower per row of `x`
# `(150, 4)` and one-hot targets `y` `(150, 3)`, shuffles the rows, and cuts them into 70 % training,
# 20 % test and 10 % validation (105, 30 and 15 flowers), without stratifying and without
# standardizing the features.

# %%
print("\n## 1. The data and its shapes")
iris = ann.datasets.load_iris()
X_all, y_all = iris.X, iris.y
print("features:", iris.feature_names)
print("classes: ", iris.target_names)
print("X", X_all.shape, " y", y_all.shape, " one-hot Y", np.eye(3)[y_all].shape)


def tutorial_split(seed):
    """The tutorial's data_split: a random permutation, then 105 / 30 / 15 rows (train / test / validation)."""
    order = np.random.default_rng(seed).permutation(150)
    X, y = X_all[order], y_all[order]
    n_train = int(150 * 0.7)
    n_test = int(150 * (1.0 - 0.7 - 0.1))  # 30: the floor of 30.000000000000004
    return (X[:n_train], y[:n_train]), (X[n_train:n_train + n_test], y[n_train:n_train + n_test]), (X[n_train + n_test:], y[n_train + n_test:])


(X_train, y_train), (X_test, y_test), (X_val, y_val) = tutorial_split(args.seed)
print(f"train {X_train.shape}, test {X_test.shape}, validation {X_val.shape}; "
      f"test flowers per class {np.bincount(y_test, minlength=3).tolist()}")

# %% [markdown]
# ## 2. The network
# `Layer(4, 40, relu; distribution='n')` and `Layer(40, 3, softmax; distribution='n')`: He-normal
# weights for the ReLU layer (std `sqrt(2 / n_in)`), Xavier-normal for the softmax layer (std
# `sqrt(2 / (n_in + n_out))`), zero biases. The tutorial stores `W` as `(n_out, n_in)` and multiplies a
# column `x`; the library stores `W` as `(n_in, n_out)` and multiplies rows. Same numbers, transposed.

# %%
print("\n## 2. The network")
model = ann.Model(
    [ann.Layer(4, 40, "relu", init="he", distribution="normal"),
     ann.Layer(40, 3, "softmax", init="xavier", distribution="normal")],
    backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed,
)
xp = model.xp
print(model)
print("\nThe library's layout (samples are rows):")
print(model.summary(batch_size=16))
print("\nThe tutorial's layout (samples are columns):")
print(model.summary(batch_size=16, layout="columns"))
figures.append(plotting.plot_network(model, os.path.join(args.out, "network.png"), batch_size=16, layout="columns",
                                     title="The tutorial's network, shapes in its column layout (m = 16)"))

# %% [markdown]
# ## 3. FeedForward: the forward pass and its cache
# For a batch of `m` samples (here the first 5 training flowers):
#
# | equation (tutorial, columns)   | library (rows)             |
# |--------------------------------|----------------------------|
# | `Z1 = W1 A0 + b1`  `(40, m)`   | `Z1 = A0 @ W1 + b1` `(m, 40)` |
# | `A1 = relu(Z1)`                | `A1 = relu(Z1)`            |
# | `Z2 = W2 A1 + b2`  `(3, m)`    | `Z2 = A1 @ W2 + b2` `(m, 3)` |
# | `A2 = softmax(Z2)` per column  | `A2 = softmax(Z2)` per row |
#
# The code computes both from the model's own weights and checks they hold the same numbers.

# %%
print("\n## 3. FeedForward: Z and A per layer, in both layouts")
m = 5
X_batch, y_batch = X_train[:m], y_train[:m]
Y_batch = np.eye(3)[y_batch]
cache = model.forward(X_batch)  # "FeedForward": a list of (Z, A) per layer
A0 = cache.X  # (m, 4), on the device
W1, b1, W2, b2 = model.parameters()
# The tutorial's arrays: each is the library's transposed; biases are columns.
A0_c, W1_c, b1_c, W2_c, b2_c = A0.T, W1.T, xp.reshape(b1, (-1, 1)), W2.T, xp.reshape(b2, (-1, 1))
Z1_c = W1_c @ A0_c + b1_c
A1_c = xp.where(Z1_c > 0, Z1_c, xp.zeros_like(Z1_c))
Z2_c = W2_c @ A1_c + b2_c
E = xp.exp(Z2_c - xp.max(Z2_c, axis=0, keepdims=True))
A2_c = E / xp.sum(E, axis=0, keepdims=True)  # softmax down each column
for l, g, (Z, A), Zc, Ac in ((1, "relu", cache[0], Z1_c, A1_c), (2, "softmax", cache[1], Z2_c, A2_c)):
    show(f"rows:    Z{l} = A{l - 1} @ W{l} + b{l}", Z)
    show(f"columns: Z{l} = W{l} A{l - 1} + b{l}", Zc, f"max |Z{l} - Z{l}c.T| = {largest_difference(Z, Zc.T):.2g}")
    show(f"rows:    A{l} = {g}(Z{l})", A)
    show(f"columns: A{l} = {g}(Z{l})", Ac, f"max |A{l} - A{l}c.T| = {largest_difference(A, Ac.T):.2g}")

# %% [markdown]
# ## 4. The loss: categorical cross-entropy
# `L = -(1/m) sum_i sum_k Y[i, k] log A2[i, k]`, the mean over the batch. (The tutorial prints its
# per-batch "train" loss divided by 3 more: its `loss_fct` divides by `size(y, 1)`, which is 3 for one
# flower's one-hot vector. So its log's `train: 0.352` is a cross-entropy of 1.056.)

# %%
print("\n## 4. The loss")
solver = ann.Solver(loss="crossentropy", optimizer="sgd", learning_rate=0.03, regularization=ann.Regularization("none"))
Y_b = model.backend.asarray(Y_batch)
loss_hand = -xp.sum(Y_b * xp.log(cache[1][1])) / m
loss, grads_W, grads_b = model.backward(cache, Y_batch, solver)  # "BackProp"
show("L by hand", loss_hand)
show("L from model.backward", loss, f"difference {largest_difference(loss, loss_hand):.2g}")

# %% [markdown]
# ## 5. BackProp: the gradients, layer by layer
# The tutorial computes, for each flower, `δ2 = J_softmax(z2)' (y ./ a2)` with the 3 x 3 Jacobian of
# softmax, then `∇W2 = -δ2 a1'`. Softmax and cross-entropy together simplify: `J' (-y ./ a) = a - y`,
# so the library uses `dZ2 = (A2 - Y) / m` directly (the `1/m` of the mean goes in here). Then, in the
# two layouts:
#
# | tutorial (columns)                  | library (rows)                  | shape (rows)  |
# |-------------------------------------|---------------------------------|---------------|
# | `dW2 = dZ2 A1'`                     | `dW2 = A1.T @ dZ2`              | `(40, 3)`     |
# | `db2 = sum of dZ2 over columns`     | `db2 = sum of dZ2 over rows`    | `(3,)`        |
# | `dA1 = W2' dZ2`                     | `dA1 = dZ2 @ W2.T`              | `(m, 40)`     |
# | `dZ1 = dA1 .* relu'(Z1)`            | `dZ1 = dA1 * relu'(Z1)`         | `(m, 40)`     |
# | `dW1 = dZ1 A0'`                     | `dW1 = A0.T @ dZ1`              | `(4, 40)`     |

# %%
print("\n## 5. BackProp, in both layouts")
# One flower, the tutorial's way: the Jacobian of softmax, J[i, j] = a_i (delta_ij - a_j).
a = A2_c[:, 0:1]  # (3, 1)
J = a * xp.eye(3, dtype=a.dtype, device=model.device) - a @ a.T
y_col = Y_b.T[:, 0:1]
show("one flower: J' (-y / a)  (tutorial)", J.T @ (-y_col / a))
show("one flower: a - y        (library)", a - y_col, f"difference {largest_difference(J.T @ (-y_col / a), a - y_col):.2g}")

dZ2_c = (A2_c - Y_b.T) / m
dW2_c = dZ2_c @ A1_c.T
db2_c = xp.sum(dZ2_c, axis=1, keepdims=True)
dA1_c = W2_c.T @ dZ2_c
dZ1_c = dA1_c * xp.astype(Z1_c > 0, dA1_c.dtype)
dW1_c = dZ1_c @ A0_c.T
db1_c = xp.sum(dZ1_c, axis=1, keepdims=True)
print()
for label, hand, library in (
    ("columns: dW2 = dZ2 A1'", dW2_c, grads_W[1]),
    ("columns: db2 = sum of dZ2 over columns", db2_c, grads_b[1]),
    ("columns: dW1 = dZ1 A0'", dW1_c, grads_W[0]),
    ("columns: db1 = sum of dZ1 over columns", db1_c, grads_b[0]),
):
    show(label, hand)
    library_c = library.T if library.ndim == 2 else xp.reshape(library, (-1, 1))
    show("    model.backward's, transposed", library_c, f"max difference {largest_difference(hand, library_c):.2g}")

# %% [markdown]
# ## 6. Gradient check
# Central differences `(L(p + eps) - L(p - eps)) / (2 eps)` for every one of the 323 parameters,
# against backpropagation. In float64 a correct gradient agrees to about 1e-8 relative; a wrong one is
# off by far more. ReLU has a kink at 0, where a difference step that crosses it measures half a slope,
# so the check keeps to rows whose pre-activations are all farther than 1e-4 from 0.

# %%
print("\n## 6. Gradient check")
check_model = copy.deepcopy(model).to(model.backend.name, device=model.device, dtype="float64")
rows = rows_away_from_kinks(check_model, X_train[:60], 10)
result = ann.gradcheck(check_model, X_train[rows], y_train[rows])
print(result)
for name, error in result.per_parameter.items():
    print(f"  relative error {name}: {error:.2e}")

# %% [markdown]
# ## 7. The update
# Plain SGD with `η = 0.03`: `W := W - η ∇W`, `b := b - η ∇b`, for every layer. `narrate_step` prints
# the whole step, every equation with its shapes and first values, for checking an implementation of
# your own against this one (`layout="columns"` prints the tutorial's arrays).

# %%
print("\n## 7. The update, narrated")
before = [xp.asarray(p, copy=True) for p in model.parameters()]
step = ann.narrate_step(model, X_batch, y_batch, solver, layout="columns", n_values=3)
after = model.parameters()
print(f"W1 moved by max {largest_difference(after[0], before[0]):.3g}; "
      f"= 0.03 * max |dW1|: {0.03 * float(np.max(np.abs(ann.to_numpy(grads_W[0])))):.3g}")
model.set_parameters(before)  # back to the initial weights for the training loop

# %% [markdown]
# ## 8. Training: the loop by hand, then the same with `fit`
# The tutorial's loop is: for each epoch, for each batch, FeedForward, BackProp, update. Here with
# mini-batches of 16 rows in a fixed order, each row used once per epoch (what its loader was meant to
# do, see section 9), then `model.fit` with the same settings and no shuffling: the two give the same
# weights.

# %%
print("\n## 8. Training: by hand, then with fit")
def train_by_hand(model, X, Y, epochs, lr, batch_size=16):
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for start in range(0, X.shape[0], batch_size):
            Xb, Yb = X[start:start + batch_size], Y[start:start + batch_size]
            cache = model.forward(Xb)
            loss, grads_W, grads_b = model.backward(cache, Yb, solver)
            new = []
            for layer, gW, gb in zip(model.layers, grads_W, grads_b):
                new += [layer.W - lr * gW, layer.b - lr * gb]
            model.set_parameters(new, check=False)
            total += float(loss) * Xb.shape[0]
        losses.append(total / X.shape[0])
    return losses


start_weights = [xp.asarray(p, copy=True) for p in model.parameters()]
hand_losses = train_by_hand(model, X_train, np.eye(3)[y_train], args.epochs, 0.03)
hand_weights = [xp.asarray(p, copy=True) for p in model.parameters()]
model.set_parameters(start_weights)
history = model.fit(X_train, y_train, solver, ann.Settings(epochs=args.epochs, batch_size=16, shuffle=False, verbose=0),
                    validation_data=(X_val, y_val))
print(f"epoch losses, by hand: {[round(v, 4) for v in hand_losses[:3]]} ... {hand_losses[-1]:.4f}")
print(f"epoch losses, fit:     {[round(v, 4) for v in history.loss[:3]]} ... {history.loss[-1]:.4f}")
print(f"largest weight difference between the two: "
      f"{max(largest_difference(a, b) for a, b in zip(hand_weights, model.parameters())):.2g}")
figures.append(plotting.plot_history(history, os.path.join(args.out, "history.png"), title="iris, the tutorial's settings, rows paired"))

# %% [markdown]
# ## 9. The results beside the tutorial's
# The tutorial reports, after 20 epochs: train loss 0.848, test loss 0.850, and on its 30 test flowers
#
#     actual \ predicted   setosa  versicolor  virginica
#     setosa                 6        0          2
#     versicolor             0        9          0
#     virginica              3        0         10          accuracy 25 / 30 = 0.833
#
# Two things in it cannot come from a network trained on correctly labelled flowers. Setosa is
# separable from virginica by petal length alone (every setosa is below 2 cm, every virginica above
# 4.5), yet 5 flowers cross between them. And a loss of 0.85 is far above what 20 epochs reach on
# iris (see below).
#
# The cause is in its `data_loader(data, batch_size)`. It counts the batches from `length(data)`, which
# in Julia is the number of *entries* of a matrix, rows times columns, and starts every batch after
# the second at row `min((i-1) * batch_size + 1, num_batches - 1)`. The features have 4 columns and
# the one-hot targets 3, so the two loaders disagree. `zip` pairs them:

# %%
print("\n## 9. The results beside the tutorial's")
def julia_loader(n_rows, n_columns, batch_size):
    """The row ranges of the tutorial's data_loader, 0-based and end-exclusive."""
    n_batches = (n_rows * n_columns) // batch_size  # length(data): entries, not rows
    return [(min((i - 1) * batch_size + 1, n_batches - 1) - 1, min(i * batch_size, n_rows)) for i in range(1, n_batches + 1)]


pairs = list(zip(julia_loader(105, 4, 16), julia_loader(105, 3, 16)))
print(f"{len(pairs)} steps per epoch (the tutorial's log prints 19 lines per epoch)")
for k, ((xs, xe), (ys, ye)) in enumerate(pairs[:9], start=1):
    state = "paired" if xs == ys else f"feature row r gets the label of row r - {xs - ys}"
    print(f"  step {k:2d}: features rows {xs + 1:3d}..{xe:3d}   targets rows {ys + 1:3d}..{ye:3d}   {state}")
print("  ... steps 10-19 repeat step 9")

# %% [markdown]
# Its `BackProp` takes as many target rows as there are feature rows, so from the third step on every
# flower is trained with the label of the flower 7 rows above it, a random species after the shuffle:
# 17 of the 19 steps of each epoch teach noise, and the same 81 rows over and over. We replay that
# loader with this library, and compare it with three correct pipelines, over many seeds (each seed a
# different shuffle and initialization):
#
# 1. the tutorial's loader, raw features, 20 epochs of SGD at 0.03 (its settings);
# 2. the same with rows and labels paired (batches of 16, each row once per epoch);
# 3. the library's way: a stratified split of the same sizes, standardized features, `fit` with
#    shuffling, still 20 epochs at 0.03;
# 4. the library's way trained to convergence: 100 epochs at 0.1.

# %%
def new_model(seed, dtype=args.dtype):
    return ann.Model(
        [ann.Layer(4, 40, "relu", init="he"), ann.Layer(40, 3, "softmax", init="xavier")],
        backend=args.backend, device=args.device, dtype=dtype, seed=seed,
    )


def replay(seed, paired, epochs, lr=0.03, trace=False):
    """The tutorial's pipeline with its loader (paired=False) or with rows paired; returns the model and the test set."""
    (Xtr, ytr), (Xte, yte), (Xva, yva) = tutorial_split(seed)
    Ytr = np.eye(3)[ytr]
    model = new_model(seed)
    steps = pairs if not paired else [((s, min(s + 16, 105)), (s, min(s + 16, 105))) for s in range(0, 105, 16)]
    val_trace = []
    for epoch in range(epochs):
        for (xs, xe), (ys, _) in steps:
            n = xe - xs
            cache = model.forward(Xtr[xs:xe])
            _, gW, gb = model.backward(cache, Ytr[ys:ys + n], solver)
            new = []
            for layer, a, b in zip(model.layers, gW, gb):
                new += [layer.W - lr * a, layer.b - lr * b]
            model.set_parameters(new, check=False)
            if trace and epoch == epochs - 1:
                P = ann.to_numpy(model.predict_proba(Xva))
                val_trace.append(float(-np.mean(np.log(P[np.arange(len(yva)), yva]))))
    return model, Xte, yte, val_trace


def library_way(seed, epochs, lr):
    Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(X_all, y_all, val_size=0.1, test_size=0.2, stratify=y_all, seed=seed)
    scaler = StandardScaler().fit(Xtr)  # fitted on the training rows only
    model = new_model(seed)
    model.fit(scaler.transform(Xtr), ytr, ann.Solver(learning_rate=lr), ann.Settings(epochs=epochs, batch_size=16, verbose=0))
    return model, scaler.transform(Xte), yte


def scores(model, X, y):
    P = ann.to_numpy(model.predict_proba(X))
    predicted = np.argmax(P, axis=1)
    C = np.zeros((3, 3), dtype=int)
    np.add.at(C, (y, predicted), 1)
    return float(np.mean(predicted == y)), float(-np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-300, None)))), C


traces = []  # validation loss after each step of the last epoch, per seed, with the tutorial's loader


def tutorial_loader_run(seed):
    model, Xte, yte, trace = replay(seed, paired=False, epochs=args.epochs, trace=True)
    traces.append(trace)
    return model, Xte, yte


variants = {
    "1 tutorial's loader": tutorial_loader_run,
    "2 rows paired": lambda s: replay(s, paired=True, epochs=args.epochs)[:3],
    "3 library, 20 epochs": lambda s: library_way(s, args.epochs, 0.03),
    "4 library, 100 epochs": lambda s: library_way(s, 5 * args.epochs, 0.1),
}
measured = {}
for name, run in variants.items():
    t0 = time.perf_counter()
    rows = [scores(*run(seed)) for seed in range(args.repeats)]
    measured[name] = rows
    acc = np.array([r[0] for r in rows])
    loss = np.array([r[1] for r in rows])
    crossings = np.array([r[2][0, 2] + r[2][2, 0] for r in rows])
    high = acc >= 0.8
    print(f"{name:22s} accuracy {acc.mean():.3f} +- {acc.std():.3f} (min {acc.min():.3f}, max {acc.max():.3f})  "
          f"test loss {loss.mean():.3f}  setosa<->virginica per run {crossings.mean():.2f}  "
          f"runs >= 0.80: {np.mean(high):4.0%}"
          + (f" (their test loss {loss[high].mean():.3f})" if high.any() else "")
          + f"  [{time.perf_counter() - t0:.1f} s]")
print(f"{'tutorial (reported)':22s} accuracy 0.833                                       test loss 0.850  "
      f"setosa<->virginica 5")
trace_array = np.array(traces)
print(f"validation loss after step 2 of the last epoch: tutorial 0.273; replays of its loader: median "
      f"{np.median(trace_array[:, 1]):.3f}, lowest {trace_array[:, 1].min():.3f} over {len(traces)} seeds")

# %% [markdown]
# What the measurements say. The numbers above are this run's; with the defaults (50 seeds, NumPy)
# they read:
#
#     pipeline               test accuracy        test loss  setosa<->virginica  runs >= 0.80
#     1 tutorial's loader    0.42 +- 0.19         1.06       5.7 per run          2 % (test loss 0.80)
#     2 rows paired          0.88 +- 0.10         0.29       0                   82 %
#     3 library, 20 epochs   0.89 +- 0.05         0.29       0                   96 %
#     4 library, 100 epochs  0.95 +- 0.04         0.10       0                  100 %
#     tutorial (reported)    0.833                0.850      5
#
# * With rows paired, no run ever puts a setosa among the virginicas or the reverse, and the test loss
#   is a third of the tutorial's. The tutorial's 5 crossings and its loss of 0.85 are what the
#   mis-paired loader produces: about 6 crossings out of 30 flowers per run, and a test loss near 0.8
#   in the runs that still reach 80 % accuracy.
# * Its 83 % is a lucky draw from that broken pipeline, which averages 42 %: 2 % of its runs reach
#   80 %. (Julia's random numbers are not NumPy's, so its very run cannot be replayed, only the
#   distribution it came from.)
# * The validation log agrees in part. In the tutorial's, the loss climbs over the 17 mis-paired steps
#   of the last epoch, from 0.273 to 0.881, and so does every replay's (figure
#   `validation_within_epoch.png`). But its loss falls to 0.273 after the second, correctly paired,
#   step, and no replay falls that far (the lowest is printed above: about 0.58). Its run learned more
#   from the two paired steps than ours do; the code gives no reason we could find, so that detail
#   stays unexplained.
# * Fixed, the same network and budget get 88 to 89 % on 30 test flowers (one flower is 3.3 points);
#   trained to convergence on standardized features, 95 %.

# %%
fig = Figure(figsize=(11, 4.2))
ax_scatter, ax_trace = fig.subplots(1, 2)
for k, (name, rows) in enumerate(measured.items()):
    jitter = np.random.default_rng(k).uniform(-0.006, 0.006, len(rows))
    ax_scatter.scatter([r[1] for r in rows], np.array([r[0] for r in rows]) + jitter, s=14, alpha=0.6,
                       color=f"C{k}", label=name)
ax_scatter.scatter([0.850], [0.833], marker="*", s=260, color="black", label="tutorial (reported)", zorder=5)
ax_scatter.set_xlabel("test loss (cross-entropy)")
ax_scatter.set_ylabel("test accuracy (30 flowers)")
ax_scatter.set_title(f"{args.repeats} seeds per pipeline", fontsize=10)
ax_scatter.grid(alpha=0.3)
ax_scatter.legend(fontsize=7, loc="lower left")
reported = [1.152, 0.273, 0.439, 0.590, 0.629, 0.748, 0.776, 0.814, 0.835, 0.853, 0.860, 0.866, 0.873, 0.874,
            0.876, 0.878, 0.878, 0.879, 0.881]
steps = np.arange(1, 20)
ax_trace.plot(steps, reported, marker="o", color="black", label="tutorial's log, epoch 20")
low, mid, high = np.percentile(trace_array, [10, 50, 90], axis=0)
ax_trace.fill_between(steps, low, high, color="C0", alpha=0.25, label=f"replays of its loader, 10-90 % ({len(traces)} seeds)")
ax_trace.plot(steps, mid, marker="s", markersize=4, color="C0", label="replays, median")
ax_trace.axvspan(0.5, 2.5, color="0.9", label="steps with rows paired", zorder=0)
ax_trace.set_xlabel("step within the last epoch")
ax_trace.set_ylabel("validation loss")
ax_trace.set_xticks(steps)
ax_trace.set_title("Validation loss after each step of the last epoch", fontsize=10)
ax_trace.grid(alpha=0.3)
ax_trace.legend(fontsize=8)
fig.suptitle("Where the tutorial's 83 % comes from: its loader pairs flowers with the wrong labels", fontsize=11)
fig.tight_layout()
FigureCanvasAgg(fig)
path = os.path.join(args.out, "validation_within_epoch.png")
fig.savefig(path, dpi=plotting.DPI)
figures.append(path)

# %% [markdown]
# ## 10. A correct split, the library's way, in full
# Stratified 70 / 10 / 20 split, standardized features, `fit` with shuffling and validation data, the
# confusion matrix and report on the 30 test flowers.

# %%
print("\n## 10. A correct split, the library's way")
Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(X_all, y_all, val_size=0.1, test_size=0.2, stratify=y_all, seed=args.seed)
scaler = StandardScaler().fit(Xtr)
final = new_model(args.seed)
history = final.fit(scaler.transform(Xtr), ytr, ann.Solver(learning_rate=0.1),
                    ann.Settings(epochs=5 * args.epochs, batch_size=16, verbose=0),
                    validation_data=(scaler.transform(Xva), yva))
predicted = final.predict(scaler.transform(Xte))
print(metrics.classification_report(yte, predicted, class_names=iris.target_names))
C = metrics.confusion_matrix(yte, predicted, n_classes=3)
figures.append(plotting.plot_confusion_matrix(C, os.path.join(args.out, "confusion_matrix.png"), iris.target_names,
                                              title="Test set, correct split (30 flowers)"))
figures.append(plotting.plot_history(history, os.path.join(args.out, "history_correct.png"), title="iris, the library's way"))
print(f"\nsaved {', '.join(os.path.basename(p) for p in figures)} in {args.out}  "
      f"({time.perf_counter() - started:.1f} s on {model.backend.name})")
