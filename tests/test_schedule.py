"""Tests for scoretutor.schedule: the sampler's step size and injected noise, on floats, NumPy
arrays and torch tensors, against the formulas; and their argument checks."""
import math

import numpy as np
import pytest
import torch

from scoretutor.schedule import injected_noise, step_size


@pytest.mark.parametrize("h0", [0.01, 0.1, 0.5, 1.0])
def test_step_size_formula_and_shape_of_the_schedule(h0):
    t = np.arange(1, 2001)
    h = step_size(t, h0)
    np.testing.assert_allclose(h, h0 * t / (1 + h0 * (t - 1)), rtol=1e-15)
    assert h[0] == pytest.approx(h0)              # starts at h0
    assert np.all(np.diff(h) >= 0)                # grows ...
    assert np.all(h <= 1.0) and h[-1] > 0.95      # ... towards 1


def test_step_size_keeps_the_kind_of_its_input():
    assert isinstance(step_size(3, 0.01), float)
    assert step_size(3, 0.01) == pytest.approx(0.03 / 1.02)
    assert isinstance(step_size(np.array([1, 2]), 0.1), np.ndarray)
    t = torch.arange(1, 6, dtype=torch.float64)
    out = step_size(t, 0.2)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), step_size(t.numpy(), 0.2))


def test_injected_noise_formula():
    sigma = np.linspace(0.0, 2.0, 9)[:, None, None]
    h = np.linspace(0.01, 1.0, 12)[None, :, None]
    for beta in (0.05, 0.3, 0.5, 0.99):
        want = sigma * np.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2)
        np.testing.assert_allclose(injected_noise(sigma, h, beta), want, rtol=1e-9, atol=1e-15)


def test_injected_noise_brings_the_noise_to_the_target_level():
    """After a step of size h the remaining noise is (1 - h) sigma; adding gamma makes it (1 - beta h) sigma."""
    sigma, h, beta = 0.7, 0.3, 0.4
    gamma = injected_noise(sigma, h, beta)
    assert math.hypot((1 - h) * sigma, gamma) == pytest.approx((1 - beta * h) * sigma, rel=1e-12)


def test_beta_one_injects_nothing_exactly():
    h = np.linspace(0.001, 1.0, 50)
    assert np.all(injected_noise(1.0, h, 1.0) == 0.0)
    assert injected_noise(0.5, 1.0, 0.3) == pytest.approx(0.5 * math.sqrt(0.7**2))  # h = 1: all fresh noise


def test_injected_noise_on_tensors_and_floats():
    sigma = torch.tensor([0.1, 0.5, 1.0])
    out = injected_noise(sigma, step_size(4, 0.05), 0.5)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    want = injected_noise(sigma.numpy().astype(float), step_size(4, 0.05), 0.5)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)
    assert isinstance(injected_noise(0.3, 0.2, 0.5), float)


@pytest.mark.parametrize("call, match", [
    (lambda: step_size(1, 0.0), "h0 must be in"),
    (lambda: step_size(1, 1.5), "h0 must be in"),
    (lambda: step_size(1, -0.1), "h0 must be in"),
    (lambda: step_size(0, 0.1), "t must be >= 1"),
    (lambda: step_size(np.array([1, 0]), 0.1), "t must be >= 1"),
    (lambda: step_size(1, "0.1"), "h0 must be a number"),
    (lambda: injected_noise(1.0, 0.5, 0.0), "beta must be in"),
    (lambda: injected_noise(1.0, 0.5, 1.2), "beta must be in"),
    (lambda: injected_noise(-1.0, 0.5, 0.5), "sigma must be >= 0"),
    (lambda: injected_noise(torch.tensor([0.1, -0.1]), 0.5, 0.5), "sigma must be >= 0"),
    (lambda: injected_noise(1.0, 0.0, 0.5), "h must be in"),
    (lambda: injected_noise(1.0, 1.5, 0.5), "h must be in"),
])
def test_bad_arguments_raise_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the ideal chain's noise levels and its number of evaluations (chapter 6) ----------------
def test_ideal_noise_levels_follow_the_recursion_and_stop_below_sigma_stop():
    from scoretutor.schedule import ideal_noise_levels

    levels = ideal_noise_levels(0.05, 0.5, 1.0, 0.02)
    t = np.arange(1, len(levels))
    np.testing.assert_allclose(levels[1:] / levels[:-1], 1 - 0.5 * step_size(t, 0.05), rtol=1e-12)
    assert levels[0] == 1.0 and levels[-1] < 0.02 <= levels[-2]
    assert len(ideal_noise_levels(0.2, 0.5)) < len(ideal_noise_levels(0.05, 0.5)) < len(ideal_noise_levels(0.01, 0.5))
    assert len(ideal_noise_levels(0.05, 1.0)) < len(ideal_noise_levels(0.05, 0.25))
    assert len(ideal_noise_levels(0.1, 0.5, sigma0=0.01, sigma_stop=0.02)) == 1   # already below: one evaluation
    assert len(ideal_noise_levels(0.001, 0.01, max_steps=50)) == 50


@pytest.mark.parametrize("kwargs, match", [({"h0": 0}, "h0"), ({"beta": 1.5}, "beta"), ({"sigma0": -1}, "sigma0"),
                                           ({"sigma_stop": 0}, "sigma_stop"), ({"max_steps": 0}, "max_steps")])
def test_ideal_noise_levels_bad_arguments(kwargs, match):
    from scoretutor.schedule import ideal_noise_levels

    args = {"h0": 0.05, "beta": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        ideal_noise_levels(**args)
