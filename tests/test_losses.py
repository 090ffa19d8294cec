"""Loss registry: parity with keras.losses, closed forms, autodiff gradients, SSIM against scikit-image."""
import keras
import numpy as np
import pytest
from keras import ops
from skimage.metrics import structural_similarity

from replicate import losses, theory
from tests.references import GRID, cb_log_norm_reference

RNG = np.random.default_rng(0)
A = RNG.random((4, 784)).astype("float32")
X = RNG.uniform(0.02, 0.98, (4, 784)).astype("float32")


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


@pytest.mark.parametrize("key,reference", [
    ("bce", keras.losses.binary_crossentropy),
    ("mse", keras.losses.mean_squared_error),
    ("mae", keras.losses.mean_absolute_error),
    ("huber", lambda a, x: keras.losses.huber(a, x, delta=theory.HUBER_DELTA)),
])
def test_parity_with_keras(key, reference):
    np.testing.assert_allclose(losses.get(key)(A, X), reference(A, X), rtol=1e-6, atol=1e-7)


def test_bce_and_bce_kl_differ_by_target_entropy():
    diff = np.asarray(losses.get("bce")(A, X)) - np.asarray(losses.get("bce_kl")(A, X))
    np.testing.assert_allclose(diff, theory.entropy(A.astype(float)).mean(axis=1), rtol=1e-5)
    other = np.asarray(losses.get("bce")(A, A[::-1])) - np.asarray(losses.get("bce_kl")(A, A[::-1]))
    np.testing.assert_allclose(other, diff, rtol=1e-5)  # the same constant whatever the prediction


def test_bce_kl_is_zero_at_perfect_reconstruction():
    np.testing.assert_allclose(losses.get("bce_kl")(A, A), 0.0, atol=2e-6)


def test_cb_log_norm_keras_matches_high_precision():
    got = np.asarray(losses.cb_log_norm(ops.convert_to_tensor(GRID, dtype="float64")))
    want = np.array([cb_log_norm_reference(v) for v in GRID])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    got32 = np.asarray(losses.cb_log_norm(ops.convert_to_tensor(GRID.astype("float32"))))
    want32 = np.array([cb_log_norm_reference(float(v)) for v in GRID.astype("float32")])
    np.testing.assert_allclose(got32, want32, rtol=2e-6)


@pytest.mark.parametrize("key", ["bce", "bce_kl", "mse", "mae", "huber", "continuous_bernoulli"])
def test_pixelwise_gradients_equal_closed_form(key):
    """Autodiff of the per-sample mean over 784 pixels equals theory.dloss_dx / 784, pixel by pixel."""
    a, x = A.astype("float64"), X.astype("float64")
    auto = grad(lambda v: losses.get(key)(a, v), x)
    np.testing.assert_allclose(auto * 784, theory.dloss_dx(key, a, x), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("key", ["bce", "mse", "continuous_bernoulli"])
def test_logit_gradients_equal_closed_form(key):
    a = A.astype("float64")
    z = RNG.normal(0, 2, A.shape)
    auto = grad(lambda v: losses.get(key)(a, ops.sigmoid(v)), z)
    np.testing.assert_allclose(auto * 784, theory.dloss_dz(key, a, z), rtol=1e-5, atol=1e-9)


def test_bce_logit_gradient_is_sigmoid_minus_target():
    a, z = A[:1], RNG.normal(0, 3, A[:1].shape).astype("float32")
    auto = grad(lambda v: losses.get("bce")(a, ops.sigmoid(v)), z)
    np.testing.assert_allclose(auto * 784, 1 / (1 + np.exp(-z)) - a, atol=1e-6)


@pytest.mark.parametrize("key", ["ssim", "ms_ssim_l1"])
def test_image_loss_gradients_equal_finite_differences(key):
    a = RNG.random((1, 784))
    x = RNG.uniform(0.1, 0.9, (1, 784))
    auto = grad(lambda v: losses.get(key)(a, v), x)
    h = 1e-6
    for i in (0, 29, 400, 783):
        e = np.zeros_like(x)
        e[0, i] = h
        numeric = (float(losses.get(key)(a, x + e)[0]) - float(losses.get(key)(a, x - e)[0])) / (2 * h)
        assert auto[0, i] == pytest.approx(numeric, rel=1e-5, abs=1e-9)  # abs: rounding of the difference


def test_ssim_loss_matches_scikit_image():
    images_a, images_x = A.reshape(-1, 28, 28).astype("float64"), X.reshape(-1, 28, 28).astype("float64")
    want = [1 - structural_similarity(a, x, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False) for a, x in zip(images_a, images_x)]
    np.testing.assert_allclose(losses.get("ssim")(images_a, images_x), want, rtol=1e-10)


def test_ms_ssim_l1_is_zero_for_identical_images():
    np.testing.assert_allclose(losses.get("ms_ssim_l1")(A, A), 0.0, atol=1e-6)


@pytest.mark.parametrize("key", losses.NAMES)
def test_extreme_predictions_stay_finite(key):
    a = np.tile(np.array([0.0, 1.0, 0.5, 0.2], "float32"), 196)[None]
    for value in (0.0, 1.0):
        x = np.full_like(a, value)
        assert np.isfinite(np.asarray(losses.get(key)(a, x))).all()
        assert np.isfinite(grad(lambda v: losses.get(key)(a, v), x)).all()


def test_unit_range_is_checked_once_before_training():
    bad = np.array([[-0.1, 0.5, 1.2]])
    for key in ("bce", "continuous_bernoulli", "ssim"):
        with pytest.raises(ValueError, match=r"needs targets in \[0, 1\], got values in \[-0.1, 1.2\]"):
            losses.get(key).check_targets(bad)
    losses.get("mse").check_targets(bad)  # defined on any real numbers


def test_continuous_bernoulli_reconstruction_is_its_mean():
    lam = np.array([0.1, 0.5, 0.9], "float32")
    np.testing.assert_allclose(losses.get("continuous_bernoulli").reconstruction(lam), theory.cb_mean(lam),
                               rtol=1e-6)
    assert losses.get("mse").reconstruction(lam) is lam


def test_unknown_loss():
    with pytest.raises(ValueError, match="valid loss keys: bce, bce_kl, mse"):
        losses.get("l3")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="only TensorFlow keeps a sigmoid's logits")
def test_bce_reads_the_logits_behind_a_sigmoid_output():
    """As ``loss="binary_crossentropy"`` does on TensorFlow: a saturated wrong output (z = 30, a = 0) costs
    softplus(30) = 30.0 nats, not the clipped -ln(1e-7) = 16.1, and keeps its gradient sigmoid(z) - a = 1.
    (BCE-KL is the same here, H(0) = 0; the continuous Bernoulli subtracts ln C, about 2.8 at the clip.)"""
    z = np.full((1, 784), 30.0, "float32")
    a = np.zeros((1, 784), "float32")
    for key, least in (("bce", 29.9), ("bce_kl", 29.9), ("continuous_bernoulli", 27.0)):
        value = float(losses.get(key)(a, keras.activations.sigmoid(ops.convert_to_tensor(z)))[0])
        assert value > least, key
    auto = grad(lambda v: losses.get("bce")(a, keras.activations.sigmoid(v)), z)
    np.testing.assert_allclose(auto * 784, 1.0, rtol=1e-6)


def test_config_names_every_registered_loss():
    from replicate import config

    assert config.LOSSES == losses.NAMES
