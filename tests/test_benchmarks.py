"""The benchmarks' arithmetic: multiply-add counts from layer shapes, and paired ratios."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_flops  # noqa: E402
import common  # noqa: E402
import profile_layers  # noqa: E402
from replicate import models  # noqa: E402


def test_multiply_adds_from_layer_shapes():
    assert bench_flops.macs_per_sample(models.build("simple").autoencoder) == 784 * 32 + 32 * 784
    conv = [28 * 28 * 9 * 1 * 16, 14 * 14 * 9 * 16 * 8, 7 * 7 * 9 * 8 * 8,  # encoder: 28 -> 14 -> 7 -> 4
            4 * 4 * 9 * 8 * 8, 8 * 8 * 9 * 8 * 8, 14 * 14 * 9 * 8 * 16, 28 * 28 * 9 * 16 * 1]  # decoder
    assert bench_flops.macs_per_sample(models.build("conv").autoencoder) == sum(conv)
    deep = 784 * 128 + 128 * 64 + 64 * 32 + 32 * 64 + 64 * 128 + 128 * 784
    assert bench_flops.macs_per_sample(models.build("deep").autoencoder) == deep


def test_a_layers_work_counts_the_products_and_tensors_of_its_passes():
    """The first layer computes no input gradient (2 products, the input read twice); later ones do (3, and the
    input's gradient written); a pooling layer has no products but the same traffic rule; a convolution that shrinks
    its maps counts its products at the output's size."""
    layers = models.build("denoising").autoencoder.layers
    first, pool, second = layers[1], layers[2], layers[3]
    n = profile_layers.BATCH
    assert profile_layers.layer_work(first, True) == (2 * 2 * n * 28 * 28 * 9 * 32,
                                                      4 * (2 * n * 28 * 28 + 2 * n * 28 * 28 * 32))
    assert profile_layers.layer_work(pool, False) == (0, 4 * (3 * n * 28 * 28 * 32 + 2 * n * 14 * 14 * 32))
    assert profile_layers.layer_work(second, False) == (2 * 3 * n * 14 * 14 * 9 * 32 * 32,
                                                        4 * (5 * n * 14 * 14 * 32))
    shrinking = models.build("conv").autoencoder.get_layer(index=11)  # 3 x 3 "valid": 16 x 16 x 8 -> 14 x 14 x 16
    assert profile_layers.layer_work(shrinking, False) == (2 * 3 * n * 14 * 14 * 9 * 8 * 16,
                                                           4 * (3 * n * 16 * 16 * 8 + 2 * n * 14 * 14 * 16))


@pytest.mark.parametrize("name,replaced", [("conv", [1, 8, 10, 12, 13]), ("denoising", [1, 6, 8, 9])])
def test_the_rewritten_layers_compute_the_same_function(name, replaced):
    """``--rewrites`` times the model's own function in other kernels: the one-channel 3 x 3 "same" convolutions
    (the first layer and the logits) and the upsampling layers are replaced, nothing else, with the same weights
    and outputs equal up to float32 rounding. The weights, biases too, are random (a new model's biases are zero)."""
    base = models.build(name).autoencoder
    rng = np.random.default_rng(0)
    base.set_weights([rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in base.get_weights()])
    copy = profile_layers.rewritten(base, convs=True, upsampling=True)
    assert [i for i, (a, b) in enumerate(zip(base.layers, copy.layers)) if type(a) is not type(b)] == replaced
    x = rng.random((8, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(copy.predict(x, verbose=0), base.predict(x, verbose=0), rtol=0, atol=1e-6)


def test_layers_the_rewrites_do_not_cover_are_kept():
    """A dilated, bias-free or "valid" one-channel convolution and a bilinear upsampling stay Keras' own."""
    import keras

    inputs = keras.Input((14, 14, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", dilation_rate=2)(inputs)
    x = keras.layers.Conv2D(1, 3, padding="same", use_bias=False)(x)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="valid")(x))
    copy = profile_layers.rewritten(model, convs=True, upsampling=True)
    assert [type(layer) for layer in copy.layers] == [type(layer) for layer in model.layers]


def test_ratio_of_medians_and_paired_ratios():
    times = {"a": [2.0, 4.0, 9.0], "b": [1.0, 4.0, 3.0]}
    assert common.ratio(times, "a", "b") == {"of_medians": round(4 / 3, 4), "paired_median": 2.0, "paired_min": 1.0,
                                             "paired_max": 3.0}
    assert common.medians(times) == {"a": 4.0, "b": 3.0}
