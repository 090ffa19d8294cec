"""Per-image reconstruction metrics, and the summary of one run's reconstructions.

Turns a stack of targets and the matching reconstructions into per-image numbers: SSIM in two settings, PSNR,
squared and signed error grouped by target intensity, SSIM over midtone pixels, sharpness (gradient and
high-frequency energy kept) and the BCE excess over the target's entropy. :func:`summarize` pools them into
one run's numbers. It does not read sweep folders, compare runs or do statistics (that is ``analysis``) and
imports no deep-learning backend.

Only the scikit-image calls run image by image (two SSIMs and a PSNR); everything else is computed on whole
stacks with numpy, so the metrics cost little more than those calls alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from replicate import data, theory

#: Bump when a per-image definition changes, so cached per-run metrics are recomputed.
METRICS_VERSION = 2

#: Wang et al. (2004) SSIM as scikit-image documents it: 11-tap Gaussian window, sigma 1.5, population covariance.
WANG_SSIM = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
#: scikit-image's defaults (7x7 uniform window, sample covariance), with the data range stated.
SKIMAGE_SSIM = {"data_range": 1.0}
#: Border scikit-image crops before averaging the Wang SSIM map: (11 - 1) / 2 pixels on each side.
WANG_CROP = 5
#: Cut-off of the high-frequency energy share, in cycles per pixel (Nyquist is 0.5).
HF_CUTOFF = 0.25
#: Clipping of the reconstruction inside ``bce_kl``, as ``keras.losses.binary_crossentropy`` clips.
KL_EPS = theory.EPS


@dataclass(frozen=True)
class Band:
    """A range of target intensities; ``lo_closed``/``hi_closed`` say whether each end belongs to it."""

    key: str
    label: str
    lo: float
    hi: float
    lo_closed: bool
    hi_closed: bool

    def contains(self, a):
        """Boolean mask of the target values ``a`` that fall in this band."""
        a = np.asarray(a, dtype=float)
        above = a >= self.lo if self.lo_closed else a > self.lo
        below = a <= self.hi if self.hi_closed else a < self.hi
        return above & below


#: Target-intensity bands; together they partition [0, 1].
BANDS: tuple[Band, ...] = (
    Band("zero", "exact 0", 0.0, 0.0, True, True),
    Band("dark", "(0, 0.1]", 0.0, 0.1, False, True),
    Band("shadow", "(0.1, 0.3]", 0.1, 0.3, False, True),
    Band("midtone", "(0.3, 0.7] midtones", 0.3, 0.7, False, True),
    Band("light", "(0.7, 0.9]", 0.7, 0.9, False, True),
    Band("highlight", "(0.9, 1)", 0.9, 1.0, False, False),
    Band("one", "exact 1", 1.0, 1.0, True, True),
)
BAND_KEYS = tuple(b.key for b in BANDS)
MIDTONE = BAND_KEYS.index("midtone")
#: "Extreme" intensities: exact 0, exact 1 and the two outer open bands (0, 0.1] and (0.9, 1).
EXTREME_BANDS = ("zero", "dark", "highlight", "one")
#: The open extremes alone: near-black and near-white targets that are not exactly 0 or 1.
OPEN_EXTREME_BANDS = ("dark", "highlight")
#: The extreme groups the theory is tested on, each against the midtones: exact 0, the open extremes, exact 1.
EXTREME_GROUPS = {"zero": ("zero",), "open_extreme": OPEN_EXTREME_BANDS, "one": ("one",)}
#: Fine error-by-intensity curve: 20 bins [lo, hi) over [0, 1], the last one closed at 1.
FINE_EDGES = np.linspace(0.0, 1.0, 21)

#: Lower ends of the open bands between exact 0 and exact 1, for ``searchsorted``.
_BAND_LOWER_EDGES = np.array([b.lo for b in BANDS[1:-1]])

#: Names of :func:`evaluate`'s outputs: ``(N,)`` arrays, then ``(N, len(BANDS))`` and ``(N, 20)`` sums.
PER_IMAGE_KEYS = (
    "ssim", "ssim_skimage", "psnr", "mse", "mae", "bce_kl", "recon_mean", "recon_sq_mean", "ssim_midtone",
    "ssim_midtone_count",
    "sharpness", "sharpness_midtone", "hf_energy_ratio", "grad_recon", "grad_target", "grad_recon_midtone",
    "grad_target_midtone", "hf_recon", "hf_target", "edge_dot", "edge_norm", "edge_dot_midtone", "edge_norm_midtone",
    "band_count", "band_sse", "band_sum_err", "fine_count", "fine_sse", "fine_sum_err",
)


def band_index(a):
    """Index into :data:`BANDS` of each target value (float64 comparisons on the values as given)."""
    a = np.asarray(a, dtype=float)
    return np.where(a == 1.0, len(BANDS) - 1, np.searchsorted(_BAND_LOWER_EDGES, a, side="left"))


def band_fractions(level_counts) -> dict[str, float]:
    """Share of pixels in each band of :data:`BANDS`, from how often each 8-bit level occurs (256 counts)."""
    totals = np.bincount(band_index(np.arange(256) / 255.0), weights=np.asarray(level_counts, dtype=float),
                         minlength=len(BANDS))
    return dict(zip(BAND_KEYS, (totals / totals.sum()).tolist()))


def fine_index(a):
    """Index of each target value's bin in :data:`FINE_EDGES` (bins [lo, hi), the last closed)."""
    idx = np.searchsorted(FINE_EDGES, np.asarray(a, dtype=float), side="right") - 1
    return np.clip(idx, 0, len(FINE_EDGES) - 2)


def evaluate(targets, recons, *, chunk_size: int = 256) -> dict[str, np.ndarray]:
    """Per-image metrics of reconstructions against their targets.

    Parameters
    ----------
    targets, recons : array_like, shape (N, H, W)
        Images in [0, 1] (any float dtype), or ``uint8`` read as ``value / 255`` (in float32, as the data
        pipeline does). Row ``i`` of ``recons`` reconstructs row ``i`` of ``targets``. H, W >= 11.
    chunk_size : int, optional
        Images processed per vectorised block (bounds memory).

    Returns
    -------
    dict of str to ndarray
        Float64 arrays keyed by :data:`PER_IMAGE_KEYS`. Per image (shape ``(N,)``):

        - ``ssim``: Wang et al. SSIM (:data:`WANG_SSIM`); ``ssim_skimage``: scikit-image defaults.
        - ``psnr``: ``10 log10(1 / MSE)`` per image (inf for a perfect reconstruction); ``mse``, ``mae``.
        - ``recon_mean``, ``recon_sq_mean``: the mean of the reconstruction's pixels and of their squares.
        - ``bce_kl``: mean over pixels of a ln(a/x) + (1-a) ln((1-a)/(1-x)) in nats, x clipped to
          [1e-7, 1 - 1e-7], 0 ln 0 = 0: binary cross-entropy minus the target's entropy.
        - ``ssim_midtone``: the Wang SSIM map averaged over midtone pixels (0.3 < a <= 0.7) inside the same
          cropped region (5-pixel border removed) that ``ssim`` averages; NaN when there are none there.
          ``ssim_midtone_count`` is how many there are.
        - ``grad_recon``/``grad_target``: sum over pixels of the gradient magnitude (``np.gradient``: central
          differences, one-sided at borders); ``*_midtone``: the same over midtone pixels of the target.
          ``sharpness`` = ``grad_recon / grad_target`` (1 = as sharp, < 1 blurrier); ``sharpness_midtone``
          likewise over midtone pixels (NaN without any).
        - ``hf_recon``/``hf_target``: power-spectrum energy at radial frequency > :data:`HF_CUTOFF`
          cycles/pixel; ``hf_energy_ratio`` = ``hf_recon / hf_target``.
        - ``edge_dot``/``edge_norm``: sums over pixels of grad(recon) . grad(target) and |grad(target)|^2;
          ``*_midtone``: the same over midtone interiors (:func:`midtone_interior`). Their ratio, pooled, is the
          edge transfer (:func:`summarize`).

        Sums per band of target intensity (shape ``(N, 7)``, columns in :data:`BANDS` order) and per fine
        bin (shape ``(N, 20)``): ``*_count`` pixels, ``*_sse`` squared error, ``*_sum_err`` signed error
        (recon - target).

    Raises
    ------
    ValueError
        If the stacks are not 3-D, differ in shape, are smaller than 11x11, empty, or hold values outside
        [0, 1] or non-finite values.

    Notes
    -----
    SSIM: Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 13(4):600-612, 2004, computed by
    ``skimage.metrics.structural_similarity``; the map from the same call (``full=True``) gives the midtone
    SSIM. PSNR: ``skimage.metrics.peak_signal_noise_ratio`` with ``data_range=1``.
    """
    a, x = _validate(targets, recons)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    levels = np.asarray(targets) if np.asarray(targets).dtype == np.uint8 else None
    parts = []
    for s in range(0, len(a), chunk_size):
        block = slice(s, s + chunk_size)
        parts.append(_evaluate_chunk(a[block], x[block], None if levels is None else levels[block]))
    return {k: np.concatenate([p[k] for p in parts]) for k in PER_IMAGE_KEYS}


def _evaluate_chunk(a: np.ndarray, x: np.ndarray, levels: np.ndarray | None) -> dict[str, np.ndarray]:
    """All per-image metrics of one block of float64 images (``levels``: the uint8 targets, if they were)."""
    n = len(a)
    ssim, ssim_sk, psnr = np.empty(n), np.empty(n), np.empty(n)
    smap = np.empty(a.shape)
    with np.errstate(divide="ignore"):  # a perfect reconstruction has PSNR = inf, not an error
        for i in range(n):
            ssim[i], smap[i] = structural_similarity(a[i], x[i], full=True, **WANG_SSIM)
            ssim_sk[i] = structural_similarity(a[i], x[i], **SKIMAGE_SSIM)
            psnr[i] = peak_signal_noise_ratio(a[i], x[i], data_range=1.0)
    out = {"ssim": ssim, "ssim_skimage": ssim_sk, "psnr": psnr}

    shape = (n, a.shape[1] * a.shape[2])
    flat_a, flat_x = a.reshape(shape), x.reshape(shape)
    err = flat_x - flat_a
    sq = err * err
    out["mse"] = sq.mean(axis=1)
    out["mae"] = np.abs(err).mean(axis=1)
    out["recon_mean"], out["recon_sq_mean"] = flat_x.mean(axis=1), (flat_x * flat_x).mean(axis=1)
    band, fine, neg_entropy = _target_terms(flat_a, None if levels is None else levels.reshape(shape))
    xc = np.clip(flat_x, KL_EPS, 1 - KL_EPS)
    log_x, log_1mx = np.log(xc), np.log1p(-xc)
    # a ln x + (1 - a) ln(1 - x) = a (ln x - ln(1 - x)) + ln(1 - x): one product instead of two
    log_x -= log_1mx
    out["bce_kl"] = (neg_entropy.sum(axis=1) - _rowdot(flat_a, log_x) - log_1mx.sum(axis=1)) / shape[1]

    rows = np.arange(n)[:, None]
    for prefix, idx, k in (("band", band, len(BANDS)), ("fine", fine, len(FINE_EDGES) - 1)):
        flat = (rows * k + idx).ravel()
        out[f"{prefix}_count"] = np.bincount(flat, minlength=n * k).reshape(n, k).astype(float)
        out[f"{prefix}_sse"] = np.bincount(flat, weights=sq.ravel(), minlength=n * k).reshape(n, k)
        out[f"{prefix}_sum_err"] = np.bincount(flat, weights=err.ravel(), minlength=n * k).reshape(n, k)

    mid = (band == MIDTONE).astype(float)
    c = WANG_CROP
    mid_crop = mid.reshape(a.shape)[:, c:-c, c:-c]
    count = mid_crop.sum(axis=(1, 2))
    out["ssim_midtone"] = _ratio(np.einsum("nij,nij->n", smap[:, c:-c, c:-c], mid_crop), count)
    out["ssim_midtone_count"] = count

    g_x, g_a = _gradient_magnitude(x).reshape(shape), _gradient_magnitude(a).reshape(shape)
    out["grad_recon"], out["grad_target"] = g_x.sum(axis=1), g_a.sum(axis=1)
    out["grad_recon_midtone"], out["grad_target_midtone"] = _rowdot(g_x, mid), _rowdot(g_a, mid)
    out["sharpness"] = _ratio(out["grad_recon"], out["grad_target"])
    out["sharpness_midtone"] = _ratio(out["grad_recon_midtone"], out["grad_target_midtone"])

    weights = _hf_weights(*a.shape[1:])
    out["hf_recon"], out["hf_target"] = _hf_energy(x, weights), _hf_energy(a, weights)
    out["hf_energy_ratio"] = _ratio(out["hf_recon"], out["hf_target"])

    (gy_x, gx_x), (gy_a, gx_a) = _gradients(x), _gradients(a)
    dot, norm = (gy_x * gy_a + gx_x * gx_a).reshape(shape), (gy_a * gy_a + gx_a * gx_a).reshape(shape)
    interior = midtone_interior(a, band.reshape(a.shape)).reshape(shape).astype(float)
    out["edge_dot"], out["edge_norm"] = dot.sum(axis=1), norm.sum(axis=1)
    out["edge_dot_midtone"], out["edge_norm_midtone"] = _rowdot(dot, interior), _rowdot(norm, interior)
    return out


def midtone_interior(targets: np.ndarray, band: np.ndarray | None = None) -> np.ndarray:
    """Midtone target pixels whose 3 x 3 neighbourhood holds no background (exact 0): the inside of garments,
    not their outlines. ``band`` is the targets' :func:`band_index`, when already known."""
    a = np.asarray(targets, dtype=float)
    band = band_index(a) if band is None else band
    background = np.pad(a == 0.0, ((0, 0), (1, 1), (1, 1)))
    near = np.zeros(a.shape, dtype=bool)
    for dy in range(3):
        for dx in range(3):
            near |= background[:, dy:dy + a.shape[1], dx:dx + a.shape[2]]
    return (band == MIDTONE) & ~near


def _gradients(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/drow, d/dcol) of each image: central differences inside, one-sided at borders (as ``np.gradient``)."""
    return np.gradient(images, axis=1), np.gradient(images, axis=2)


def _validate(targets, recons) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and ranges; return both stacks as float64."""
    a, x = _as_unit_float(targets, "targets"), _as_unit_float(recons, "recons")
    if a.ndim != 3:
        raise ValueError(f"targets must be a stack of shape (N, H, W), got shape {a.shape}; "
                         "for a single image pass image[None]")
    if a.shape != x.shape:
        raise ValueError(f"targets and recons must have the same shape, got {a.shape} and {x.shape}")
    if len(a) == 0:
        raise ValueError("targets and recons are empty: need at least one image")
    if min(a.shape[1:]) < 2 * WANG_CROP + 1:
        raise ValueError(f"images must be at least {2 * WANG_CROP + 1}x{2 * WANG_CROP + 1} "
                         f"(the Wang SSIM window), got {a.shape[1]}x{a.shape[2]}")
    return a, x


def _as_unit_float(images, name: str) -> np.ndarray:
    """float64 copy of an image stack in [0, 1]; uint8 is read as value / 255."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return data.to_unit(images).astype(np.float64)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{name} must be floating point in [0, 1] or uint8, got dtype {images.dtype}")
    images = np.asarray(images, dtype=np.float64)
    lo, hi = (images.min(), images.max()) if images.size else (0.0, 0.0)
    if np.isnan(lo):
        raise ValueError(f"{name} contains NaN values")
    if not (lo >= 0.0 and hi <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:g}, {hi:g}]; "
                         "rescale (e.g. divide 8-bit data by 255) or clip first")
    return images


def _rowdot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise dot product of two (N, P) arrays."""
    return np.einsum("np,np->n", u, v)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def _target_terms(a: np.ndarray, levels: np.ndarray | None):
    """Band index, fine-bin index and a ln a + (1 - a) ln(1 - a) of each target pixel.

    For uint8 targets these come from 256-entry tables built by the same functions on the 256 float values.
    """
    if levels is not None:
        band, fine, neg_entropy = _level_tables()
        return band[levels], fine[levels], neg_entropy[levels]
    return band_index(a), fine_index(a), _neg_entropy(a)


@lru_cache(maxsize=1)
def _level_tables():
    """Band, fine bin and a ln a + (1 - a) ln(1 - a) of the 256 8-bit levels."""
    values = data.to_unit(np.arange(256, dtype=np.uint8)).astype(np.float64)
    return band_index(values), fine_index(values), _neg_entropy(values)


def _neg_entropy(a: np.ndarray) -> np.ndarray:
    """a ln a + (1 - a) ln(1 - a), with 0 ln 0 = 0."""
    return -theory.entropy(a)


def _gradient_magnitude(images: np.ndarray) -> np.ndarray:
    """|grad| per pixel of each image: central differences inside, one-sided at borders (as ``np.gradient``)."""
    gy, gx = np.empty_like(images), np.empty_like(images)
    np.subtract(images[:, 2:], images[:, :-2], out=gy[:, 1:-1])
    gy[:, 1:-1] *= 0.5
    np.subtract(images[:, 1], images[:, 0], out=gy[:, 0])
    np.subtract(images[:, -1], images[:, -2], out=gy[:, -1])
    np.subtract(images[:, :, 2:], images[:, :, :-2], out=gx[:, :, 1:-1])
    gx[:, :, 1:-1] *= 0.5
    np.subtract(images[:, :, 1], images[:, :, 0], out=gx[:, :, 0])
    np.subtract(images[:, :, -1], images[:, :, -2], out=gx[:, :, -1])
    gy *= gy
    gx *= gx
    gy += gx
    return np.sqrt(gy, out=gy)


@lru_cache(maxsize=8)
def _hf_weights(h: int, w: int) -> np.ndarray:
    """Weights over an ``rfft2`` half-spectrum: conjugate-pair multiplicity where radius > HF_CUTOFF, else 0."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    multiplicity = np.full(fx.shape, 2.0)
    multiplicity[0, 0] = 1.0
    if w % 2 == 0:
        multiplicity[0, -1] = 1.0  # the Nyquist column has no mirror
    return np.where(np.hypot(fy, fx) > HF_CUTOFF, multiplicity, 0.0)


def _hf_energy(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Power-spectrum energy above the cut-off, per image."""
    spectrum = np.fft.rfft2(images, axes=(1, 2))
    power = spectrum.real**2 + spectrum.imag**2
    return np.einsum("nij,ij->n", power, weights)


def band_rmse(per_image: dict[str, np.ndarray], bands=("midtone",)) -> np.ndarray:
    """Per-image RMSE over the pixels whose target falls in any of ``bands`` (keys of :data:`BANDS`); NaN if none."""
    cols = _band_columns(bands)
    return np.sqrt(_ratio(per_image["band_sse"][:, cols].sum(axis=1), per_image["band_count"][:, cols].sum(axis=1)))


def _band_columns(bands) -> list[int]:
    """Column indices of band keys, with a clear error for unknown ones."""
    unknown = [b for b in bands if b not in BAND_KEYS]
    if unknown:
        raise ValueError(f"unknown band(s) {unknown}; valid keys are: {', '.join(BAND_KEYS)}")
    return [BAND_KEYS.index(b) for b in bands]


#: Per-image values :func:`image_values` can return (for image-paired tests).
IMAGE_METRICS = ("ssim", "ssim_skimage", "psnr", "mse", "mae", "bce_kl", "ssim_midtone", "sharpness",
                 "sharpness_midtone", "hf_energy_ratio", "rmse_midtone", "rmse_extreme", "edge_transfer",
                 "edge_transfer_midtone")


def image_values(per_image: dict[str, np.ndarray], metric: str) -> np.ndarray:
    """One value per image of a summary metric (``rmse_midtone``/``rmse_extreme`` are per-image band RMSEs)."""
    if metric == "rmse_midtone":
        return band_rmse(per_image, ("midtone",))
    if metric == "rmse_extreme":
        return band_rmse(per_image, EXTREME_BANDS)
    if metric.startswith("edge_transfer"):
        suffix = metric[len("edge_transfer"):]
        return _ratio(per_image[f"edge_dot{suffix}"], per_image[f"edge_norm{suffix}"])
    if metric not in IMAGE_METRICS:
        raise ValueError(f"no per-image value for {metric!r}; valid metrics are: {', '.join(IMAGE_METRICS)}")
    return np.asarray(per_image[metric], dtype=float)


def summarize(per_image: dict[str, np.ndarray]) -> dict:
    """One run's numbers from :func:`evaluate`'s per-image arrays (plain floats and lists, JSON-ready).

    Parameters
    ----------
    per_image : dict of str to ndarray
        Output of :func:`evaluate` (or the same arrays loaded from a cache).

    Returns
    -------
    dict
        ``n_images``; ``scalars`` (below); ``bands``: per band key its ``label``, ``rmse``, ``bias`` (mean
        recon - target), ``pixel_share`` and ``sq_error_share`` (share of all pixels / of the total squared
        error); ``fine``: ``edges`` and the same four lists over the 20 fine bins (NaN for an empty bin).

        Scalars: means over images of ``ssim``, ``ssim_skimage``, ``mse``, ``mae``, ``bce_kl``;
        ``psnr_mean_of_images`` (mean of per-image PSNR) and ``psnr_of_mean_mse`` (10 log10(1 / mean MSE));
        pooled over all pixels of the run: ``rmse``, ``rmse_midtone``, ``rmse_extreme`` (bands
        :data:`EXTREME_BANDS`), ``bias_midtone``, ``bias_extreme``, ``midtone_extreme_rmse_ratio``,
        ``ssim_midtone`` (SSIM map over all midtone pixels of the cropped regions), ``sharpness`` and
        ``sharpness_midtone`` (summed gradient magnitude of recon / of target), ``hf_energy_ratio``,
        ``edge_transfer`` and ``edge_transfer_midtone`` (the regression slope of the reconstruction's gradient on
        the target's, sum grad(x).grad(a) / sum |grad(a)|^2, over all pixels or midtone interiors: 1 = edges kept,
        below 1 = blurred; independent noise adds nothing to it on average), and per extreme group of
        :data:`EXTREME_GROUPS` ``rmse_<group>`` and ``midtone_<group>_rmse_ratio``.
    """
    p = {k: np.asarray(v, dtype=float) for k, v in per_image.items()}
    count, sse, serr = p["band_count"].sum(0), p["band_sse"].sum(0), p["band_sum_err"].sum(0)
    total_px, total_sse = count.sum(), sse.sum()

    def pooled(cols):
        c = count[cols].sum()
        return (float(np.sqrt(sse[cols].sum() / c)), float(serr[cols].sum() / c)) if c else (np.nan, np.nan)

    rmse_mid, bias_mid = pooled(_band_columns(("midtone",)))
    rmse_ext, bias_ext = pooled(_band_columns(EXTREME_BANDS))
    group_rmse = {g: pooled(_band_columns(bands))[0] for g, bands in EXTREME_GROUPS.items()}
    with np.errstate(divide="ignore"):
        psnr_of_mean = float(10 * np.log10(1.0 / p["mse"].mean()))
    scalars = {
        "ssim": float(p["ssim"].mean()),
        "ssim_skimage": float(p["ssim_skimage"].mean()),
        "ssim_midtone": _pooled_ratio(np.nansum(p["ssim_midtone"] * p["ssim_midtone_count"]),
                                      p["ssim_midtone_count"].sum()),
        "psnr_mean_of_images": float(p["psnr"].mean()),
        "psnr_of_mean_mse": psnr_of_mean,
        "mse": float(p["mse"].mean()),
        "mae": float(p["mae"].mean()),
        "rmse": float(np.sqrt(total_sse / total_px)),
        "bce_kl": float(p["bce_kl"].mean()),
        "rmse_midtone": rmse_mid,
        "rmse_extreme": rmse_ext,
        "bias_midtone": bias_mid,
        "bias_extreme": bias_ext,
        "midtone_extreme_rmse_ratio": _pooled_ratio(rmse_mid, rmse_ext),
        "sharpness": _pooled_ratio(p["grad_recon"].sum(), p["grad_target"].sum()),
        "sharpness_midtone": _pooled_ratio(p["grad_recon_midtone"].sum(), p["grad_target_midtone"].sum()),
        "hf_energy_ratio": _pooled_ratio(p["hf_recon"].sum(), p["hf_target"].sum()),
        "edge_transfer": _pooled_ratio(p["edge_dot"].sum(), p["edge_norm"].sum()),
        "edge_transfer_midtone": _pooled_ratio(p["edge_dot_midtone"].sum(), p["edge_norm_midtone"].sum()),
    }
    for group, value in group_rmse.items():
        scalars[f"rmse_{group}"] = value
        scalars[f"midtone_{group}_rmse_ratio"] = _pooled_ratio(rmse_mid, value)
    bands = {}
    for j, b in enumerate(BANDS):
        bands[b.key] = {"label": b.label, **_table_row(count[j], sse[j], serr[j], total_px, total_sse)}
    fc, fs, fe = p["fine_count"].sum(0), p["fine_sse"].sum(0), p["fine_sum_err"].sum(0)
    rows = [_table_row(fc[j], fs[j], fe[j], total_px, total_sse) for j in range(len(fc))]
    fine = {"edges": [float(e) for e in FINE_EDGES], **{k: [r[k] for r in rows] for k in rows[0]}}
    return {"n_images": int(len(p["ssim"])), "scalars": scalars, "bands": bands, "fine": fine}


def _pooled_ratio(num, den) -> float:
    """num / den as a float, NaN when den is 0 or not finite."""
    return float(num / den) if den and np.isfinite(den) else float("nan")


def _table_row(count, sse, serr, total_px, total_sse) -> dict[str, float]:
    """RMSE, bias and shares of one band or bin."""
    return {
        "rmse": float(np.sqrt(sse / count)) if count else float("nan"),
        "bias": float(serr / count) if count else float("nan"),
        "pixel_share": float(count / total_px),
        "sq_error_share": float(sse / total_sse) if total_sse else float("nan"),
    }
