"""``results.json`` indexed for the report: look-ups by (dataset, model, loss) and the sweep's planned groups."""
from __future__ import annotations


class Results:
    """The parsed ``results.json`` with look-ups by (model, loss) and the sweep's expected pairs and seeds."""

    def __init__(self, results: dict):
        self.r = results
        self.config = results["sweep"].get("config") or {}
        self.provenance = results["sweep"].get("provenance") or {}
        self.methods = results.get("methods", {})
        self.theory = results.get("theory", {})
        self.data = results.get("data", {})
        self.aggs = {(a["dataset"], a["model"], a["loss"]): a for a in results.get("aggregates", [])}
        self.comps = {(c["dataset"], c["model"], c["loss"], c["metric"]): c for c in results.get("comparisons", [])}
        self.runs = results.get("runs", [])
        self.screened = results.get("screened", [])
        self.missing = results.get("missing", [])
        self.seeds = list(self.config.get("seeds") or sorted({r["seed"] for r in self.runs + self.missing}))
        self.groups = [tuple(g) for g in results.get("groups", [])]
        self.datasets = list(dict.fromkeys(g[0] for g in self.groups))
        self.models = list(dict.fromkeys(g[:2] for g in self.groups))  # (dataset, model)
        self.losses = list(dict.fromkeys(g[2] for g in self.groups))
        self.convergence = {(c["dataset"], c["model"], c["loss"]): c for c in results.get("convergence", [])}

    def main_models(self) -> list[tuple[str, str]]:
        """(dataset, model) pairs the per-model figures show: all but the capacity sweep's variants, which have a
        section of their own (all of them where the sweep is only that)."""
        from replicate import vocabulary

        main = [(d, m) for d, m in self.models if m not in vocabulary.MODELS or
                vocabulary.MODELS[m].code_size is None]
        return main or self.models

    def title(self, dataset: str, model: str) -> str:
        """A model's name in the report: the key, prefixed by the dataset when the sweep has several."""
        return model if len(self.datasets) == 1 else f"{dataset}/{model}"

    def losses_of(self, dataset: str, model: str) -> list[str]:
        return [g[2] for g in self.groups if g[:2] == (dataset, model)]

    def seed_count(self, key) -> tuple[int, int]:
        """(finished seeds, expected seeds) of a (dataset, model, loss) group."""
        done = len(self.aggs[key]["seeds"]) if key in self.aggs else 0
        expected = len([r for r in self.runs + self.screened + self.missing
                        if (r["dataset"], r["model"], r["loss"]) == key])
        return done, max(expected, done)

    def config_for(self, name: str, model: str):
        """A config value that may be per model (a dict) or one for all."""
        value = self.config.get(name)
        return value.get(model) if isinstance(value, dict) else value

    def midtone_range(self):
        """(lo, hi) of the midtone band as the methods record it, or None."""
        for b in self.methods.get("bands", []):
            if b["key"] == "midtone":
                return b["lo"], b["hi"]
        return None
