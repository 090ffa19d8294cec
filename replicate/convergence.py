"""The convergence rule: when a run's validation loss has stopped improving on its excess over the loss's floor.

A loss's raw value says little about how far training still has to go when the loss has a floor above zero
(BCE's is the targets' mean entropy), so the rule looks at the excess over the floor. After epoch e the best
excess so far is compared with the best before e; the relative improvement
``(best before e - best after e) / best before e`` below ``min_improvement`` for ``patience`` epochs in a row
means converged, at that epoch. The runner stops a run there; the analysis reports the same numbers.
No Keras import.
"""
from __future__ import annotations

import math


def improvements(val_losses, floor: float) -> list[float | None]:
    """Relative improvement of the best excess over ``floor`` in each epoch (None for the first, which has no
    before; 0 for an epoch that did not improve on the best). Non-finite losses give None."""
    out: list[float | None] = []
    best = math.inf
    for value in val_losses:
        if value is None or not math.isfinite(value):
            out.append(None)
            continue
        excess = max(value - floor, 0.0)
        if math.isinf(best):
            out.append(None)
        elif best <= 0:
            out.append(0.0)
        else:
            out.append(max(best - excess, 0.0) / best)
        best = min(best, excess)
    return out


def converged_epoch(val_losses, floor: float, patience: int, min_improvement: float) -> int | None:
    """The first epoch (1-based) at which the last ``patience`` improvements were all below ``min_improvement``,
    or None if that has not happened yet."""
    run = 0
    for epoch, gain in enumerate(improvements(val_losses, floor), start=1):
        if gain is None:
            run = 0 if epoch > 1 else run
            continue
        run = run + 1 if gain < min_improvement else 0
        if run >= patience:
            return epoch
    return None
