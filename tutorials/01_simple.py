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

Keras builds and trains the model, as in the post. The `replicate` package adds the loss,
read from the logits, and the bookkeeping of the run: seeded weights and batch order, a
checkpoint after every epoch, the run's files, and the post's numbers beside ours.
"""

import common  # first: it keeps TensorFlow's start-up log quiet before Keras loads it
import keras
from keras import layers

from replicate import losses, models, tutorial_plots

"""
## The model

The encoder is a single `Dense(32, activation="relu")` layer on the flattened image: 32
numbers for 784 pixels is the "compression of factor 24.5" of the post. The decoder is the
post's `Dense(784, activation="sigmoid")`, written in two steps: a `Dense(784)` named "logits"
and an `Activation("sigmoid")`. That is the same function with the same weights, and it lets
the loss read the logits. As in the post, the encoder and the decoder are also models of their
own, sharing the autoencoder's layers. The layers sit in a function, `build_model`, so that a
test can check them against `replicate.models.build("simple")`, the model the package's sweeps
train.
"""


def build_model() -> models.Built:
    input_img = keras.Input(shape=(784,))
    encoded = layers.Dense(32, activation="relu")(input_img)
    logits = layers.Dense(784, name="logits")(encoded)
    decoded = layers.Activation("sigmoid", name="sigmoid")(logits)
    autoencoder = keras.Model(input_img, decoded, name="simple")

    encoder = keras.Model(input_img, encoded, name="encoder")
    encoded_input = keras.Input(shape=(32,))
    decoder_layers = autoencoder.layers[-2:]  # the post's autoencoder.layers[-1]: logits, then sigmoid
    decoder = keras.Model(encoded_input, decoder_layers[1](decoder_layers[0](encoded_input)), name="decoder")
    return models.Built(autoencoder, keras.Model(input_img, logits), encoder, decoder, flat=True, code_shape=(32,))


args = common.parse_args("Train the post's 784-32-784 autoencoder and compare its loss with the post's.")
run = common.TutorialRun(args, "simple")  # the run's config, folder and seed
model = build_model()
model.autoencoder.summary()

"""
## The data

MNIST digits, scaled to [0, 1] and flattened to vectors of 784 pixels. The labels are not
needed. As in the post, the test set serves as validation data.
"""

x_train, x_test = run.load_data()
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
x_train = x_train.reshape((len(x_train), 784))
x_test = x_test.reshape((len(x_test), 784))
print(f"x_train {x_train.shape}, x_test {x_test.shape}")

"""
## Training

The post compiles the sigmoid output with `optimizer="adam", loss="binary_crossentropy"`.
Here the logits model is compiled with `losses.ReconstructionLoss("bce")`: the same per-pixel
binary cross-entropy, computed from the logits so that it stays exact where the sigmoid
saturates, on TensorFlow and JAX alike (`--loss` picks another loss). Then the post's `fit`:
50 epochs, batches of 256 shuffled images. `run.fit` passes these arguments to
`replicate.train.fit`, which trains the model in one Keras `fit` call and keeps the run's
books: it checks the arguments against the run's config, draws the initial weights from the
run's seed, checkpoints every epoch (an interrupted run resumes), and writes the history, the
reconstructions and the model to the run's folder.
"""

model.logits.compile(optimizer="adam", loss=losses.ReconstructionLoss(args.loss))
history = run.fit(
    model, x_train, x_train,
    epochs=run.epochs(50), batch_size=256, shuffle=True, validation_data=(x_test, x_test),
)

"""
## Looking at the reconstructions

The post encodes the test digits, decodes the codes, and shows ten digits above their
reconstructions, remarking that "we are losing quite a bit of detail with this basic
approach". The run has saved those reconstructions (`decoder.predict(encoded_imgs)`, or under
`--loss continuous_bernoulli` that distribution's mean, which is the image it stands for).
"""

encoded_imgs = model.encoder.predict(x_test, verbose=0)
decoded_imgs = run.reconstructions()
print(f"Codes {encoded_imgs.shape}, reconstructions {decoded_imgs.shape}")
strip = tutorial_plots.reconstruction_strip(
    x_test, decoded_imgs, common.figure_path(args, "01_simple_reconstructions"),
    title=f"Simple autoencoder, {common.plural(len(history['loss']), 'epoch')}, {args.loss}")
print(f"Saved {strip}")
