"""A small sweep for the sharding and executor tests, and what of its results.json must not depend on the split."""
import json
from pathlib import Path

from replicate import fileio

#: Three units of work (simple's two losses side by side; sparse's alone), usable (not screened as
#: collapsed against the mean image) after 40 epochs of 4 steps, on JAX, where such small epochs cost a third of
#: TensorFlow's (in a child process when the test process holds Keras on TensorFlow).
SMALL = ["run", "--profile", "smoke", "--models", "simple", "sparse", "--losses", "bce", "mse", "--epochs", "40",
         "--backend", "jax"]
#: The parts of results.json that must not depend on how the sweep was split.
JUDGED = ("aggregates", "comparisons", "verdicts", "answer")


def judged(out: Path) -> dict[str, str]:
    """The judgements of a sweep's results.json, serialised as compared (byte for byte)."""
    results = fileio.read_json(Path(out) / "results.json")
    return {key: json.dumps(results[key], sort_keys=True) for key in JUDGED}
