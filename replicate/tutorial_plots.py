"""The figures of "Building Autoencoders in Keras", drawn from numpy arrays and saved as PNG files.

One function per kind of figure the post shows: the strip of ten test digits above their reconstructions
(or noisy inputs above their denoised versions), the convolutional model's encoded representations, and the
variational autoencoder's latent plane and the manifold it decodes. Each takes arrays, writes one PNG to the
path it is given and returns that path. It trains nothing and reads no run folders (the tutorial scripts do);
figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through ``pyplot``, and no
deep-learning backend is imported: the manifold receives its decoder as a plain callable.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Resolution of the saved PNGs.
DPI = 100
#: Percentiles of the encoded test set that bound the manifold's grid on each latent axis.
MANIFOLD_PERCENTILES = (2.5, 97.5)


def _save(fig: Figure, path) -> Path:
    """Write ``fig`` as a PNG without metadata (same arrays, same bytes) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return path


def _as_images(x, n: int) -> np.ndarray:
    """The first ``n`` images of ``x`` as (n, 28, 28) floats, whatever layout the model used."""
    x = np.asarray(x, dtype=np.float32)[:n]
    return x.reshape(len(x), 28, 28)


def reconstruction_strip(originals, reconstructions, path: str | os.PathLike, *, n: int = 10,
                         labels: tuple[str, str] = ("original", "reconstruction"),
                         title: str | None = None) -> Path:
    """Two rows of ``n`` test images: ``originals`` on top, ``reconstructions`` below, as in the post.

    Parameters
    ----------
    originals, reconstructions : array_like
        Images in [0, 1], shaped (N, 784), (N, 28, 28) or (N, 28, 28, 1). For the denoising section pass the
        noisy inputs as ``originals`` and the denoised outputs as ``reconstructions``.
    path : path-like
        The PNG to write.
    n : int, optional
        Number of columns (the post shows 10).
    labels : (str, str), optional
        Names of the two rows, written at the left.
    title : str, optional
        A line above the strip.

    Returns
    -------
    Path
        ``path``.
    """
    top, bottom = _as_images(originals, n), _as_images(reconstructions, n)
    n = min(len(top), len(bottom))
    fig = Figure(figsize=(1.2 * n + 0.6, 2.9), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for row, (images, label) in enumerate(((top, labels[0]), (bottom, labels[1]))):
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(images[col], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def encoded_representations(codes, path: str | os.PathLike, *, n: int = 10, title: str | None = None) -> Path:
    """The convolutional model's 4x4x8 codes of ``n`` test images, each drawn as ``reshape(4, 4 * 8).T``.

    This is the post's own layout: the 128 numbers of one code become a 32-pixel-high, 4-pixel-wide image.

    Parameters
    ----------
    codes : array_like
        Encoder outputs, shape (N, 4, 4, 8) (any shape with 128 values per image is accepted).
    path : path-like
        The PNG to write.
    n : int, optional
        Number of codes drawn.
    title : str, optional
        A line above the figure.

    Returns
    -------
    Path
        ``path``.
    """
    codes = np.asarray(codes, dtype=np.float32)[:n]
    n = len(codes)
    fig = Figure(figsize=(1.0 * n + 0.4, 4.2), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, code in zip(axes, codes):
        ax.imshow(code.reshape(4, 4 * 8).T, cmap="gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def latent_scatter(z_mean, path: str | os.PathLike, *, color=None, color_label: str = "mean pixel intensity",
                   title: str | None = None) -> Path:
    """The VAE's 2-D latent plane: one dot per test image at its encoded mean.

    The post colours the dots by digit class. The datasets here are loaded without labels, so the dots are
    coloured by ``color`` instead (the tutorial script passes each image's mean intensity), or drawn in one
    colour when it is None.

    Parameters
    ----------
    z_mean : array_like
        Encoded means, shape (N, 2).
    path : path-like
        The PNG to write.
    color : array_like, optional
        One number per image, mapped through a colour scale with a colour bar.
    color_label : str, optional
        Label of the colour bar.
    title : str, optional
        Title of the plot.

    Returns
    -------
    Path
        ``path``.
    """
    z = np.asarray(z_mean, dtype=np.float32).reshape(-1, 2)
    fig = Figure(figsize=(6.0, 5.0), layout="constrained")
    ax = fig.subplots()
    if color is None:
        ax.scatter(z[:, 0], z[:, 1], s=4, alpha=0.6, color="#0072B2", linewidths=0)
    else:
        dots = ax.scatter(z[:, 0], z[:, 1], s=4, c=np.asarray(color).ravel(), cmap="viridis", linewidths=0)
        fig.colorbar(dots, ax=ax, label=color_label)
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title or "Encoded test images (z_mean)", fontsize=10)
    return _save(fig, path)


def manifold_limits(z_mean, percentiles: tuple[float, float] = MANIFOLD_PERCENTILES) -> np.ndarray:
    """Grid bounds per latent axis: the given percentiles of the encoded test means, shape (2, 2)."""
    z = np.asarray(z_mean, dtype=np.float64).reshape(-1, 2)
    return np.stack([np.percentile(z[:, k], percentiles) for k in range(2)])


def latent_manifold(decode: Callable[[np.ndarray], np.ndarray], path: str | os.PathLike, *, z_mean=None,
                    span: float = 1.5, n: int = 15, title: str | None = None) -> Path:
    """An ``n`` x ``n`` mosaic of images decoded from a regular grid over the 2-D latent plane.

    Parameters
    ----------
    decode : callable
        Maps latent points, float32 (k, 2), to images in [0, 1] with 784 values each (the trained decoder).
    path : path-like
        The PNG to write.
    z_mean : array_like, optional
        Encoded means of the test set, shape (N, 2). When given, each axis of the grid runs between the
        2.5th and 97.5th percentiles of these means (:data:`MANIFOLD_PERCENTILES`), so the grid covers the
        region the encoder actually uses.
    span : float, optional
        Without ``z_mean``, each axis runs over [-span, span].
    n : int, optional
        Images per side (the post uses 15).
    title : str, optional
        A line above the mosaic.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    The post's grid is ``linspace(-15, 15, 15) * epsilon_std``. That rule was written for the 2016 script,
    whose latent noise was tiny; with the current post's noise scale (standard deviation 0.1) it gives
    +-1.5, the default ``span`` here. Where a trained encoder puts its codes depends on the loss and the
    length of training, so the tutorial passes ``z_mean`` and the grid follows the encoded test set.
    """
    if z_mean is not None:
        (x_lo, x_hi), (y_lo, y_hi) = manifold_limits(z_mean)
    else:
        x_lo, x_hi, y_lo, y_hi = -span, span, -span, span
    grid_x = np.linspace(x_lo, x_hi, n)
    grid_y = np.linspace(y_hi, y_lo, n)  # top row = largest z[1], as on a plot's y axis
    points = np.array([[x, y] for y in grid_y for x in grid_x], dtype=np.float32)
    images = np.asarray(decode(points), dtype=np.float32).reshape(n, n, 28, 28)
    mosaic = images.transpose(0, 2, 1, 3).reshape(n * 28, n * 28)
    fig = Figure(figsize=(7.0, 7.0), layout="constrained")
    ax = fig.subplots()
    ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased",
              extent=(x_lo, x_hi, y_lo, y_hi), aspect="auto")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title or f"Decoded {n}x{n} grid over the latent plane", fontsize=10)
    return _save(fig, path)
