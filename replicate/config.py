"""Frozen, validated configuration: one :class:`RunConfig` per trained model, one :class:`SweepConfig` per sweep,
and the named profiles (``smoke``, ``quick``, ``tutorial``) that fill them. No Keras import."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from replicate import tutorial, vocabulary
from replicate.data import DATASETS

MODELS = vocabulary.MODEL_KEYS
LOSSES = vocabulary.LOSS_KEYS
TRAINED_LOSSES = vocabulary.TRAINED_LOSSES
BACKENDS = ("tensorflow", "jax")
PROFILES = ("smoke", "quick", "tutorial")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run; serialised into the run's ``config.json``."""

    dataset: str
    model: str
    loss: str
    seed: int
    epochs: int
    batch_size: int
    shuffle: bool
    optimizer: str
    learning_rate: float
    train_limit: int | None
    test_limit: int | None
    noise_factor: float | None = None
    mixed_precision: bool = False

    def __post_init__(self):
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("model", self.model, MODELS)
        _one_of("loss", self.loss, TRAINED_LOSSES)
        _one_of("optimizer", self.optimizer, ("adam", "adadelta"))
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        for name in ("train_limit", "test_limit"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))

    @property
    def path(self) -> str:
        """The run's directory relative to the sweep: ``<dataset>/<model>/<loss>/seed<k>``."""
        return f"{self.dataset}/{self.model}/{self.loss}/seed{self.seed}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: which (model, loss) pairs, seeds and protocol; serialised into ``sweep.json``."""

    profile: str
    dataset: str
    pairs: tuple[tuple[str, str], ...]
    seeds: tuple[int, ...]
    epochs: dict = field(default_factory=dict)  # model -> epochs
    train_limit: dict = field(default_factory=dict)  # model -> number of training images (None: all)
    test_limit: int | None = None
    optimizer: str = "adam"
    backend: str = "tensorflow"
    mixed_precision: bool = False

    def __post_init__(self):
        _one_of("profile", self.profile, PROFILES)
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("backend", self.backend, BACKENDS)
        if not self.pairs:
            raise ValueError("a sweep needs at least one (model, loss) pair")
        for model, loss in self.pairs:
            _one_of("model", model, MODELS)
            _one_of("loss", loss, TRAINED_LOSSES)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct non-negative integers, got {list(self.seeds)}")

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for m, _ in self.pairs))

    @property
    def losses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(loss for _, loss in self.pairs))

    def runs(self) -> list[RunConfig]:
        """Every run of the sweep, models in tutorial order, then losses, then seeds."""
        return [protocol_run(model, dataset=self.dataset, loss=loss, seed=seed, epochs=self.epochs.get(model),
                             train_limit=self.train_limit.get(model), test_limit=self.test_limit,
                             optimizer=self.optimizer, mixed_precision=self.mixed_precision)
                for model, loss in self.pairs for seed in self.seeds]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["pairs"] = [list(p) for p in self.pairs]
        d["seeds"] = list(self.seeds)
        d["models"], d["losses"] = list(self.models), list(self.losses)
        return d


def protocol_run(model: str, *, dataset: str, loss: str, seed: int, epochs: int | None = None,
                 train_limit: int | None = None, test_limit: int | None = None, optimizer: str | None = None,
                 mixed_precision: bool = False) -> RunConfig:
    """A run that follows the post's protocol for ``model`` (epochs, batch size, shuffle, optimizer, denoising
    noise), with the given changes. Adadelta gets learning rate 1.0, as Keras had when the post was written."""
    proto = tutorial.PROTOCOLS[model]
    optimizer = optimizer or proto.optimizer
    return RunConfig(dataset=dataset, model=model, loss=loss, seed=seed, epochs=epochs or proto.epochs,
                     batch_size=proto.batch_size, shuffle=proto.shuffle, optimizer=optimizer,
                     learning_rate=1.0 if optimizer == "adadelta" else 1e-3, train_limit=train_limit,
                     test_limit=test_limit, noise_factor=tutorial.NOISE_FACTOR if model == "denoising" else None,
                     mixed_precision=mixed_precision)


def _pairs(models, base_losses, full_models=()) -> tuple[tuple[str, str], ...]:
    return tuple((m, loss) for m in models for loss in (TRAINED_LOSSES if m in full_models else base_losses))


#: quick: Fashion-MNIST subsets and epochs sized so the whole sweep, metrics and report included, fits in
#: 15 minutes on 2 CPU cores. The convolutional models cost 6-20x more per image than the dense ones, so they
#: see fewer images; every loss of one model gets the same budget. The report shows the learning curves.
QUICK_EPOCHS = {"simple": 10, "sparse": 10, "deep": 10, "conv": 6, "denoising": 4, "vae": 5}
QUICK_TRAIN = {"simple": 12000, "sparse": 12000, "deep": 12000, "conv": 6000, "denoising": 4000, "vae": 12000}
QUICK_TEST = 1000


def profile(name: str) -> SweepConfig:
    """The named profile's sweep, before command-line overrides."""
    _one_of("profile", name, PROFILES)
    if name == "smoke":
        return SweepConfig("smoke", "synthetic", _pairs(MODELS, ("bce", "mse")) + (("simple", "ssim"),),
                           seeds=(0,), epochs={m: 1 for m in MODELS}, train_limit={m: 256 for m in MODELS},
                           test_limit=64)
    if name == "quick":
        return SweepConfig("quick", "fashion_mnist", _pairs(MODELS, ("bce", "mse"), ("simple", "conv")),
                           seeds=(0, 1, 2), epochs=dict(QUICK_EPOCHS), train_limit=dict(QUICK_TRAIN),
                           test_limit=QUICK_TEST)
    return SweepConfig("tutorial", "mnist", _pairs(MODELS, ("bce", "mse"), ("simple", "conv")), seeds=(0, 1, 2))


def override(base: SweepConfig, *, dataset=None, models=None, losses=None, seeds=None, epochs=None,
             train_limit=None, test_limit=None, backend=None, mixed_precision=None) -> SweepConfig:
    """``base`` with explicit command-line choices applied (``None`` keeps the profile's value)."""
    pairs = base.pairs
    if models is not None:
        for m in models:
            _one_of("model", m, MODELS)
        pairs = tuple(p for p in pairs if p[0] in models) or tuple((m, "bce") for m in models)
    if losses is not None:
        for loss in losses:
            _one_of("loss", loss, TRAINED_LOSSES)
        pairs = tuple((m, loss) for m in dict.fromkeys(m for m, _ in pairs) for loss in losses)
    changes = {"pairs": pairs}
    if dataset is not None:
        changes["dataset"] = dataset
    if seeds is not None:
        changes["seeds"] = tuple(seeds)
    if epochs is not None:
        changes["epochs"] = {m: epochs for m in MODELS}
    if train_limit is not None:
        changes["train_limit"] = {m: train_limit for m in MODELS}
    if test_limit is not None:
        changes["test_limit"] = test_limit
    if backend is not None:
        changes["backend"] = backend
    if mixed_precision is not None:
        changes["mixed_precision"] = mixed_precision
    return dataclasses.replace(base, **changes)


def _one_of(what: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid {what}s: {', '.join(valid)}")


def _positive(what: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
