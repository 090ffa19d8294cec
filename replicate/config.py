"""Frozen, validated configuration: one :class:`RunConfig` per trained model, one :class:`SweepConfig` per sweep,
and the named profiles that fill them (``smoke``, ``quick``, ``standard``, ``mechanism``, ``replication``,
``tutorial``). No Keras import."""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
from dataclasses import dataclass, field

from replicate import tutorial, vocabulary
from replicate.data import DATASETS

MODELS = vocabulary.MODEL_KEYS
LOSSES = vocabulary.LOSS_KEYS
TRAINED_LOSSES = vocabulary.TRAINED_LOSSES
BACKENDS = ("tensorflow", "jax")
#: ``auto``: each model on the backend that trains it fastest here (see :func:`backend_for`).
BACKEND_CHOICES = ("auto", *BACKENDS)
PROFILES = ("smoke", "quick", "standard", "mechanism", "replication", "tutorial")
#: Primary endpoints a sweep can pre-register: the paired BCE - MSE difference of this run-level metric.
ENDPOINTS = ("rmse_midtone", "ssim_midtone", "rmse")
#: Default equivalence margin of the primary endpoint, relative to MSE's mean (2 %).
DEFAULT_MARGIN = 0.02
#: Default convergence rule: stop once the validation loss's excess over its floor improved by less than
#: ``MIN_IMPROVEMENT`` (relative, per epoch) for ``PATIENCE`` epochs in a row; the profile's epochs cap it.
PATIENCE, MIN_IMPROVEMENT = 3, 0.01
#: After every epoch the runner counts, on this many test images, the outputs saturated at the wrong end: |logit|
#: beyond SATURATION_LOGIT (the sigmoid below 0.018 or above 0.982) with the target more than 0.5 away.
SATURATION_IMAGES, SATURATION_LOGIT = 256, 4.0


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run; serialised into the run's ``config.json``."""

    dataset: str
    model: str
    loss: str
    seed: int
    epochs: int  # the cap: the run stops earlier once it meets the convergence rule (when ``patience`` is set)
    batch_size: int
    shuffle: bool
    optimizer: str
    learning_rate: float
    train_limit: int | None
    test_limit: int | None
    noise_factor: float | None = None
    mixed_precision: bool = False
    patience: int | None = None  # None: train all ``epochs``
    min_improvement: float = MIN_IMPROVEMENT
    penalty_scale: float = 1.0  # multiplies the model's own penalty (sparse L1, VAE KL)
    backend: str = "tensorflow"

    def __post_init__(self):
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("model", self.model, MODELS)
        _one_of("loss", self.loss, TRAINED_LOSSES)
        _one_of("optimizer", self.optimizer, ("adam", "adadelta"))
        _one_of("backend", self.backend, BACKENDS)
        check_positive("epochs", self.epochs)
        check_positive("batch_size", self.batch_size)
        for name in ("train_limit", "test_limit", "patience"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        check_fraction("min_improvement", self.min_improvement, MIN_IMPROVEMENT)

    @property
    def path(self) -> str:
        """The run's directory relative to the sweep: ``<dataset>/<model>/<loss>/seed<k>``."""
        return f"{self.dataset}/{self.model}/{self.loss}/seed{self.seed}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: which (model, loss) pairs, seeds, protocol and pre-registered endpoint; serialised into
    ``sweep.json`` before any run starts."""

    profile: str
    dataset: str
    pairs: tuple[tuple[str, str], ...]
    seeds: tuple[int, ...]
    epochs: dict = field(default_factory=dict)  # model -> epochs (the cap)
    train_limit: dict = field(default_factory=dict)  # model -> number of training images (None: all)
    test_limit: int | None = None
    optimizer: str | None = None  # None: each model's protocol
    backend: str = "auto"
    mixed_precision: bool = False
    patience: int | None = PATIENCE  # None: every run trains its full epochs
    min_improvement: float = MIN_IMPROVEMENT
    endpoint: str = "rmse_midtone"
    margin: float = DEFAULT_MARGIN

    def __post_init__(self):
        _one_of("profile", self.profile, PROFILES)
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("backend", self.backend, BACKEND_CHOICES)
        _one_of("endpoint", self.endpoint, ENDPOINTS)
        if self.optimizer is not None:
            _one_of("optimizer", self.optimizer, ("adam", "adadelta"))
        check_margin(self.margin)
        check_fraction("min_improvement", self.min_improvement, MIN_IMPROVEMENT)
        if self.patience is not None:
            check_positive("patience", self.patience)
        if not self.pairs:
            raise ValueError("a sweep needs at least one (model, loss) pair")
        for model, loss in self.pairs:
            _one_of("model", model, MODELS)
            _one_of("loss", loss, TRAINED_LOSSES)
            if vocabulary.model(model).penalty == "rescaled":
                from replicate import theory

                theory.penalty_scale(loss)  # a loss without curvature at mid-grey cannot rescale a penalty
        object.__setattr__(self, "seeds", check_seeds(self.seeds))  # a tuple, as a sweep.json read back gives

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for m, _ in self.pairs))

    @property
    def losses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(loss for _, loss in self.pairs))

    def runs(self) -> list[RunConfig]:
        """Every run of the sweep, models in sweep order, then losses, then seeds."""
        return [protocol_run(model, dataset=self.dataset, loss=loss, seed=seed, epochs=self.epochs.get(model),
                             train_limit=self.train_limit.get(model), test_limit=self.test_limit,
                             optimizer=self.optimizer, mixed_precision=self.mixed_precision,
                             patience=self.patience, min_improvement=self.min_improvement,
                             backend=backend_for(model, self.backend))
                for model, loss in self.pairs for seed in self.seeds]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["pairs"] = [list(p) for p in self.pairs]
        d["seeds"] = list(self.seeds)
        d["models"], d["losses"] = list(self.models), list(self.losses)
        return d


def sweep_from_dict(d: dict) -> SweepConfig:
    """The :class:`SweepConfig` that :meth:`SweepConfig.to_dict` wrote (the ``config`` of ``sweep.json``)."""
    fields = {f.name for f in dataclasses.fields(SweepConfig)}
    values = {k: v for k, v in d.items() if k in fields}
    values["pairs"] = tuple(tuple(p) for p in values["pairs"])
    values["seeds"] = tuple(values["seeds"])
    return SweepConfig(**values)


def settings_digest(config: dict) -> str:
    """SHA-256 of a sweep's configuration as ``sweep.json`` holds it (keys sorted): which settings a process ran."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def backend_for(model: str, choice: str = "auto") -> str:
    """The Keras backend a model trains on: ``choice`` itself, or for ``auto`` the faster one on a CPU as measured
    (benchmarks/RESULTS.md): JAX for the dense models, TensorFlow for the convolutional ones. Where only one of the
    two is installed (a GPU machine with JAX, say), that one."""
    if choice != "auto":
        return choice
    installed = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    if len(installed) == 1:
        return installed[0]
    return "tensorflow" if vocabulary.model(model).builder in ("conv", "denoising") else "jax"


def protocol_run(model: str, *, dataset: str, loss: str, seed: int, epochs: int | None = None,
                 train_limit: int | None = None, test_limit: int | None = None, optimizer: str | None = None,
                 mixed_precision: bool = False, patience: int | None = None,
                 min_improvement: float = MIN_IMPROVEMENT, backend: str = "tensorflow") -> RunConfig:
    """A run that follows the post's protocol for ``model`` (epochs, batch size, shuffle, optimizer, denoising
    noise), with the given changes. Adadelta gets learning rate 1.0, as Keras had when the post was written.
    A model with a rescaled penalty gets the loss's :func:`replicate.theory.penalty_scale`."""
    term = vocabulary.model(model)
    proto = tutorial.PROTOCOLS[term.post_model]
    optimizer = optimizer or term.optimizer or proto.optimizer
    scale = 1.0
    if term.penalty == "rescaled":
        from replicate import theory

        scale = theory.penalty_scale(loss)
    return RunConfig(dataset=dataset, model=model, loss=loss, seed=seed, epochs=epochs or proto.epochs,
                     batch_size=proto.batch_size, shuffle=proto.shuffle, optimizer=optimizer,
                     learning_rate=1.0 if optimizer == "adadelta" else 1e-3, train_limit=train_limit,
                     test_limit=test_limit, noise_factor=tutorial.NOISE_FACTOR if term.builder == "denoising" else None,
                     mixed_precision=mixed_precision, patience=patience, min_improvement=min_improvement,
                     penalty_scale=scale, backend=backend)


def _pairs(models, base_losses, full_models=()) -> tuple[tuple[str, str], ...]:
    return tuple((m, loss) for m in models for loss in (COMPARED_LOSSES if m in full_models else base_losses))


#: The losses of the original comparison (the factorial's two ablations are trained by the mechanism profile).
COMPARED_LOSSES = tuple(k for k in TRAINED_LOSSES if k not in ("mse_bce_weight", "bce_mse_weight"))
POST = vocabulary.POST_MODELS

#: smoke: the synthetic set, trained just long enough that no model is still a constant (seconds per model).
SMOKE_EPOCHS = {"simple": 40, "sparse": 40, "deep": 30, "conv": 12, "denoising": 8, "vae": 6}
#: quick: Fashion-MNIST subsets and epoch caps sized so the whole sweep, metrics and report included, fits in
#: 15 minutes on 2 CPU cores. The convolutional models cost 6-20x more per image than the dense ones, so they
#: see fewer images; every loss of one model gets the same budget. Runs stop earlier once converged.
QUICK_EPOCHS = {"simple": 10, "sparse": 10, "deep": 10, "conv": 4, "denoising": 4, "vae": 5, "sparse_rescaled": 10,
                "vae_rescaled": 5}
QUICK_TRAIN = {"simple": 12000, "sparse": 12000, "deep": 12000, "conv": 6000, "denoising": 4000, "vae": 12000,
               "sparse_rescaled": 12000, "vae_rescaled": 12000}
QUICK_TEST = 1000
#: standard: the reference sweep. Every model of the post (and the sparse model and VAE with their penalty
#: rescaled) with BCE and MSE; the simple model with every loss; the capacity sweep (the simple model at six code
#: sizes with the four losses of the mechanism's factorial). All to convergence, capped at the post's epochs
#: (the denoiser at 50 of its 100, for time; in the reference every denoising run converged by epoch 25), on
#: training subsets that keep the sweep within about two hours on 2 CPU cores: 20,000 images for the dense
#: models, 12,000 for the convolutional autoencoder and 6,000 for the denoiser.
STANDARD_SEEDS = 8
STANDARD_TRAIN = {**{m: 20000 for m in MODELS}, "conv": 12000, "denoising": 6000}
STANDARD_EPOCHS = {"denoising": 50}
#: mechanism: the simple model at every code size with the four losses of the factorial, to convergence (the
#: same runs as the standard profile's capacity sweep).
CAPACITY_MODELS = tuple(f"simple_{w}" for w in vocabulary.CODE_SIZES)


def profile(name: str, *, dataset: str | None = None) -> SweepConfig:
    """The named profile's sweep, before command-line overrides (``dataset`` replaces the profile's, and sets
    the replication profile's epoch budget)."""
    _one_of("profile", name, PROFILES)
    if name == "smoke":
        return SweepConfig("smoke", dataset or "synthetic", _pairs(POST, ("bce", "mse")) + (("simple", "ssim"),),
                           seeds=(0,), epochs=dict(SMOKE_EPOCHS), train_limit={m: 1024 for m in MODELS},
                           test_limit=64, patience=None)
    if name == "quick":
        models = (*POST, "sparse_rescaled", "vae_rescaled")
        return SweepConfig("quick", dataset or "fashion_mnist", _pairs(models, ("bce", "mse"), ("simple", "conv")),
                           seeds=(0, 1, 2), epochs=dict(QUICK_EPOCHS), train_limit=dict(QUICK_TRAIN),
                           test_limit=QUICK_TEST)
    if name in ("standard", "mechanism"):
        pairs = _pairs(CAPACITY_MODELS, vocabulary.FACTORIAL)
        if name == "standard":
            models = (*POST, "sparse_rescaled", "vae_rescaled")
            pairs = _pairs(models, ("bce", "mse")) + tuple(
                ("simple", loss) for loss in TRAINED_LOSSES if loss not in ("bce", "mse")) + pairs
        return SweepConfig(name, dataset or "fashion_mnist", pairs, seeds=tuple(range(STANDARD_SEEDS)),
                           epochs=dict(STANDARD_EPOCHS), train_limit=dict(STANDARD_TRAIN))
    if name == "replication":
        dataset = dataset or "mnist10k"
        models = tuple(m for m in MODELS if vocabulary.model(m).optimizer == "adadelta")
        models = tuple(dict.fromkeys(m for pair in zip(POST[:4], models) for m in pair))
        return SweepConfig("replication", dataset, _pairs(models, ("bce",)), seeds=(0, 1, 2),
                           epochs={m: step_budget_epochs(m, dataset) for m in models}, patience=None)
    return SweepConfig("tutorial", dataset or "mnist", _pairs(POST, ("bce", "mse"), ("simple", "conv")),
                       seeds=(0, 1, 2), patience=None)


def post_steps(model: str) -> int:
    """The post's optimizer steps for ``model``: its epochs times its steps per epoch on 60,000 images."""
    from replicate import data

    proto = tutorial.PROTOCOLS[vocabulary.model(model).post_model]
    return proto.epochs * math.ceil(data.SIZES["train"] / proto.batch_size)


def step_budget_epochs(model: str, dataset: str) -> int:
    """Epochs that give ``model`` the post's optimizer-step budget on ``dataset``'s training set: the post's steps
    over the steps per epoch here (rounded up)."""
    from replicate import data

    batch = tutorial.PROTOCOLS[vocabulary.model(model).post_model].batch_size
    return math.ceil(post_steps(model) / math.ceil(data.sizes(dataset)["train"] / batch))


def override(base: SweepConfig, *, dataset=None, models=None, losses=None, seeds=None, epochs=None,
             train_limit=None, test_limit=None, backend=None, mixed_precision=None, endpoint=None,
             margin=None) -> SweepConfig:
    """``base`` with explicit command-line choices applied (``None`` keeps the profile's value)."""
    pairs, changes = base.pairs, {}
    if models is not None:
        for m in models:
            _one_of("model", m, MODELS)
        # A model the profile does not train gets the losses it trains every one of its models with, and the
        # epochs and training-set size it gives the post's model that one follows (written out, so that the
        # sweep.json of the sweep reads back the same).
        added = [m for m in dict.fromkeys(models) if m not in base.models]
        everywhere = [loss for loss in base.losses if all((m, loss) in pairs for m in base.models)] or ["bce"]
        pairs = tuple(p for p in pairs if p[0] in models) + tuple((m, loss) for m in added for loss in everywhere)
        follows = {m: vocabulary.model(m).post_model for m in added}
        for name in ("epochs", "train_limit"):
            sizes = getattr(base, name)
            changes[name] = {**sizes, **{m: sizes[p] for m, p in follows.items() if m not in sizes and p in sizes}}
    if losses is not None:
        for loss in losses:
            _one_of("loss", loss, TRAINED_LOSSES)
        pairs = tuple((m, loss) for m in dict.fromkeys(m for m, _ in pairs) for loss in losses)
    changes["pairs"] = pairs
    if dataset is not None:
        changes["dataset"] = dataset
    if seeds is not None:
        changes["seeds"] = tuple(seeds)
    if epochs is not None:
        changes["epochs"] = {m: epochs for m in MODELS}
    if train_limit is not None:
        changes["train_limit"] = {m: train_limit for m in MODELS}
    for name, value in (("test_limit", test_limit), ("backend", backend), ("mixed_precision", mixed_precision),
                        ("endpoint", endpoint), ("margin", margin)):
        if value is not None:
            changes[name] = value
    return dataclasses.replace(base, **changes)


def _one_of(what: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid {what}s: {', '.join(valid)}")


def check_fraction(what: str, value, example: float) -> float:
    """``value`` if it is a number in (0, 1), else a ValueError naming ``what`` with ``example`` as a valid one."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ValueError(f"{what} must be a fraction in (0, 1), e.g. {example} for {example * 100:g} %; got {value!r}")
    return value


def check_margin(value) -> float:
    """``value`` if it is an equivalence margin (a fraction of MSE's mean in (0, 1)), else a ValueError."""
    return check_fraction("the equivalence margin, relative to MSE's mean,", value, 0.02)


def check_seeds(seeds) -> tuple[int, ...]:
    """``seeds`` as a tuple if they are distinct non-negative integers (at least one), else a ValueError."""
    seeds = tuple(seeds)
    if (not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            or len(set(seeds)) != len(seeds) or min(seeds) < 0):
        raise ValueError(f"seeds must be distinct non-negative integers, got {list(seeds)}")
    return seeds


def check_positive(what: str, value) -> int:
    """``value`` if it is a positive integer, else a ValueError naming ``what``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value
