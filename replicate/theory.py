"""Closed-form, per-pixel facts about each reconstruction loss, as numpy functions of target ``a`` and output ``x``
(or its logit ``z``, x = sigmoid(z)).

These are the analytic side of the report: the loss, its slope and curvature in the output and in the logit,
its floor (the best any output can do), the best constant output, and how much a small error costs at each target
intensity. Everything is in nats unless a name says bits, float64, and stable from the logit (no clipping of
the continuous Bernoulli's parameter). Only pixelwise losses are here (the vocabulary says which); SSIM-type
losses have no per-intensity closed form. No Keras import: the report rebuilds from numbers alone.
"""
from __future__ import annotations

import math

import numpy as np

from replicate import vocabulary

#: Losses whose value is a mean of an independent per-pixel term (the vocabulary says which).
PIXELWISE = vocabulary.PIXELWISE
#: Clipping of BCE's output away from 0 and 1 where it is written in the output x (never in the logit forms).
EPS = 1e-7
HUBER_DELTA = vocabulary.HUBER_DELTA
WEIGHT_FLOOR = vocabulary.WEIGHT_FLOOR
#: Below this distance from lambda = 1/2 the continuous Bernoulli's log-normaliser uses its Taylor series.
CB_TAYLOR_HALF_WIDTH = 1e-3
#: Below this |eta| the continuous Bernoulli's log-partition A(eta) uses its Taylor series (error < 1e-15).
CB_TAYLOR_ETA = 0.1
#: The continuous Bernoulli's density is unbounded at exact 0 and 1, so its floor there is taken at 8-bit
#: resolution: the loss of a distribution whose mean lies half a grey level (1/510) from the target.
CB_RESOLUTION_ETA = 510.0


def sigmoid(z):
    """Logistic function, stable for large |z|."""
    z = np.asarray(z, dtype=float)
    return np.exp(-np.logaddexp(0.0, -z))


def logit(x):
    """ln(x / (1 - x)); -inf at 0 and +inf at 1."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(x) - np.log1p(-x)


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


def weight(a):
    """a(1 - a) floored at :data:`WEIGHT_FLOOR`: the weight of the factorial's two weighted losses."""
    a = np.asarray(a, dtype=float)
    return np.maximum(a * (1 - a), WEIGHT_FLOOR)


# --- continuous Bernoulli --------------------------------------------------------------------------------------

def cb_log_partition(eta):
    """A(eta) = ln((e^eta - 1) / eta), the continuous Bernoulli's log-partition in its natural parameter.

    Notes
    -----
    Away from 0: max(eta, 0) + ln(-expm1(-|eta|)) - ln|eta|, exact for any |eta| (no overflow); within
    :data:`CB_TAYLOR_ETA` of 0: eta/2 + eta^2/24 - eta^4/2880 + eta^6/181440 (next term -eta^8/9676800, below
    1e-15 there). So the negative
    log-likelihood A(eta) - a eta is stable from the logit alone (Loaiza-Ganem & Cunningham, NeurIPS 2019).
    """
    eta = np.asarray(eta, dtype=float)
    near = np.abs(eta) < CB_TAYLOR_ETA
    safe = np.abs(np.where(near, 1.0, eta))
    with np.errstate(over="ignore"):
        exact = np.maximum(eta, 0.0) + np.log(-np.expm1(-safe)) - np.log(safe)
    taylor = eta / 2 + eta**2 / 24 - eta**4 / 2880 + eta**6 / 181440
    return np.where(near, taylor, exact)


def cb_nll(a, eta):
    """Negative log-density of target ``a`` under a continuous Bernoulli with natural parameter ``eta``."""
    return cb_log_partition(eta) - np.asarray(a, dtype=float) * np.asarray(eta, dtype=float)


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
    """Mean of the continuous Bernoulli with parameter lambda in [0, 1] (pulled toward 1/2 relative to lambda)."""
    return cb_mean_eta(logit(lam))


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


# --- the per-pixel losses --------------------------------------------------------------------------------------

def loss(name: str, a, x):
    """Per-pixel loss of output ``x`` for target ``a`` (nats where logarithmic)."""
    a = np.asarray(a, dtype=float)
    if name == "continuous_bernoulli":
        return cb_nll(a, logit(x))
    if name in ("bce", "bce_kl", "bce_mse_weight"):
        xc = _clip(x)
        value = -(a * np.log(xc) + (1 - a) * np.log1p(-xc))
        if name == "bce":
            return value
        kl = value - entropy(a)
        return kl if name == "bce_kl" else 2 * weight(a) * kl
    e = np.asarray(x, dtype=float) - a
    if name == "mse":
        return e**2
    if name == "mse_bce_weight":
        return e**2 / (2 * weight(a))
    if name == "mae":
        return np.abs(e)
    if name == "huber":
        return np.where(np.abs(e) <= HUBER_DELTA, 0.5 * e**2, HUBER_DELTA * np.abs(e) - 0.5 * HUBER_DELTA**2)
    raise ValueError(_unknown(name))


def loss_z(name: str, a, z):
    """Per-pixel loss as a function of the logit ``z``, exact for any z (BCE and its kin: softplus form)."""
    a, z = np.asarray(a, dtype=float), np.asarray(z, dtype=float)
    if name == "continuous_bernoulli":
        return cb_nll(a, z)
    if name in ("bce", "bce_kl", "bce_mse_weight"):
        value = np.logaddexp(0.0, z) - a * z
        if name == "bce":
            return value
        kl = value - entropy(a)
        return kl if name == "bce_kl" else 2 * weight(a) * kl
    return loss(name, a, sigmoid(z))


def dloss_dx(name: str, a, x):
    """Derivative of the per-pixel loss in the output ``x`` (inside (0, 1))."""
    a = np.asarray(a, dtype=float)
    x = np.asarray(x, dtype=float)
    if name in ("bce", "bce_kl"):
        return (x - a) / (x * (1 - x))
    if name == "bce_mse_weight":
        return 2 * weight(a) * (x - a) / (x * (1 - x))
    if name == "continuous_bernoulli":
        return (cb_mean(x) - a) / (x * (1 - x))
    e = x - a
    if name == "mse":
        return 2 * e
    if name == "mse_bce_weight":
        return e / weight(a)
    if name == "mae":
        return np.sign(e)
    if name == "huber":
        return np.clip(e, -HUBER_DELTA, HUBER_DELTA)
    raise ValueError(_unknown(name))


def _d2loss_dx2(name: str, a, x):
    """Second derivative of the per-pixel loss in the output ``x`` (MAE: 0 away from its kink)."""
    a, x = np.asarray(a, dtype=float), np.asarray(x, dtype=float)
    e = x - a
    if name in ("bce", "bce_kl", "bce_mse_weight"):
        scale = 2 * weight(a) if name == "bce_mse_weight" else 1.0
        return scale * (a / x**2 + (1 - a) / (1 - x) ** 2)
    if name == "mse":
        return np.full(np.broadcast(a, x).shape, 2.0)
    if name == "mse_bce_weight":
        return np.broadcast_to(1 / weight(a), np.broadcast(a, x).shape)
    if name == "mae":
        return np.zeros(np.broadcast(a, x).shape)
    if name == "huber":
        return np.where(np.abs(e) <= HUBER_DELTA, 1.0, 0.0)
    raise ValueError(_unknown(name))


def dloss_dz(name: str, a, z):
    """Derivative of the per-pixel loss in the logit ``z`` of a sigmoid output x = sigmoid(z).

    Notes
    -----
    Every pixelwise loss here has the form r(a, x) (x - a). BCE: r = 1, no saturation. Continuous Bernoulli:
    mean(z) - a (an exponential family in z). BCE with MSE's weighting: r = 2 max(a(1-a), eps), still without
    saturation. MSE: r = 2 x(1 - x), MSE with BCE's weighting: r = x(1 - x) / max(a(1-a), eps): both vanish as
    the output saturates.
    """
    a = np.asarray(a, dtype=float)
    z = np.asarray(z, dtype=float)
    x = sigmoid(z)
    if name in ("bce", "bce_kl"):
        return x - a
    if name == "bce_mse_weight":
        return 2 * weight(a) * (x - a)
    if name == "continuous_bernoulli":
        return cb_mean_eta(z) - a
    return dloss_dx(name, a, x) * x * (1 - x)


def d2loss_dz2(name: str, a, z):
    """Second derivative of the per-pixel loss in the logit ``z``: where it is >= 0 for every z, the loss is convex
    in the logit, hence in the output layer's weights.

    Notes
    -----
    With x = sigmoid(z) and s = x(1 - x): d2L/dz2 = L''(x) s^2 + L'(x) s (1 - 2x). BCE: s >= 0 (convex);
    continuous Bernoulli: its variance in z (convex); BCE with MSE's weighting: 2 max(a(1-a), eps) s (convex).
    MSE: 2 s (s + (x - a)(1 - 2x)), which is negative where the output is saturated on the wrong side.
    """
    a = np.asarray(a, dtype=float)
    z = np.asarray(z, dtype=float)
    x = sigmoid(z)
    s = x * (1 - x)
    if name in ("bce", "bce_kl"):
        return np.broadcast_to(s, np.broadcast(a, z).shape).copy()
    if name == "bce_mse_weight":
        return 2 * weight(a) * s
    if name == "continuous_bernoulli":
        return np.broadcast_to(cb_var_eta(z), np.broadcast(a, z).shape).copy()
    return _d2loss_dx2(name, a, x) * s**2 + dloss_dx(name, a, x) * s * (1 - 2 * x)


def curvature(name: str, a):
    """Second derivative of the per-pixel loss in the reconstructed value at its optimum, as a function of ``a``.

    Notes
    -----
    BCE: 1/(a(1 - a)), the Bernoulli Fisher information, so KL(a || x) ~ (x - a)^2 / (2 a (1 - a)).
    Continuous Bernoulli: 1/Var at the parameter whose mean is a (exponential family in mean coordinates).
    MSE: 2; Huber: 1; MSE with BCE's weighting: 1/max(a(1-a), eps); BCE with MSE's weighting:
    2 max(a(1-a), eps)/(a(1-a)), i.e. 2 where a(1-a) is above the floor; MAE: no curvature (a kink), NaN.
    """
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore"):
        if name in ("bce", "bce_kl"):
            return 1.0 / (a * (1 - a))
        if name == "bce_mse_weight":
            return 2 * weight(a) / (a * (1 - a))
        if name == "mse_bce_weight":
            return 1.0 / weight(a)
        if name == "continuous_bernoulli":
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


def penalty_scale(name: str) -> float:
    """How much a model's own penalty is scaled for loss ``name`` so that it weighs against that loss as the post's
    penalty weighs against BCE: the loss's curvature at mid-grey relative to BCE's (MSE: 2/4 = 0.5)."""
    if name not in PIXELWISE or name == "mae":
        usable = ", ".join(k for k in vocabulary.TRAINED_LOSSES if k in PIXELWISE and k != "mae")
        raise ValueError(f"loss {name!r} has no curvature at mid-grey, so a penalty cannot be rescaled for it; "
                         f"use one of {usable}")
    half = np.array(0.5)
    return float(curvature(name, half) / curvature("bce", half))


def loss_floor(name: str, a):
    """The least per-pixel loss any output reaches for target ``a``: H(a) for BCE, 0 for the losses that vanish at
    a perfect reconstruction, and for the continuous Bernoulli the minimum of its negative log-density (at 8-bit
    resolution at exact 0 and 1, where the density is unbounded; see :data:`CB_RESOLUTION_ETA`)."""
    a = np.asarray(a, dtype=float)
    if name == "bce":
        return entropy(a)
    if name == "continuous_bernoulli":
        edge = (a <= 0) | (a >= 1)
        inner = np.where(edge, 0.5, a)
        eta = np.where(edge, np.where(a >= 1, CB_RESOLUTION_ETA, -CB_RESOLUTION_ETA), cb_eta_for_mean(inner))
        return cb_nll(a, eta)
    return np.zeros(a.shape)


def loss_at_image(name: str, a, m):
    """Per-pixel loss when the reconstructed image is ``m``: :func:`loss` at output m, except for the continuous
    Bernoulli, whose image is its mean, so its loss is taken at the parameter whose mean is m (at 8-bit
    resolution, :data:`CB_RESOLUTION_ETA`, where m is exactly 0 or 1)."""
    if name != "continuous_bernoulli":
        return loss(name, a, m)
    m = np.asarray(m, dtype=float)
    edge = (m <= 0) | (m >= 1)
    eta = np.where(edge, np.where(m >= 1, CB_RESOLUTION_ETA, -CB_RESOLUTION_ETA),
                   cb_eta_for_mean(np.where(edge, 0.5, m)))
    return cb_nll(a, eta)


def effective_weight(name: str, a, error: float):
    """What an error of size ``error`` costs at target ``a``, as a curvature: 2 (L(a, a +- e) - L_min(a)) / e^2,
    averaged over the sides that stay in [0, 1]. In the small-error limit it is :func:`curvature`; at exact 0
    BCE is linear, -ln(1 - e), so its weight there is about 2/e, not infinite."""
    a = np.asarray(a, dtype=float)
    e = float(error)
    total, sides = np.zeros(a.shape), np.zeros(a.shape)
    floor = loss_floor(name, a)
    for sign in (1.0, -1.0):
        m = a + sign * e
        ok = (m >= 0) & (m <= 1)
        value = loss_at_image(name, a, np.clip(m, 0, 1))
        total += np.where(ok, 2 * (value - floor) / e**2, 0.0)
        sides += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / sides


def level_floors(name: str) -> np.ndarray:
    """:func:`loss_floor` at the 256 levels k/255 of 8-bit images (for pixelwise losses; 0 for the others)."""
    levels = np.arange(256) / 255.0
    return loss_floor(name, levels) if name in PIXELWISE else np.zeros(256)


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
