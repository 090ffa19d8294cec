"""The autoencoders of "Building Autoencoders in Keras", layer for layer, chosen by the vocabulary's model keys.

Each builder returns a :class:`Built`: the autoencoder (uncompiled; the runner compiles it with the chosen loss
and the section's optimizer), the same network up to its logits (what the losses read), and, where the post has
them, the separate encoder and decoder. The post's ``Dense(784, activation="sigmoid")`` output is written as a
``Dense(784)`` named ``logits`` followed by a sigmoid ``Activation``: the same function and weights, with the
logits reachable. Initial weights are drawn with numpy (:func:`initialise`), so TensorFlow and JAX start a run
from the same numbers. Written with the Functional API and ``keras.ops`` only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import layers, ops, regularizers

from replicate import vocabulary

ORIGINAL_DIM = vocabulary.PIXELS
#: The post's L1 activity penalty on the sparse model's code (its literal ``10e-5``).
SPARSE_L1 = 10e-5


@dataclass(frozen=True)
class Built:
    """A built tutorial model: the autoencoder, its logits, its encoder and decoder, and the input layout."""

    autoencoder: keras.Model
    logits: keras.Model  # the autoencoder up to (not through) its output sigmoid; shares its layers
    encoder: keras.Model
    decoder: keras.Model | None
    flat: bool  # True: inputs are (N, 784) vectors; False: (N, 28, 28, 1) images
    code_shape: tuple[int, ...]


def _output(x, conv: bool = False):
    """The post's sigmoid output layer in two steps, so the losses can read its logits: (logits, image)."""
    layer = (layers.Conv2D(1, (3, 3), padding="same", dtype="float32", name="logits") if conv
             else layers.Dense(ORIGINAL_DIM, dtype="float32", name="logits"))
    logits = layer(x)
    return logits, layers.Activation("sigmoid", dtype="float32", name="sigmoid")(logits)


def simple(code_size: int = 32, activity_l1: float = 0.0) -> Built:
    """784 -> Dense(32, relu) -> Dense(784, sigmoid): "the simplest possible autoencoder"."""
    input_img = keras.Input(shape=(ORIGINAL_DIM,))
    regularizer = regularizers.l1(activity_l1) if activity_l1 else None
    encoded = layers.Dense(code_size, activation="relu", activity_regularizer=regularizer)(input_img)
    logits, decoded = _output(encoded)
    autoencoder = keras.Model(input_img, decoded, name="simple" if not activity_l1 else "sparse")
    encoder = keras.Model(input_img, encoded, name="encoder")
    encoded_input = keras.Input(shape=(code_size,))
    decoder = keras.Model(encoded_input, autoencoder.layers[-1](autoencoder.layers[-2](encoded_input)), name="decoder")
    return Built(autoencoder, keras.Model(input_img, logits), encoder, decoder, True, (code_size,))


def sparse(penalty_scale: float = 1.0) -> Built:
    """The simple model with an L1 activity penalty on the code; the post's literal ``10e-5`` is 1e-4."""
    return simple(activity_l1=SPARSE_L1 * penalty_scale)


def deep() -> Built:
    """784 -> 128 -> 64 -> 32 -> 64 -> 128 -> 784, relu inside, sigmoid output."""
    input_img = keras.Input(shape=(ORIGINAL_DIM,))
    x = layers.Dense(128, activation="relu")(input_img)
    x = layers.Dense(64, activation="relu")(x)
    encoded = layers.Dense(32, activation="relu")(x)
    x = layers.Dense(64, activation="relu")(encoded)
    x = layers.Dense(128, activation="relu")(x)
    logits, decoded = _output(x)
    autoencoder = keras.Model(input_img, decoded, name="deep")
    return Built(autoencoder, keras.Model(input_img, logits), keras.Model(input_img, encoded, name="encoder"), None,
                 True, (32,))


def conv() -> Built:
    """Conv16-pool-Conv8-pool-Conv8-pool (4x4x8 code), then back up; the 16-filter decoder conv is 'valid'
    (16x16 -> 14x14), exactly as in the post, so the output is 28x28."""
    input_img = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(16, (3, 3), activation="relu")(x)
    x = layers.UpSampling2D((2, 2))(x)
    logits, decoded = _output(x, conv=True)
    autoencoder = keras.Model(input_img, decoded, name="conv")
    return Built(autoencoder, keras.Model(input_img, logits), keras.Model(input_img, encoded, name="encoder"), None,
                 False, (4, 4, 8))


def denoising() -> Built:
    """Conv32-pool-Conv32-pool (7x7x32 code) -> Conv32-up-Conv32-up-Conv1; trained noisy -> clean."""
    input_img = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input_img)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    logits, decoded = _output(x, conv=True)
    autoencoder = keras.Model(input_img, decoded, name="denoising")
    return Built(autoencoder, keras.Model(input_img, logits), keras.Model(input_img, encoded, name="encoder"), None,
                 False, (7, 7, 32))


@keras.saving.register_keras_serializable(package="replicate")
class Sampling(layers.Layer):
    """z = z_mean + exp(z_log_sigma) * eps, eps ~ N(0, 0.1^2), as in the post's Keras-3 VAE."""

    def __init__(self, epsilon_std: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon_std = epsilon_std
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_sigma = inputs
        eps = keras.random.normal(ops.shape(z_mean), stddev=self.epsilon_std, seed=self.seed_generator)
        return z_mean + ops.exp(z_log_sigma) * eps

    def get_config(self):
        return {**super().get_config(), "epsilon_std": self.epsilon_std, "seed": self.seed}


@keras.saving.register_keras_serializable(package="replicate")
class KLDivergence(layers.Layer):
    """Adds the post's KL term, -0.5 * sum(1 + z_log_sigma - z_mean^2 - exp(z_log_sigma)), times ``weight``
    (1 in the post), and passes z_mean on."""

    def __init__(self, weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, inputs):
        z_mean, z_log_sigma = inputs
        kl = -0.5 * ops.sum(1 + z_log_sigma - ops.square(z_mean) - ops.exp(z_log_sigma), axis=-1)
        self.add_loss(self.weight * ops.mean(kl))
        return z_mean

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def vae(seed: int | None = None, penalty_scale: float = 1.0) -> Built:
    """Dense VAE of the current post: 784 -> 64 (relu) -> (z_mean, z_log_sigma) in 2-D -> 64 -> 784 sigmoid.

    The reconstruction term is the chosen loss times 784 (the runner scales it); the KL term is added here.
    """
    intermediate_dim, latent_dim = 64, 2
    inputs = keras.Input(shape=(ORIGINAL_DIM,))
    h = layers.Dense(intermediate_dim, activation="relu")(inputs)
    z_mean = layers.Dense(latent_dim)(h)
    z_log_sigma = layers.Dense(latent_dim)(h)
    z = Sampling(seed=seed)([z_mean, z_log_sigma])
    encoder = keras.Model(inputs, [z_mean, z_log_sigma, z], name="encoder")
    latent_inputs = keras.Input(shape=(latent_dim,), name="z_sampling")
    x = layers.Dense(intermediate_dim, activation="relu")(latent_inputs)
    logits, outputs = _output(x)
    decoder = keras.Model(latent_inputs, outputs, name="decoder")
    decoder_logits = keras.Model(latent_inputs, logits, name="decoder_logits")
    z_mean_out, z_log_sigma_out, z_out = encoder(inputs)
    kl_anchor = KLDivergence(weight=penalty_scale)([z_mean_out, z_log_sigma_out])
    # z + 0 * kl_anchor keeps the KL layer on the path from inputs to outputs, so its loss is collected.
    z_in = z_out + 0.0 * kl_anchor
    autoencoder = keras.Model(inputs, decoder(z_in), name="vae")
    return Built(autoencoder, keras.Model(inputs, decoder_logits(z_in)), encoder, decoder, True, (latent_dim,))


BUILDERS: dict[str, Callable[..., Built]] = {
    "simple": simple, "sparse": sparse, "deep": deep, "conv": conv, "denoising": denoising, "vae": vae,
}


def build(name: str, seed: int | None = None, penalty_scale: float = 1.0) -> Built:
    """Build the model ``name`` (a vocabulary key) with its initial weights drawn from ``seed``.

    ``penalty_scale`` multiplies the model's own penalty (the sparse model's L1, the VAE's KL); a ``ValueError``
    lists the valid names.
    """
    term = vocabulary.model(name)
    builder = term.builder
    if builder == "vae":
        built = vae(seed, penalty_scale)
    elif builder == "sparse":
        built = sparse(penalty_scale)
    elif builder == "simple":
        built = simple(code_size=term.code_size or 32)
    else:
        built = BUILDERS[builder]()
    if seed is not None:
        initialise(built.autoencoder, seed)
    return built


def initialise(model: keras.Model, seed: int) -> None:
    """Glorot-uniform kernels (Keras' default) and zero biases, drawn with numpy from ``seed``.

    Every backend then starts a run from the same weights; each weight gets its own stream, seeded by
    ``(seed, its index)``.
    """
    for i, variable in enumerate(model.trainable_weights):
        shape = tuple(variable.shape)
        if variable.path.endswith("kernel"):
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            value = np.random.default_rng([seed, i]).uniform(-limit, limit, shape)
        else:
            value = np.zeros(shape)
        variable.assign(value.astype(variable.dtype))


def loss_scale(name: str) -> float:
    """How the reconstruction loss is scaled: the VAE sums it over pixels ("loss * original_dim"); others 1."""
    return vocabulary.model(name).loss_scale


def reconstruct_logits(built: Built, x, batch_size: int = 1024) -> np.ndarray:
    """Deterministic logits of the reconstructions: the network's, or for the VAE the decoder's at z_mean."""
    if built.autoencoder.name == "vae":
        z_mean = built.encoder.predict(x, batch_size=batch_size, verbose=0)[0]
        decoder_logits = keras.Model(built.decoder.input, built.decoder.get_layer("logits").output)
        return decoder_logits.predict(z_mean, batch_size=batch_size, verbose=0)
    return built.logits.predict(x, batch_size=batch_size, verbose=0)
