"""
Title: Application to image denoising
Source: "Building Autoencoders in Keras" (F. Chollet, blog.keras.io), section
    "Application to image denoising"
Description: A convolutional autoencoder trained to map digits corrupted by Gaussian noise
    (factor 0.5, clipped to [0, 1]) back to the clean digits.
Expected result: the post reports no loss value, only the judgement "It seems to work pretty
    well" and a strip of noisy digits above their denoised versions. This script saves that
    strip and prints how far the noisy inputs and the denoised outputs are from the clean digits.
    Run with --quick for a few-second check on synthetic images; that run denoises poorly.
"""

"""
## Setup
"""

import numpy as np

import common
from replicate import tutorial_plots

args = common.parse_args("Train the post's denoising autoencoder and show noisy inputs beside its outputs.")

"""
## Noisy inputs, clean targets

Each pixel gets `0.5 * N(0, 1)` added and the result is clipped to [0, 1], for the training and
the test images alike. The post draws the noise without a seed. Here it is seeded, so every run
with the same seed sees the same noisy images.

## The model

This model is wider and shallower than the previous one: two stages of 32-filter convolution
and pooling give a 7x7x32 code, and two stages of convolution and up-sampling bring it back.
The layers are in `replicate.models.denoising`. It trains for 100 epochs with batches of 128,
from noisy inputs to clean targets.
"""

trained = common.train_section(args, "denoising")

"""
## Did it denoise?

The post only shows pictures. As a number to go with them: the root-mean-square distance to the
clean test digits, before (noisy input) and after (model output).
"""

clean = trained.y_test.reshape(len(trained.y_test), 28, 28)
noisy = trained.x_test.reshape(clean.shape)
rmse_noisy = float(np.sqrt(np.mean((noisy - clean) ** 2)))
rmse_denoised = float(np.sqrt(np.mean((trained.recon - clean) ** 2)))
print(f"RMSE to the clean test images: noisy input {rmse_noisy:.4f}, denoised output {rmse_denoised:.4f}")

strip = tutorial_plots.reconstruction_strip(
    noisy, trained.recon, common.figure_path(args, "05_denoising"), labels=("noisy input", "denoised"),
    title=f"Denoising autoencoder, {common.plural(trained.cfg.epochs, 'epoch')}, {trained.cfg.loss}")
print(f"Saved {strip}")
