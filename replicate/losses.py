"""Reconstruction losses, chosen by key, written with ``keras.ops`` so they run on TensorFlow and JAX alike.

Every loss takes the model's logits ``z`` (the output before its sigmoid) and maps ``(y_true, z)`` to one value
per sample (the mean over pixels). Reading the logits makes BCE exact for saturated outputs on every backend, as
Keras' ``binary_crossentropy`` is on TensorFlow, and lets the continuous Bernoulli be computed without clipping its
parameter. :meth:`Loss.reconstruction` says which image the logits stand for: sigmoid(z), except for the continuous
Bernoulli, whose image is its mean. Names and notes come from :mod:`replicate.vocabulary`; closed-form per-pixel
facts (gradients, curvature) live in :mod:`replicate.theory`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from replicate import theory, vocabulary

IMAGE_SIDE = vocabulary.IMAGE_SIDE
MS_SSIM_ALPHA = vocabulary.MS_SSIM_ALPHA
#: Gaussian widths of the full-resolution MS-SSIM of Zhao et al. (2017), finest to coarsest.
MS_SSIM_SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0)
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2  # (K1 * data_range)^2 with data_range = 1
SSIM_C2 = 0.03**2


def _per_sample(per_pixel):
    """Mean over every axis but the batch axis."""
    return ops.mean(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def _as_float(y_true, logits):
    z = ops.convert_to_tensor(logits)
    return ops.cast(y_true, z.dtype), z


def _entropy(a):
    """Binary entropy in nats with 0 ln 0 = 0."""
    return -(_xlogx(a) + _xlogx(1.0 - a))


def _xlogx(a):
    """a ln a with 0 ln 0 = 0 (the log sees a safe argument where a is 0, so gradients stay finite)."""
    safe = ops.where(a > 0, a, ops.ones_like(a))
    return ops.where(a > 0, a * ops.log(safe), ops.zeros_like(a))


def _bce_logits(a, z):
    """-a ln sigmoid(z) - (1 - a) ln(1 - sigmoid(z)) = softplus(z) - a z: exact for any z, gradient sigmoid(z) - a."""
    return ops.softplus(z) - a * z


def _weight(a):
    """a(1 - a) floored at the vocabulary's ``WEIGHT_FLOOR`` (the factorial's weighted losses)."""
    return ops.maximum(a * (1.0 - a), vocabulary.WEIGHT_FLOOR)


def bce(y_true, logits):
    a, z = _as_float(y_true, logits)
    return _per_sample(_bce_logits(a, z))


def bce_kl(y_true, logits):
    a, z = _as_float(y_true, logits)
    return _per_sample(_bce_logits(a, z) - _entropy(a))


def mse(y_true, logits):
    a, z = _as_float(y_true, logits)
    return _per_sample(ops.square(ops.sigmoid(z) - a))


def mae(y_true, logits):
    a, z = _as_float(y_true, logits)
    return _per_sample(ops.abs(ops.sigmoid(z) - a))


def huber(y_true, logits):
    a, z = _as_float(y_true, logits)
    err = ops.abs(ops.sigmoid(z) - a)
    d = vocabulary.HUBER_DELTA
    return _per_sample(ops.where(err <= d, 0.5 * ops.square(err), d * err - 0.5 * d * d))


def mse_bce_weight(y_true, logits):
    a, z = _as_float(y_true, logits)
    return _per_sample(ops.square(ops.sigmoid(z) - a) / (2.0 * _weight(a)))


def bce_mse_weight(y_true, logits):
    a, z = _as_float(y_true, logits)
    return _per_sample(2.0 * _weight(a) * (_bce_logits(a, z) - _entropy(a)))


def cb_log_partition(eta):
    """A(eta) = ln((e^eta - 1) / eta) in ``keras.ops``; the same two branches as :func:`theory.cb_log_partition`.

    The exact branch sees |eta| moved away from 0 where the series is used, so neither branch makes NaN gradients.
    """
    near = ops.abs(eta) < theory.CB_TAYLOR_ETA
    safe = ops.abs(ops.where(near, ops.ones_like(eta), eta))
    exact = ops.relu(eta) + ops.log(-ops.expm1(-safe)) - ops.log(safe)
    eta2 = ops.square(eta)
    taylor = eta / 2.0 + eta2 * (1.0 / 24.0 + eta2 * (-1.0 / 2880.0 + eta2 / 181440.0))
    return ops.where(near, taylor, exact)


def continuous_bernoulli(y_true, logits):
    """Negative log-density of the targets under a continuous Bernoulli with natural parameter z: A(z) - a z."""
    a, z = _as_float(y_true, logits)
    return _per_sample(cb_log_partition(z) - a * z)


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
    """Separable Gaussian filter of every map in ``maps`` (B, C, H, W) with the blur matrix ``k`` (H', H), as two
    large 2-D matrix products over all maps at once (on a CPU far faster than many tiny batched products, a
    depthwise convolution or shifted sums). Returns ``(k @ map @ k.T).T``: transposed, which saves a transpose,
    and which the callers may ignore as they treat every map alike and average over pixels."""
    kt = ops.convert_to_tensor(k.T, dtype=maps.dtype)
    out, size = k.shape
    rows = ops.matmul(ops.reshape(maps, (-1, size)), kt)  # along W
    rows = ops.swapaxes(ops.reshape(rows, (-1, size, out)), -1, -2)
    cols = ops.matmul(ops.reshape(rows, (-1, size)), kt)  # along H
    return ops.reshape(cols, (-1, *maps.shape[1:-2], out, out))


def _images(y):
    return ops.reshape(y, (-1, 1, IMAGE_SIDE, IMAGE_SIDE))


def _local_stats(a, x, k: np.ndarray):
    """Luminance and contrast-structure terms of SSIM from Gaussian-weighted means, variances and covariance
    (population form) of targets ``a`` and outputs ``x`` (B, 1, H, W), with the blur matrix ``k``."""
    # Two blurs, not one of all five maps: the gradient then flows back through the three maps of x alone. The
    # variances stay apart: blurring a^2 + x^2 as one map is faster but loses 5e-6 of the loss in float32 where
    # images are flat (tests/test_losses.py).
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
#: The mean over pixels of the L1 map blurred at the coarsest width is this weighted mean of the unblurred map:
#: mean(k M k^T) = mean(W * M) with W = outer(column sums of k, column sums of k).
_L1_WEIGHTS = np.outer(_MS_KERNELS[-1].sum(axis=0), _MS_KERNELS[-1].sum(axis=0)).reshape(1, -1)


def _ssim_map(y_true, y_pred):
    """Per-pixel SSIM of Wang et al. (2004) between targets and images (not logits), transposed: 11-tap Gaussian
    window, sigma 1.5, population covariance, data range 1, valid region only (the same numbers as
    scikit-image's ``gaussian_weights=True`` setting)."""
    y_pred = ops.convert_to_tensor(y_pred)
    a = ops.cast(y_true, y_pred.dtype)
    luminance, cs = _local_stats(_images(a), _images(y_pred), _SSIM_KERNEL)
    return luminance * cs


def ssim(y_true, logits):
    return _per_sample(1.0 - _ssim_map(y_true, ops.sigmoid(ops.convert_to_tensor(logits))))


def ms_ssim_l1(y_true, logits):
    a, z = _as_float(y_true, logits)
    x = ops.sigmoid(z)
    ms = 1.0
    for k in _MS_KERNELS:
        # Reshaped per width, not once: the gradient's sum over the widths then keeps the order of the committed
        # reports' runs (a reshape costs nothing).
        luminance, cs = _local_stats(_images(a), _images(x), k)
        ms = ms * cs
    ms = ms * luminance  # luminance at the coarsest width only
    l1 = _per_sample(ops.reshape(ops.abs(x - a), (-1, vocabulary.PIXELS)) * ops.convert_to_tensor(_L1_WEIGHTS, x.dtype))
    return MS_SSIM_ALPHA * _per_sample(1.0 - ms) + (1.0 - MS_SSIM_ALPHA) * l1


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

    def reconstruction(self, logits: np.ndarray) -> np.ndarray:
        """The image the logits stand for (numpy, float32): sigmoid(z), or the continuous Bernoulli's mean."""
        z = np.asarray(logits, dtype=np.float64)
        image = theory.cb_mean_eta(z) if self.key == "continuous_bernoulli" else theory.sigmoid(z)
        return image.astype(np.float32)

    def check_targets(self, y: np.ndarray, what: str = "targets") -> None:
        """Refuse data outside [0, 1] for losses defined only there (checked once, before training)."""
        if not self.term.unit_range:
            return
        lo, hi = float(np.min(y)), float(np.max(y))
        if lo < 0.0 or hi > 1.0 or not np.isfinite(lo + hi):
            raise ValueError(f"loss {self.key!r} needs {what} in [0, 1], got values in [{lo:g}, {hi:g}]; "
                             "rescale the data (e.g. uint8 / 255) or choose mse, mae or huber.")


_FUNCTIONS = {"bce": bce, "bce_kl": bce_kl, "mse": mse, "mae": mae, "huber": huber,
              "continuous_bernoulli": continuous_bernoulli, "ssim": ssim, "ms_ssim_l1": ms_ssim_l1,
              "mse_bce_weight": mse_bce_weight, "bce_mse_weight": bce_mse_weight}
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
