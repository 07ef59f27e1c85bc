"""Weight penalties (L1, L2, elastic net) and inverted dropout.

The penalty is added to the data loss and applies to weights only, never to biases:

============ ========================================= ===========================================
method       penalty P(W)                              dP/dW
============ ========================================= ===========================================
none         0                                         0
l1           lam * sum |W|                             lam * sign(W)
l2           lam / 2 * sum W^2                         lam * W
elasticnet   lam * (r sum |W| + (1 - r) / 2 sum W^2)   lam * (r sign(W) + (1 - r) W)
============ ========================================= ===========================================

summed over all layers. ``l1`` and ``l2`` are elastic net with ``r = 1`` and ``r = 0``.

Dropout (inverted): during training each hidden unit's output is kept with probability ``1 - p`` and
scaled by ``1 / (1 - p)``, so its expected value is unchanged and prediction needs no rescaling; the
output layer never drops. Masks come from the backend's seeded generator.
"""

from __future__ import annotations

from ._validation import check_number

METHODS = ("none", "l1", "l2", "elasticnet")
_ALIASES = {"elastic_net": "elasticnet", "elastic": "elasticnet", None: "none"}


def check_dropout(rate):
    """A dropout rate in [0, 1) as a float, or an error naming `dropout`."""
    return check_number(rate, "dropout", low=0.0, high=1.0)


class Regularization:
    """Penalty on the weights plus dropout.

    Parameters
    ----------
    method : {"none", "l1", "l2", "elasticnet"}, default "none"
    lam : float, default 0.0
        Penalty strength (lambda), ``>= 0``.
    r : float, default 0.5
        Elastic-net mix in [0, 1]: 1 is pure L1, 0 pure L2. Ignored by the other methods.
    dropout : float, default 0.0
        Probability in [0, 1) of dropping a hidden unit during training.
    per_sample : bool, default False
        Divide ``lam`` by each batch's number of samples (by the sum of its sample weights when there
        are weights), as scikit-learn's ``alpha`` is: the penalty then weighs less against a larger batch.
    """

    def __init__(self, method="none", lam=0.0, r=0.5, dropout=0.0, per_sample=False):
        if method is not None and not isinstance(method, str):
            raise TypeError(f"`method` must be a string in {list(METHODS)} or None, got {type(method).__name__}.")
        key = method.lower() if isinstance(method, str) else method
        key = _ALIASES.get(key, key)
        if key not in METHODS:
            raise ValueError(f"Unknown regularization method {method!r} for `method`; expected one of {list(METHODS)}.")
        self.method = key
        self.lam = check_number(lam, "lam", low=0.0)
        self.r = check_number(r, "r", low=0.0, high=1.0, high_open=False)
        self.dropout = check_dropout(dropout)
        if not isinstance(per_sample, bool):
            raise TypeError(f"`per_sample` must be True or False, got {per_sample!r}.")
        self.per_sample = per_sample

    def unit(self):
        """This penalty at ``lam = 1``: a per-sample penalty is ``lam / samples`` times it."""
        return Regularization(self.method, lam=1.0, r=self.r)

    def batch_scale(self, rows, weight_sum=None, *, xp):
        """The factor of :meth:`unit`'s penalty for a batch of ``rows`` samples (``per_sample``).

        ``lam / rows``, or ``lam / weight_sum`` (a 0-d array) with sample weights; 0 for weights that add
        up to 0, whose batch adds nothing.
        """
        if weight_sum is None:
            return float(self.lam) / rows
        safe = xp.where(weight_sum > 0, weight_sum, xp.ones_like(weight_sum))
        return xp.where(weight_sum > 0, float(self.lam) / safe, xp.zeros_like(weight_sum))

    @property
    def l1_ratio(self):
        """The weight of the L1 term: 1 for l1, 0 for l2, ``r`` for elastic net."""
        return {"none": 0.0, "l1": 1.0, "l2": 0.0, "elasticnet": self.r}[self.method]

    @property
    def active(self):
        return self.method != "none" and self.lam > 0.0

    def penalty(self, Ws, *, xp):
        """Total penalty over the weight matrices ``Ws``, a 0-d array (or 0.0 when inactive)."""
        if not self.active:
            return 0.0
        r = self.l1_ratio
        total = 0.0
        for W in Ws:
            if r > 0.0:
                total = total + (self.lam * r) * xp.sum(xp.abs(W))
            if r < 1.0:
                total = total + (self.lam * (1.0 - r) * 0.5) * xp.sum(W * W)
        return total

    def gradient(self, W, *, xp):
        """``dP/dW`` for one weight matrix, same shape as ``W`` (None when inactive)."""
        if not self.active:
            return None
        r = self.l1_ratio
        if r == 0.0:
            return self.lam * W
        if r == 1.0:
            return self.lam * xp.sign(W)
        return (self.lam * r) * xp.sign(W) + (self.lam * (1.0 - r)) * W

    def get_config(self):
        config = {"method": self.method, "lam": self.lam, "r": self.r, "dropout": self.dropout}
        if self.per_sample:
            config["per_sample"] = True
        return config

    def __repr__(self):
        extra = ", per_sample=True" if self.per_sample else ""
        return f"Regularization({self.method!r}, lam={self.lam}, r={self.r}, dropout={self.dropout}{extra})"


def get(regularization):
    """A Regularization from None, a method name, a dict of its arguments or an instance."""
    if regularization is None:
        return Regularization()
    if isinstance(regularization, Regularization):
        return regularization
    if isinstance(regularization, str):
        return Regularization(regularization)
    if isinstance(regularization, dict):
        return Regularization(**regularization)
    raise TypeError(
        f"`regularization` must be a Regularization, a method name or a dict, got {type(regularization).__name__}."
    )
