"""How the report writes numbers and words: significant digits, intervals, signs, lists, plurals and dates.

The one number formatter of the report (``results.json`` holds full precision; this decides what a reader sees).
"""
from __future__ import annotations

import math
import re

from replicate.fileio import finite


def decimals(v, sig: int = 3) -> int:
    """Decimals that show ``v`` with ``sig`` significant digits (0 to 8)."""
    if not finite(v) or v == 0:
        return sig
    return int(min(8, max(0, sig - 1 - math.floor(math.log10(abs(v))))))


def fmt(v, places: int | None = None, *, sig: int = 3, sign: bool = False) -> str:
    """A number for the report: ``sig`` significant digits (or fixed ``places``); '—' for none."""
    if not finite(v):
        return "—"
    d = decimals(v, sig) if places is None else places
    text = f"{v:+.{d}f}" if sign else f"{v:.{d}f}"
    return text.replace("-", "−")


def fmt_ci(ci, places: int, *, sign: bool = False) -> str:
    """'lo to hi' of a confidence interval, or 'no CI' when there is none (fewer than two values)."""
    if not ci or not all(finite(c) for c in ci):
        return "no CI"
    return f"{fmt(ci[0], places, sign=sign)} to {fmt(ci[1], places, sign=sign)}"


def pct(v) -> str:
    """A relative difference as a signed percentage."""
    return "—" if not finite(v) else f"{100 * v:+.1f}%".replace("-", "−")


def share(v) -> str:
    """A fraction as an unsigned percentage with one decimal."""
    return "—" if not finite(v) else f"{100 * v:.1f}%"


def ci_decimals(mean, ci, sig: int = 2) -> int:
    """Decimals for a difference and its CI: ``sig`` significant digits of the larger of |mean| and half-width."""
    half = abs(ci[1] - ci[0]) / 2 if ci and all(finite(c) for c in ci) else 0.0
    scale = max(abs(mean) if finite(mean) else 0.0, half)
    return decimals(scale, sig) if scale > 0 else sig


def effect(e: dict, *, sig: int = 2, conf: str = "95") -> str:
    """'+0.032 (95% CI +0.028 to +0.035)' for a difference with its interval."""
    d = ci_decimals(e.get("difference"), e.get("ci95"), sig)
    if not e.get("ci95"):
        return f"{fmt(e.get('difference'), d, sign=True)} (no CI)"
    return f"{fmt(e.get('difference'), d, sign=True)} ({conf}% CI {fmt_ci(e.get('ci95'), d, sign=True)})"


def join(words) -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = list(words)
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def plural(n: int, word: str) -> str:
    """'1 seed', '3 seeds', '2 losses'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith('s') else 's'}"


def when(iso: str) -> str:
    """'2026-01-01 00:01 UTC' from an ISO 8601 UTC time; anything else as given."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|\+00:00)", str(iso))
    return f"{m.group(1)} {m.group(2)} UTC" if m else str(iso)


def as_posted(value: float) -> str:
    """A reported number as the post writes it: two decimals (0.10), or three where it gives three (0.094)."""
    return f"{value:.2f}" if round(value, 2) == value else f"{value:.3f}"


def capitalised(text: str) -> str:
    """``text`` with its first letter upper case."""
    return text[:1].upper() + text[1:]
