"""Tutorial models: shapes, exact parameter counts, code sizes; one training step lowers every loss."""
import keras
import numpy as np
import pytest

from replicate import config, data, losses, models

#: Parameter counts by hand from the post's layer stacks (weights + biases):
#: simple/sparse 784*32+32 + 32*784+784; deep adds 128-64-32-64-128 Dense layers;
#: conv 3x3 kernels 1->16->8->8 | 8->8->8->16->1; denoising 1->32->32 | 32->32->32->1;
#: vae 784->64->(2, 2) and 2->64->784.
PARAMS = {"simple": 50992, "sparse": 50992, "deep": 222384, "conv": 4385, "denoising": 28353, "vae": 101652}
CODE = {"simple": (32,), "sparse": (32,), "deep": (32,), "conv": (4, 4, 8), "denoising": (7, 7, 32), "vae": (2,)}


@pytest.mark.parametrize("name", models.NAMES)
def test_shapes_parameters_and_code(name):
    built = models.build(name, seed=0)
    model = built.autoencoder
    assert model.count_params() == PARAMS[name]
    assert built.code_shape == CODE[name]
    expected_out = (None, 784) if built.flat else (None, 28, 28, 1)
    assert tuple(model.output_shape) == expected_out
    code = built.encoder.output_shape[0] if name == "vae" else built.encoder.output_shape
    assert tuple(code[1:]) == CODE[name]


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
    model = built.autoencoder
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=losses.ReconstructionLoss(key, models.LOSS_SCALE.get(name, 1.0)))
    inputs = x if name != "denoising" else data.add_noise(x, 0.5, seed=0)
    before = model.evaluate(inputs, x, batch_size=32, verbose=0)
    model.train_on_batch(inputs, x)
    after = model.evaluate(inputs, x, batch_size=32, verbose=0)
    assert after < before, f"{name}/{key}: {before} -> {after}"


@pytest.mark.parametrize("key", config.TRAINED_LOSSES)
def test_one_step_lowers_every_loss(key):
    _one_step_lowers("simple", key)


@pytest.mark.parametrize("name", [m for m in models.NAMES if m not in ("simple", "vae")])
def test_one_step_lowers_bce_on_every_model(name):
    _one_step_lowers(name, "bce")


def test_unknown_model():
    with pytest.raises(ValueError, match="valid models: simple, sparse, deep, conv, denoising, vae"):
        models.build("resnet")
