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

import numpy as np

import common
from replicate import losses, tutorial_plots

args = common.parse_args("Train the post's variational autoencoder and draw its latent plane and manifold.")

"""
## The model

The encoder maps 784 pixels to 64 ReLU units, then to `z_mean` and `z_log_sigma`, two numbers
each. The sampling layer draws `z = z_mean + exp(z_log_sigma) * epsilon`, with `epsilon` normal
of standard deviation 0.1, as in the post. The decoder maps `z` through 64 ReLU units to 784
sigmoid pixels. The KL term `-0.5 * sum(1 + z_log_sigma - z_mean^2 - exp(z_log_sigma))` is added
inside the model. The reconstruction term is the chosen loss times 784, a sum over pixels rather
than a mean, so the loss printed below is on another scale from the other sections. See
`replicate.models.vae`.

## Training

100 epochs, batches of 32, Adam. The post's `fit` call passes no `shuffle` argument, so Keras'
default applies, which is to shuffle.
"""

trained = common.train_section(args, "vae")
loss = losses.get(trained.cfg.loss)

strip = tutorial_plots.reconstruction_strip(
    trained.y_test, trained.recon, common.figure_path(args, "06_vae_reconstructions"),
    title=f"VAE (decoded at z_mean), {common.plural(trained.cfg.epochs, 'epoch')}, {trained.cfg.loss}")
print(f"Saved {strip}")

"""
## The latent plane

Each test image is encoded to its mean `z_mean` (no sampling). The datasets here are loaded
without their labels, so the dots are coloured by how much ink each image has rather than by
digit class.
"""

z_mean = trained.built.encoder.predict(trained.x_test, verbose=0)[0]
ink = trained.y_test.reshape(len(trained.y_test), -1).mean(axis=1)
print(f"z_mean over the test set: mean {np.round(z_mean.mean(axis=0), 3)}, std {np.round(z_mean.std(axis=0), 3)}")
scatter = tutorial_plots.latent_scatter(z_mean, common.figure_path(args, "06_vae_latent"), color=ink)
print(f"Saved {scatter}")

"""
## The manifold

The decoder is evaluated on a 15x15 grid of latent points. The post spaces its grid as
`linspace(-15, 15) * epsilon_std`. Here each axis runs between the 2.5th and 97.5th percentiles
of the encoded test means instead, so the grid covers the region the encoder actually uses (the
docstring of `tutorial_plots.latent_manifold` gives the reason).
"""


def decode(z):
    return loss.reconstruction(trained.built.decoder.predict(z, verbose=0))


manifold = tutorial_plots.latent_manifold(decode, common.figure_path(args, "06_vae_manifold"), z_mean=z_mean)
print(f"Saved {manifold}")
