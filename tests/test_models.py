"""Tutorial models: shapes, exact parameter counts, code sizes; one training step lowers every loss."""
import keras
import numpy as np
import pytest

from replicate import config, data, losses, models, vocabulary

#: Parameter counts by hand from the post's layer stacks (weights + biases):
#: simple/sparse 784*32+32 + 32*784+784; deep adds 128-64-32-64-128 Dense layers;
#: conv 3x3 kernels 1->16->8->8 | 8->8->8->16->1; denoising 1->32->32 | 32->32->32->1;
#: vae 784->64->(2, 2) and 2->64->784.
PARAMS = {"simple": 50992, "sparse": 50992, "deep": 222384, "conv": 4385, "denoising": 28353, "vae": 101652}
CODE = {"simple": (32,), "sparse": (32,), "deep": (32,), "conv": (4, 4, 8), "denoising": (7, 7, 32), "vae": (2,)}


@pytest.mark.parametrize("name", vocabulary.POST_MODELS)
def test_shapes_parameters_and_code(name):
    built = models.build(name, seed=0)
    model = built.autoencoder
    assert model.count_params() == PARAMS[name]
    assert built.code_shape == CODE[name]
    expected_out = (None, 784) if built.flat else (None, 28, 28, 1)
    assert tuple(model.output_shape) == expected_out
    code = built.encoder.output_shape[0] if name == "vae" else built.encoder.output_shape
    assert tuple(code[1:]) == CODE[name]


def test_logits_are_the_output_before_its_sigmoid():
    """The post's Dense(784, activation="sigmoid") as Dense(784) + sigmoid: the same function and weights."""
    for name in ("simple", "conv"):
        built = models.build(name, seed=0)
        x = data.load("synthetic", "test", n=4)
        x = x.reshape(-1, 784) if built.flat else x[..., None]
        out = built.autoencoder.predict(x, verbose=0)
        logits = built.logits.predict(x, verbose=0)
        np.testing.assert_allclose(out, 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-5, atol=1e-7)
        assert built.autoencoder.count_params() == built.logits.count_params()


def test_initial_weights_come_from_numpy_and_the_seed():
    """The same seed gives the same Glorot-uniform kernels and zero biases on any backend; another seed differs."""
    first, again, other = (models.build("conv", seed=s).autoencoder.get_weights() for s in (7, 7, 8))
    for w1, w2, w3 in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(w1, w2)
        if w1.ndim > 1:
            fan_in, fan_out = np.prod(w1.shape[:-1]), w1.shape[-1] * np.prod(w1.shape[:-2])
            assert np.abs(w1).max() <= np.sqrt(6 / (fan_in + fan_out)) and not np.array_equal(w1, w3)
        else:
            assert not w1.any()
    keras_default = models.build("conv").autoencoder.get_weights()  # no seed: Keras' own initialiser
    assert not np.array_equal(keras_default[0], first[0])


def test_variants_differ_as_their_keys_say():
    assert models.build("simple_8").code_shape == (8,) and models.build("simple_256").code_shape == (256,)
    dense = models.build("sparse_rescaled", penalty_scale=0.5).autoencoder.layers[1]
    assert float(dense.activity_regularizer.l1) == pytest.approx(0.5e-4)
    assert vocabulary.model("vae_rescaled").own_loss and not vocabulary.model("simple_adadelta").own_loss
    assert config.protocol_run("simple_adadelta", dataset="synthetic", loss="bce", seed=0).learning_rate == 1.0
    assert config.protocol_run("sparse_rescaled", dataset="synthetic", loss="mse", seed=0).penalty_scale == 0.5


def test_conv_code_is_128_dimensional():
    assert int(np.prod(models.build("conv").code_shape)) == 128


def test_sparse_has_the_posts_l1_activity_penalty():
    """The post's literal 10e-5 is 1e-4."""
    dense = models.build("sparse").autoencoder.layers[1]
    assert float(dense.activity_regularizer.l1) == pytest.approx(1e-4)


def test_protocols_are_recorded():
    from replicate.tutorial import PROTOCOLS

    assert (PROTOCOLS["simple"].epochs, PROTOCOLS["simple"].batch_size) == (50, 256)
    assert (PROTOCOLS["conv"].epochs, PROTOCOLS["conv"].batch_size) == (50, 128)
    assert (PROTOCOLS["vae"].epochs, PROTOCOLS["vae"].batch_size) == (100, 32)
    assert all(p.optimizer == "adam" for p in PROTOCOLS.values())


def _one_step_lowers(name: str, key: str) -> None:
    keras.utils.set_random_seed(0)
    built = models.build(name, seed=0)
    x = data.load("synthetic", "train", n=32, seed=1)
    x = x.reshape(-1, 784) if built.flat else x[..., None]
    model = built.logits
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses.ReconstructionLoss(key, models.loss_scale(name)))
    inputs = x if name != "denoising" else data.add_noise(x, 0.5, seed=0)
    before = model.evaluate(inputs, x, batch_size=32, verbose=0)
    model.train_on_batch(inputs, x)
    after = model.evaluate(inputs, x, batch_size=32, verbose=0)
    assert after < before, f"{name}/{key}: {before} -> {after}"


@pytest.mark.parametrize("key", config.TRAINED_LOSSES)
def test_one_step_lowers_every_loss(key):
    _one_step_lowers("simple", key)


@pytest.mark.parametrize("name", [m for m in vocabulary.POST_MODELS if m not in ("simple", "vae")])
def test_one_step_lowers_bce_on_every_model(name):
    _one_step_lowers(name, "bce")


def test_unknown_model():
    with pytest.raises(ValueError, match="valid model keys: simple, sparse, deep, conv, denoising, vae"):
        models.build("resnet")
