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

import common  # first: it keeps TensorFlow's start-up log quiet before Keras loads it
import keras
import numpy as np
from keras import layers

from replicate import losses, models, tutorial_plots

"""
## The model

This model is wider and shallower than the previous one: two stages of 32-filter convolution
and pooling give a 7x7x32 code, and two stages of convolution and up-sampling bring it back.
The post's sigmoid output convolution is written as the convolution without activation, named
"logits", followed by an `Activation("sigmoid")`: the same function, with the logits reachable
for the loss.
"""


def build_model() -> models.Built:
    input_img = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input_img)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)  # 7x7x32

    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    logits = layers.Conv2D(1, (3, 3), padding="same", name="logits")(x)
    decoded = layers.Activation("sigmoid", name="sigmoid")(logits)

    autoencoder = keras.Model(input_img, decoded, name="denoising")
    encoder = keras.Model(input_img, encoded, name="encoder")
    return models.Built(autoencoder, keras.Model(input_img, logits), encoder, None, flat=False,
                        code_shape=(7, 7, 32))


args = common.parse_args("Train the post's denoising autoencoder and show noisy inputs beside its outputs.")
run = common.TutorialRun(args, "denoising")
model = build_model()
model.autoencoder.summary()

"""
## Noisy inputs, clean targets

The images are scaled and shaped as for the convolutional autoencoder. Then the post adds
`noise_factor * np.random.normal(loc=0.0, scale=1.0, size=x.shape)` to every pixel and clips
the result to [0, 1], for the training and the test images alike. It draws the noise without a
seed; `run.add_noise` draws it from the run's seed, so every run with the same seed sees the
same noisy images.
"""

x_train, x_test = run.load_data()
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
x_train = x_train.reshape((len(x_train), 28, 28, 1))
x_test = x_test.reshape((len(x_test), 28, 28, 1))

noise_factor = 0.5
x_train_noisy, x_test_noisy = run.add_noise(x_train, x_test, noise_factor)

"""
## Training

From noisy inputs to clean targets: 100 epochs, batches of 128 shuffled images, Adam and binary
cross-entropy (read from the logits, see `01_simple.py`). The post's TensorBoard callback is
left out; the losses are printed and saved in the run's `history.json`.
"""

model.logits.compile(optimizer="adam", loss=losses.ReconstructionLoss(args.loss))
history = run.fit(
    model, x_train_noisy, x_train,
    epochs=run.epochs(100), batch_size=128, shuffle=True, validation_data=(x_test_noisy, x_test),
)

"""
## Did it denoise?

The post only shows pictures. As a number to go with them: the root-mean-square distance to the
clean test digits, before (noisy input) and after (model output).
"""

clean = x_test.reshape(len(x_test), 28, 28)
noisy = x_test_noisy.reshape(clean.shape)
denoised = run.reconstructions()
rmse_noisy = float(np.sqrt(np.mean((noisy - clean) ** 2)))
rmse_denoised = float(np.sqrt(np.mean((denoised - clean) ** 2)))
print(f"RMSE to the clean test images: noisy input {rmse_noisy:.4f}, denoised output {rmse_denoised:.4f}")

strip = tutorial_plots.reconstruction_strip(
    noisy, denoised, common.figure_path(args, "05_denoising"), labels=("noisy input", "denoised"),
    title=f"Denoising autoencoder, {common.plural(len(history['loss']), 'epoch')}, {args.loss}")
print(f"Saved {strip}")
