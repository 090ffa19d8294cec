"""Closed forms of the per-pixel losses against high-precision and numerical references."""
import math

import mpmath
import numpy as np
import pytest

from replicate import theory
from tests.references import GRID, cb_log_norm_reference

def test_worked_example():
    """Target 0.2: H(0.2) = 0.500402423538188 nats; BCE(0.1) = -0.2 ln 0.1 - 0.8 ln 0.9, BCE(0.3) likewise.

    Values from 50-digit mpmath evaluation of the same formulas.
    """
    ex = theory.worked_example()
    mpmath.mp.dps = 50

    def bce(a, x):
        a, x = mpmath.mpf(a), mpmath.mpf(x)
        return float(-(a * mpmath.log(x) + (1 - a) * mpmath.log(1 - x)))

    h = bce(0.2, 0.2)
    assert ex["entropy_nats"] == pytest.approx(h, abs=1e-12)
    assert ex["entropy_nats"] == pytest.approx(0.500402423538188, abs=1e-9)
    low, high = ex["rows"]
    assert low["bce_nats"] == pytest.approx(bce(0.2, 0.1), abs=1e-9)
    assert high["bce_nats"] == pytest.approx(bce(0.2, 0.3), abs=1e-9)
    assert low["kl_nats"] == pytest.approx(bce(0.2, 0.1) - h, abs=1e-9)
    assert high["bce_bits"] == pytest.approx(bce(0.2, 0.3) / math.log(2), abs=1e-9)
    assert low["mse"] == pytest.approx(high["mse"], abs=1e-15) and low["mae"] == pytest.approx(high["mae"])
    assert ex["bce_prefers"] == 0.3 and high["bce_nats"] < low["bce_nats"]


def test_cb_log_norm_matches_high_precision():
    got = theory.cb_log_norm(GRID)
    want = np.array([cb_log_norm_reference(v) for v in GRID])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", theory.PIXELWISE)
def test_dloss_dx_is_the_numerical_derivative(name):
    a = np.array([0.0, 0.05, 0.3, 0.5, 0.8, 1.0])
    x = np.array([0.2, 0.4, 0.35, 0.9, 0.6, 0.7])  # away from kinks and from the Huber threshold
    h = 1e-6
    numeric = (theory.loss(name, a, x + h) - theory.loss(name, a, x - h)) / (2 * h)
    np.testing.assert_allclose(theory.dloss_dx(name, a, x), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", theory.PIXELWISE)
def test_dloss_dz_is_the_chain_rule(name):
    a = np.array([0.0, 0.1, 0.5, 0.7, 1.0])
    z = np.array([-2.0, 0.3, 1.5, -0.4, 3.0])
    h = 1e-6
    numeric = (theory.loss(name, a, theory.sigmoid(z + h)) - theory.loss(name, a, theory.sigmoid(z - h))) / (2 * h)
    np.testing.assert_allclose(theory.dloss_dz(name, a, z), numeric, rtol=1e-6, atol=1e-8)


def test_bce_logit_gradient_is_sigmoid_minus_target():
    a, z = np.linspace(0, 1, 11), np.linspace(-6, 6, 11)
    np.testing.assert_allclose(theory.dloss_dz("bce", a, z), theory.sigmoid(z) - a, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["bce", "mse", "huber", "continuous_bernoulli"])
def test_curvature_is_the_second_derivative_at_the_optimum(name):
    """Second difference of the loss around the optimum, in the reconstructed value (the CB mean for CB)."""
    a = np.array([0.1, 0.2, 0.5, 0.9])  # CB parameters for these stay inside the 1e-7 clip
    h = 1e-4
    if name == "continuous_bernoulli":
        def f(mu):
            return theory.loss(name, a, theory.sigmoid(theory.cb_eta_for_mean(mu)))
    else:
        def f(mu):
            return theory.loss(name, a, mu)
    numeric = (f(a + h) - 2 * f(a) + f(a - h)) / h**2
    np.testing.assert_allclose(theory.curvature(name, a), numeric, rtol=1e-4)


def test_bce_relative_weights():
    """1/(a(1-a)) relative to a = 1/2: 0.3 -> 1.19, 0.1 -> 2.78, 0.01 -> 25.25 (the issue's "up to 25x")."""
    np.testing.assert_allclose(theory.relative_weight("bce", np.array([0.3, 0.1, 0.01])),
                               [0.25 / 0.21, 0.25 / 0.09, 0.25 / 0.0099], rtol=1e-12)
    np.testing.assert_array_equal(theory.relative_weight("mse", np.array([0.1, 0.9])), [1.0, 1.0])


def test_cb_mean_values():
    """Mean of CB(lambda) from the literature table: mu(0.6)=0.534, mu(0.9)=0.670, mu(0.99)=0.793."""
    np.testing.assert_allclose(theory.cb_mean(np.array([0.5, 0.6, 0.9, 0.99])), [0.5, 0.534, 0.670, 0.793],
                               atol=6e-4)
    mu = np.array([0.01, 0.3, 0.5, 0.77])
    np.testing.assert_allclose(theory.cb_mean_eta(theory.cb_eta_for_mean(mu)), mu, rtol=1e-12)


def test_unknown_loss_has_no_theory():
    with pytest.raises(ValueError, match="pixelwise losses are"):
        theory.loss("ssim", 0.5, 0.5)
