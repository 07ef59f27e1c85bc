"""scikit-learn estimators: :class:`MLPClassifier` and :class:`MLPRegressor`.

They wrap :class:`anyarray_nn.Model` in scikit-learn's estimator interface, so a network trained on any
backend fits into pipelines, grid search and cross-validation::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from anyarray_nn.sklearn import MLPClassifier

    clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=100))
    clf.fit(X_train, y_train).score(X_test, y_test)

Arrays in, arrays out:

* NumPy arrays, lists and DataFrames are validated with scikit-learn's utilities and give NumPy results,
  whatever the estimator's ``backend`` (a ``backend="torch"`` estimator trains with torch and hands back
  NumPy arrays).
* Arrays of the estimator's own backend (torch tensors for ``backend="torch"``, CuPy arrays for
  ``backend="cupy"``, array_api_strict arrays for ``backend="array_api_strict"``) stay on that library:
  ``predict``, ``predict_proba`` and ``decision_function`` return arrays of it, on the model's device.
  Class labels come back on the device when they are numbers; string labels come back as NumPy.
* Arrays of another non-NumPy library raise a ``ValueError`` naming the ``backend`` to choose.

scikit-learn is an optional dependency: ``pip install ".[sklearn]" in the anyarray_nn checkout``.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import warnings

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, shuffle
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_array,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "anyarray_nn.sklearn needs scikit-learn, which is not installed: "
        'pip install ".[sklearn]" in the anyarray_nn checkout (or pip install scikit-learn).'
    ) from exc

import array_api_compat
import numpy as np

from . import activations, export, losses, network, optimizers, schedules
from .backend import Backend, to_numpy
from .callbacks import Callback
from .layers import Layer
from .model import Model
from .regularization import Regularization
from .training import Settings, Solver

__all__ = ["MLPClassifier", "MLPRegressor"]

_PENALTIES = ("none", "l1", "l2", "elasticnet")


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _foreign_array(X):
    """Whether ``X`` is an array of a non-NumPy Array API library (torch, CuPy, array_api_strict ...)."""
    return array_api_compat.is_array_api_obj(X) and not array_api_compat.is_numpy_array(X) and not _is_sparse(X)


def _is_sparse(X):
    return type(X).__module__.startswith("scipy.sparse")


def _library_name(X):
    return type(X).__module__.split(".")[0]


def _export_model(model):
    """A picklable description of ``model``: its state (:meth:`Model.get_state`) and where it lives."""
    header, arrays = model.get_state()
    b = model.backend
    return {"header": header, "arrays": arrays, "backend": b.name, "device": b.device_str}


def _import_model(spec):
    """Rebuild a :class:`Model` from :func:`_export_model`'s description."""
    return Model.from_state(spec["header"], spec["arrays"], backend=spec["backend"], device=spec["device"])


_STOCHASTIC = ("sgd", "adam")
# scikit-learn's names of the output activations.
_SKLEARN_ACTIVATION = {"sigmoid": "logistic", "softmax": "softmax", "linear": "identity", "exponential": "exp"}
_DIVERGED = (
    "Solver produced non-finite parameter weights. The input data may contain large values and need to be "
    "preprocessed."
)


class _ScikitLearnLoss(losses.Loss):
    """scikit-learn's MLP objective on top of a library loss: summed over the outputs, weighted by sample.

    scikit-learn's losses are means over the samples of a sum over the outputs (half of it for the
    squared error), where this library's are means over every entry; ``factor`` converts. ``rows`` gives
    each sample's value, so that sample weights make the loss their weighted mean
    (:meth:`~anyarray_nn.losses.Loss.weighted_forward`).
    """

    def __init__(self, inner, factor, rows):
        self.inner, self.factor, self._rows = inner, float(factor), rows
        self.name = inner.name
        self.classification = inner.classification

    def forward(self, Z, A, T, activation, *, xp):
        return self.factor * self.inner.forward(Z, A, T, activation, xp=xp)

    def backward(self, Z, A, T, activation, *, xp):
        return self.factor * self.inner.backward(Z, A, T, activation, xp=xp)

    def rows(self, Z, A, T, activation, *, xp):
        return self._rows(Z, A, T, xp=xp)

    def get_config(self):
        return {"inner": self.inner.name, "factor": self.factor, "rows": self._rows.__name__}


def _rows_squared(Z, A, Y, *, xp):
    D = A - Y
    return 0.5 * xp.sum(D * D, axis=1)


def _rows_binary(Z, A, Y, *, xp):
    return xp.sum(xp.maximum(Z, xp.zeros_like(Z)) - Z * Y + xp.log1p(xp.exp(-xp.abs(Z))), axis=1)


def _rows_crossentropy(Z, A, Y, *, xp):
    S = Z - xp.max(Z, axis=1, keepdims=True)
    return -xp.sum(Y * (S - xp.log(xp.sum(xp.exp(S), axis=1, keepdims=True))), axis=1)


def _rows_poisson(Z, A, Y, *, xp):
    positive = Y > 0
    y_log_y = xp.where(positive, Y * xp.log(xp.where(positive, Y, xp.ones_like(Y))), xp.zeros_like(Y))
    return xp.sum(y_log_y - Y * Z - Y + xp.exp(Z), axis=1)


def _objective_loss(output_activation, k):
    """scikit-learn's loss for an output layer with ``output_activation`` and ``k`` units."""
    if output_activation == "softmax":
        return _ScikitLearnLoss(losses.get("crossentropy"), 1.0, _rows_crossentropy)
    if output_activation == "sigmoid":
        return _ScikitLearnLoss(losses.get("binary_crossentropy"), k, _rows_binary)
    if output_activation == "exponential":
        return _ScikitLearnLoss(losses.get("poisson"), k, _rows_poisson)
    return _ScikitLearnLoss(losses.get("mse"), 0.5 * k, _rows_squared)


def _is_stochastic(estimator):
    """partial_fit exists for the mini-batch solvers only, as in scikit-learn."""
    if isinstance(estimator.solver, str) and estimator.solver.lower() == "lbfgs":
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {estimator.solver} is not stochastic."
        )
    return True


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, validation, the training loops."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        init=None,
        init_distribution="uniform",
        penalty="l2",
        l1_ratio=0.5,
        dropout=0.0,
        backend="numpy",
        device=None,
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.init = init
        self.init_distribution = init_distribution
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.dropout = dropout
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # ----------------------------------------------------------------------------------------------
    # pickling: a Model holds its array namespace (a module), so it travels as NumPy arrays
    def __getstate__(self):
        state = dict(super().__getstate__())
        if isinstance(state.get("model_"), Model):
            state["model_"] = _export_model(state["model_"])
            if state.get("_optimizer_state") is not None:
                state["_optimizer_state"] = optimizers.map_state(state["_optimizer_state"], to_numpy)
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("model_"), dict):
            state["model_"] = _import_model(state["model_"])
            if state.get("_optimizer_state") is not None:
                backend = state["model_"].backend
                state["_optimizer_state"] = optimizers.map_state(state["_optimizer_state"], backend.asarray)
        super().__setstate__(state)

    # ----------------------------------------------------------------------------------------------
    # fitted attributes in scikit-learn's layout
    @property
    def coefs_(self):
        """Weight matrices, ``coefs_[i]`` of shape (n_in, n_out) of layer i, as NumPy arrays."""
        return [to_numpy(layer.W) for layer in self.model_.layers]

    @property
    def intercepts_(self):
        """Bias vectors, ``intercepts_[i]`` of shape (n_out,) of layer i, as NumPy arrays."""
        return [to_numpy(layer.b) for layer in self.model_.layers]

    # ----------------------------------------------------------------------------------------------
    # parameters
    def _check_params(self):
        """Validate the constructor parameters; returns the values training needs."""
        hidden = self.hidden_layer_sizes
        if _is_int(hidden):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise TypeError(
                f"`hidden_layer_sizes` must be an int or a sequence of ints, got {self.hidden_layer_sizes!r}."
            ) from None
        if not all(_is_int(h) and h >= 1 for h in hidden):
            raise ValueError(f"`hidden_layer_sizes` must hold positive integers, got {self.hidden_layer_sizes!r}.")
        hidden = tuple(int(h) for h in hidden)

        activation = activations.get(self.activation) if isinstance(self.activation, str) else None
        if activation is None or activation.name in ("softmax", "exponential"):
            choices = [n for n in activations.names() if n not in ("softmax", "exponential")]
            raise ValueError(f"`activation` must be one of {sorted(choices + ['identity', 'logistic'])}, got "
                             f"{self.activation!r}.")

        solver, optimizer = None, None
        if isinstance(self.solver, str):
            solver = self.solver.lower()
            if solver not in ("sgd", "adam", "lbfgs"):
                if solver not in optimizers.names():
                    raise ValueError(
                        f"`solver` must be 'lbfgs', 'sgd', 'adam' or one of {optimizers.names()}, got {self.solver!r}."
                    )
                optimizer = optimizers.get(solver)
        elif isinstance(self.solver, optimizers.Optimizer):
            optimizer = copy.deepcopy(self.solver)
        else:
            raise TypeError(
                f"`solver` must be 'lbfgs', a name in {optimizers.names()} or an anyarray_nn Optimizer, got "
                f"{self.solver!r}."
            )
        if solver == "sgd":
            if not _is_real(self.momentum) or not 0.0 <= self.momentum <= 1.0:
                raise ValueError(f"`momentum` must be a float in [0, 1], got {self.momentum!r}.")
            if self.momentum == 0.0:
                optimizer = optimizers.get("sgd")
            elif self.nesterovs_momentum:
                optimizer = optimizers.get("nesterov", momentum=min(float(self.momentum), 1.0 - 1e-12))
            else:
                optimizer = optimizers.get("momentum", momentum=min(float(self.momentum), 1.0 - 1e-12))
        elif solver == "adam":
            optimizer = optimizers.get(
                "adam", beta_1=float(self.beta_1), beta_2=float(self.beta_2), epsilon=float(self.epsilon)
            )

        if not _is_real(self.tol) or self.tol < 0:
            raise ValueError(f"`tol` must be a float >= 0, got {self.tol!r}.")
        # learning_rate: scikit-learn's names, this library's schedules, or the step size itself.
        schedule, lr, lr_name, rule = None, self.learning_rate_init, "learning_rate_init", "constant"
        if isinstance(self.learning_rate, str):
            if self.learning_rate in ("constant", "invscaling", "adaptive"):
                rule = self.learning_rate
            elif self.learning_rate in schedules.names():
                schedule, rule = schedules.get(self.learning_rate), "schedule"
            else:
                raise ValueError(
                    f"`learning_rate` must be 'constant', 'invscaling', 'adaptive', one of {schedules.names()}, a "
                    f"Schedule or a positive float (the step size), got {self.learning_rate!r}."
                )
        elif isinstance(self.learning_rate, schedules.Schedule):
            # A copy: training advances a schedule, and fit must not change the estimator's parameters.
            schedule, rule = copy.deepcopy(self.learning_rate), "schedule"
        else:
            lr, lr_name = self.learning_rate, "learning_rate"
        if not _is_real(lr) or lr <= 0:
            raise ValueError(f"`{lr_name}` must be a positive float, got {lr!r}.")
        if not _is_real(self.power_t) or self.power_t < 0:
            raise ValueError(f"`power_t` must be a float >= 0, got {self.power_t!r}.")

        penalty = "none" if self.penalty is None else self.penalty
        if penalty not in _PENALTIES:
            raise ValueError(f"`penalty` must be one of {list(_PENALTIES)} or None, got {self.penalty!r}.")
        if not _is_real(self.alpha) or self.alpha < 0:
            raise ValueError(f"`alpha` must be a float >= 0, got {self.alpha!r}.")
        if not _is_real(self.l1_ratio) or not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(f"`l1_ratio` must be a float in [0, 1], got {self.l1_ratio!r}.")
        if not _is_real(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be a float in [0, 1), got {self.dropout!r}.")
        if solver == "lbfgs" and self.dropout > 0:
            raise ValueError("`dropout` needs a stochastic solver; solver='lbfgs' minimizes a fixed function.")
        if not (self.batch_size == "auto" or (_is_int(self.batch_size) and self.batch_size >= 1)):
            raise ValueError(f"`batch_size` must be 'auto' or a positive integer, got {self.batch_size!r}.")
        if not _is_int(self.max_iter) or self.max_iter < 1:
            raise ValueError(f"`max_iter` must be a positive integer, got {self.max_iter!r}.")
        if not _is_int(self.max_fun) or self.max_fun < 1:
            raise ValueError(f"`max_fun` must be a positive integer, got {self.max_fun!r}.")
        n_iter_no_change = self.n_iter_no_change
        if not (_is_int(n_iter_no_change) or n_iter_no_change == math.inf) or n_iter_no_change < 1:
            raise ValueError(f"`n_iter_no_change` must be a positive integer or inf, got {n_iter_no_change!r}.")
        for flag in ("shuffle", "early_stopping", "warm_start", "nesterovs_momentum"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"`{flag}` must be True or False, got {getattr(self, flag)!r}.")
        fraction = self.validation_fraction
        if self.early_stopping and (not _is_real(fraction) or not 0.0 < fraction < 1.0):
            raise ValueError(f"`validation_fraction` must be a float in (0, 1), got {self.validation_fraction!r}.")
        if not (_is_int(self.verbose) or isinstance(self.verbose, (bool, np.bool_))) or self.verbose < 0:
            raise ValueError(f"`verbose` must be an integer >= 0 or a bool, got {self.verbose!r}.")
        if self.dtype is not None and str(self.dtype) not in ("float32", "float64"):
            raise ValueError(f"`dtype` must be None (follow the input), 'float32' or 'float64', got {self.dtype!r}.")
        return {
            "hidden": hidden,
            "activation": activation.name,
            "solver": solver or optimizer.name,
            "optimizer": optimizer,
            "learning_rate": float(lr),
            "rule": rule,
            "schedule": schedule,
            "penalty": Regularization(penalty, lam=1.0, r=float(self.l1_ratio)),
        }

    # ----------------------------------------------------------------------------------------------
    # input validation
    def _check_foreign(self, X, backend, argname="X"):
        """Raise unless the non-NumPy array ``X`` belongs to ``backend``'s library."""
        if not backend.owns(X):
            raise ValueError(
                f"`{argname}` is an array of {_library_name(X)}, but this {type(self).__name__} uses "
                f"backend={backend.name!r}. Fit with backend={_library_name(X)!r} to keep arrays on that "
                f"library, or pass NumPy arrays."
            )

    def _check_device_X(self, X, reset):
        """Shape checks for an array that stays on its device (its values are checked by the Model)."""
        shape = tuple(X.shape)
        if len(shape) != 2:
            raise ValueError(
                f"Expected a 2D array of shape (n_samples, n_features), got a {len(shape)}D array of shape {shape}."
            )
        if shape[0] < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 is required.")
        if shape[1] < 1:
            raise ValueError(f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required.")
        if reset:
            self.n_features_in_ = shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} "
                f"features as input."
            )

    def _validate_fit(self, X, y, reset):
        """``(X, y)``: X validated (arrays of the backend stay on their device, sparse X stays sparse), y as NumPy."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        if _foreign_array(X):
            self._check_foreign(X, Backend(self.backend, device=self.device))
            self._check_device_X(X, reset)
            y = to_numpy(y) if array_api_compat.is_array_api_obj(y) else y
            y = self._check_y(y)
            if y.shape[0] != X.shape[0]:
                raise ValueError(
                    f"Found input variables with inconsistent numbers of samples: [{X.shape[0]}, {y.shape[0]}]."
                )
            return X, y
        if _foreign_array(y):
            y = to_numpy(y)
        X, y = validate_data(
            self, X, y, reset=reset, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc"],
            multi_output=True, y_numeric=not isinstance(self, ClassifierMixin),
        )
        if _is_sparse(X):
            X = X.tocsr()
        return X, self._check_y(y)

    def _validate_predict(self, X):
        """``(X, on_device)`` for prediction: device arrays of the model's library stay where they are."""
        check_is_fitted(self, "model_")
        if _foreign_array(X):
            self._check_foreign(X, self.model_.backend)
            self._check_device_X(X, reset=False)
            return X, True
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc"])
        if _is_sparse(X):
            X = X.tocsr()
        return X, False

    def _move(self, X):
        """How rows of ``X`` reach the model's device: sparse rows are made dense one chunk at a time."""
        backend = self.model_.backend
        if _is_sparse(X):
            return lambda rows: backend.asarray(rows.toarray())
        # Arrays already of the backend pass unchanged unless their dtype differs from the model's.
        return backend.asarray

    def _output(self, X, logits=False):
        """The network output (or the output layer's Z) for validated ``X``, shape (n_samples, n_outputs)."""
        model = self.model_
        return network.output(
            model.layers, model.parameters(), X, xp=model.xp, move=self._move(X), logits=logits
        )

    def _logits(self, X):
        return self._output(X, logits=True)

    def _trace_network(self, path, dtype):
        """For ``export_onnx``: the checked path and dtype, the graph's input ``X`` and network output ``A``."""
        check_is_fitted(self, "model_")
        ndx, _ = export._require()
        model = self.model_
        path = export.check_path(path)
        dtype = export.check_dtype(dtype, model.dtype)
        X = ndx.argument(shape=("N", model.n_features), dtype=getattr(ndx, dtype))
        return ndx, model, path, dtype, X, export.network_output(model, X, dtype, ndx=ndx)

    # ----------------------------------------------------------------------------------------------
    # training
    def fit(self, X, y, sample_weight=None, callbacks=None):
        """Train the network on ``(X, y)`` (continuing from the current weights with ``warm_start``).

        Training runs on :meth:`anyarray_nn.Model.fit`, set up as scikit-learn trains: its shuffling, its
        ``tol`` / ``n_iter_no_change`` rule, its learning-rate rules, ``alpha`` per sample of a batch.
        The engine's History is ``history_``; on JAX the step is compiled (``history_.compiled``).

        Parameters
        ----------
        X : array-like or sparse matrix, shape (n_samples, n_features)
            NumPy arrays, lists, DataFrames, SciPy sparse matrices (made dense one batch at a time), or
            arrays of the estimator's backend.
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
            Class labels or a label indicator matrix (classifier), target values (regressor).
        sample_weight : array-like, shape (n_samples,), optional
            Weight of each sample in the loss (and in the validation score with ``early_stopping``). A
            batch whose weights add up to 0 adds nothing.
        callbacks : list of anyarray_nn.Callback, optional
            Called after every epoch (every L-BFGS iteration), after the estimator's own rule.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False, callbacks=callbacks)

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None, callbacks=None):
        params = self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        if not first:
            self._check_same_network(params)
        X, y = self._validate_fit(X, y, reset=first)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(to_numpy(sample_weight) if _foreign_array(sample_weight)
                                                 else sample_weight, np.empty((X.shape[0], 0)), dtype=np.float64)
        Y = self._encode_targets(y, first, incremental, classes)
        self._random_state = check_random_state(self.random_state)
        if first:
            self._initialize(X, Y, params)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"`y` has {Y.shape[1]} output(s), but the network was built for {self.n_outputs_}.")
        self._params = params
        if params["solver"] == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight, params, callbacks)
        else:
            self._fit_stochastic(X, y, Y, sample_weight, incremental, params, callbacks)
        xp = self.model_.xp
        total = sum(xp.sum(p) for p in self.model_.parameters())
        if not math.isfinite(float(to_numpy(total))):
            raise ValueError(_DIVERGED)
        return self

    def _check_same_network(self, params):
        """``warm_start`` / ``partial_fit`` go on training the network built before: it must be the one asked for."""
        built = [layer.n_out for layer in self.model_.layers[:-1]]
        act = self.model_.layers[0].activation.name if len(self.model_.layers) > 1 else params["activation"]
        if built != list(params["hidden"]) or act != params["activation"]:
            raise ValueError(
                f"warm_start / partial_fit continue the network built by the first fit, with hidden_layer_sizes="
                f"{tuple(built)} and activation={act!r}, but the estimator now asks for "
                f"hidden_layer_sizes={params['hidden']} and activation={params['activation']!r}. Set "
                f"warm_start=False to train a new network, or restore those parameters."
            )

    def _regularization(self, params):
        """The weight penalty as scikit-learn applies it: ``alpha`` over each batch's samples (or weight)."""
        penalty = params["penalty"]
        return Regularization(
            penalty.method, lam=float(self.alpha), r=penalty.r, dropout=float(self.dropout), per_sample=True
        )

    def _initialize(self, X, Y, params):
        """A new network for ``X`` and the encoded targets ``Y``, initialized as scikit-learn does."""
        dtype = self.dtype
        if dtype is None:
            dtype = "float32" if str(getattr(X, "dtype", "")).endswith("float32") else "float64"
            if dtype == "float64" and not Backend(self.backend, device=self.device, dtype="float32").has_float64:
                # As scikit-learn's array API support: the highest precision the device has, said once.
                warnings.warn(
                    f"backend={self.backend!r} has no float64 on this device (for JAX: jax_enable_x64 is off); "
                    f"training in float32. Pass dtype='float32' to silence this warning.",
                    UserWarning,
                    stacklevel=4,
                )
                dtype = "float32"
        self._dtype = str(dtype)
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(params["hidden"]) + 2
        out_activation = self._output_activation()
        self.out_activation_ = _SKLEARN_ACTIVATION[out_activation]
        sizes = [self.n_features_in_, *params["hidden"], self.n_outputs_]
        acts = [params["activation"]] * len(params["hidden"]) + [out_activation]
        init = self.init if self.init is not None else "xavier"
        layers = [
            Layer(a, b, act, init=init, distribution=self.init_distribution)
            for a, b, act in zip(sizes[:-1], sizes[1:], acts)
        ]
        rs = self._random_state
        seed = int(self.random_state) % 2**31 if _is_int(self.random_state) else int(rs.randint(0, 2**31 - 1))
        self.model_ = Model(layers, backend=self.backend, device=self.device, dtype=self._dtype, seed=seed)
        if self.init is None:
            # scikit-learn's Glorot-uniform initialization of weights and biases, drawn in the same order
            # from the same generator, in float64 and then cast.
            factor = 2.0 if params["activation"] == "sigmoid" else 6.0
            weights = []
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
                bound = math.sqrt(factor / (fan_in + fan_out))
                weights.append(rs.uniform(-bound, bound, (fan_in, fan_out)))
                weights.append(rs.uniform(-bound, bound, fan_out))
            self.model_.set_parameters(weights)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._solver = None
        self._optimizer_state = None
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _fit_lbfgs(self, X, Y, sample_weight, params, callbacks):
        """L-BFGS on the whole set: the engine's full-batch path, each iteration an epoch of its History."""
        model = self.model_
        loss = _objective_loss(model.layers[-1].activation.name, self.n_outputs_)
        optimizer = optimizers.get("lbfgs", max_fun=self.max_fun, tol=float(self.tol))
        solver = Solver(loss=loss, optimizer=optimizer, regularization=self._regularization(params), fuse=False)
        settings = Settings(epochs=self.max_iter, verbose=0)
        record = _Iterations(self, lbfgs=True)
        history = model.fit(X, Y, solver, settings, callbacks=[record, *(callbacks or [])], sample_weight=sample_weight)
        self.history_ = history
        model.solver_, model.optimizer_state_ = None, None
        self.n_iter_ = history.epochs
        self.loss_ = history.loss[-1] if history.epochs else float("nan")
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else self.loss_
        if not history.converged and math.isfinite(self.loss_):
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s): {history.stop_reason}. Increase the "
                f"number of iterations (max_iter) or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fit_stochastic(self, X, y, Y, sample_weight, incremental, params, callbacks):
        """Mini-batch training on the engine, with scikit-learn's order of batches and stopping rule."""
        model = self.model_
        if not incremental or self._solver is None:
            loss = _objective_loss(model.layers[-1].activation.name, self.n_outputs_)
            rate = _EstimatorRate(params["learning_rate"], params["schedule"])
            self._solver = Solver(
                loss=loss, optimizer=params["optimizer"], learning_rate=params["learning_rate"],
                regularization=self._regularization(params), schedule=rate, fuse=False,
            )
            if params["schedule"] is not None:
                params["schedule"].begin(self.max_iter)
            self._optimizer_state = None
        solver = self._solver
        # The state of earlier calls (partial_fit, or after unpickling) goes on with the same Solver.
        model.solver_, model.optimizer_state_ = (solver, self._optimizer_state) if self._optimizer_state is not None else (None, None)
        early_stopping = self.early_stopping
        n_total = X.shape[0]
        val = None
        if early_stopping:
            # As scikit-learn: stratified on the binarized labels, for a single output column only.
            stratify = Y.astype(bool) if isinstance(self, ClassifierMixin) and self.n_outputs_ == 1 else None
            train, val_idx = train_test_split(
                np.arange(n_total), random_state=self._random_state, test_size=self.validation_fraction,
                stratify=stratify,
            )
            if val_idx.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
                )
            X_all = X
            X = X_all[train] if _is_sparse(X_all) else self._take_host_or_device(X_all, train)
            X_val = X_all[val_idx] if _is_sparse(X_all) else self._take_host_or_device(X_all, val_idx)
            val = (X_val, y[val_idx], None if sample_weight is None else sample_weight[val_idx])
            Y = Y[train]
            sample_weight = None if sample_weight is None else sample_weight[train]
            self._best_parameters = [model.xp.asarray(p, copy=True) for p in model.parameters()]
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n))
        settings = Settings(
            epochs=1 if incremental else self.max_iter, batch_size=batch_size,
            shuffle=_ScikitLearnShuffle(n, self._random_state) if self.shuffle else False, verbose=0,
        )
        self.n_iter_ = 0
        rule = _Iterations(self, val=val, rate=solver.schedule, incremental=incremental, rows=n)
        history = model.fit(X, Y, solver, settings, callbacks=[rule, *(callbacks or [])], sample_weight=sample_weight)
        self.history_ = history
        # The estimator keeps its Solver and optimizer state itself (partial_fit goes on with them); the
        # model holds the network alone, as it is pickled and exported.
        self._optimizer_state = model.optimizer_state_
        model.solver_, model.optimizer_state_ = None, None
        if history.epochs and not math.isfinite(history.loss[-1]):
            # The divergence guard stopped before the rule saw the epoch.
            self.loss_curve_.append(history.loss[-1])
            self.n_iter_ += 1
            if not early_stopping:
                raise ValueError(_DIVERGED)
        if early_stopping:
            model.set_parameters(self._best_parameters, check=False)
            del self._best_parameters

    def _take_host_or_device(self, X, idx):
        if _foreign_array(X):
            return self.model_.xp.take(X, self.model_.backend.index_array(idx), axis=0)
        return X[idx]

    def _update_no_improvement_count(self, val):
        """scikit-learn's rule: the validation score with early stopping, else the training loss."""
        tol = float(self.tol)
        if val is not None:
            score = self._validation_score(*val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_parameters = [self.model_.xp.asarray(p, copy=True) for p in self.model_.parameters()]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _validation_score(self, X, y, sample_weight):
        """The score on the held-out set, NaN when the predictions are not finite (as scikit-learn)."""
        A = to_numpy(self._output(X))
        if not np.all(np.isfinite(A)):
            return float("nan")
        return float(self._metric(y, self._host_decisions(A), sample_weight=sample_weight))

    def _score(self, X, y, sample_weight=None):
        # scikit-learn's metrics would need array API dispatch for device arrays: compare on the host.
        y_pred = self.predict(X)
        y, y_pred = (to_numpy(a) if array_api_compat.is_array_api_obj(a) else a for a in (y, y_pred))
        if sample_weight is not None and array_api_compat.is_array_api_obj(sample_weight):
            sample_weight = to_numpy(sample_weight)
        return float(self._metric(y, y_pred, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class _EstimatorRate(schedules.Schedule):
    """The learning rate of a scikit-learn estimator's epochs: constant, or moved by its rules.

    ``invscaling`` and ``adaptive`` change :attr:`current` at the end of an epoch (the estimator's rule,
    :class:`_Iterations`); a library schedule given as ``learning_rate`` sets it at each epoch's start.
    """

    name = "estimator_rate"

    def __init__(self, base, schedule=None):
        self.base, self.schedule, self.current = float(base), schedule, float(base)

    def reset(self):
        self.current = self.base

    def begin(self, epochs):
        pass  # the library schedule began with the estimator's max_iter

    def learning_rate(self, base_lr):
        if self.schedule is not None:
            self.current = self.schedule.learning_rate(self.base)
        return self.current

    def step(self, loss=None):
        pass  # moved by the estimator's rule, which sees the validation score too

    def state_dict(self):
        return {"current": self.current}

    def load_state_dict(self, state):
        self.current = float(state["current"])


class _ScikitLearnShuffle:
    """scikit-learn's order of the samples: each epoch shuffles the previous epoch's order."""

    def __init__(self, n, random_state):
        self.order, self.random_state = np.arange(n), random_state

    def __call__(self, n):
        self.order = shuffle(self.order, random_state=self.random_state)
        return self.order


class _Iterations(Callback):
    """scikit-learn's bookkeeping after each epoch (each L-BFGS iteration).

    ``loss_curve_``, ``n_iter_``, ``t_``, the verbose lines and, for the mini-batch solvers, the
    ``tol`` / ``n_iter_no_change`` rule on the validation score or the training loss, ``invscaling`` and
    ``adaptive``, the step of a library schedule and the ConvergenceWarning at ``max_iter``.
    """

    def __init__(self, estimator, val=None, rate=None, incremental=False, rows=0, lbfgs=False):
        super().__init__()
        self.estimator, self.val, self.rate = estimator, val, rate
        self.incremental, self.rows, self.lbfgs = incremental, rows, lbfgs

    def on_epoch_end(self, epoch, logs):
        est, loss = self.estimator, logs["loss"]
        est.loss_curve_.append(loss)
        if self.lbfgs:
            if est.verbose:
                print(f"Iteration {epoch}, loss = {loss:.8f}")
            return
        est.n_iter_ += 1
        est.t_ += self.rows
        est.loss_ = loss
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        est._update_no_improvement_count(self.val)
        params, rate = est._params, self.rate
        rule, is_sgd = params["rule"], params["solver"] == "sgd"
        if rule == "invscaling" and is_sgd:
            rate.current = params["learning_rate"] / (est.t_ + 1) ** float(est.power_t)
        if rate.schedule is not None:
            rate.schedule.step(est.validation_scores_[-1] * -1.0 if est.early_stopping else loss)
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if est.early_stopping else "Training loss"
            msg = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            if rule == "adaptive" and is_sgd and rate.current > 1e-6:
                rate.current /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(msg + f" Setting learning rate to {rate.current:f}")
            else:
                if est.verbose:
                    print(msg + (" Learning rate too small. Stopping." if rule == "adaptive" else " Stopping."))
                self.stop_training, self.stop_reason = True, msg
                return
        if not self.incremental and est.n_iter_ == est.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the optimization "
                f"hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=2,
            )





class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier on any Array API backend, with scikit-learn's interface.

    The parameters, fitted attributes and training of scikit-learn's ``MLPClassifier`` (swap the import and
    nothing is lost: ``solver`` "adam", "sgd" with ``momentum`` / ``nesterovs_momentum`` or "lbfgs";
    ``learning_rate`` "constant", "invscaling" or "adaptive"; ``warm_start``; ``sample_weight``; sparse ``X``;
    multi-label indicator ``y``), computed with the library's network on any backend. Two classes (and a
    multi-label indicator matrix) train sigmoid outputs with binary cross-entropy; three or more classes a
    softmax layer with cross-entropy. The weights are initialized as scikit-learn does (Glorot-uniform
    weights and biases, drawn from ``random_state`` in the same order), so with the same parameters the
    training follows the same path up to rounding.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init, power_t,
    max_iter, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
    early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        As in scikit-learn's ``MLPClassifier``. In addition ``activation`` may be any name of
        :func:`anyarray_nn.activations.names` but softmax and exponential; ``solver`` any name of
        :func:`anyarray_nn.optimizers.names` or an Optimizer object; ``learning_rate`` a schedule of
        :mod:`anyarray_nn.schedules` (a name or a Schedule) or a float, the step size itself (which then
        takes precedence over ``learning_rate_init``).
    init : str, optional
        A library initializer for the weights (``"he"``, ``"xavier"``, ...; biases then start at 0).
        Default: scikit-learn's initialization.
    init_distribution : {"uniform", "normal"}, default "uniform"
        Distribution of ``init``'s weights.
    penalty : {"l2", "l1", "elasticnet", "none"} or None, default "l2"
        The weight penalty, scaled as scikit-learn's: ``alpha / m`` times the penalty on a batch of ``m``
        samples (``m`` the batch's weight with ``sample_weight``). Biases are not penalized.
    l1_ratio : float, default 0.5
        The L1 share of the elastic-net penalty.
    dropout : float, default 0.0
        Probability of dropping each hidden unit during training (inverted dropout; stochastic solvers).
    backend : {"numpy", "cupy", "torch", "array_api_strict", "auto"}, default "numpy"
        The array library that trains the network (see :class:`anyarray_nn.Backend`).
    device : optional
        Device on that backend (``"cuda:1"``, ``"device1"``, ...).
    dtype : {None, "float32", "float64"}, default None
        Float type of the weights and the computation. None follows the input as scikit-learn does:
        float32 ``X`` trains in float32, any other ``X`` in float64.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape (n_in, n_out): the weights of layer i (NumPy arrays, copies on a device).
    intercepts_ : list of ndarray
        ``intercepts_[i]`` of shape (n_out,).
    loss_ : float
        The loss (penalty included) of the last epoch (stochastic solvers) or at the solution (lbfgs).
    loss_curve_ : list of float
        The loss of each epoch (of each iteration with lbfgs).
    best_loss_ : float or None
        The lowest training loss; None with ``early_stopping``.
    validation_scores_ : list of float or None
        Accuracy on the held-out set after each epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
    t_ : int
        Training samples seen by the stochastic solvers.
    n_iter_ : int
        Epochs (stochastic solvers) or iterations (lbfgs) of the last fit.
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
    out_activation_ : str
        ``"logistic"`` or ``"softmax"``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    model_ : anyarray_nn.Model
        The trained network.
    """

    _metric = staticmethod(accuracy_score)

    def _check_y(self, y):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return y

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "sigmoid"

    def _encode_targets(self, y, first, incremental, classes):
        """The labels binarized as scikit-learn does: one 0/1 column for two classes, else one per class."""
        check_classification_targets(y)
        if incremental:
            if not hasattr(self, "_label_binarizer"):
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit.")
                self._label_binarizer = LabelBinarizer()
                self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
                self.classes_ = self._label_binarizer.classes_
            elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
                raise ValueError(
                    f"`classes={np.asarray(classes).tolist()!r}` is not the same as on last call to partial_fit, "
                    f"was: {self.classes_.tolist()!r}."
                )
            seen = unique_labels(y)
            if len(np.setdiff1d(seen, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {seen}."
                )
        elif first:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            seen = unique_labels(y)
            if set(seen) != set(self.classes_):
                raise ValueError(
                    f"warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                    f"Previously got {self.classes_}, `y` has {seen}"
                )
        return self._label_binarizer.transform(y).astype(np.float64)

    def _host_decisions(self, A):
        """Labels from host outputs ``A`` (n_samples, n_outputs), as scikit-learn decides them."""
        return self._label_binarizer.inverse_transform(A.ravel() if A.shape[1] == 1 else A)

    @available_if(_is_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, continuing the network and optimizer state of earlier calls.

        Parameters
        ----------
        X : array-like or sparse matrix, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_classes)
        sample_weight : array-like, shape (n_samples,), optional
        classes : array-like, shape (n_classes,)
            Every class of the problem; required on the first call, optional afterwards.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y`` (arrays of any backend), a Python float."""
        return self._score(X, y, sample_weight)

    def decision_function(self, X):
        """Scores before the output activation: logits.

        Returns
        -------
        array, shape (n_samples,) for two classes (positive means ``classes_[1]``), else (n_samples, n_classes)
        """
        X, on_device = self._validate_predict(X)
        Z = self._logits(X)
        if Z.shape[1] == 1:
            Z = Z[:, 0]
        return Z if on_device else to_numpy(Z)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_`` (one per label for multi-label ``y``).

        Returns
        -------
        array, shape (n_samples, n_classes)
        """
        X, on_device = self._validate_predict(X)
        P = self._proba(X)
        return P if on_device else to_numpy(P)

    def predict_log_proba(self, X):
        """The log of :meth:`predict_proba`, shape (n_samples, n_classes)."""
        X, on_device = self._validate_predict(X)
        P = self.model_.xp.log(self._proba(X))
        return P if on_device else to_numpy(P)

    def _proba(self, X):
        A = self._output(X)
        if A.shape[1] == 1:
            A = self.model_.xp.concat([1.0 - A, A], axis=1)
        return A

    def predict(self, X):
        """Predicted class labels, shape (n_samples,) (an indicator matrix for multi-label ``y``)."""
        X, on_device = self._validate_predict(X)
        xp = self.model_.xp
        A = self._output(X)
        kind = self._label_binarizer.y_type_
        if not on_device:
            return self._host_decisions(to_numpy(A))
        if kind.startswith("multilabel"):
            return xp.astype(A > 0.5, xp.int64)
        if len(self.classes_) == 1:
            index = xp.zeros(A.shape[0], dtype=xp.int64, device=self.model_.device)
        elif A.shape[1] == 1:
            index = xp.astype(A[:, 0] > 0.5, xp.int64)
        else:
            index = xp.argmax(A, axis=1)
        if self.classes_.dtype.kind in "biuf":
            labels = self.model_.backend.xp.asarray(self.classes_, device=self.model_.device)
            return xp.take(labels, index, axis=0)
        return self.classes_[to_numpy(index)]

    def export_onnx(self, path, dtype=None):
        """Write the fitted classifier as an ONNX file (needs ``pip install ".[onnx]" in the anyarray_nn checkout``).

        The graph has one input ``"X"`` of shape ``(N, n_features_in_)`` and the dtype of the network
        (``dtype``, default the estimator's ``dtype``); the estimator scales no input itself, so ``X`` is
        fed exactly as to :meth:`predict` (put any scaler of a pipeline in front of the ONNX model).
        Its outputs:

        * ``"output"``, shape ``(N, n_classes)``: what :meth:`predict_proba` returns (for two classes
          the columns ``1 - p`` and ``p`` of the single sigmoid unit).
        * ``"label"``, shape ``(N,)``: what :meth:`predict` returns when ``classes_`` holds numbers
          (the argmax over the columns of ``"output"``, looked up in a constant copy of ``classes_``
          inside the graph, in ``classes_``'s dtype). For other labels (strings ...) it holds the int64
          indices into ``classes_``; ``classes_`` is also stored, as a JSON list, under the key
          ``"classes"`` of the model's ``metadata_props``.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.onnx`` file to write, atomically.
        dtype : {"float32", "float64"}, optional
            Float type of the input and the weights.

        Returns
        -------
        onnx.ModelProto
        """
        ndx, model, path, dtype, X, A = self._trace_network(path, dtype)
        if model.n_outputs == 1:
            # Exactly what predict_proba does: the columns 1 - p and p.
            A = ndx.concat([1.0 - A, A], axis=1)
        index = ndx.argmax(A, axis=1)
        classes = self.classes_
        numeric = classes.dtype.kind in "iuf"
        label = ndx.take(ndx.asarray(classes), index, axis=0) if numeric else index
        metadata = {"classes": json.dumps(classes.tolist(), default=str)}
        proto = export.build(
            model,
            {"X": X},
            {"output": A, "label": label},
            None,
            output_shapes={"output": ("N", len(classes)), "label": ("N",)},
            metadata=metadata,
        )
        export.write_bytes(path, proto)
        return proto


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor on any Array API backend, with scikit-learn's interface.

    The parameters, fitted attributes and training of scikit-learn's ``MLPRegressor``, as
    :class:`MLPClassifier` describes. The output layer is linear and training minimizes half the squared
    error (``loss="squared_error"``), or exponential with half the Poisson deviance
    (``loss="poisson"``, for counts ``y >= 0``). ``y`` of shape ``(n_samples,)`` gives predictions of
    shape ``(n_samples,)``; ``(n_samples, n_outputs)`` gives ``(n_samples, n_outputs)``.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
    hidden_layer_sizes, activation, solver, ...
        As in :class:`MLPClassifier`.

    Attributes
    ----------
    coefs_, intercepts_, loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_, t_,
    n_iter_, n_layers_, n_outputs_, n_features_in_, feature_names_in_, model_
        As in :class:`MLPClassifier`; the validation score is R².
    out_activation_ : str
        ``"identity"``, or ``"exp"`` for the Poisson loss.
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        init=None,
        init_distribution="uniform",
        penalty="l2",
        l1_ratio=0.5,
        dropout=0.0,
        backend="numpy",
        device=None,
        dtype=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            init=init,
            init_distribution=init_distribution,
            penalty=penalty,
            l1_ratio=l1_ratio,
            dropout=dropout,
            backend=backend,
            device=device,
            dtype=dtype,
        )
        self.loss = loss

    _metric = staticmethod(r2_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _check_y(self, y):
        return check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")

    def _output_activation(self):
        return "exponential" if self.loss == "poisson" else "linear"

    def _encode_targets(self, y, first, incremental, classes):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"`loss` must be 'squared_error' or 'poisson', got {self.loss!r}.")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2):
            raise ValueError(f"`y` must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}.")
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        if first:
            self._y_ndim = y.ndim
        return y[:, None] if y.ndim == 1 else y

    def _host_decisions(self, A):
        return A[:, 0] if self._y_ndim == 1 else A

    @available_if(_is_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing the network and optimizer state of earlier calls.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def score(self, X, y, sample_weight=None):
        """R² of ``predict(X)`` against ``y`` (arrays of any backend), a Python float."""
        return self._score(X, y, sample_weight)

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs) like the ``y`` of fit, in the model's dtype."""
        X, on_device = self._validate_predict(X)
        A = self._output(X)
        if self._y_ndim == 1:
            A = A[:, 0]
        return A if on_device else to_numpy(A)

    def export_onnx(self, path, dtype=None):
        """Write the fitted regressor as an ONNX file (needs ``pip install ".[onnx]" in the anyarray_nn checkout``).

        The graph has one input ``"X"`` of shape ``(N, n_features_in_)`` and the dtype of the network
        (``dtype``, default the estimator's ``dtype``), fed exactly as to :meth:`predict` (the estimator
        scales neither inputs nor targets), and one output ``"output"``: what :meth:`predict` returns,
        shape ``(N,)`` when ``fit`` saw a 1-D ``y``, else ``(N, n_outputs_)``.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.onnx`` file to write, atomically.
        dtype : {"float32", "float64"}, optional
            Float type of the input, the weights and the output.

        Returns
        -------
        onnx.ModelProto
        """
        ndx, model, path, dtype, X, A = self._trace_network(path, dtype)
        shape = ("N", self.n_outputs_)
        if self._y_ndim == 1:
            A, shape = A[:, 0], ("N",)
        proto = export.build(model, {"X": X}, {"output": A}, None, output_shapes={"output": shape})
        export.write_bytes(path, proto)
        return proto
