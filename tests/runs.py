"""A tiny run configuration and synthetic data, shared by the training and configuration tests."""
from replicate import data

TINY = dict(dataset="synthetic", model="simple", loss="bce", seed=0, epochs=3, batch_size=32, shuffle=True,
            optimizer="adam", learning_rate=1e-3, train_limit=128, test_limit=32)


def synthetic_split():
    """256 synthetic training images and 64 test images, float32 in [0, 1]."""
    return data.load("synthetic", "train", n=256), data.load("synthetic", "test", n=64)
