"""High-precision references shared by the theory and loss tests (mpmath at 50 digits)."""
import math

import mpmath
import numpy as np

GRID = np.array([1e-6, 0.01, 0.2, 0.49, 0.499, 0.4999, 0.5 - 1e-6, 0.5 - 1e-7, 0.5, 0.5 + 1e-7, 0.5 + 1e-6,
                 0.5001, 0.501, 0.51, 0.8, 0.99, 0.999999])


def cb_log_norm_reference(lam: float) -> float:
    """log C(lambda) with C = 2 artanh(1 - 2 lambda) / (1 - 2 lambda) at 50 digits (C(1/2) = 2 by continuity)."""
    mpmath.mp.dps = 50
    lam = mpmath.mpf(float(lam))  # the exact binary value the float64 code sees
    if lam == mpmath.mpf(1) / 2:
        return math.log(2)
    u = 1 - 2 * lam
    return float(mpmath.log(2 * mpmath.atanh(u) / u))
