"""Reconstruction losses, chosen by key, written with ``keras.ops`` so they run on TensorFlow and JAX alike.

Each :class:`Loss` maps ``(y_true, y_pred)`` to one value per sample (the mean over pixels), carries a display
name and a one-line formula for the report, and says which image a model output stands for
(:meth:`Loss.reconstruction`): the output itself, except for the continuous Bernoulli, whose mean differs from
its parameter. Closed-form per-pixel facts (gradients, curvature) live in :mod:`replicate.theory`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from replicate import theory, vocabulary

IMAGE_SIDE = 28
MS_SSIM_ALPHA = vocabulary.MS_SSIM_ALPHA
#: Gaussian widths of the full-resolution MS-SSIM of Zhao et al. (2017), finest to coarsest.
MS_SSIM_SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0)
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2  # (K1 * data_range)^2 with data_range = 1
SSIM_C2 = 0.03**2


def _per_sample(per_pixel):
    """Mean over every axis but the batch axis."""
    return ops.mean(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def _as_float(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    return ops.cast(y_true, y_pred.dtype), y_pred


def _clip01(x):
    return ops.clip(x, theory.EPS, 1.0 - theory.EPS)


def _entropy(a):
    """Binary entropy in nats with 0 ln 0 = 0 (a is clipped inside the logs only)."""
    return -(a * ops.log(_clip01(a)) + (1.0 - a) * ops.log(_clip01(1.0 - a)))


def _keras_bce(a, x):
    """Keras' own per-pixel BCE. On TensorFlow it reads the logits behind a sigmoid output, as the tutorial's
    ``loss="binary_crossentropy"`` does, so saturated outputs keep the gradient sigmoid(z) - a; elsewhere it
    clips x to [1e-7, 1 - 1e-7]."""
    return ops.binary_crossentropy(a, x)


def bce(y_true, y_pred):
    a, x = _as_float(y_true, y_pred)
    return _per_sample(_keras_bce(a, x))


def bce_kl(y_true, y_pred):
    a, x = _as_float(y_true, y_pred)
    return _per_sample(_keras_bce(a, x) - _entropy(a))


def mse(y_true, y_pred):
    a, x = _as_float(y_true, y_pred)
    return _per_sample(ops.square(x - a))


def mae(y_true, y_pred):
    a, x = _as_float(y_true, y_pred)
    return _per_sample(ops.abs(x - a))


def huber(y_true, y_pred):
    a, x = _as_float(y_true, y_pred)
    err = ops.abs(x - a)
    d = vocabulary.HUBER_DELTA
    return _per_sample(ops.where(err <= d, 0.5 * ops.square(err), d * err - 0.5 * d * d))


def cb_log_norm(lam):
    """log C(lambda) of the continuous Bernoulli in ``keras.ops``; same branches as :func:`theory.cb_log_norm`.

    The exact branch sees a lambda moved away from 1/2 ("cut") so that neither branch produces NaN gradients.
    """
    d = lam - 0.5
    near = ops.abs(d) < theory.CB_TAYLOR_HALF_WIDTH
    cut = ops.where(near, ops.zeros_like(lam) + 0.25, lam)
    exact = ops.log(ops.abs(ops.log1p(-cut) - ops.log(cut))) - ops.log(ops.abs(1.0 - 2.0 * cut))
    d2 = ops.square(d)
    taylor = math.log(2.0) + (4.0 / 3.0) * d2 + (104.0 / 45.0) * ops.square(d2)
    return ops.where(near, taylor, exact)


def continuous_bernoulli(y_true, y_pred):
    a, x = _as_float(y_true, y_pred)
    return _per_sample(_keras_bce(a, x) - cb_log_norm(_clip01(x)))


def _blur_matrix(n: int, sigma: float, radius: int, valid: bool) -> np.ndarray:
    """A Gaussian filter along one image axis as a matrix: rows are output pixels, columns input pixels.

    ``valid`` keeps only outputs whose window lies inside the image (as scikit-image's cropped SSIM does);
    otherwise every output is kept and its row renormalised to sum to 1, i.e. the window is truncated at the
    border and reweighted (normalised convolution).
    """
    t = np.arange(n)
    w = np.exp(-0.5 * ((t[:, None] - t[None, :]) / sigma) ** 2) * (np.abs(t[:, None] - t[None, :]) <= radius)
    if valid:
        w = w[radius:n - radius]
    return w / w.sum(axis=1, keepdims=True)


def _blur(maps, k: np.ndarray):
    """Separable Gaussian filter ``k @ map @ k.T`` of every map in ``maps`` (B, C, H, W) with the blur matrix
    ``k`` (H', H), as two large 2-D matrix products over all maps at once (on a CPU far faster than many tiny
    batched products or a depthwise convolution)."""
    kt = ops.convert_to_tensor(k.T, dtype=maps.dtype)
    out, size = k.shape
    rows = ops.matmul(ops.reshape(maps, (-1, size)), kt)  # along W
    rows = ops.swapaxes(ops.reshape(rows, (-1, size, out)), -1, -2)
    cols = ops.matmul(ops.reshape(rows, (-1, size)), kt)  # along H
    return ops.swapaxes(ops.reshape(cols, (-1, *maps.shape[1:-2], out, out)), -1, -2)


def _images(y):
    return ops.reshape(y, (-1, 1, IMAGE_SIDE, IMAGE_SIDE))


def _local_stats(a, x, k: np.ndarray):
    """Luminance and contrast-structure terms of SSIM from Gaussian-weighted means, variances and covariance
    (population form) of targets ``a`` and outputs ``x`` (B, 1, H, W), with the blur matrix ``k``."""
    # Two blurs, not one of all five maps: the gradient then flows back through the three maps of x alone.
    target = _blur(ops.concatenate([a, a * a], axis=1), k)
    output = _blur(ops.concatenate([x, x * x, a * x], axis=1), k)
    mu_a, mu_x = target[:, 0:1], output[:, 0:1]
    var_a = target[:, 1:2] - mu_a * mu_a
    var_x = output[:, 1:2] - mu_x * mu_x
    cov = output[:, 2:3] - mu_a * mu_x
    luminance = (2 * mu_a * mu_x + SSIM_C1) / (mu_a * mu_a + mu_x * mu_x + SSIM_C1)
    contrast_structure = (2 * cov + SSIM_C2) / (var_a + var_x + SSIM_C2)
    return luminance, contrast_structure


_SSIM_KERNEL = _blur_matrix(IMAGE_SIDE, SSIM_SIGMA, 5, valid=True)
_MS_KERNELS = [_blur_matrix(IMAGE_SIDE, s, math.ceil(3 * s), valid=False) for s in MS_SSIM_SIGMAS]


def ssim_map(y_true, y_pred):
    """Per-pixel SSIM of Wang et al. (2004): 11-tap Gaussian window, sigma 1.5, population covariance, data
    range 1, valid region only (the same numbers as scikit-image's ``gaussian_weights=True`` setting)."""
    a, x = _as_float(y_true, y_pred)
    luminance, cs = _local_stats(_images(a), _images(x), _SSIM_KERNEL)
    return luminance * cs


def ssim(y_true, y_pred):
    return _per_sample(1.0 - ssim_map(y_true, y_pred))


def ms_ssim_l1(y_true, y_pred):
    a, x = _as_float(y_true, y_pred)
    a, x = _images(a), _images(x)
    ms = 1.0
    for k in _MS_KERNELS:
        luminance, cs = _local_stats(a, x, k)
        ms = ms * cs
    ms = ms * luminance  # luminance at the coarsest width only
    l1 = _blur(ops.abs(x - a), _MS_KERNELS[-1])
    return _per_sample(MS_SSIM_ALPHA * (1.0 - ms) + (1.0 - MS_SSIM_ALPHA) * l1)


@dataclass(frozen=True)
class Loss:
    """A reconstruction loss: its vocabulary entry, its per-sample function and what its output means."""

    key: str
    fn: Callable

    @property
    def term(self) -> vocabulary.LossTerm:
        return vocabulary.loss(self.key)

    def __call__(self, y_true, y_pred):
        return self.fn(y_true, y_pred)

    def reconstruction(self, y_pred: np.ndarray) -> np.ndarray:
        """The image a model output stands for (numpy): the output, or the continuous Bernoulli's mean."""
        if self.key == "continuous_bernoulli":
            return theory.cb_mean(y_pred).astype(np.asarray(y_pred).dtype)
        return y_pred

    def check_targets(self, y: np.ndarray, what: str = "targets") -> None:
        """Refuse data outside [0, 1] for losses defined only there (checked once, before training)."""
        if not self.term.unit_range:
            return
        lo, hi = float(np.min(y)), float(np.max(y))
        if lo < 0.0 or hi > 1.0 or not np.isfinite(lo + hi):
            raise ValueError(f"loss {self.key!r} needs {what} in [0, 1], got values in [{lo:g}, {hi:g}]; "
                             "rescale the data (e.g. uint8 / 255) or choose mse, mae or huber.")


_FUNCTIONS = {"bce": bce, "bce_kl": bce_kl, "mse": mse, "mae": mae, "huber": huber,
              "continuous_bernoulli": continuous_bernoulli, "ssim": ssim, "ms_ssim_l1": ms_ssim_l1}
REGISTRY: dict[str, Loss] = {key: Loss(key, _FUNCTIONS[key]) for key in vocabulary.LOSS_KEYS}
NAMES = vocabulary.LOSS_KEYS


def get(name: str) -> Loss:
    """The loss registered under ``name``; a ``ValueError`` lists the valid names."""
    vocabulary.loss(name)
    return REGISTRY[name]


@keras.saving.register_keras_serializable(package="replicate")
class ReconstructionLoss(keras.losses.Loss):
    """A registered loss as a serialisable Keras ``Loss``, optionally scaled (the VAE sums over 784 pixels)."""

    def __init__(self, key: str = "bce", scale: float = 1.0, **kwargs):
        super().__init__(name=kwargs.pop("name", key), **kwargs)
        self.key, self.scale = key, float(scale)
        self._fn = get(key).fn

    def call(self, y_true, y_pred):
        per_sample = self._fn(y_true, y_pred)
        return per_sample if self.scale == 1.0 else self.scale * per_sample

    def get_config(self):
        return {**super().get_config(), "key": self.key, "scale": self.scale}
