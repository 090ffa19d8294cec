"""The one vocabulary of models and losses: stable keys, labels, formulas, one-line notes, colours, and which
loss is the baseline. Every other module reads names from here; ``losses`` attaches the functions, ``theory`` the
closed forms, ``models`` the layers. No Keras import, so ``analysis`` and ``report`` can use it.

Adding a loss touches this file, ``losses`` and (for a pixelwise loss) ``theory``; nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossTerm:
    """How a loss is named and described everywhere: tables, figures, the command line, ``results.json``."""

    key: str
    label: str  # short, for figures and tables
    name: str  # in full, for headings
    formula: str
    note: str  # one line: what the loss is
    detail: str  # the report's paragraph on it
    color: str
    pixelwise: bool  # a mean of independent per-pixel terms, so ``theory`` has its closed form
    unit_range: bool  # defined only for targets in [0, 1]
    trained: bool = True  # False: reported as a metric of every run, never trained on
    #: Whether its logit gradient carries the sigmoid's slope x(1 - x), so it fades as the output saturates.
    saturates: bool = True
    #: Its row of the mechanism's 2 x 2 factorial: whose weighting of errors near the optimum it has ("bce": r ~ 1,
    #: "mse": r ~ 2a(1-a)); None for losses outside the factorial.
    weighting: str | None = None


#: The side of every image, and its pixels.
IMAGE_SIDE = 28
PIXELS = IMAGE_SIDE**2


@dataclass(frozen=True)
class ModelTerm:
    """How a model is named (key, label, a one-line note) and what it is: the post's layers and protocol it
    follows, and how a variant differs (code size, the 2016 post's optimizer, a rescaled penalty)."""

    key: str
    label: str
    note: str
    architecture: str = ""  # the post's model whose layers it has; "" = its own key
    protocol: str = ""  # the post's model whose training protocol it follows; "" = its architecture
    code_size: int | None = None  # the simple model's code width, where it is not the post's 32
    optimizer: str | None = None  # None: the current post's; "adadelta": the 2016-2017 post's (learning rate 1.0)
    penalty: str = "post"  # "rescaled": the model's own penalty scaled by the loss's curvature at mid-grey

    @property
    def builder(self) -> str:
        return self.architecture or self.key

    @property
    def post_model(self) -> str:
        return self.protocol or self.builder

    @property
    def loss_scale(self) -> float:
        """How its reconstruction loss is scaled: the VAE sums it over the pixels ("loss * original_dim"), so its
        losses are per image; the other models' are per pixel."""
        return float(PIXELS) if self.builder == "vae" else 1.0

    @property
    def own_loss(self) -> bool:
        """Whether the model adds a loss of its own (the sparse model's activity penalty, the VAE's KL term). Keras
        adds it to the total but not to any output's loss, so such models always train alone, never side by side."""
        return self.builder in ("sparse", "vae")


#: Which way a metric improves: +1 higher is better, -1 lower is better. Metrics not listed (edge transfer, energy
#: kept, error ratios) have no better direction: a difference in them is marked, not judged.
BETTER = {"ssim": 1, "ssim_midtone": 1, "psnr_mean_of_images": 1, "rmse": -1, "rmse_midtone": -1, "rmse_extreme": -1}

#: The loss every other loss is compared with, and the one the primary comparison sets against it.
BASELINE = "bce"
COMPARATOR = "mse"

#: Zhao et al. (2017) weight of the MS-SSIM term (the paper's value; their released code defaults to 0.025).
MS_SSIM_ALPHA = 0.84
#: Huber threshold. Keras' default (1.0) exceeds every error possible on [0, 1] data, where Huber would be 0.5*MSE.
HUBER_DELTA = 0.1

# Colours: the Okabe-Ito palette, distinguishable with colour blindness.
_LOSS_TERMS = (
    LossTerm("bce", "BCE", "Binary cross-entropy", "−[a ln x + (1−a) ln(1−x)]",
             "the tutorial's loss, applied to non-binary targets in [0, 1]",
             "The tutorial's loss: the log-likelihood of a Bernoulli pixel, used here on grey levels. Its floor "
             "H(a) depends on the target and its per-intensity weight is 1/(a(1 − a)).",
             "#D55E00", pixelwise=True, unit_range=True, saturates=False, weighting="bce"),
    LossTerm("bce_kl", "BCE − H", "BCE minus target entropy", "BCE(a, x) − H(a) = KL(Bern(a) ‖ Bern(x))",
             "same gradients as BCE, zero at a perfect reconstruction",
             "BCE shifted so that a perfect reconstruction scores zero. Same gradients, so the same training; "
             "only the reported value changes.",
             "#E69F00", pixelwise=True, unit_range=True, trained=False, saturates=False),
    LossTerm("mse", "MSE", "Mean squared error", "(x − a)²", "symmetric, every intensity weighted alike",
             "Symmetric and equally weighted at every intensity; the Gaussian log-likelihood with fixed variance. "
             "Its optimum under uncertainty is the conditional mean, like BCE's.",
             "#0072B2", pixelwise=True, unit_range=False, weighting="mse"),
    LossTerm("mae", "MAE", "Mean absolute error", "|x − a|", "symmetric, constant slope; optimum is the median",
             "Constant slope, so small errors are not forgiven; its optimum under uncertainty is the conditional "
             "median, which keeps edges where the mean would average them.",
             "#009E73", pixelwise=True, unit_range=False),
    LossTerm("huber", "Huber", "Huber",
             f"½(x − a)² if |x − a| ≤ {HUBER_DELTA}, else {HUBER_DELTA}(|x − a| − {HUBER_DELTA / 2})",
             f"quadratic near the target, linear beyond δ = {HUBER_DELTA}",
             "Quadratic near the target and linear beyond δ, so large errors weigh less than under MSE.",
             "#56B4E9", pixelwise=True, unit_range=False),
    LossTerm("continuous_bernoulli", "Cont. Bernoulli", "Continuous Bernoulli",
             "BCE(a, λ) − ln C(λ), C(λ) = 2 artanh(1−2λ)/(1−2λ)",
             "the properly normalised likelihood for [0, 1] data (Loaiza-Ganem & Cunningham, 2019); "
             "the image is the distribution's mean",
             "The properly normalised likelihood for data in [0, 1] (Loaiza-Ganem & Cunningham, NeurIPS 2019): "
             "BCE plus the log-normaliser that BCE leaves out. The reconstruction is the distribution's mean, not "
             "its parameter λ.",
             "#CC79A7", pixelwise=True, unit_range=True, saturates=False),
    LossTerm("ssim", "SSIM", "SSIM", "1 − SSIM (Gaussian window σ = 1.5, 11 taps)",
             "structural similarity (Wang et al., 2004) as a loss",
             "Structural similarity (Wang et al., 2004) as a loss: compares local means, contrasts and "
             "correlations, so it rewards edges and texture rather than per-pixel agreement.",
             "#B8860B", pixelwise=False, unit_range=True),
    LossTerm("ms_ssim_l1", "MS-SSIM+L1", "MS-SSIM + L1",
             f"{MS_SSIM_ALPHA}·(1 − MS-SSIM) + {1 - MS_SSIM_ALPHA:.2f}·G_σ=8 ⊛ |x − a|",
             "Zhao et al. (2017) mix; full-resolution MS-SSIM with Gaussian widths 0.5, 1, 2, 4, 8",
             "The perceptual mix of Zhao et al. (IEEE TCI, 2017): multi-scale SSIM for structure plus a "
             "Gaussian-weighted L1 term that keeps colours and flat areas from drifting.",
             "#555555", pixelwise=False, unit_range=True),
    LossTerm("mse_bce_weight", "MSE·w_BCE", "MSE with BCE's weighting",
             "(x − a)² / (2 max(a(1−a), ε))",
             "keeps BCE's 1/(a(1−a)) weighting of errors, removes BCE's non-saturating gradient",
             "MSE weighted by 1/(a(1 − a)): near the optimum it weighs an error at each intensity as BCE does, "
             "but its logit gradient fades as the output saturates, as MSE's does. With BCE it isolates the "
             "gradient's shape; with MSE, the weighting. ε floors a(1 − a) at its smallest 8-bit value.",
             "#882255", pixelwise=True, unit_range=True, weighting="bce"),
    LossTerm("bce_mse_weight", "BCE·w_MSE", "BCE with MSE's weighting",
             "2 max(a(1−a), ε) · [BCE(a, x) − H(a)]",
             "keeps BCE's non-saturating gradient, removes its 1/(a(1−a)) weighting (MSE's instead)",
             "BCE's divergence weighted by 2a(1 − a): its logit gradient 2a(1 − a)(x − a) never fades with the "
             "output, as BCE's does, but it weighs errors near the optimum as MSE does. With BCE it isolates the "
             "weighting; with MSE, the gradient's shape. ε floors a(1 − a) at its smallest 8-bit value.",
             "#44AA99", pixelwise=True, unit_range=True, saturates=False, weighting="mse"),
)
LOSSES: dict[str, LossTerm] = {t.key: t for t in _LOSS_TERMS}
LOSS_KEYS = tuple(LOSSES)
#: Losses trained as their own runs. ``bce_kl`` has BCE's gradients, so it is a metric of every run instead.
TRAINED_LOSSES = tuple(k for k, t in LOSSES.items() if t.trained)
#: Losses with a closed-form per-pixel theory.
PIXELWISE = tuple(k for k, t in LOSSES.items() if t.pixelwise)

_POST_MODELS = (
    ModelTerm("simple", "simple", "784 -> Dense(32, relu) -> Dense(784, sigmoid): \"the simplest possible "
              "autoencoder\""),
    ModelTerm("sparse", "sparse", "the simple model with an L1 activity penalty on the code; the post's literal "
              "10e-5 is 1e-4"),
    ModelTerm("deep", "deep", "784 -> 128 -> 64 -> 32 -> 64 -> 128 -> 784, relu inside, sigmoid output"),
    ModelTerm("conv", "conv", "Conv16-pool-Conv8-pool-Conv8-pool (4x4x8 code), then back up; the 16-filter "
              "decoder conv is 'valid' (16x16 -> 14x14), exactly as in the post, so the output is 28x28"),
    ModelTerm("denoising", "denoising", "Conv32-pool-Conv32-pool (7x7x32 code) -> Conv32-up-Conv32-up-Conv1; "
              "trained noisy -> clean"),
    ModelTerm("vae", "VAE", "dense VAE of the current post: 784 -> 64 (relu) -> (z_mean, z_log_sigma) in 2-D -> "
              "64 -> 784 sigmoid"),
)
#: The post's models with their own penalty rescaled so that it weighs the same against every loss.
_RESCALED = tuple(
    ModelTerm(f"{m}_rescaled", f"{m} (rescaled penalty)", f"the {m} model with its {what} multiplied by the "
              "loss's curvature at mid-grey relative to BCE's, so the penalty weighs alike against every loss",
              architecture=m, penalty="rescaled")
    for m, what in (("sparse", "L1 activity penalty"), ("vae", "KL term")))
#: The post's models under the 2016-2017 versions' optimizer (adadelta at Keras' then learning rate 1.0).
_ADADELTA = tuple(
    ModelTerm(f"{m}_adadelta", f"{m} (adadelta)", f"the {m} model trained as the 2016-2017 post did: adadelta, "
              "learning rate 1.0", architecture=m, optimizer="adadelta")
    for m in ("simple", "sparse", "deep", "conv"))
#: The simple model at several code sizes, for the capacity sweep (``simple_32`` has the post's layers, under
#: the capacity sweep's budget).
CODE_SIZES = (8, 16, 32, 64, 128, 256)
_CAPACITY = tuple(
    ModelTerm(f"simple_{w}", f"simple, code {w}", f"784 -> Dense({w}, relu) -> Dense(784, sigmoid)",
              architecture="simple", code_size=w)
    for w in CODE_SIZES)
_MODEL_TERMS = _POST_MODELS + _RESCALED + _ADADELTA + _CAPACITY
MODELS: dict[str, ModelTerm] = {t.key: t for t in _MODEL_TERMS}
MODEL_KEYS = tuple(MODELS)
#: The six models of the post, in its order.
POST_MODELS = tuple(t.key for t in _POST_MODELS)
#: The losses of the mechanism's factorial, and which is which.
FACTORIAL = tuple(k for k, t in LOSSES.items() if t.weighting is not None)
#: Floor on a(1 - a) in the weighted losses: its smallest non-zero value on 8-bit data, (1/255)(254/255), so that
#: exact 0 and 1 keep a finite, non-zero weight (that of the nearest 8-bit level).
WEIGHT_FLOOR = (1 / 255) * (254 / 255)


def code_size(key: str) -> int:
    """The code width of a simple-model key (the post's 32 unless the key names another)."""
    return model(key).code_size or 32

_FALLBACK_COLORS = ("#332288", "#117733", "#882255", "#44AA99", "#999933", "#AA4499")


def loss(key: str) -> LossTerm:
    """The loss named ``key``; a ``ValueError`` lists the valid keys."""
    return _lookup(LOSSES, "loss", key)


def model(key: str) -> ModelTerm:
    """The model named ``key``; a ``ValueError`` lists the valid keys."""
    return _lookup(MODELS, "model", key)


def loss_label(key: str) -> str:
    """Short display name of a loss key (the key itself for one that is not in the vocabulary)."""
    return LOSSES[key].label if key in LOSSES else key


def loss_color(key: str) -> str:
    """The colour of a loss in every figure (a stable fallback for keys without one)."""
    return LOSSES[key].color if key in LOSSES else _FALLBACK_COLORS[sum(map(ord, key)) % len(_FALLBACK_COLORS)]


def _lookup(table: dict, what: str, key: str):
    try:
        return table[key]
    except KeyError:
        raise ValueError(f"unknown {what} {key!r}; valid {what} keys: {', '.join(table)}") from None
