"""
Title: Variational autoencoder (VAE)
Source: "Building Autoencoders in Keras" (F. Chollet, blog.keras.io), section
    "Variational autoencoder (VAE)", in its current Keras 3 version
Description: A fully-connected VAE with a 2-D latent space: the encoder gives a mean and a
    log-scale per image, a code is sampled from them, and the loss adds a KL term to the
    reconstruction term (784 x binary cross-entropy).
Expected result: the post reports no loss value. It shows the test set's codes in the latent
    plane, where the digit classes form clusters, and a 15x15 grid of digits decoded from
    regularly spaced points of that plane.
    Run with --quick for a few-second check on synthetic images; its plots show no structure.
"""

"""
## Setup
"""

import common  # first: it keeps TensorFlow's start-up log quiet before Keras loads it
import keras
import numpy as np
from keras import layers

from replicate import losses, models, tutorial_plots

"""
## The model

The encoder maps 784 pixels to 64 ReLU units, then to `z_mean` and `z_log_sigma`, two numbers
each. The post's `sampling` function, `z = z_mean + exp(z_log_sigma) * epsilon` with `epsilon`
normal of standard deviation 0.1, is the `models.Sampling` layer, which draws its noise from a
seed so that an interrupted run can resume exactly. The decoder maps `z` through 64 ReLU units
to 784 sigmoid pixels; that sigmoid output is written as a `Dense(784)` named "logits" followed
by an `Activation("sigmoid")`, the same function, so that the loss can read the logits.

The post adds `-0.5 * sum(1 + z_log_sigma - z_mean^2 - exp(z_log_sigma))` to the loss with
`vae.add_loss`. The `models.KLDivergence` layer does that `add_loss` and passes `z_mean` on;
adding 0 times its output to `z` keeps it on the path from the inputs to the outputs, so that
Keras collects its loss.
"""


def build_model(seed: int | None = None) -> models.Built:
    original_dim, intermediate_dim, latent_dim = 28 * 28, 64, 2

    inputs = keras.Input(shape=(original_dim,))
    h = layers.Dense(intermediate_dim, activation="relu")(inputs)
    z_mean = layers.Dense(latent_dim)(h)
    z_log_sigma = layers.Dense(latent_dim)(h)
    z = models.Sampling(epsilon_std=0.1, seed=seed)([z_mean, z_log_sigma])
    encoder = keras.Model(inputs, [z_mean, z_log_sigma, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,), name="z_sampling")
    x = layers.Dense(intermediate_dim, activation="relu")(latent_inputs)
    logits = layers.Dense(original_dim, name="logits")(x)
    outputs = layers.Activation("sigmoid", name="sigmoid")(logits)
    decoder = keras.Model(latent_inputs, outputs, name="decoder")
    decoder_logits = keras.Model(latent_inputs, logits, name="decoder_logits")

    z_mean, z_log_sigma, z = encoder(inputs)
    kl = models.KLDivergence()([z_mean, z_log_sigma])
    z = z + 0.0 * kl
    vae = keras.Model(inputs, decoder(z), name="vae")
    return models.Built(vae, keras.Model(inputs, decoder_logits(z)), encoder, decoder, flat=True,
                        code_shape=(latent_dim,))


args = common.parse_args("Train the post's variational autoencoder and draw its latent plane and manifold.")
run = common.TutorialRun(args, "vae")
model = build_model(seed=run.seed)
model.encoder.summary()
model.decoder.summary()
model.autoencoder.summary()

"""
## The data

MNIST scaled to [0, 1] and flattened, as for the fully-connected models.
"""

x_train, x_test = run.load_data()
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
x_train = x_train.reshape((len(x_train), 784))
x_test = x_test.reshape((len(x_test), 784))

"""
## Training

The post's reconstruction term is `binary_crossentropy(inputs, outputs) * original_dim`, a sum
over pixels rather than a mean, so the losses printed below are on another scale from the other
sections. Here it is the compiled loss, read from the logits: `ReconstructionLoss("bce",
scale=784)`; the KL term comes from the model. The post's `fit`: 100 epochs, batches of 32. It
passes no `shuffle` argument, so Keras' default applies, which is to shuffle.
"""

model.logits.compile(optimizer="adam", loss=losses.ReconstructionLoss(args.loss, scale=784))
history = run.fit(
    model, x_train, x_train,
    epochs=run.epochs(100), batch_size=32, validation_data=(x_test, x_test),
)
kl = run.status["penalty"]["term"]
print(f"KL term on the test images: {kl:.3f} (mean per image)")

strip = tutorial_plots.reconstruction_strip(
    x_test, run.reconstructions(), common.figure_path(args, "06_vae_reconstructions"),
    title=f"VAE (decoded at z_mean), {common.plural(len(history['loss']), 'epoch')}, {args.loss}")
print(f"Saved {strip}")

"""
## The latent plane

Each test image is encoded to its mean `z_mean` (no sampling). The datasets here are loaded
without their labels, so the dots are coloured by how much ink each image has rather than by
digit class.
"""

z_mean = model.encoder.predict(x_test, verbose=0)[0]
ink = x_test.mean(axis=1)
print(f"z_mean over the test set: mean {np.round(z_mean.mean(axis=0), 3)}, std {np.round(z_mean.std(axis=0), 3)}")
scatter = tutorial_plots.latent_scatter(z_mean, common.figure_path(args, "06_vae_latent"), color=ink)
print(f"Saved {scatter}")

"""
## The manifold

The decoder is evaluated on a 15x15 grid of latent points. The post spaces its grid as
`linspace(-15, 15) * epsilon_std`. Here each axis runs between the 2.5th and 97.5th percentiles
of the encoded test means instead, so the grid covers the region the encoder actually uses (the
docstring of `tutorial_plots.latent_manifold` gives the reason). The decoder's logits are turned
into images as the loss reads them: the sigmoid for binary cross-entropy.
"""

decoder_logits = keras.Model(model.decoder.input, model.decoder.get_layer("logits").output)


def decode(z):
    return losses.get(args.loss).reconstruction(decoder_logits.predict(z, verbose=0))


manifold = tutorial_plots.latent_manifold(decode, common.figure_path(args, "06_vae_manifold"), z_mean=z_mean)
print(f"Saved {manifold}")
