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

scikit-learn is an optional dependency: ``pip install "anyarray-nn[sklearn]"``.
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
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "anyarray_nn.sklearn needs scikit-learn, which is not installed: "
        'pip install "anyarray-nn[sklearn]" (or pip install scikit-learn).'
    ) from exc

import array_api_compat
import numpy as np

from . import activations, export, optimizers, schedules
from .backend import Backend, to_numpy
from .layers import Layer
from .model import Model
from .regularization import Regularization
from .training import EarlyStopping, Settings, Solver

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


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, validation, the training loop."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        init=None,
        init_distribution="normal",
        solver="adam",
        alpha=0.0001,
        penalty="l2",
        l1_ratio=0.5,
        dropout=0.0,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        backend="numpy",
        device=None,
        dtype="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.init_distribution = init_distribution
        self.solver = solver
        self.alpha = alpha
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # ----------------------------------------------------------------------------------------------
    # pickling: a Model holds its array namespace (a module), so it travels as NumPy arrays
    def __getstate__(self):
        state = dict(super().__getstate__())
        if isinstance(state.get("model_"), Model):
            state["model_"] = _export_model(state["model_"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("model_"), dict):
            state["model_"] = _import_model(state["model_"])
        super().__setstate__(state)
        if getattr(self, "model_", None) is not None and getattr(self, "_solver", None) is not None:
            # The same Solver object is what lets partial_fit continue the optimizer state.
            self.model_.solver_ = self._solver

    # ----------------------------------------------------------------------------------------------
    # parameters
    def _check_params(self):
        """Validate the constructor parameters; returns the values training needs."""
        name = type(self).__name__
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

        activation = activations.get(self.activation) if isinstance(self.activation, str) else self.activation
        if not isinstance(self.activation, str) or activation.name == "softmax":
            choices = [n for n in activations.names() if n != "softmax"] + ["identity", "logistic"]
            raise ValueError(f"`activation` must be one of {sorted(choices)}, got {self.activation!r}.")

        if isinstance(self.solver, str):
            key = self.solver.lower()
            if key == "lbfgs":
                raise ValueError(
                    f"{name} trains with mini-batch optimizers only; `solver='lbfgs'` is not supported. "
                    f"Use one of {optimizers.names()}."
                )
            optimizer = optimizers.get(key)
        elif isinstance(self.solver, optimizers.Optimizer):
            optimizer = copy.deepcopy(self.solver)
        else:
            raise TypeError(
                f"`solver` must be a name in {optimizers.names()} or an anyarray_nn Optimizer, got {self.solver!r}."
            )

        if not _is_real(self.tol) or self.tol < 0:
            raise ValueError(f"`tol` must be a float >= 0, got {self.tol!r}.")
        # learning_rate: scikit-learn's schedule names, this library's schedules, or the step size itself.
        schedule, lr, lr_name = None, self.learning_rate_init, "learning_rate_init"
        if isinstance(self.learning_rate, str):
            if self.learning_rate == "adaptive":
                schedule = schedules.get("plateau", factor=0.2, patience=2, min_delta=float(self.tol))
            elif self.learning_rate != "constant":
                if self.learning_rate not in schedules.names():
                    raise ValueError(
                        f"`learning_rate` must be a positive float (the step size), 'adaptive' or one of "
                        f"{schedules.names()}, got {self.learning_rate!r}."
                    )
                schedule = schedules.get(self.learning_rate)
        elif isinstance(self.learning_rate, schedules.Schedule):
            # A copy: training advances a schedule, and fit must not change the estimator's parameters.
            schedule = copy.deepcopy(self.learning_rate)
        else:
            lr, lr_name = self.learning_rate, "learning_rate"
        if not _is_real(lr) or lr <= 0:
            raise ValueError(f"`{lr_name}` must be a positive float, got {lr!r}.")

        penalty = "none" if self.penalty is None else self.penalty
        if penalty not in _PENALTIES:
            raise ValueError(f"`penalty` must be one of {list(_PENALTIES)} or None, got {self.penalty!r}.")
        if not _is_real(self.alpha) or self.alpha < 0:
            raise ValueError(f"`alpha` must be a float >= 0, got {self.alpha!r}.")
        if not _is_real(self.l1_ratio) or not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(f"`l1_ratio` must be a float in [0, 1], got {self.l1_ratio!r}.")
        if not _is_real(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be a float in [0, 1), got {self.dropout!r}.")
        if not (self.batch_size == "auto" or (_is_int(self.batch_size) and self.batch_size >= 1)):
            raise ValueError(f"`batch_size` must be 'auto' or a positive integer, got {self.batch_size!r}.")
        if not _is_int(self.max_iter) or self.max_iter < 1:
            raise ValueError(f"`max_iter` must be a positive integer (the number of epochs), got {self.max_iter!r}.")
        if not _is_int(self.n_iter_no_change) or self.n_iter_no_change < 1:
            raise ValueError(f"`n_iter_no_change` must be a positive integer, got {self.n_iter_no_change!r}.")
        for flag in ("shuffle", "early_stopping"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"`{flag}` must be True or False, got {getattr(self, flag)!r}.")
        fraction = self.validation_fraction
        if self.early_stopping and (not _is_real(fraction) or not 0.0 < fraction < 1.0):
            raise ValueError(f"`validation_fraction` must be a float in (0, 1), got {self.validation_fraction!r}.")
        if not (_is_int(self.verbose) or isinstance(self.verbose, (bool, np.bool_))) or self.verbose < 0:
            raise ValueError(f"`verbose` must be an integer >= 0, got {self.verbose!r}.")
        return {
            "hidden": hidden,
            "activation": activation.name,
            "optimizer": optimizer,
            "learning_rate": float(lr),
            "schedule": schedule,
            "penalty": penalty,
        }

    def _new_backend(self):
        return Backend(self.backend, device=self.device, dtype=self.dtype)

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

    def _validate_fit(self, X, y, backend, reset):
        """``(X, y)``: X validated (arrays of the backend stay on their device), y as NumPy."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        if _foreign_array(X):
            self._check_foreign(X, backend)
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
        return validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32], **self._y_validation)

    def _validate_predict(self, X):
        """``(X, on_device)`` for prediction: device arrays of the model's library stay where they are."""
        check_is_fitted(self, "model_")
        if _foreign_array(X):
            self._check_foreign(X, self.model_.backend)
            self._check_device_X(X, reset=False)
            return X, True
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X, False

    def _output(self, X):
        """The network output for validated ``X``: a backend array of shape (n_samples, n_outputs)."""
        return self.model_.predict_proba(X)

    def _logits(self, X):
        """Pre-activation of the output layer, shape (n_samples, n_outputs), chunked like prediction."""
        return self.model_.decision_function(X)

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
    def fit(self, X, y):
        """Train a new network on ``(X, y)``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            NumPy arrays, lists, DataFrames, or arrays of the estimator's backend.
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or target values (regressor).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def _fit(self, X, y, incremental, classes=None):
        first = not (incremental and hasattr(self, "model_"))
        params = self._check_params() if first else None
        backend = self._new_backend() if first else self.model_.backend
        X, y = self._validate_fit(X, y, backend, reset=first)
        targets = self._encode_targets(y, first, classes)
        n = X.shape[0]

        if first:
            size = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
            self._batch_size, self._seed = size, seed
            self.model_ = self._build_model(params, seed)
            # scikit-learn scales the penalty by the batch: alpha / (2 m) * sum W**2 on each batch's mean loss.
            reg = Regularization(
                params["penalty"], lam=float(self.alpha) / size, r=float(self.l1_ratio), dropout=float(self.dropout)
            )
            self._solver = Solver(
                optimizer=params["optimizer"],
                learning_rate=params["learning_rate"],
                regularization=reg,
                schedule=params["schedule"],
            )
            self.n_iter_ = 0
            self.loss_curve_ = []
            self.validation_loss_curve_ = None
            self.best_loss_ = None
            self.best_validation_loss_ = None

        model = self.model_
        # Data moves to the model's device and dtype once per fit.
        X = model.backend.asarray(X)
        if incremental:
            settings = Settings(epochs=1, batch_size=min(self._batch_size, n), shuffle=bool(self.shuffle), verbose=0)
            history = model.fit(X, targets, solver=self._solver, settings=settings)
            self.loss_curve_ += history.loss
            self.n_iter_ += history.epochs
            self.best_loss_ = min(self.loss_curve_)
            return self

        validation_data = None
        patience, min_delta = self.n_iter_no_change, float(self.tol)
        if self.early_stopping:
            X, targets, validation_data = self._split_validation(X, targets)
            stopper = EarlyStopping(patience=patience, min_delta=min_delta, restore_best_weights=True)
        else:
            # scikit-learn's rule without a validation set: stop when the training loss stalls.
            stopper = EarlyStopping(patience=patience, min_delta=min_delta, restore_best_weights=False, monitor="loss")
        settings = Settings(
            epochs=self.max_iter,
            batch_size=min(self._batch_size, X.shape[0]),
            shuffle=bool(self.shuffle),
            verbose=min(int(self.verbose), 2),
            early_stopping=stopper,
        )
        history = model.fit(X, targets, solver=self._solver, settings=settings, validation_data=validation_data)
        self.loss_curve_ = list(history.loss)
        self.n_iter_ = history.epochs
        self.best_loss_ = min(history.loss)
        if self.early_stopping:
            self.validation_loss_curve_ = list(history.val_loss)
            self.best_validation_loss_ = min(history.val_loss)
        if history.epochs == self.max_iter and math.isfinite(history.loss[-1]):
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and the optimization "
                f"hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _split_validation(self, X, targets):
        """Hold out ``validation_fraction`` of the samples (stratified for classifiers) on the device."""
        n = X.shape[0]
        stratify = targets if isinstance(self, ClassifierMixin) else None
        train, val = train_test_split(
            np.arange(n), test_size=self.validation_fraction, random_state=self._seed, stratify=stratify
        )
        if val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small ({val.shape[0]} sample(s) of {n}); increase "
                f"`validation_fraction` or the number of samples."
            )
        xp, backend = self.model_.xp, self.model_.backend
        X_train = xp.take(X, backend.index_array(np.sort(train)), axis=0)
        X_val = xp.take(X, backend.index_array(np.sort(val)), axis=0)
        return X_train, targets[np.sort(train)], (X_val, targets[np.sort(val)])

    def _build_model(self, params, seed):
        sizes = [self.n_features_in_, *params["hidden"]]
        init, distribution = self.init, self.init_distribution
        layers = [
            Layer(a, b, params["activation"], init=init, distribution=distribution)
            for a, b in zip(sizes[:-1], sizes[1:])
        ]
        n_out, out_activation = self._output_layer()
        layers.append(Layer(sizes[-1], n_out, out_activation, init=init, distribution=distribution))
        self.out_activation_ = out_activation
        return Model(layers, backend=self.backend, device=self.device, dtype=self.dtype, seed=seed)

    def _score(self, X, y, sample_weight=None):
        # scikit-learn's metrics would need array API dispatch for device arrays: compare on the host.
        y_pred = self.predict(X)
        y, y_pred = (to_numpy(a) if array_api_compat.is_array_api_obj(a) else a for a in (y, y_pred))
        if sample_weight is not None and array_api_compat.is_array_api_obj(sample_weight):
            sample_weight = to_numpy(sample_weight)
        return float(self._metric(y, y_pred, sample_weight=sample_weight))



class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier on any Array API backend, with scikit-learn's interface.

    Two classes train one sigmoid output unit with binary cross-entropy (as scikit-learn's own
    ``MLPClassifier`` does); three or more train a softmax layer with cross-entropy. Class labels may be
    any sortable values (strings, non-contiguous integers); ``classes_`` maps output columns to them.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
        Units of each hidden layer; ``()`` gives a network without hidden layers (logistic regression).
    activation : str, default "relu"
        Hidden-layer activation: scikit-learn's ``"identity"``, ``"logistic"``, ``"tanh"``, ``"relu"`` or
        any name of :func:`anyarray_nn.activations.names` except softmax.
    init : str, optional
        Weight initializer of every layer (``"he"``, ``"xavier"``, ``"lecun"``, ...; see
        :mod:`anyarray_nn.initializers`). Default: He for ReLU-like activations, Xavier otherwise.
        scikit-learn's MLP initializes like ``init="xavier", init_distribution="uniform"``.
    init_distribution : {"normal", "uniform"}, default "normal"
        Distribution of the initial weights (same variance either way).
    solver : str or Optimizer, default "adam"
        ``"adam"`` or ``"sgd"`` (scikit-learn's names; ``"sgd"`` is plain SGD here, while scikit-learn's
        adds Nesterov momentum 0.9: pass ``"nesterov"`` for that), any name of
        :func:`anyarray_nn.optimizers.names`, or an Optimizer object. ``"lbfgs"`` is not supported.
    alpha : float, default 0.0001
        Penalty strength, scaled as in scikit-learn: each mini-batch of ``m`` samples adds
        ``alpha / m * (l1_ratio * sum|W| + (1 - l1_ratio) / 2 * sum W**2)`` to its mean loss (``m`` is the
        batch size of the first fit). Biases are not penalized.
    penalty : {"l2", "l1", "elasticnet", "none"} or None, default "l2"
        ``"l2"`` with the default ``alpha`` matches scikit-learn's MLP.
    l1_ratio : float, default 0.5
        The L1 share of the elastic-net penalty (1 is pure L1, 0 pure L2).
    dropout : float, default 0.0
        Probability of dropping each hidden unit during training (inverted dropout).
    batch_size : int or "auto", default "auto"
        Samples per gradient step; ``"auto"`` is ``min(200, n_samples)``; clipped to ``n_samples``.
    learning_rate : str, Schedule or float, default "constant"
        scikit-learn's spelling: ``"constant"`` (the step size is ``learning_rate_init``) or
        ``"adaptive"`` (divide the rate by 5 when the loss has not improved by ``tol`` for 2 epochs);
        a schedule of :mod:`anyarray_nn.schedules` (``"step"``, ``"exponential"``, ``"cosine"``,
        ``"plateau"`` or a Schedule object); or this library's spelling, a float: the step size itself,
        which then takes precedence over ``learning_rate_init``. ``"invscaling"`` is not supported.
    learning_rate_init : float, default 0.001
        The step size, under scikit-learn's name (so parameter grids written for it carry over).
    max_iter : int, default 200
        Maximum number of epochs (passes over the training data).
    shuffle : bool, default True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default None
        Seeds the initial weights, the shuffling, dropout masks and the validation split.
    tol : float, default 1e-4
        Decrease of the monitored loss that counts as an improvement.
    verbose : int, default 0
        Progress lines while training: 1 about twenty per fit, 2 one per epoch.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the training data (stratified for classifiers), stop when the
        validation loss has not improved by more than ``tol`` for ``n_iter_no_change`` consecutive epochs,
        and restore the weights of the best epoch. (scikit-learn monitors the validation accuracy; the
        loss is finer grained.) Without early stopping, training stops as in scikit-learn when the
        training loss has not improved by more than ``tol`` for ``n_iter_no_change`` consecutive epochs,
        keeping the last weights.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 10
    backend : {"numpy", "cupy", "torch", "array_api_strict", "auto"}, default "numpy"
        The array library that trains the network (see :class:`anyarray_nn.Backend`).
    device : optional
        Device on that backend (``"cuda:1"``, ``"device1"``, ...).
    dtype : {"float32", "float64"}, default "float32"

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted (a NumPy array).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    loss_curve_ : list of float
        Mean training loss (with the penalty) of each epoch.
    validation_loss_curve_ : list of float or None
        Validation loss of each epoch with ``early_stopping``, else None.
    best_loss_ : float
        Lowest training loss.
    best_validation_loss_ : float or None
        Lowest validation loss with ``early_stopping``, else None.
    n_iter_ : int
        Epochs run.
    out_activation_ : str
        ``"sigmoid"`` (two classes) or ``"softmax"``.
    model_ : anyarray_nn.Model
        The trained network.
    """

    _y_validation = {"multi_output": False}
    _metric = staticmethod(accuracy_score)

    def _check_y(self, y):
        return column_or_1d(np.asarray(y), warn=True)

    def _output_layer(self):
        k = len(self.classes_)
        return (1, "sigmoid") if k == 2 else (k, "softmax")

    def _encode_targets(self, y, first, classes):
        check_classification_targets(y)
        if first:
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if labels.shape[0] < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes to train; got only one class: "
                    f"{labels.tolist()!r}."
                )
            self.classes_ = labels
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(
                f"`classes={np.asarray(classes).tolist()!r}` differs from the classes of the first call to "
                f"partial_fit, {self.classes_.tolist()!r}."
            )
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.shape[0]:
            raise ValueError(
                f"`y` holds labels {unseen.tolist()[:5]!r} that are not in `classes_` {self.classes_.tolist()!r}."
            )
        return np.searchsorted(self.classes_, y)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``, continuing the network and optimizer state of earlier calls.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,)
        classes : array-like, shape (n_classes,)
            Every class of the problem; required on the first call, optional afterwards.

        Returns
        -------
        self
        """
        if not hasattr(self, "model_") and classes is None:
            raise ValueError("`classes` must be passed on the first call to partial_fit.")
        return self._fit(X, y, incremental=True, classes=classes)

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
        """Class probabilities, columns in the order of ``classes_``.

        Returns
        -------
        array, shape (n_samples, n_classes)
        """
        X, on_device = self._validate_predict(X)
        P = self._proba(X)
        return P if on_device else to_numpy(P)

    def _proba(self, X):
        A = self._output(X)
        if A.shape[1] == 1:
            A = self.model_.xp.concat([1.0 - A, A], axis=1)
        return A

    def predict(self, X):
        """Predicted class labels, shape (n_samples,), values from ``classes_``."""
        X, on_device = self._validate_predict(X)
        xp = self.model_.xp
        index = xp.argmax(self._proba(X), axis=1)
        if on_device and self.classes_.dtype.kind in "biuf":
            labels = self.model_.backend.xp.asarray(self.classes_, device=self.model_.device)
            return xp.take(labels, index, axis=0)
        return self.classes_[to_numpy(index)]

    def export_onnx(self, path, dtype=None):
        """Write the fitted classifier as an ONNX file (needs ``pip install "anyarray-nn[onnx]"``).

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

    The output layer is linear and training minimizes the mean squared error over samples and outputs
    (``loss_curve_`` reports that mean, while scikit-learn's reports half of it). ``y`` of shape
    ``(n_samples,)`` gives predictions of shape ``(n_samples,)``; ``(n_samples, n_outputs)`` gives
    ``(n_samples, n_outputs)``.

    Parameters
    ----------
    See :class:`MLPClassifier`; all parameters mean the same here.

    Attributes
    ----------
    n_outputs_ : int
    n_features_in_, feature_names_in_, loss_curve_, validation_loss_curve_, best_loss_, n_iter_, model_
        As in :class:`MLPClassifier`.
    """

    _y_validation = {"multi_output": True, "y_numeric": True}
    _metric = staticmethod(r2_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _check_y(self, y):
        return check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")

    def _output_layer(self):
        return self.n_outputs_, "linear"

    def _encode_targets(self, y, first, classes):
        y = np.asarray(y)
        if y.ndim not in (1, 2):
            raise ValueError(f"`y` must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}.")
        k = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self.n_outputs_ = k
            self._y_ndim = y.ndim
        elif k != self.n_outputs_:
            raise ValueError(f"`y` has {k} output(s), but the network was built for {self.n_outputs_}.")
        return y.astype(np.float64, copy=False)

    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``, continuing the network and optimizer state of earlier calls.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True)

    def score(self, X, y, sample_weight=None):
        """R² of ``predict(X)`` against ``y`` (arrays of any backend), a Python float."""
        return self._score(X, y, sample_weight)

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs) like the ``y`` of fit."""
        X, on_device = self._validate_predict(X)
        A = self._output(X)
        if self._y_ndim == 1:
            A = A[:, 0]
        return A if on_device else to_numpy(A)

    def export_onnx(self, path, dtype=None):
        """Write the fitted regressor as an ONNX file (needs ``pip install "anyarray-nn[onnx]"``).

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
