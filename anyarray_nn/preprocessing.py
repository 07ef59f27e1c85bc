"""Preprocessing on any Array API backend: standardization, one-hot encoding, stratified splits.

Arrays come back in the namespace and on the device they came in.
"""

from __future__ import annotations

import math

from .backend import namespace_of, random_permutation, to_numpy


class StandardScaler:
    """Standardize features to zero mean and unit variance: ``(X - mean_) / scale_``.

    Fit it on the training data only and apply the same transform to validation and test data, so no
    information from them leaks into training. Features with zero variance keep ``scale_ = 1``.

    Attributes
    ----------
    mean_ : array, shape (n_features,)
    scale_ : array, shape (n_features,)
        Population standard deviation (``ddof=0``), 1 where it is 0.
    """

    def fit(self, X):
        """Learn ``mean_`` and ``scale_`` from ``X`` of shape ``(n_samples, n_features)``."""
        xp = namespace_of(X)
        X = _as_float(X, xp, "X")
        self.mean_ = xp.mean(X, axis=0)
        std = xp.std(X, axis=0)
        self.scale_ = xp.where(std > 0, std, xp.ones_like(std))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """``(X - mean_) / scale_``, shape ``(n_samples, n_features)``."""
        if not hasattr(self, "mean_"):
            raise RuntimeError("This StandardScaler is not fitted yet; call fit(X_train) first.")
        xp = namespace_of(X)
        X = _as_float(X, xp, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"`X` has {X.shape[1]} features, but the scaler was fitted on {self.n_features_in_}.")
        mean, scale = self._params_as(X.dtype, xp)
        return (X - mean) / scale

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """Undo :meth:`transform`: ``X * scale_ + mean_``, shape ``(n_samples, n_features)``."""
        if not hasattr(self, "mean_"):
            raise RuntimeError("This StandardScaler is not fitted yet; call fit(X_train) first.")
        xp = namespace_of(X)
        X = _as_float(X, xp, "X")
        mean, scale = self._params_as(X.dtype, xp)
        return X * scale + mean

    def _params_as(self, dtype, xp):
        # The statistics keep the fitting dtype; cast them so float32 data stays float32.
        mean = xp.astype(self.mean_, dtype) if self.mean_.dtype != dtype else self.mean_
        scale = xp.astype(self.scale_, dtype) if self.scale_.dtype != dtype else self.scale_
        return mean, scale


def _as_float(X, xp, name):
    X = xp.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}.")
    if not xp.isdtype(X.dtype, "real floating"):
        X = xp.astype(X, xp.float64)
    return X


def one_hot(labels, n_classes=None, dtype=None):
    """One-hot encode integer labels.

    Parameters
    ----------
    labels : array, shape (n_samples,)
        Integers in ``0 .. n_classes - 1``.
    n_classes : int, optional
        Default: ``max(labels) + 1``.
    dtype : dtype of the namespace, optional
        Default: the namespace's float64 (float32 for torch-like namespaces is up to the caller).

    Returns
    -------
    array, shape (n_samples, n_classes)
    """
    xp = namespace_of(labels)
    labels = xp.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"`labels` must be 1-D (n_samples,), got shape {tuple(labels.shape)}.")
    if n_classes is None:
        n_classes = int(xp.max(labels)) + 1
    dtype = xp.float64 if dtype is None else dtype
    classes = xp.arange(n_classes, device=labels.device)
    return xp.astype(labels[:, None] == xp.astype(classes, labels.dtype)[None, :], dtype)


def inverse_one_hot(Y):
    """Class indices from one-hot rows (or probabilities): ``argmax`` over axis 1, shape ``(n_samples,)``."""
    xp = namespace_of(Y)
    return xp.argmax(xp.asarray(Y), axis=1)


def train_test_split(*arrays, test_size=0.25, stratify=None, seed=None):
    """Split arrays into train and test rows, keeping every array's rows paired.

    Parameters
    ----------
    *arrays : arrays with the same first dimension
    test_size : float in (0, 1) or int, default 0.25
        Fraction or number of samples in the test part.
    stratify : array, shape (n_samples,), optional
        Class labels: each class is split in the same proportion (at least one sample per part when
        the class has two or more).
    seed : int, optional

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``, arrays of the input namespaces.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array.")
    n = arrays[0].shape[0]
    for i, a in enumerate(arrays):
        if a.shape[0] != n:
            raise ValueError(f"All arrays must have the same number of rows: arrays[0] has {n}, arrays[{i}] has {a.shape[0]}.")
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"`test_size` as a fraction must lie in (0, 1), got {test_size!r}.")
        # Rounded first so that 0.2 * 70 = 14.000000000000002 counts as 14.
        n_test = max(1, int(math.ceil(round(test_size * n, 9))))
    elif isinstance(test_size, int) and not isinstance(test_size, bool):
        if not 0 < test_size < n:
            raise ValueError(f"`test_size` as a count must lie in 1..{n - 1}, got {test_size!r}.")
        n_test = test_size
    else:
        raise TypeError(f"`test_size` must be a float fraction or an int count, got {test_size!r}.")

    order = random_permutation(n, seed)
    if stratify is None:
        test_idx, train_idx = sorted(order[:n_test]), sorted(order[n_test:])
    else:
        labels = to_numpy(stratify).reshape(-1).tolist()
        if len(labels) != n:
            raise ValueError(f"`stratify` has {len(labels)} labels for {n} samples.")
        by_class = {}
        for i in order:
            by_class.setdefault(labels[i], []).append(i)
        frac = n_test / n
        test_idx, train_idx = [], []
        for members in by_class.values():
            k = int(round(frac * len(members)))
            if len(members) >= 2:
                k = min(max(k, 1), len(members) - 1)
            test_idx += members[:k]
            train_idx += members[k:]
        test_idx.sort()
        train_idx.sort()
    out = []
    for a in arrays:
        xp = namespace_of(a)
        device = a.device
        out.append(xp.take(a, xp.asarray(train_idx, dtype=xp.int64, device=device), axis=0))
        out.append(xp.take(a, xp.asarray(test_idx, dtype=xp.int64, device=device), axis=0))
    return out


def train_val_test_split(*arrays, val_size=0.15, test_size=0.15, stratify=None, seed=None):
    """Split arrays three ways: training, validation (for curves and early stopping) and test rows.

    The test part is drawn first, then the validation part from what is left, both stratified when
    ``stratify`` is given, so each class keeps its proportion in all three parts.

    Parameters
    ----------
    *arrays : arrays with the same first dimension
    val_size, test_size : float in (0, 1), default 0.15
        Fractions of all samples; their sum must be below 1.
    stratify : array, shape (n_samples,), optional
        Class labels to stratify on.
    seed : int, optional

    Returns
    -------
    list
        ``[a_train, a_val, a_test, b_train, b_val, b_test, ...]``.
    """
    for name, value in (("val_size", val_size), ("test_size", test_size)):
        if isinstance(value, bool) or not isinstance(value, float) or not 0.0 < value < 1.0:
            raise ValueError(f"`{name}` must be a fraction in (0, 1), got {value!r}.")
    if val_size + test_size >= 1.0:
        raise ValueError(f"`val_size` + `test_size` must be below 1, got {val_size} + {test_size}.")
    extra = [] if stratify is None else [stratify]
    parts = train_test_split(*arrays, *extra, test_size=test_size, stratify=stratify, seed=seed)
    rest, test = parts[0::2], parts[1::2]
    # The validation rows as a count of what remains after the test rows are gone.
    n_rest = rest[0].shape[0]
    second = min(max(1, int(round(val_size * arrays[0].shape[0]))), n_rest - 1)
    second_seed = None if seed is None else seed + 1
    parts = train_test_split(*rest, test_size=second, stratify=rest[-1] if extra else None, seed=second_seed)
    train, val = parts[0::2], parts[1::2]
    out = []
    for i in range(len(arrays)):
        out += [train[i], val[i], test[i]]
    return out
