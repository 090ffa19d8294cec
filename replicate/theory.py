"""Closed-form, per-pixel facts about each reconstruction loss, as numpy functions of target ``a`` and output ``x``.

These are the analytic side of the report: the loss, its slope in the output and in the pre-sigmoid logit,
and its curvature at the optimum (how much a small error costs at each target intensity). Everything is in
nats (natural log) unless a name says bits. Only pixelwise losses are here; SSIM-type losses are not
pixelwise and have no per-intensity closed form. No Keras import: the report rebuilds from numbers alone.
"""
from __future__ import annotations

import math

import numpy as np

from replicate import vocabulary

#: Losses whose value is a mean of an independent per-pixel term (the vocabulary says which).
PIXELWISE = vocabulary.PIXELWISE
#: Clipping of predictions away from 0 and 1, the same as ``keras.losses.binary_crossentropy``.
EPS = 1e-7
HUBER_DELTA = vocabulary.HUBER_DELTA
#: Below this distance from lambda = 1/2 the continuous Bernoulli's log-normaliser uses its Taylor series.
CB_TAYLOR_HALF_WIDTH = 1e-3


def sigmoid(z):
    """Logistic function, stable for large |z|."""
    z = np.asarray(z, dtype=float)
    return np.exp(-np.logaddexp(0.0, -z))


def entropy(a):
    """Binary entropy H(a) = -a ln a - (1-a) ln(1-a) in nats, with 0 ln 0 = 0."""
    a = np.asarray(a, dtype=float)
    return -(_xlogy(a, a) + _xlogy(1 - a, 1 - a))


def _xlogy(x, y):
    """x * ln(y), defined as 0 where x == 0."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    out = np.zeros_like(x)
    nz = x != 0
    out[nz] = x[nz] * np.log(y[nz])
    return out


def _clip(x):
    return np.clip(np.asarray(x, dtype=float), EPS, 1 - EPS)


def cb_log_norm(lam):
    """log C(lambda) of the continuous Bernoulli, C = 2 artanh(1 - 2 lambda) / (1 - 2 lambda), C(1/2) = 2.

    Notes
    -----
    Uses 2 artanh(1 - 2l) = ln((1 - l) / l) away from 1/2 and the series
    ln 2 + (4/3) d^2 + (104/45) d^4, d = l - 1/2, within ``CB_TAYLOR_HALF_WIDTH`` of it
    (Loaiza-Ganem & Cunningham, NeurIPS 2019; their released code uses the same two branches).
    """
    lam = np.asarray(lam, dtype=float)
    d = lam - 0.5
    near = np.abs(d) < CB_TAYLOR_HALF_WIDTH
    safe = np.where(near, 0.25, lam)
    exact = np.log(np.abs(np.log1p(-safe) - np.log(safe))) - np.log(np.abs(1 - 2 * safe))
    taylor = math.log(2.0) + (4.0 / 3.0) * d**2 + (104.0 / 45.0) * d**4
    return np.where(near, taylor, exact)


def cb_mean_eta(eta):
    """Mean of the continuous Bernoulli with natural parameter eta = logit(lambda): 1/(1-e^-eta) - 1/eta."""
    eta = np.asarray(eta, dtype=float)
    near = np.abs(eta) < 1e-3
    safe = np.where(near, 1.0, eta)
    with np.errstate(over="ignore"):  # e^-eta overflows to inf for very negative eta: the term is then 0
        exact = -1.0 / np.expm1(-safe) - 1.0 / safe
    return np.where(near, 0.5 + eta / 12.0 - eta**3 / 720.0, exact)


def cb_mean(lam):
    """Mean of the continuous Bernoulli with parameter lambda (pulled toward 1/2 relative to lambda)."""
    lam = _clip(lam)
    return cb_mean_eta(np.log(lam) - np.log1p(-lam))


def cb_var_eta(eta):
    """Variance of the continuous Bernoulli in its natural parameter: 1/eta^2 - 1/(4 sinh^2(eta/2)); 1/12 at 0."""
    eta = np.asarray(eta, dtype=float)
    near = np.abs(eta) < 0.05
    safe = np.where(near, 1.0, eta)
    with np.errstate(over="ignore"):
        exact = 1.0 / safe**2 - 1.0 / (4.0 * np.sinh(safe / 2.0) ** 2)
    return np.where(near, 1.0 / 12.0 - eta**2 / 240.0 + eta**4 / 6048.0, exact)


def cb_eta_for_mean(mu, iters: int = 200):
    """Natural parameter eta whose continuous-Bernoulli mean is ``mu`` in (0, 1) (bisection; the mean is monotone)."""
    mu = np.asarray(mu, dtype=float)
    lo = np.full(mu.shape, -1e6)
    hi = np.full(mu.shape, 1e6)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = cb_mean_eta(mid) < mu
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def loss(name: str, a, x):
    """Per-pixel loss of output ``x`` for target ``a`` (nats where logarithmic)."""
    a = np.asarray(a, dtype=float)
    if name in ("bce", "bce_kl"):
        xc = _clip(x)
        value = -(a * np.log(xc) + (1 - a) * np.log1p(-xc))
        return value - entropy(a) if name == "bce_kl" else value
    e = np.asarray(x, dtype=float) - a
    if name == "mse":
        return e**2
    if name == "mae":
        return np.abs(e)
    if name == "huber":
        return np.where(np.abs(e) <= HUBER_DELTA, 0.5 * e**2, HUBER_DELTA * np.abs(e) - 0.5 * HUBER_DELTA**2)
    if name == "continuous_bernoulli":
        return loss("bce", a, x) - cb_log_norm(_clip(x))
    raise ValueError(_unknown(name))


def dloss_dx(name: str, a, x):
    """Derivative of the per-pixel loss in the output ``x`` (inside the clipping range)."""
    a = np.asarray(a, dtype=float)
    x = np.asarray(x, dtype=float)
    if name in ("bce", "bce_kl"):
        return (x - a) / (x * (1 - x))
    if name == "continuous_bernoulli":
        return (cb_mean(x) - a) / (x * (1 - x))
    e = x - a
    if name == "mse":
        return 2 * e
    if name == "mae":
        return np.sign(e)
    if name == "huber":
        return np.clip(e, -HUBER_DELTA, HUBER_DELTA)
    raise ValueError(_unknown(name))


def dloss_dz(name: str, a, z):
    """Derivative of the per-pixel loss in the logit ``z`` of a sigmoid output x = sigmoid(z).

    Notes
    -----
    BCE: sigmoid(z) - a, no saturation. Continuous Bernoulli: mean(sigmoid(z)) - a (an exponential family in z).
    The others carry the sigmoid's slope x(1 - x), which vanishes at the extremes (e.g. MSE: 2(x - a) x (1 - x)).
    """
    a = np.asarray(a, dtype=float)
    x = sigmoid(z)
    if name in ("bce", "bce_kl"):
        return x - a
    if name == "continuous_bernoulli":
        return cb_mean_eta(np.asarray(z, dtype=float)) - a
    return dloss_dx(name, a, x) * x * (1 - x)


def curvature(name: str, a):
    """Second derivative of the per-pixel loss in the reconstructed value at its optimum, as a function of ``a``.

    Notes
    -----
    BCE: 1/(a(1 - a)), the Bernoulli Fisher information, so KL(a || x) ~ (x - a)^2 / (2 a (1 - a)).
    Continuous Bernoulli: 1/Var at the parameter whose mean is a (exponential family in mean coordinates).
    MSE: 2; Huber: 1; MAE: no curvature (a kink), returned as NaN.
    """
    a = np.asarray(a, dtype=float)
    if name in ("bce", "bce_kl"):
        with np.errstate(divide="ignore"):
            return 1.0 / (a * (1 - a))
    if name == "continuous_bernoulli":
        with np.errstate(divide="ignore"):
            return 1.0 / cb_var_eta(cb_eta_for_mean(a))
    if name == "mse":
        return np.full(a.shape, 2.0)
    if name == "huber":
        return np.full(a.shape, 1.0)
    if name == "mae":
        return np.full(a.shape, np.nan)
    raise ValueError(_unknown(name))


def relative_weight(name: str, a):
    """Cost of a small error at intensity ``a`` relative to the same error at a = 0.5 (MAE: 1, its slope is flat)."""
    if name == "mae":
        return np.ones(np.shape(a))
    return curvature(name, a) / curvature(name, np.array(0.5))


def worked_example(target: float = 0.2, predictions: tuple[float, float] = (0.1, 0.3)) -> dict:
    """The report's example: MSE and MAE tie the two predictions, BCE prefers the one nearer 1/2.

    Returns the values in nats and bits, the entropy floor H(target) and each prediction's excess (KL).
    """
    rows = []
    for x in predictions:
        bce = float(loss("bce", target, x))
        kl = float(loss("bce_kl", target, x))
        rows.append({
            "prediction": x,
            "mse": float(loss("mse", target, x)),
            "mae": float(loss("mae", target, x)),
            "bce_nats": bce,
            "bce_bits": bce / math.log(2),
            "kl_nats": kl,
            "kl_bits": kl / math.log(2),
            "kl_quadratic_nats": (x - target) ** 2 / (2 * target * (1 - target)),
        })
    h = float(entropy(target))
    return {"target": target, "entropy_nats": h, "entropy_bits": h / math.log(2), "log_base": "e (nats)",
            "rows": rows, "bce_prefers": min(rows, key=lambda r: r["bce_nats"])["prediction"]}


def _unknown(name: str) -> str:
    return f"no closed-form per-pixel theory for loss {name!r}; pixelwise losses are: {', '.join(PIXELWISE)}"
