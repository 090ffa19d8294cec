"""
Title: Convolutional autoencoder
Source: "Building Autoencoders in Keras" (F. Chollet, blog.keras.io), section "Convolutional autoencoder"
Description: Convolutions and max-pooling shrink each 28x28 digit to a 4x4x8 code (128 numbers);
    convolutions and up-sampling grow it back.
Expected result: the post reports that "the model converges to a loss of 0.094" after 50 epochs,
    and shows the 128-number codes as small images.
    Run with --quick for a few-second check on synthetic images; that run does not reach 0.094.
"""

"""
## Setup
"""

import common
from replicate import tutorial_plots

args = common.parse_args("Train the post's convolutional autoencoder, compare its loss, draw its codes.")

"""
## The model

Three `Conv2D` + `MaxPooling2D(padding="same")` stages take the image from 28x28x1 to 4x4x8.
The decoder mirrors them with `Conv2D` + `UpSampling2D`. One detail matters: the 16-filter
convolution of the decoder has no padding, which turns 16x16 into 14x14, so that the last
up-sampling lands on 28x28 again. The layers are in `replicate.models.conv`.

## Training

50 epochs, batches of 128 shuffled images, Adam and binary cross-entropy. The post's TensorBoard
callback only draws the curves, so it is left out; the per-epoch losses are printed and also
saved in the run folder's `history.json`.
"""

trained = common.train_section(args, "conv")
print(f"Parameters: {trained.built.autoencoder.count_params():,}")

"""
## Reconstructions

The post explains the lower loss by the code's "higher entropic capacity": 128 numbers here
against 32 in the fully-connected models.
"""

strip = tutorial_plots.reconstruction_strip(
    trained.y_test, trained.recon, common.figure_path(args, "04_conv_reconstructions"),
    title=f"Convolutional autoencoder, {common.plural(trained.cfg.epochs, 'epoch')}, {trained.cfg.loss}")
print(f"Saved {strip}")

"""
## The encoded representations

Each code is a 4x4x8 block. Following the post, each is drawn as `reshape(4, 4 * 8).T`, a
tall strip 4 pixels wide.
"""

codes = trained.built.encoder.predict(trained.x_test[:10], verbose=0)
print(f"Code shape per image: {codes.shape[1:]}")
encoded = tutorial_plots.encoded_representations(
    codes, common.figure_path(args, "04_conv_codes"), title="Encoded representations (4x4x8, as 32x4)")
print(f"Saved {encoded}")
