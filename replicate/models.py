"""The autoencoders of "Building Autoencoders in Keras", layer for layer, chosen by key.

Each builder returns a :class:`Built`: the autoencoder (uncompiled; the runner compiles it with the chosen loss
and the section's optimizer) and, where the post has them, the separate encoder and decoder. Training protocols
and reported numbers are data in :mod:`replicate.tutorial`. Written with the Functional API and ``keras.ops``
only, so the models run on TensorFlow and JAX alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers, ops, regularizers

ORIGINAL_DIM = 28 * 28


@dataclass(frozen=True)
class Built:
    """A built tutorial model: the autoencoder, its encoder and decoder, and the input layout it expects."""

    autoencoder: keras.Model
    encoder: keras.Model
    decoder: keras.Model | None
    flat: bool  # True: inputs are (N, 784) vectors; False: (N, 28, 28, 1) images
    code_shape: tuple[int, ...]


def simple(activity_l1: float = 0.0) -> Built:
    """784 -> Dense(32, relu) -> Dense(784, sigmoid): "the simplest possible autoencoder"."""
    encoding_dim = 32
    input_img = keras.Input(shape=(ORIGINAL_DIM,))
    regularizer = regularizers.l1(activity_l1) if activity_l1 else None
    encoded = layers.Dense(encoding_dim, activation="relu", activity_regularizer=regularizer)(input_img)
    decoded = layers.Dense(ORIGINAL_DIM, activation="sigmoid", dtype="float32")(encoded)
    autoencoder = keras.Model(input_img, decoded, name="simple" if not activity_l1 else "sparse")
    encoder = keras.Model(input_img, encoded, name="encoder")
    encoded_input = keras.Input(shape=(encoding_dim,))
    decoder = keras.Model(encoded_input, autoencoder.layers[-1](encoded_input), name="decoder")
    return Built(autoencoder, encoder, decoder, True, (encoding_dim,))


def sparse() -> Built:
    """The simple model with an L1 activity penalty on the code; the post's literal ``10e-5`` is 1e-4."""
    return simple(activity_l1=10e-5)


def deep() -> Built:
    """784 -> 128 -> 64 -> 32 -> 64 -> 128 -> 784, relu inside, sigmoid output."""
    input_img = keras.Input(shape=(ORIGINAL_DIM,))
    x = layers.Dense(128, activation="relu")(input_img)
    x = layers.Dense(64, activation="relu")(x)
    encoded = layers.Dense(32, activation="relu")(x)
    x = layers.Dense(64, activation="relu")(encoded)
    x = layers.Dense(128, activation="relu")(x)
    decoded = layers.Dense(ORIGINAL_DIM, activation="sigmoid", dtype="float32")(x)
    autoencoder = keras.Model(input_img, decoded, name="deep")
    return Built(autoencoder, keras.Model(input_img, encoded, name="encoder"), None, True, (32,))


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
    decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same", dtype="float32")(x)
    autoencoder = keras.Model(input_img, decoded, name="conv")
    return Built(autoencoder, keras.Model(input_img, encoded, name="encoder"), None, False, (4, 4, 8))


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
    decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same", dtype="float32")(x)
    autoencoder = keras.Model(input_img, decoded, name="denoising")
    return Built(autoencoder, keras.Model(input_img, encoded, name="encoder"), None, False, (7, 7, 32))


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
    """Adds the post's KL term, -0.5 * sum(1 + z_log_sigma - z_mean^2 - exp(z_log_sigma)), and passes z_mean on."""

    def call(self, inputs):
        z_mean, z_log_sigma = inputs
        kl = -0.5 * ops.sum(1 + z_log_sigma - ops.square(z_mean) - ops.exp(z_log_sigma), axis=-1)
        self.add_loss(ops.mean(kl))
        return z_mean


def vae(seed: int | None = None) -> Built:
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
    outputs = layers.Dense(ORIGINAL_DIM, activation="sigmoid", dtype="float32")(x)
    decoder = keras.Model(latent_inputs, outputs, name="decoder")
    z_mean_out, z_log_sigma_out, z_out = encoder(inputs)
    kl_anchor = KLDivergence()([z_mean_out, z_log_sigma_out])
    # z + 0 * kl_anchor keeps the KL layer on the path from inputs to outputs, so its loss is collected.
    autoencoder = keras.Model(inputs, decoder(z_out + 0.0 * kl_anchor), name="vae")
    return Built(autoencoder, encoder, decoder, True, (latent_dim,))


BUILDERS: dict[str, Callable[[], Built]] = {
    "simple": simple, "sparse": sparse, "deep": deep, "conv": conv, "denoising": denoising, "vae": vae,
}
NAMES = tuple(BUILDERS)
#: Models that add a loss of their own (the sparse model's activity penalty, the VAE's KL term). Keras adds it to
#: the total but not to any output's loss, so these models always train alone, never fused with other losses.
OWN_LOSS = frozenset({"sparse", "vae"})

#: Models whose loss is summed over pixels (the VAE's reconstruction term is "loss * original_dim").
LOSS_SCALE = {"vae": float(ORIGINAL_DIM)}


def build(name: str, seed: int | None = None) -> Built:
    """Build the tutorial model ``name``; a ``ValueError`` lists the valid names."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(NAMES)}")
    return vae(seed) if name == "vae" else BUILDERS[name]()


def reconstruct(built: Built, x, batch_size: int = 1024):
    """Deterministic reconstructions: the autoencoder's output, or for the VAE the decoder at z_mean."""
    if built.autoencoder.name == "vae":
        z_mean = built.encoder.predict(x, batch_size=batch_size, verbose=0)[0]
        return built.decoder.predict(z_mean, batch_size=batch_size, verbose=0)
    return built.autoencoder.predict(x, batch_size=batch_size, verbose=0)
