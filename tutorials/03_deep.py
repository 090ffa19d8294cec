"""
Title: Deep autoencoder
Source: "Building Autoencoders in Keras" (F. Chollet, blog.keras.io), section "Deep autoencoder"
Description: A stack of fully-connected layers, 784-128-64-32-64-128-784, in place of the
    single encoding and decoding layers of the simple model.
Expected result: the current post reports "a train and validation loss of ~0.08" after 100 epochs
    with Adam (the 2016 version, with Adadelta, said ~0.097).
    Run with --quick for a few-second check on synthetic images; that run does not reach 0.08.
"""

"""
## Setup
"""

import common
from replicate import tutorial_plots

args = common.parse_args("Train the post's deep fully-connected autoencoder and compare its loss.")

"""
## The model

The encoder narrows in three ReLU layers (128, 64, then the 32-unit code) and the decoder
widens back (64, 128) to a sigmoid output of 784 pixels. The code is the same size as in the
simple model. The extra layers let the mappings into and out of the code be non-linear, and the
post credits them with a slightly lower loss. See `replicate.models.deep` for the layers.

## Training

100 epochs, batches of 256 shuffled images, Adam and binary cross-entropy, with the test set as
validation data.
"""

trained = common.train_section(args, "deep")
print(f"Parameters: {trained.built.autoencoder.count_params():,}")

"""
## Reconstructions
"""

strip = tutorial_plots.reconstruction_strip(
    trained.y_test, trained.recon, common.figure_path(args, "03_deep_reconstructions"),
    title=f"Deep autoencoder, {common.plural(trained.cfg.epochs, 'epoch')}, {trained.cfg.loss}")
print(f"Saved {strip}")
