"""Facts of "Building Autoencoders in Keras" (F. Chollet, blog.keras.io, 2016; Keras-3 revision): protocols and
reported losses, kept as plain data so the runner follows them and the report can put measured beside reported.

No Keras import here: ``analysis`` and ``report`` read these facts without a deep-learning backend.
"""
from __future__ import annotations

from dataclasses import dataclass

POST_URL = "https://blog.keras.io/building-autoencoders-in-keras.html"


@dataclass(frozen=True)
class Protocol:
    """How the post trains one model: optimizer, epochs, batch size, shuffle, and the section it comes from."""

    section: str
    optimizer: str
    epochs: int
    batch_size: int
    shuffle: bool
    note: str = ""


#: Current post (Keras 3 code, ``'adam'``). The 2016/2017 versions used ``'adadelta'``; in Keras 3 that needs
#: ``learning_rate=1.0`` to behave as then (its default is 1e-3, see keras-team/keras ``optimizers/adadelta.py``).
PROTOCOLS: dict[str, Protocol] = {
    "simple": Protocol("Let's build the simplest possible autoencoder", "adam", 50, 256, True),
    "sparse": Protocol("Adding a sparsity constraint on the encoded representations", "adam", 100, 256, True,
                       "the post shows no fit call; batch and shuffle as in the simple model"),
    "deep": Protocol("Deep autoencoder", "adam", 100, 256, True),
    "conv": Protocol("Convolutional autoencoder", "adam", 50, 128, True),
    "denoising": Protocol("Application to image denoising", "adam", 100, 128, True,
                          "inputs noised with factor 0.5 and clipped to [0, 1]; targets clean"),
    "vae": Protocol("Variational autoencoder (VAE)", "adam", 100, 32, True,
                    "no shuffle argument in the post, so Keras' default (shuffle=True) applies"),
}


@dataclass(frozen=True)
class Reported:
    """A loss value the post reports for a model (MNIST, binary cross-entropy), with where it says so."""

    model: str
    value: float
    split: str
    quote: str
    version: str


#: The post's numbers. V3 = current (adam) version; V1/V2 = 2016 original and 2017 Keras-2 update (adadelta).
REPORTED: tuple[Reported, ...] = (
    Reported("simple", 0.09, "train/val", "a stable train/validation loss value of about 0.09", "V3 (adam)"),
    Reported("simple", 0.11, "train/test", "a stable train/test loss value of about 0.11", "V1/V2 (adadelta)"),
    Reported("sparse", 0.11, "train", "ends with a train loss of 0.11 and test loss of 0.10", "all versions"),
    Reported("sparse", 0.10, "test", "ends with a train loss of 0.11 and test loss of 0.10", "all versions"),
    Reported("deep", 0.08, "train/val", "a train and validation loss of ~0.08", "V3 (adam)"),
    Reported("deep", 0.097, "train/test", "a train and test loss of ~0.097", "V1/V2 (adadelta)"),
    Reported("conv", 0.094, "train/test", "The model converges to a loss of 0.094", "all versions"),
)

#: The post's mean code activation over the 10,000 MNIST test images: the sparse model's, and the simple model's
#: ("twice sparser"; the same text in all versions).
REPORTED_CODE_MEAN = {"sparse": 3.33, "simple": 7.30}

#: Noise of the denoising section: ``x + 0.5 * N(0, 1)``, clipped to [0, 1].
NOISE_FACTOR = 0.5


def reported_for(model: str, version_prefix: str = "V3") -> list[Reported]:
    """Reported numbers for ``model``: those of the current (adam) post, falling back to any version."""
    rows = [r for r in REPORTED if r.model == model]
    current = [r for r in rows if r.version.startswith(version_prefix) or r.version == "all versions"]
    return current or rows
