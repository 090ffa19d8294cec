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

import common  # first: it keeps TensorFlow's start-up log quiet before Keras loads it
import keras
from keras import layers

from replicate import losses, models, tutorial_plots

"""
## The model

The encoder narrows in three ReLU layers (128, 64, then the 32-unit code) and the decoder
widens back (64, 128) to a sigmoid output of 784 pixels. The code is the same size as in the
simple model. The extra layers let the mappings into and out of the code be non-linear, and the
post credits them with a slightly lower loss. The sigmoid output is written as a `Dense(784)`
named "logits" followed by an `Activation("sigmoid")`, the same function, so that the loss can
read the logits.
"""


def build_model() -> models.Built:
    input_img = keras.Input(shape=(784,))
    encoded = layers.Dense(128, activation="relu")(input_img)
    encoded = layers.Dense(64, activation="relu")(encoded)
    encoded = layers.Dense(32, activation="relu")(encoded)

    decoded = layers.Dense(64, activation="relu")(encoded)
    decoded = layers.Dense(128, activation="relu")(decoded)
    logits = layers.Dense(784, name="logits")(decoded)
    decoded = layers.Activation("sigmoid", name="sigmoid")(logits)

    autoencoder = keras.Model(input_img, decoded, name="deep")
    encoder = keras.Model(input_img, encoded, name="encoder")
    return models.Built(autoencoder, keras.Model(input_img, logits), encoder, None, flat=True, code_shape=(32,))


args = common.parse_args("Train the post's deep fully-connected autoencoder and compare its loss.")
run = common.TutorialRun(args, "deep")
model = build_model()
model.autoencoder.summary()

"""
## The data

MNIST scaled to [0, 1] and flattened, as for the simple model.
"""

x_train, x_test = run.load_data()
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
x_train = x_train.reshape((len(x_train), 784))
x_test = x_test.reshape((len(x_test), 784))

"""
## Training

The post's `compile(optimizer="adam", loss="binary_crossentropy")` and its `fit`: 100 epochs,
batches of 256 shuffled images, the test set as validation data. The loss is the same binary
cross-entropy read from the logits (see `01_simple.py`).
"""

model.logits.compile(optimizer="adam", loss=losses.ReconstructionLoss(args.loss))
history = run.fit(
    model, x_train, x_train,
    epochs=run.epochs(100), batch_size=256, shuffle=True, validation_data=(x_test, x_test),
)

"""
## Reconstructions
"""

strip = tutorial_plots.reconstruction_strip(
    x_test, run.reconstructions(), common.figure_path(args, "03_deep_reconstructions"),
    title=f"Deep autoencoder, {common.plural(len(history['loss']), 'epoch')}, {args.loss}")
print(f"Saved {strip}")
