"""The statistics the analysis uses: t-intervals over seeds, paired t and Wilcoxon tests, Holm's correction and
the two one-sided tests (TOST) of equivalence. Plain numpy and scipy; no judgement of what the numbers mean."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from replicate.fileio import finite

CONFIDENCE = 0.95
#: Significance level of every test (before Holm's correction).
ALPHA = 0.05


def t_interval(values, confidence: float = CONFIDENCE) -> dict:
    """Mean, sample standard deviation and Student-t confidence interval of independent values.

    Parameters
    ----------
    values : array_like
        One value per seed (NaNs are dropped).
    confidence : float, optional
        Two-sided coverage of the interval.

    Returns
    -------
    dict
        ``n``, ``mean``, ``std`` (ddof = 1) and ``ci95`` = ``[mean - h, mean + h]`` with
        ``h = t_{(1 + confidence)/2, n-1} * std / sqrt(n)``; ``std`` and ``ci95`` are None when n < 2, and
        every number is None when a value is infinite (no interval can be stated).

    Notes
    -----
    Worked example, values (1, 2, 3, 4): mean = 2.5; std = sqrt(((-1.5)^2 + (-0.5)^2 + 0.5^2 + 1.5^2) / 3)
    = sqrt(5/3) = 1.2909944; standard error = 1.2909944 / 2 = 0.6454972; t_{0.975, 3} = 3.1824463;
    h = 2.0542603; interval [0.4457397, 4.5542603].
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    if not np.isfinite(v).all():
        return {"n": n, "mean": None, "std": None, "ci95": None}
    mean = float(v.mean())
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "ci95": None}
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def paired_test(differences, confidence: float = CONFIDENCE) -> dict:
    """One-sample t analysis of paired differences: :func:`t_interval` plus a two-sided p-value and d_z.

    Parameters
    ----------
    differences : array_like
        Paired differences (e.g. one per seed); NaNs are dropped.

    Returns
    -------
    dict
        ``n``, ``mean``, ``std``, ``ci95``, ``p_value`` (H0: mean difference 0; 2 * t.sf(|t|, n - 1) with
        t = mean / (std / sqrt(n))), ``d_z`` = mean / std (standardised effect) and ``excludes_zero`` (the CI lies
        on one side of 0). None where n < 2; with zero spread, p is 0 for a non-zero mean and 1 for a zero one.
    """
    out = t_interval(differences, confidence)
    out["p_value"] = out["d_z"] = None
    if out["n"] >= 2 and out["mean"] is not None:
        mean, std = out["mean"], out["std"]
        if std > 0:
            out["p_value"] = float(2 * stats.t.sf(abs(mean) / (std / math.sqrt(out["n"])), out["n"] - 1))
            out["d_z"] = mean / std
        else:
            out["p_value"] = 0.0 if mean != 0 else 1.0
    out["excludes_zero"] = excludes_zero(out["ci95"])
    return out


def wilcoxon_test(differences) -> dict:
    """Wilcoxon signed-rank test of paired differences against 0 (zeros dropped, as Wilcoxon did).

    Returns ``n`` (non-zero pairs), ``median``, ``statistic`` and ``p_value`` (``scipy.stats.wilcoxon``,
    two-sided, by its default method: exact, or by permutation where there are ties, for small samples; a normal
    approximation for large ones).
    """
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    median = float(np.median(d)) if d.size else None
    d = d[d != 0]
    if d.size == 0:
        return {"n": 0, "median": median, "statistic": None, "p_value": None if median is None else 1.0}
    res = stats.wilcoxon(d)
    return {"n": int(d.size), "median": median, "statistic": float(res.statistic), "p_value": float(res.pvalue)}


def tost(differences, margin: float) -> dict:
    """Two one-sided t-tests of equivalence: is the mean paired difference inside (-margin, +margin)?

    Parameters
    ----------
    differences : array_like
        Paired differences; NaNs are dropped.
    margin : float
        The equivalence bound, > 0, in the units of the differences.

    Returns
    -------
    dict
        ``margin``; ``p_lower`` (H0: mean <= -margin, t.sf((mean + margin) / se)), ``p_upper`` (H0: mean >=
        margin, t.cdf((mean - margin) / se)) and ``p_value`` = their maximum: equivalence at level alpha when it
        is below alpha, i.e. when the (1 - 2 alpha) interval ``ci90`` lies inside the margins (Schuirmann, J.
        Pharmacokinet. Biopharm. 15(6):657-680, 1987). None where n < 2 or a difference is infinite.

    Notes
    -----
    Worked example, differences (1, 2, 3, 4), margin 5: mean 2.5, se 0.6454972, t_lower = 11.6190, t_upper =
    -3.8730; p_lower = 6.8467e-4, p_upper = 0.015233; p = 0.015233.
    """
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be positive, got {margin!r}")
    v = np.asarray(differences, dtype=float)
    v = v[~np.isnan(v)]
    out = {"margin": float(margin), "p_lower": None, "p_upper": None, "p_value": None, "ci90": None}
    n = int(v.size)
    if n < 2 or not np.isfinite(v).all():
        return out
    mean, se = float(v.mean()), float(v.std(ddof=1)) / math.sqrt(n)
    if se == 0:
        inside = -margin < mean < margin
        out.update(p_lower=0.0 if mean > -margin else 1.0, p_upper=0.0 if mean < margin else 1.0,
                   p_value=0.0 if inside else 1.0, ci90=[mean, mean])
        return out
    p_lower = float(stats.t.sf((mean + margin) / se, n - 1))
    p_upper = float(stats.t.cdf((mean - margin) / se, n - 1))
    half = float(stats.t.ppf(1 - ALPHA, n - 1)) * se
    out.update(p_lower=p_lower, p_upper=p_upper, p_value=max(p_lower, p_upper), ci90=[mean - half, mean + half])
    return out


def holm(p_values) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None or NaN entries are left out and stay None).

    Notes
    -----
    Sort the m p-values ascending; the adjusted k-th is max over j <= k of min(1, (m - j + 1) p_(j)) (Holm,
    Scand. J. Stat. 6(2):65-70, 1979). Rejecting where the adjusted p < alpha controls the family-wise error.
    Example: (0.01, 0.04, 0.03) -> (0.03, 0.06, 0.06).
    """
    present = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    m = len(present)
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def excludes_zero(ci) -> bool:
    """Whether a confidence interval lies wholly above or below 0."""
    return bool(ci) and all(finite(c) for c in ci) and (ci[0] > 0 or ci[1] < 0)
