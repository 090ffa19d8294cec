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

import common  # first: it keeps TensorFlow's start-up log quiet before Keras loads it
import keras
from keras import layers

from replicate import losses, models, tutorial_plots

"""
## The model

Three `Conv2D` + `MaxPooling2D(padding="same")` stages take the image from 28x28x1 to 4x4x8.
The decoder mirrors them with `Conv2D` + `UpSampling2D`. One detail matters: the 16-filter
convolution of the decoder has no padding, which turns 16x16 into 14x14, so that the last
up-sampling lands on 28x28 again. The post's last layer, `Conv2D(1, (3, 3), activation="sigmoid",
padding="same")`, is written as that convolution without activation, named "logits", followed
by an `Activation("sigmoid")`: the same function, with the logits reachable for the loss.
"""


def build_model() -> models.Built:
    input_img = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)  # 4x4x8: 128 numbers

    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(16, (3, 3), activation="relu")(x)  # no padding: 16x16 -> 14x14
    x = layers.UpSampling2D((2, 2))(x)
    logits = layers.Conv2D(1, (3, 3), padding="same", name="logits")(x)
    decoded = layers.Activation("sigmoid", name="sigmoid")(logits)

    autoencoder = keras.Model(input_img, decoded, name="conv")
    encoder = keras.Model(input_img, encoded, name="encoder")
    return models.Built(autoencoder, keras.Model(input_img, logits), encoder, None, flat=False, code_shape=(4, 4, 8))


args = common.parse_args("Train the post's convolutional autoencoder, compare its loss, draw its codes.")
run = common.TutorialRun(args, "conv")
model = build_model()
model.autoencoder.summary()

"""
## The data

MNIST scaled to [0, 1], kept as images with one channel: `(samples, 28, 28, 1)`.
"""

x_train, x_test = run.load_data()
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
x_train = x_train.reshape((len(x_train), 28, 28, 1))
x_test = x_test.reshape((len(x_test), 28, 28, 1))

"""
## Training

50 epochs, batches of 128 shuffled images, Adam and binary cross-entropy (read from the logits,
see `01_simple.py`). The post's TensorBoard callback only draws the curves, so it is left out;
the per-epoch losses are printed and saved in the run folder's `history.json`.
"""

model.logits.compile(optimizer="adam", loss=losses.ReconstructionLoss(args.loss))
history = run.fit(
    model, x_train, x_train,
    epochs=run.epochs(50), batch_size=128, shuffle=True, validation_data=(x_test, x_test),
)

"""
## Reconstructions

The post explains the lower loss by the code's "higher entropic capacity": 128 numbers here
against 32 in the fully-connected models.
"""

strip = tutorial_plots.reconstruction_strip(
    x_test, run.reconstructions(), common.figure_path(args, "04_conv_reconstructions"),
    title=f"Convolutional autoencoder, {common.plural(len(history['loss']), 'epoch')}, {args.loss}")
print(f"Saved {strip}")

"""
## The encoded representations

Each code is a 4x4x8 block. Following the post, each is drawn as `reshape(4, 4 * 8).T`, a
tall strip 4 pixels wide.
"""

encoded_imgs = model.encoder.predict(x_test[:10], verbose=0)
print(f"Code shape per image: {encoded_imgs.shape[1:]}")
encoded = tutorial_plots.encoded_representations(
    encoded_imgs, common.figure_path(args, "04_conv_codes"), title="Encoded representations (4x4x8, as 32x4)")
print(f"Saved {encoded}")
