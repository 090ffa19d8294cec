"""
Title: The simplest possible autoencoder
Source: "Building Autoencoders in Keras" (F. Chollet, blog.keras.io), section
    "Let's build the simplest possible autoencoder"
Description: A fully-connected autoencoder that squeezes each 784-pixel MNIST digit through
    32 numbers and back, trained with per-pixel binary cross-entropy.
Expected result: the current post reports "a stable train/validation loss value of about 0.09"
    after 50 epochs with Adam (the 2016 version, with Adadelta, said 0.11).
    Run with --quick for a few-second check on synthetic images; that run does not reach 0.09.
"""

"""
## Setup

The model, the training loop and the figures all come from the `replicate` package; this
script only follows the post's steps and prints what happened at each of them.
"""

import common
from replicate import tutorial_plots

args = common.parse_args("Train the post's 784-32-784 autoencoder and compare its loss with the post's.")

"""
## The model

The encoder is a single `Dense(32, activation="relu")` layer on the flattened image, and the
decoder a single `Dense(784, activation="sigmoid")` layer. Thirty-two numbers for 784 pixels is
the "compression of factor 24.5" of the post. The sigmoid keeps every output pixel in (0, 1),
which is what binary cross-entropy expects. The layers are spelled out in
`replicate.models.simple`, which also returns the separate encoder and decoder models.

## Training

As in the post: Adam, 50 epochs, batches of 256 shuffled images, and the test set passed as
validation data (there is no separate validation split). Inputs and targets are the same
images, scaled to [0, 1].
"""

trained = common.train_section(args, "simple")
print(f"Parameters: {trained.built.autoencoder.count_params():,}")

"""
## Looking at the reconstructions

The post shows ten test digits above their reconstructions and remarks that "we are losing
quite a bit of detail with this basic approach". The same strip is saved here.
"""

strip = tutorial_plots.reconstruction_strip(
    trained.y_test, trained.recon, common.figure_path(args, "01_simple_reconstructions"),
    title=f"Simple autoencoder, {common.plural(trained.cfg.epochs, 'epoch')}, {trained.cfg.loss}")
print(f"Saved {strip}")
