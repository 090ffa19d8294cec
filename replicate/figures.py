"""The report's figures: matplotlib drawings of plain numbers, each returned as an embeddable ``data:`` URI.

Every function takes lists and dicts (from ``results.json`` or from reconstructions the report has read)
and returns a base64 PNG ``data:image/png;base64,...`` string that an ``<img>`` shows without any file or
network access. It draws only: it does not read sweep folders, compute statistics or choose what to show
(``report`` does), and imports no deep-learning backend. Figures are built on ``matplotlib.figure.Figure``
with the Agg canvas, never through ``pyplot``, so no global figure state is kept between calls, and the PNG
carries no timestamp, so the same numbers give the same bytes.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from replicate.vocabulary import loss_color, loss_label

#: Resolution of the embedded PNGs: sharp on screen, light enough to keep a full report within a few MB.
DPI = 110
_STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "svg.fonttype": "none",
}
_MIDTONE_FILL = "#f3eee2"
_DASHES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)))
#: Colours of data series that are not losses (datasets in the capacity figure).
_SERIES_COLORS = ("#1b2a49", "#B2182B", "#36648b", "#E69F00")
#: Colours of target intensities (distinct from the loss colours): dark to light as the target gets brighter.
TARGET_COLORS = ("#1b2a49", "#36648b", "#6fa0cc", "#a9c6e2")
_WIDTH = 9.0  # inches: about 990 px at DPI, the report's column width


def to_data_uri(fig: Figure, *, palette: bool = True) -> str:
    """PNG of ``fig`` as a ``data:`` URI (no metadata, so the bytes depend only on the drawing). A plot is stored
    with a palette of 256 colours, which keeps lines, text and shading and takes about a third of the bytes;
    ``palette=False`` keeps every colour, for images whose pixel values are the point."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    png = buf.getvalue()
    if palette:
        from PIL import Image

        image = Image.open(io.BytesIO(png)).convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        png = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _nan(values) -> np.ndarray:
    """float array with None as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _shade(ax, band) -> None:
    if band:
        ax.axvspan(band[0], band[1], color=_MIDTONE_FILL, zorder=0, lw=0)


# --- answer first ---------------------------------------------------------------------------------------------

def effect_forest(panels: list[dict]) -> str:
    """Paired differences with 95% CIs, one row per item, one panel per quantity.

    ``panels``: ``{"title", "xlabel", "rows": [{"label", "difference", "ci95": [lo, hi] | None,
    "significant": bool}]}``. Filled markers are differences whose CI excludes 0.
    """
    n_rows = max(len(p["rows"]) for p in panels)
    with rc_context(_STYLE):
        fig = _figure(_WIDTH, 0.9 + 0.32 * n_rows)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels):
            rows = panel["rows"]
            y = np.arange(len(rows))[::-1]
            ax.axvline(0, color="#888", lw=0.9, zorder=1)
            for yi, row in zip(y, rows):
                d = row["difference"]
                if d is None:
                    ax.text(0, yi, "no paired seeds", ha="center", va="center", fontsize=7, color="#777")
                    continue
                color = "#B2182B" if row["significant"] else "#555"
                if row["ci95"]:
                    ax.plot(row["ci95"], [yi, yi], color=color, lw=2, solid_capstyle="butt", zorder=2)
                ax.plot([d], [yi], "o", color=color, ms=6, zorder=3,
                        mfc=color if row["significant"] else "white")
            ax.set_yticks(y, [r["label"] for r in rows])
            ax.set_ylim(-0.7, len(rows) - 0.3)
            ax.set_title(panel["title"], loc="left")
            ax.set_xlabel(panel["xlabel"])
            ax.grid(axis="y", visible=False)
        return to_data_uri(fig)


# --- mechanism ------------------------------------------------------------------------------------------------

def loss_landscape(panels: list[dict]) -> str:
    """Loss against prediction for several targets, one panel per loss.

    ``panels``: ``{"title", "ylabel", "curves": [{"label", "x", "y", "color", "minimum": [x, y] | None,
    "dashed": bool}]}``; a curve's ``minimum`` is marked with a dot.
    """
    with rc_context(_STYLE):
        fig = _figure(_WIDTH, 3.0)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels):
            for c in panel["curves"]:
                ax.plot(c["x"], c["y"], color=c["color"], lw=1.1 if c.get("dashed") else 1.6,
                        ls="--" if c.get("dashed") else "-", label=c["label"])
                if c.get("minimum"):
                    ax.plot(*c["minimum"], "o", color=c["color"], ms=4.5, zorder=4)
            ax.set_title(panel["title"], loc="left")
            ax.set_xlabel("prediction x")
            ax.set_ylabel(panel["ylabel"])
            ax.set_xlim(0, 1)
            ax.set_ylim(bottom=0, top=panel.get("ymax"))
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
        return to_data_uri(fig)


def intensity_weight(a_grid, weights: dict, midtone=None) -> str:
    """Relative cost of a small error at each target intensity (1 at a = 0.5), one line per loss."""
    with rc_context(_STYLE):
        fig = _figure(_WIDTH * 0.55, 3.0)
        ax = fig.subplots()
        _shade(ax, midtone)
        for j, (key, w) in enumerate(weights.items()):
            # flat curves coincide at 1: different dashes and widths keep each visible
            ax.plot(a_grid, _nan(w), color=loss_color(key), lw=2.6 - 0.35 * j, ls=_DASHES[j % len(_DASHES)],
                    label=loss_label(key))
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("target intensity a")
        ax.set_ylabel("weight of a small error (relative to a = ½)")
        ax.set_title("Per-intensity weight (curvature at the optimum)", loc="left")
        ax.legend(loc="upper center")
        return to_data_uri(fig)


def logit_gradients(z, gradients: dict, ylabel: str = "∂ loss / ∂ z") -> str:
    """A function of the logit (the gradient, or the curvature) against the logit, one panel per target, one line
    per loss.

    ``gradients``: loss key -> target (as text) -> values over ``z``.
    """
    targets = list(next(iter(gradients.values())))
    with rc_context(_STYLE):
        fig = _figure(_WIDTH, 2.6)
        axes = fig.subplots(1, len(targets), squeeze=False, sharey=True)[0]
        for ax, target in zip(axes, targets):
            ax.axhline(0, color="#888", lw=0.8)
            for key, per_target in gradients.items():
                ax.plot(z, _nan(per_target[target]), color=loss_color(key), lw=1.6, label=loss_label(key))
            ax.set_title(f"target a = {target}", loc="left")
            ax.set_xlabel("logit z (prediction x = σ(z))")
        axes[0].set_ylabel(ylabel)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center")
        return to_data_uri(fig)


# --- evidence -------------------------------------------------------------------------------------------------

def error_by_intensity(centers, models: dict, predicted: dict, midtone=None) -> str:
    """The predicted weighting, then measured RMSE per target-intensity bin with CI bands, one panel per model.

    ``predicted``: loss key -> relative weight at ``centers``, drawn first (dashed, log scale).
    ``models``: panel title -> loss key -> ``{"mean", "lo", "hi"}`` lists over ``centers`` (None = no data).
    """
    n = len(models) + 1
    rows, cols = _grid(n, 3)
    with rc_context(_STYLE):
        fig = _figure(_WIDTH, 2.55 * rows + 0.3)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        handles = {}
        ax = axes[0]
        _shade(ax, midtone)
        for key, w in predicted.items():
            ax.plot(centers, _nan(w), color=loss_color(key), lw=1.6, ls="--")
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_title("predicted: weight of an error", loc="left")
        ax.set_xlabel("target intensity")
        ax.set_ylabel("relative weight (log)")
        for ax, (title, curves) in zip(axes[1:], models.items()):
            _shade(ax, midtone)
            for key, c in curves.items():
                color = loss_color(key)
                (line,) = ax.plot(centers, _nan(c["mean"]), color=color, lw=1.6, marker="o", ms=2.2)
                lo, hi = _nan(c["lo"]), _nan(c["hi"])
                ok = ~(np.isnan(lo) | np.isnan(hi))
                if ok.any():
                    ax.fill_between(np.asarray(centers)[ok], lo[ok], hi[ok], color=color, alpha=0.18, lw=0)
                handles.setdefault(key, line)
            ax.set_title(f"measured: {title}", loc="left")
            ax.set_xlim(0, 1)
            ax.set_ylim(bottom=0)
            ax.set_xlabel("target intensity")
            ax.set_ylabel("RMSE")
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.legend(list(handles.values()), [loss_label(k) for k in handles], loc="outside lower center",
                   ncols=min(8, len(handles)))
        return to_data_uri(fig)


def learning_curves(models: dict) -> str:
    """Validation (solid) and training (dashed) loss per epoch, each divided by its final validation value.

    ``models``: panel title -> loss key -> ``{"epoch", "val", "train"}`` (means over seeds; None = absent).
    """
    def draw(ax, key, c):
        val, train = _nan(c["val"]), _nan(c["train"])
        final = val[-1] if val.size and np.isfinite(val[-1]) and val[-1] != 0 else np.nan
        if not np.isfinite(final):
            return None
        (line,) = ax.plot(c["epoch"], val / final, color=loss_color(key), lw=1.5, marker="o", ms=2)
        if np.isfinite(train).any():
            ax.plot(c["epoch"], train / final, color=loss_color(key), lw=1.0, ls="--", alpha=0.8)
        return line

    return _epoch_panels(models, draw, "loss / final val loss", reference=1.0)


def gap_by_code_size(series: dict) -> str:
    """The BCE - MSE midtone RMSE gap with its 95% CI against the code size (log 2 axis), one line per series.

    ``series``: label -> ``{"code_size": [...], "mean": [...], "lo": [...], "hi": [...]}``.
    """
    with rc_context(_STYLE):
        fig = _figure(_WIDTH * 0.6, 3.0)
        ax = fig.subplots()
        ax.axhline(0, color="#888", lw=0.9)
        for j, (label, s) in enumerate(series.items()):
            x, mean = np.asarray(s["code_size"], dtype=float), _nan(s["mean"])
            lo, hi = _nan(s["lo"]), _nan(s["hi"])
            color = _SERIES_COLORS[j % len(_SERIES_COLORS)]
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], color=color, marker="o", ms=4, lw=1.5, capsize=3,
                        label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(series[next(iter(series))]["code_size"], [str(c) for c in series[next(iter(series))]["code_size"]])
        ax.set_xlabel("code size (units of the simple model's code layer)")
        ax.set_ylabel("BCE − MSE midtone RMSE")
        ax.set_title("The gap against capacity", loc="left")
        if len(series) > 1:
            ax.legend()
        return to_data_uri(fig)


def saturation_curves(models: dict) -> str:
    """Share of outputs saturated at the wrong end after each epoch, one panel per model, one line per loss.

    ``models``: panel title -> loss key -> ``{"epoch": [...], "share": [...]}`` (means over seeds).
    """
    def draw(ax, key, c):
        ax.set_ylim(bottom=0)
        return ax.plot(c["epoch"], 100 * _nan(c["share"]), color=loss_color(key), lw=1.5, marker="o", ms=2)[0]

    return _epoch_panels(models, draw, "% saturated, wrong end")


def _epoch_panels(models: dict, draw, ylabel: str, reference: float | None = None) -> str:
    """One panel per model with a curve per loss against the epoch, ``draw(ax, key, curve)`` drawing each (and
    returning its line for the legend, or None), and one legend for all panels."""
    rows, cols = _grid(len(models), 3)
    with rc_context(_STYLE):
        fig = _figure(_WIDTH, 2.3 * rows + 0.3)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        handles = {}
        for ax, (title, curves) in zip(axes, models.items()):
            if reference is not None:
                ax.axhline(reference, color="#888", lw=0.8)
            for key, c in curves.items():
                line = draw(ax, key, c)
                if line is not None:
                    handles.setdefault(key, line)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(title, loc="left")
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
        for ax in axes[len(models):]:
            ax.set_visible(False)
        fig.legend(list(handles.values()), [loss_label(k) for k in handles], loc="outside lower center",
                   ncols=min(8, len(handles)))
        return to_data_uri(fig)


# --- reconstructions ------------------------------------------------------------------------------------------
# Pixel mosaics: every image pixel becomes an exact SCALE x SCALE block and the figure is drawn 1:1 at DPI,
# so reconstructions stay crisp; one axes per figure keeps drawing fast however many images are shown.
_BORDER = (0.8, 0.8, 0.8)
_CROP_BORDER = (1.0, 0.69, 0.0)
_MISSING = (0.95, 0.95, 0.95)
_MASK_ON, _MASK_OFF = (0.88, 0.47, 0.10), (0.99, 0.96, 0.92)


def _gray(img: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(img, 0, 1)[..., None], 3, axis=-1)


def _place(mosaic: np.ndarray, rgb: np.ndarray | None, top: int, left: int, scale: int, border=_BORDER) -> None:
    """Draw ``rgb`` (H, W, 3) upscaled by ``scale`` inside a 1-pixel border at (top, left) of ``mosaic``."""
    h, w = (rgb.shape[:2] if rgb is not None else (0, 0))
    block = np.kron(rgb, np.ones((scale, scale, 1))) if rgb is not None else None
    hh, ww = (block.shape[:2] if block is not None else (0, 0))
    mosaic[top:top + hh + 2, left:left + ww + 2] = border
    if block is not None:
        mosaic[top + 1:top + 1 + hh, left + 1:left + 1 + ww] = block


def _mosaic_figure(mosaic: np.ndarray, margins: tuple[int, int, int, int]) -> tuple[Figure, object]:
    """A figure showing ``mosaic`` at one screen pixel per array pixel; margins (left, right, top, bottom) in px."""
    left, right, top, bottom = margins
    h, w = mosaic.shape[:2]
    width, height = w + left + right, h + top + bottom
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left / width, bottom / height, w / width, h / height))
    ax.imshow(mosaic, interpolation="nearest", resample=False)
    ax.set_axis_off()
    return fig, ax


def gallery(targets: np.ndarray, recons: dict, *, error_limit: float, midtone=(0.3, 0.7), boxes=None,
            scale: int = 2) -> str:
    """Targets, reconstructions and signed error maps (recon - target) of the same images under each loss.

    ``targets``: (K, H, W) in [0, 1]; ``recons``: loss key -> (K, H, W) in [0, 1], or None where no run
    finished; ``boxes``: per image ``(row, col, size)`` of the zoomed crop, outlined on the target. The top row
    shows each target and its midtone pixels (orange); each row below, one loss's reconstruction and error.
    """
    k, h, w = targets.shape
    cell_h, cell_w = h * scale + 2, w * scale + 2
    pair_gap, group_gap, row_gap = 3, 14, 6
    group_w = 2 * cell_w + pair_gap
    rows = 1 + len(recons)
    mosaic = np.ones((rows * cell_h + (rows - 1) * row_gap, k * group_w + (k - 1) * group_gap, 3))
    norm = Normalize(-error_limit, error_limit)
    cmap = colormaps["RdBu_r"]
    mid = (targets > midtone[0]) & (targets <= midtone[1])
    for i in range(k):
        x0 = i * (group_w + group_gap)
        _place(mosaic, _gray(targets[i]), 0, x0, scale)
        _place(mosaic, np.where(mid[i][..., None], _MASK_ON, _MASK_OFF), 0, x0 + cell_w + pair_gap, scale)
        for r, recon in enumerate(recons.values(), start=1):
            y0 = r * (cell_h + row_gap)
            if recon is None:
                mosaic[y0:y0 + cell_h, x0:x0 + group_w] = _MISSING
                continue
            _place(mosaic, _gray(recon[i]), y0, x0, scale)
            _place(mosaic, cmap(norm(recon[i] - targets[i]))[..., :3], y0, x0 + cell_w + pair_gap, scale)
    with rc_context(_STYLE):
        fig, ax = _mosaic_figure(mosaic, (108, 84, 22, 4))
        for i in range(k):
            x0 = i * (group_w + group_gap)
            ax.text(x0, -6, f"image {i + 1}", fontsize=7.5, color="#444", va="bottom")
            if boxes is not None:
                y, x, s = boxes[i]
                ax.add_patch(Rectangle((x0 + 1 + x * scale - 0.5, 1 + y * scale - 0.5), s * scale, s * scale,
                                       fill=False, ec=_CROP_BORDER, lw=1.2))
        labels = ["target", *[loss_label(key) for key in recons]]
        for r, label in enumerate(labels):
            ax.text(-10, r * (cell_h + row_gap) + cell_h / 2, label, ha="right", va="center", fontsize=8.5,
                    fontweight="bold" if r == 0 else "normal")
            if r and list(recons.values())[r - 1] is None:
                ax.text(mosaic.shape[1] / 2, r * (cell_h + row_gap) + cell_h / 2, "no finished run",
                        ha="center", va="center", fontsize=8, color="#777")
        width, height = fig.get_size_inches() * DPI
        top = 1 - (22 + cell_h + row_gap) / height
        cax = fig.add_axes((1 - 70 / width, 4 / height + 0.05 * top, 10 / width, 0.9 * (top - 4 / height)))
        bar = fig.colorbar(ScalarMappable(norm, cmap), cax=cax, ticks=[-error_limit, 0, error_limit])
        bar.set_label("recon − target", fontsize=7.5)
        bar.ax.tick_params(labelsize=7)
        return to_data_uri(fig, palette=False)


def midtone_crops(targets: np.ndarray, recons: dict, boxes, *, scale: int = 5) -> str:
    """Enlarged crops around each image's densest midtone region: the target on top, then one row per loss."""
    shown = {key: v for key, v in recons.items() if v is not None}
    k = len(targets)
    size = boxes[0][2]
    cell = size * scale + 2
    gap = 8
    rows = 1 + len(shown)
    mosaic = np.ones((rows * cell + (rows - 1) * gap, k * cell + (k - 1) * gap, 3))
    for i, (y, x, s) in enumerate(boxes):
        x0 = i * (cell + gap)
        for r, stack in enumerate([targets, *shown.values()]):
            crop = stack[i, y:y + s, x:x + s]
            _place(mosaic, _gray(crop), r * (cell + gap), x0, scale, _CROP_BORDER if r == 0 else _BORDER)
    with rc_context(_STYLE):
        fig, ax = _mosaic_figure(mosaic, (108, 8, 22, 4))
        for i in range(k):
            ax.text(i * (cell + gap), -6, f"image {i + 1}", fontsize=7.5, color="#444", va="bottom")
        for r, label in enumerate(["target", *[loss_label(key) for key in shown]]):
            ax.text(-10, r * (cell + gap) + cell / 2, label, ha="right", va="center", fontsize=8.5,
                    fontweight="bold" if r == 0 else "normal")
        return to_data_uri(fig, palette=False)
