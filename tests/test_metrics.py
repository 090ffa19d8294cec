"""Unit tests of ``replicate.metrics``: parity with direct scikit-image calls, band edges, sharpness, validation."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.special import rel_entr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from replicate import metrics

FASHION_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def _random_pair(n=6, size=28, seed=0):
    """Targets with exact 0s, exact 1s and every band in between; recons = blurred target + noise."""
    rng = np.random.default_rng(seed)
    a = gaussian_filter(rng.random((n, size, size)), (0, 1.5, 1.5))
    a = np.clip((a - a.min()) / (a.max() - a.min()) * 1.4 - 0.2, 0, 1)
    x = np.clip(gaussian_filter(a, (0, 1, 1)) + rng.normal(0, 0.05, a.shape), 0, 1)
    return a, x


def _fashion(n=40):
    if not FASHION_TEST.exists():
        pytest.skip(f"Fashion-MNIST test images not found at {FASHION_TEST}")
    with gzip.open(FASHION_TEST) as f:
        return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]


def _assert_matches_skimage(a, x, out):
    c = metrics.WANG_CROP
    for i in range(len(a)):
        ssim, smap = structural_similarity(a[i], x[i], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                           use_sample_covariance=False, full=True)
        assert abs(out["ssim"][i] - ssim) <= 1e-12
        assert abs(out["ssim_skimage"][i] - structural_similarity(a[i], x[i], data_range=1.0)) <= 1e-12
        assert abs(out["psnr"][i] - peak_signal_noise_ratio(a[i], x[i], data_range=1.0)) <= 1e-12
        mid = (a[i] > 0.3) & (a[i] <= 0.7)
        crop = (slice(c, -c), slice(c, -c))
        expected = smap[crop][mid[crop]].mean() if mid[crop].any() else np.nan
        np.testing.assert_allclose(out["ssim_midtone"][i], expected, rtol=0, atol=1e-12)


def test_matches_direct_skimage_calls_on_random_images():
    a, x = _random_pair()
    _assert_matches_skimage(a, x, metrics.evaluate(a, x))


def test_matches_direct_skimage_calls_on_fashion_mnist():
    images = _fashion()
    a = (images.astype(np.float32) / 255).astype(np.float64)
    x = np.clip(gaussian_filter(a, (0, 0.8, 0.8)), 0, 1).astype(np.float16)
    out = metrics.evaluate(images, x)
    _assert_matches_skimage(a, x.astype(np.float64), out)
    # the uint8 lookup-table path gives exactly what the float path gives
    for key, value in metrics.evaluate(a, x).items():
        np.testing.assert_array_equal(out[key], value, err_msg=key)


def test_pixel_errors_and_kl_match_their_definitions():
    a, x = _random_pair(seed=1)
    out = metrics.evaluate(a, x)
    np.testing.assert_allclose(out["mse"], ((x - a) ** 2).mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(out["mae"], np.abs(x - a).mean(axis=(1, 2)), rtol=1e-12)
    xc = np.clip(x, 1e-7, 1 - 1e-7)
    kl = (rel_entr(a, xc) + rel_entr(1 - a, 1 - xc)).mean(axis=(1, 2))
    np.testing.assert_allclose(out["bce_kl"], kl, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(out["band_count"].sum(1), 28 * 28)
    np.testing.assert_allclose(out["fine_sse"].sum(1), out["mse"] * 28 * 28, rtol=1e-12)
    np.testing.assert_allclose(out["band_sum_err"].sum(1), (x - a).sum(axis=(1, 2)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("value", "key"), [
    (0.0, "zero"), (np.nextafter(0.0, 1), "dark"), (0.1, "dark"), (np.nextafter(0.1, 1), "shadow"),
    (np.nextafter(0.3, 0), "shadow"), (0.3, "shadow"), (np.nextafter(0.3, 1), "midtone"), (0.5, "midtone"),
    (0.7, "midtone"), (np.nextafter(0.7, 1), "light"), (0.9, "light"), (np.nextafter(0.9, 1), "highlight"),
    (np.nextafter(1.0, 0), "highlight"), (1.0, "one"),
])
def test_band_assignment_at_the_boundaries(value, key):
    assert metrics.BAND_KEYS[int(metrics.band_index(np.array([value]))[0])] == key
    assert [b.key for b in metrics.BANDS if b.contains(value)] == [key]


def test_bands_partition_the_unit_interval_and_fine_bins_are_half_open():
    a = np.concatenate([np.linspace(0, 1, 2001), metrics.FINE_EDGES])
    members = np.stack([b.contains(a) for b in metrics.BANDS], axis=1)
    assert (members.sum(1) == 1).all()
    np.testing.assert_array_equal(members.argmax(1), metrics.band_index(a))
    fine = metrics.fine_index(metrics.FINE_EDGES)
    np.testing.assert_array_equal(fine, [*range(20), 19])


def test_band_fractions_put_each_8_bit_level_in_its_band():
    """Levels on both sides of every band edge (25|26 around 0.1, 76|77 around 0.3, 178|179 around 0.7, 229|230
    around 0.9), weighted 1 to 11, so each band's share is a known sum over 66."""
    levels = [0, 25, 26, 76, 77, 178, 179, 229, 230, 254, 255]
    counts = np.zeros(256)
    counts[levels] = np.arange(1, 12)
    shares = metrics.band_fractions(counts)
    expected = {"zero": 1, "dark": 2, "shadow": 3 + 4, "midtone": 5 + 6, "light": 7 + 8, "highlight": 9 + 10,
                "one": 11}
    assert list(shares) == list(metrics.BAND_KEYS)
    assert shares == pytest.approx({k: v / 66 for k, v in expected.items()}, rel=1e-15)


def test_sharpness_is_one_for_identical_images_and_below_one_when_blurred():
    a, _ = _random_pair(seed=2)
    same = metrics.evaluate(a, a.copy())
    for key in ("sharpness", "sharpness_midtone", "hf_energy_ratio"):
        assert (same[key] == 1.0).all(), key
    assert np.isinf(same["psnr"]).all()
    blurred = metrics.evaluate(a, gaussian_filter(a, (0, 1.0, 1.0)))
    for key in ("sharpness", "sharpness_midtone", "hf_energy_ratio"):
        assert (blurred[key] < 1).all(), key


def test_gradient_and_high_frequency_energy_match_direct_numpy():
    rng = np.random.default_rng(3)
    for shape in ((4, 28, 28), (3, 13, 12)):
        img = rng.random(shape)
        np.testing.assert_allclose(metrics._gradient_magnitude(img),
                                   np.hypot(*np.gradient(img, axis=(1, 2))), rtol=1e-13, atol=1e-15)
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(shape[1]), np.fft.fftfreq(shape[2]), indexing="ij"))
        full = (np.abs(np.fft.fft2(img)) ** 2 * (f > metrics.HF_CUTOFF)).sum(axis=(1, 2))
        np.testing.assert_allclose(metrics._hf_energy(img, metrics._hf_weights(*shape[1:])), full, rtol=1e-12)


def test_chunking_does_not_change_results():
    a, x = _random_pair(n=7, seed=4)
    whole, chunked = metrics.evaluate(a, x), metrics.evaluate(a, x, chunk_size=3)
    for key in metrics.PER_IMAGE_KEYS:
        np.testing.assert_array_equal(whole[key], chunked[key], err_msg=key)


def test_summarize_pools_pixels_and_shares_sum_to_one():
    a, x = _random_pair(seed=5)
    out = metrics.evaluate(a, x)
    s = metrics.summarize(out)
    mid = (a > 0.3) & (a <= 0.7)
    assert s["scalars"]["rmse_midtone"] == pytest.approx(np.sqrt(((x - a)[mid] ** 2).mean()), rel=1e-12)
    assert s["scalars"]["bias_midtone"] == pytest.approx((x - a)[mid].mean(), rel=1e-10)
    assert s["scalars"]["psnr_of_mean_mse"] == pytest.approx(10 * np.log10(1 / ((x - a) ** 2).mean()), rel=1e-12)
    assert s["scalars"]["psnr_mean_of_images"] == pytest.approx(out["psnr"].mean(), rel=1e-12)
    assert sum(b["pixel_share"] for b in s["bands"].values()) == pytest.approx(1.0)
    assert sum(b["sq_error_share"] for b in s["bands"].values()) == pytest.approx(1.0)
    assert sum(s["fine"]["pixel_share"]) == pytest.approx(1.0)
    assert len(s["fine"]["edges"]) == 21 and len(s["fine"]["rmse"]) == 20
    np.testing.assert_allclose(metrics.image_values(out, "rmse_midtone"),
                               [np.sqrt(((x - a)[i][mid[i]] ** 2).mean()) for i in range(len(a))], rtol=1e-12)


def test_rejects_non_stack_input():
    with pytest.raises(ValueError, match=r"shape \(N, H, W\)"):
        metrics.evaluate(np.zeros((28, 28)), np.zeros((28, 28)))


def test_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        metrics.evaluate(np.zeros((2, 28, 28)), np.zeros((3, 28, 28)))


def test_rejects_images_smaller_than_the_ssim_window():
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.evaluate(np.zeros((2, 10, 28)), np.zeros((2, 10, 28)))


def test_rejects_empty_stacks():
    with pytest.raises(ValueError, match="empty"):
        metrics.evaluate(np.zeros((0, 28, 28)), np.zeros((0, 28, 28)))


def test_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"recons must lie in \[0, 1\]"):
        metrics.evaluate(np.zeros((1, 28, 28)), np.full((1, 28, 28), 255.0))


def test_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        metrics.evaluate(np.full((1, 28, 28), np.nan), np.zeros((1, 28, 28)))


def test_rejects_integer_dtypes_other_than_uint8():
    with pytest.raises(ValueError, match="uint8"):
        metrics.evaluate(np.zeros((1, 28, 28), dtype=np.int64), np.zeros((1, 28, 28)))


def test_rejects_bad_chunk_size():
    with pytest.raises(ValueError, match="chunk_size"):
        metrics.evaluate(np.zeros((1, 28, 28)), np.zeros((1, 28, 28)), chunk_size=0)


def test_rejects_unknown_metric_and_band_names():
    out = metrics.evaluate(*_random_pair(n=1))
    with pytest.raises(ValueError, match="valid metrics"):
        metrics.image_values(out, "sharpnes")
    with pytest.raises(ValueError, match="valid keys"):
        metrics.band_rmse(out, ("mid",))


def _edge(a, x):
    s = metrics.summarize(metrics.evaluate(a, np.clip(x, 0, 1)))["scalars"]
    return s["edge_transfer"], s["edge_transfer_midtone"]


def test_edge_transfer_falls_with_blur_and_noise_cannot_raise_it():
    """On 400 real Fashion-MNIST images: the target scores exactly 1; Gaussian blurs of increasing sigma score
    lower and lower; noise with the RMSE of the sigma = 1 blur stays below the target's 1 (the old gradient-magnitude
    ratio scored it 1.37); and noise added to a blur barely moves the blur's score (it raised the old one by 0.16)."""
    a = (_fashion(400).astype(np.float32) / 255).astype(np.float64)
    assert _edge(a, a) == (pytest.approx(1.0), pytest.approx(1.0))
    scores = [_edge(a, gaussian_filter(a, (0, s, s))) for s in (0.5, 1.0, 1.5, 2.0, 3.0)]
    for whole_or_mid in (0, 1):
        series = [1.0] + [sc[whole_or_mid] for sc in scores]
        assert all(later < earlier for earlier, later in zip(series, series[1:])), series
    blur = np.clip(gaussian_filter(a, (0, 1, 1)), 0, 1)
    rmse = np.sqrt(np.mean((blur - a) ** 2))
    rng = np.random.default_rng(0)
    for _ in range(3):
        noisy = _edge(a, a + rng.normal(0, rmse, a.shape))
        assert noisy[0] < 1.0 and noisy[1] < 1.0
    blurred, blurred_noisy = _edge(a, blur), _edge(a, blur + rng.normal(0, 0.05, a.shape))
    assert abs(blurred_noisy[0] - blurred[0]) < 0.01 and abs(blurred_noisy[1] - blurred[1]) < 0.02
    old = metrics.summarize(metrics.evaluate(a, np.clip(a + rng.normal(0, rmse, a.shape), 0, 1)))["scalars"]
    assert old["sharpness"] > 1.2  # why the old measure is kept for continuity only


def test_midtone_interior_leaves_out_pixels_next_to_background():
    a = np.zeros((1, 28, 28))
    a[0, 5:20, 5:20] = 0.5
    interior = metrics.midtone_interior(a)
    assert interior[0, 6:19, 6:19].all() and not interior[0, 5, 5:20].any() and interior.sum() == 13 * 13
