"""Losses from logits: parity with keras.losses, the continuous Bernoulli against 50-digit references, autodiff
gradients and curvatures against the closed forms, SSIM against scikit-image."""
import keras
import mpmath
import numpy as np
import pytest
from keras import ops
from skimage.metrics import structural_similarity

from replicate import losses, theory, vocabulary

RNG = np.random.default_rng(0)
A = RNG.random((4, 784)).astype("float32")
Z = RNG.normal(0, 2.5, (4, 784)).astype("float32")
PIXELWISE_TRAINED = [k for k in vocabulary.PIXELWISE]


def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))


def grad(fn, x):
    """d sum(fn(x)) / dx through the active Keras backend."""
    x = ops.convert_to_tensor(x)
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: ops.sum(fn(v)))(x))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        total = ops.sum(fn(x))
    return np.asarray(tape.gradient(total, x))


def second(fn, x):
    """Diagonal of the Hessian of sum(fn(x)) for a function that acts pixel by pixel."""
    x = ops.convert_to_tensor(x)
    if keras.backend.backend() == "jax":
        import jax

        g = jax.grad(lambda v: ops.sum(fn(v)))
        return np.asarray(jax.grad(lambda v: ops.sum(g(v)))(x))
    import tensorflow as tf

    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            total = ops.sum(fn(x))
        g = inner.gradient(total, x)
    return np.asarray(outer.gradient(g, x))


@pytest.mark.parametrize("key,reference", [
    ("bce", lambda a, z: keras.losses.binary_crossentropy(a, z, from_logits=True)),
    ("mse", lambda a, z: keras.losses.mean_squared_error(a, ops.sigmoid(z))),
    ("mae", lambda a, z: keras.losses.mean_absolute_error(a, ops.sigmoid(z))),
    ("huber", lambda a, z: keras.losses.huber(a, ops.sigmoid(z), delta=theory.HUBER_DELTA)),
])
def test_parity_with_keras(key, reference):
    np.testing.assert_allclose(losses.get(key)(A, Z), reference(A, Z), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("key", PIXELWISE_TRAINED)
def test_values_equal_the_closed_form(key):
    want = theory.loss_z(key, A.astype("float64"), Z.astype("float64")).mean(axis=1)
    np.testing.assert_allclose(losses.get(key)(A, Z), want, rtol=2e-5, atol=2e-6)


def test_bce_and_bce_kl_differ_by_target_entropy():
    diff = np.asarray(losses.get("bce")(A, Z)) - np.asarray(losses.get("bce_kl")(A, Z))
    np.testing.assert_allclose(diff, theory.entropy(A.astype(float)).mean(axis=1), rtol=1e-5)


def test_bce_kl_is_zero_at_perfect_reconstruction():
    a = np.clip(A, 0.01, 0.99).astype("float64")
    np.testing.assert_allclose(losses.get("bce_kl")(a, theory.logit(a)), 0.0, atol=1e-12)


def cb_nll_reference(a: float, z: float) -> float:
    """ln((e^z - 1) / z) - a z at 50 digits (ln 1 = 0 at z = 0 by continuity)."""
    mpmath.mp.dps = 50
    z = mpmath.mpf(float(z))
    partition = mpmath.mpf(0) if z == 0 else mpmath.log(mpmath.expm1(z) / z)
    return float(partition - mpmath.mpf(float(a)) * z)


LOGITS = [-80.0, -20.0, -1.0, -0.1, -1e-3, -1e-7, 0.0, 1e-7, 1e-3, 0.0999, 0.1, 1.0, 20.0, 80.0]


@pytest.mark.parametrize("dtype,rtol,atol", [("float64", 1e-11, 1e-13), ("float32", 2e-6, 2e-7)])
def test_continuous_bernoulli_from_logits_matches_high_precision(dtype, rtol, atol):
    """No clipping: at z = +-20 and +-80 and near 0 the loss is A(z) - a z to 50-digit precision (A(z) = ln((e^z
    - 1)/z), the log-partition of Loaiza-Ganem & Cunningham, NeurIPS 2019)."""
    for a in (0.0, 0.3, 1.0):
        z = np.array(LOGITS, dtype)[None]
        got = np.asarray(losses.continuous_bernoulli(np.full_like(z, a), z)) * z.size  # per-sample mean -> sum
        want = sum(cb_nll_reference(a, float(v)) for v in z[0])
        assert got[0] == pytest.approx(want, rel=rtol, abs=atol * z.size)
        for v in z[0]:
            one = float(losses.continuous_bernoulli(np.array([[a]], dtype), np.array([[v]], dtype))[0])
            assert one == pytest.approx(cb_nll_reference(a, float(v)), rel=rtol, abs=atol), (a, v)


def test_continuous_bernoulli_mean_matches_high_precision():
    mpmath.mp.dps = 50
    for z in LOGITS + [-200.0, 200.0]:
        zz = mpmath.mpf(z)
        want = mpmath.mpf(1) / 2 if z == 0 else 1 / (1 - mpmath.exp(-zz)) - 1 / zz
        assert theory.cb_mean_eta(np.array(z)) == pytest.approx(float(want), rel=1e-12, abs=1e-15), z
    # The mean of exact-0 background falls below 0.01 once its logit is below -100: nothing floors it.
    assert float(losses.get("continuous_bernoulli").reconstruction(np.array([-101.0]))[0]) < 0.01


@pytest.mark.parametrize("key", PIXELWISE_TRAINED)
def test_logit_gradient_is_r_times_error(key):
    """Autodiff of the per-sample mean over 784 pixels, times 784, equals theory.dloss_dz = r(a, x)(x - a)."""
    a, z = A.astype("float64"), Z.astype("float64")
    auto = grad(lambda v: losses.get(key)(a, v), z)
    np.testing.assert_allclose(auto * 784, theory.dloss_dz(key, a, z), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("key,r", [
    ("bce", lambda a, x: np.ones_like(a)),
    ("mse", lambda a, x: 2 * x * (1 - x)),
    ("mse_bce_weight", lambda a, x: x * (1 - x) / np.maximum(a * (1 - a), vocabulary.WEIGHT_FLOOR)),
    ("bce_mse_weight", lambda a, x: 2 * np.maximum(a * (1 - a), vocabulary.WEIGHT_FLOOR)),
])
def test_factorial_losses_have_the_stated_r(key, r):
    """The 2 x 2 factorial as stated: gradient in z = r(a, x)(x - a), BCE's weighting means r ~ 1 and MSE's
    r ~ 2a(1 - a) near the optimum; saturation means r carries x(1 - x). Exact 0 and 1 keep the floored weight."""
    a = np.concatenate([A[0, :100], [0.0, 1.0, 0.5]]).astype("float64")[None]
    z = np.concatenate([Z[0, :100], [3.0, -3.0, 0.2]]).astype("float64")[None]
    x = sigmoid(z)
    auto = grad(lambda v: losses.get(key)(a, v), z) * a.size
    np.testing.assert_allclose(auto, r(a, x) * (x - a), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("key", PIXELWISE_TRAINED)
def test_logit_curvature_equals_closed_form(key):
    """The second derivative in z (the landscape question) against double autodiff."""
    a, z = A.astype("float64"), Z.astype("float64")
    auto = second(lambda v: losses.get(key)(a, v), z) * 784
    want = theory.d2loss_dz2(key, a, z)
    if key == "mae":  # a kink at x = a: both sides agree away from it
        want = np.where(np.abs(sigmoid(z) - a) > 1e-9, want, auto)
    np.testing.assert_allclose(auto, want, rtol=1e-6, atol=1e-9)


def test_convex_in_the_logit_or_not():
    """BCE, its reweighted form and the continuous Bernoulli are convex in z everywhere; MSE is not: with the
    output saturated on the wrong side its curvature is negative."""
    a = np.linspace(0, 1, 51)[:, None]
    z = np.linspace(-12, 12, 97)[None]
    for key in ("bce", "bce_mse_weight", "continuous_bernoulli"):
        assert (theory.d2loss_dz2(key, a, z) >= 0).all(), key
    assert theory.d2loss_dz2("mse", np.array(0.0), np.array(3.0)) < 0


@pytest.mark.parametrize("key", ["ssim", "ms_ssim_l1"])
def test_image_loss_gradients_equal_finite_differences(key):
    a = RNG.random((1, 784))
    z = RNG.normal(0, 1, (1, 784))
    auto = grad(lambda v: losses.get(key)(a, v), z)
    h = 1e-6
    for i in (0, 29, 400, 783):
        e = np.zeros_like(z)
        e[0, i] = h
        numeric = (float(losses.get(key)(a, z + e)[0]) - float(losses.get(key)(a, z - e)[0])) / (2 * h)
        assert auto[0, i] == pytest.approx(numeric, rel=1e-5, abs=1e-9)  # abs: rounding of the difference


def test_ssim_loss_matches_scikit_image():
    images_a, z = A.reshape(-1, 28, 28).astype("float64"), Z.reshape(-1, 28, 28).astype("float64")
    images_x = sigmoid(z)
    want = [1 - structural_similarity(a, x, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False) for a, x in zip(images_a, images_x)]
    np.testing.assert_allclose(losses.get("ssim")(images_a, z), want, rtol=1e-10)


def _ms_ssim_l1_by_definition(a: np.ndarray, x: np.ndarray) -> float:
    """MS-SSIM + L1 of Zhao et al. (2017) on one pair of 28 x 28 images, pixel by pixel in float64: at every pixel a
    Gaussian window truncated at 3 sigma and at the border, renormalised to sum to 1."""
    side = 28

    def window_means(maps, sigma, i, j):
        radius = int(np.ceil(3 * sigma))
        p, q = np.arange(max(0, i - radius), min(side, i + radius + 1)), np.arange(max(0, j - radius),
                                                                                  min(side, j + radius + 1))
        w = np.exp(-0.5 * ((p[:, None] - i) ** 2 + (q[None] - j) ** 2) / sigma**2)
        w /= w.sum()
        return [float((w * m[p[0]:p[-1] + 1, q[0]:q[-1] + 1]).sum()) for m in maps]

    c1, c2 = 0.01**2, 0.03**2
    total = 0.0
    for i in range(side):
        for j in range(side):
            ms = 1.0
            for sigma in losses.MS_SSIM_SIGMAS:
                mu_a, mu_x, aa, xx, ax = window_means([a, x, a * a, x * x, a * x], sigma, i, j)
                var_a, var_x, cov = aa - mu_a**2, xx - mu_x**2, ax - mu_a * mu_x
                ms *= (2 * cov + c2) / (var_a + var_x + c2)
            ms *= (2 * mu_a * mu_x + c1) / (mu_a**2 + mu_x**2 + c1)
            (l1,) = window_means([np.abs(x - a)], losses.MS_SSIM_SIGMAS[-1], i, j)
            total += losses.MS_SSIM_ALPHA * (1 - ms) + (1 - losses.MS_SSIM_ALPHA) * l1
    return total / side**2


def test_ms_ssim_l1_matches_its_definition():
    """The loss (the L1 term as a weighted mean) equals the definition computed pixel by pixel: to 1e-10 in float64
    and, in the float32 of training, to 1e-6 on noise images as vectors and to 3e-6 on a flat image with flat output
    regions as the conv models give it, (N, 28, 28, 1). There the variances cancel most: blurring a^2 + x^2 as one
    map (faster) was 7.5e-6 off, the two maps apart 2.6e-6, as before the L1 rewrite."""
    flat = np.zeros((28, 28))
    flat[4:24, 6:22], flat[10:18, 10:18] = 0.5, 1.0
    flat_z = np.where(flat > 0, 2.0, -3.0) + np.where(np.arange(28) < 14, 0.0, 0.5)[None]
    for a, z, float32_error in ((A[:2].astype("float64"), Z[:2].astype("float64"), 1e-6),
                                (flat[None, ..., None], flat_z[None, ..., None], 3e-6)):
        want = [_ms_ssim_l1_by_definition(ai.reshape(28, 28), sigmoid(zi).reshape(28, 28)) for ai, zi in zip(a, z)]
        np.testing.assert_allclose(losses.get("ms_ssim_l1")(a, z), want, rtol=1e-10)
        np.testing.assert_allclose(losses.get("ms_ssim_l1")(a.astype("float32"), z.astype("float32")), want, rtol=0,
                                   atol=float32_error)


def test_ms_ssim_l1_is_zero_for_identical_images():
    a = np.clip(A, 0.01, 0.99).astype("float64")
    np.testing.assert_allclose(losses.get("ms_ssim_l1")(a, theory.logit(a)), 0.0, atol=1e-6)


@pytest.mark.parametrize("key", losses.NAMES)
def test_extreme_logits_stay_finite(key):
    a = np.tile(np.array([0.0, 1.0, 0.5, 0.2], "float32"), 196)[None]
    for value in (-80.0, -20.0, 0.0, 20.0, 80.0):
        z = np.full_like(a, value)
        assert np.isfinite(np.asarray(losses.get(key)(a, z))).all(), (key, value)
        assert np.isfinite(grad(lambda v: losses.get(key)(a, v), z)).all(), (key, value)


def test_saturated_wrong_output_keeps_bce_gradient():
    """z = 30 for a = 0 costs softplus(30) = 30 nats under BCE and keeps the gradient sigmoid(z) - a = 1, on every
    backend (the losses read the logits, as ``loss="binary_crossentropy"`` does on TensorFlow)."""
    z = np.full((1, 784), 30.0, "float32")
    a = np.zeros((1, 784), "float32")
    assert float(losses.get("bce")(a, z)[0]) == pytest.approx(30.0, rel=1e-6)
    np.testing.assert_allclose(grad(lambda v: losses.get("bce")(a, v), z) * 784, 1.0, rtol=1e-6)
    mse_grad = grad(lambda v: losses.get("mse")(a, v), z) * 784
    assert np.abs(mse_grad).max() < 1e-11  # MSE's has vanished


def test_unit_range_is_checked_once_before_training():
    bad = np.array([[-0.1, 0.5, 1.2]])
    for key in ("bce", "continuous_bernoulli", "ssim", "mse_bce_weight"):
        with pytest.raises(ValueError, match=r"needs targets in \[0, 1\], got values in \[-0.1, 1.2\]"):
            losses.get(key).check_targets(bad)
    losses.get("mse").check_targets(bad)  # defined on any real numbers


def test_reconstruction_is_the_sigmoid_or_the_continuous_bernoulli_mean():
    z = np.array([-3.0, 0.0, 2.0], "float32")
    np.testing.assert_allclose(losses.get("continuous_bernoulli").reconstruction(z), theory.cb_mean_eta(z),
                               rtol=1e-6)
    np.testing.assert_allclose(losses.get("mse").reconstruction(z), sigmoid(z), rtol=1e-6)


def test_unknown_loss():
    with pytest.raises(ValueError, match="valid loss keys: bce, bce_kl, mse"):
        losses.get("l3")


def test_every_loss_has_the_same_values_on_jax(tmp_path):
    """The dense models, and with them the SSIM-family losses, train on JAX, where a step is cheaper (see
    benchmarks/RESULTS.md): every loss there gives this backend's values to 1e-6, gradients included."""
    import json
    import os
    import subprocess
    import sys

    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "z.npy", Z)
    # Compiled with jax.jit, as in a training step (and three times faster than op by op).
    script = ("import json, sys, jax, numpy as np\n"
              "from keras import ops\n"
              "from replicate import losses\n"
              "a, z = np.load(sys.argv[1]), np.load(sys.argv[2])\n"
              "value = lambda k: jax.jit(lambda v: losses.get(k)(a, v))\n"
              "gradient = lambda k: jax.jit(jax.grad(lambda v: ops.sum(losses.get(k)(a, v))))\n"
              "out = {k: [np.asarray(value(k)(z)).tolist(), np.asarray(gradient(k)(z)).tolist()]\n"
              "       for k in losses.NAMES}\n"
              "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a.npy"), str(tmp_path / "z.npy")],
                          env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    on_jax = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(on_jax) == set(losses.NAMES)
    for key, (values, gradient) in on_jax.items():
        np.testing.assert_allclose(values, losses.get(key)(A, Z), rtol=1e-6, atol=1e-7, err_msg=key)
        np.testing.assert_allclose(gradient, grad(lambda v: losses.get(key)(A, v), Z), rtol=1e-5, atol=1e-8,
                                   err_msg=key)
