"""The shared argument checks (scoretutor.checks): what they accept, what they refuse, and what they say."""
import math

import numpy as np
import pytest
import torch

from scoretutor import checks
from scoretutor.unet import UNet


def test_integer_accepts_python_and_numpy_integers_within_bounds():
    assert checks.integer(3, "k", 0) == 3 and type(checks.integer(np.int64(3), "k")) is int
    assert checks.integer(5, "n", 1, 5) == 5


@pytest.mark.parametrize("value, message", [
    (-1, "k must be an integer >= 0, got -1"), (1.5, "k must be an integer >= 0, got 1.5"),
    (True, "k must be an integer >= 0, got True"), ("2", "k must be an integer >= 0, got '2'"),
])
def test_integer_refuses_with_a_message_that_names_the_argument(value, message):
    with pytest.raises(ValueError) as info:
        checks.integer(value, "k", 0)
    assert str(info.value) == message


def test_integer_names_alternatives_and_hints():
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1 and <= 3, got 4$"):
        checks.integer(4, "n", 1, 3)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0 or None, got -2 \(why\)"):
        checks.integer(-2, "seed", 0, alternatives="or None", hint="why")


@pytest.mark.parametrize("call, message", [
    (lambda: checks.unit_interval(0.0, "h0"), "h0 must be in (0, 1], got 0.0"),
    (lambda: checks.unit_interval(1.5, "h0"), "h0 must be in (0, 1], got 1.5"),
    (lambda: checks.unit_interval("0.1", "h0"), "h0 must be a number in (0, 1], got '0.1'"),
    (lambda: checks.positive(math.inf, "sigma0"), "sigma0 must be a finite number > 0, got inf"),
    (lambda: checks.positive(-1, "lr"), "lr must be > 0, got -1.0"),
    (lambda: checks.number(math.nan, "start"), "start must be a number, got nan"),
    (lambda: checks.probability(1.2, "p"), "p must be a probability in [0, 1], got 1.2"),
    (lambda: checks.probability(True, "p"), "p must be a probability in [0, 1], got True"),
    (lambda: checks.probability([0.5, -0.1], "p"), "p must be a probability in [0, 1], got -0.1"),
])
def test_numbers_refused_with_the_admissible_range(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_numbers_accepted():
    assert checks.positive(math.inf, "d", finite=False) == math.inf
    assert checks.unit_interval(1, "h0") == 1.0 and checks.number(-3, "x") == -3.0
    assert checks.probability(0.25, "p") == 0.25
    np.testing.assert_array_equal(checks.probability([0, 1], "p"), [0.0, 1.0])


def test_network_checks_refuse_training_mode_and_non_modules():
    net = UNet(k=1, width=2, scales=1)
    with pytest.raises(ValueError, match="training mode: it would mix; call model.eval"):
        checks.eval_network(net, why="it would mix")
    assert checks.denoiser(net.eval(), needs_observation=True, why="-") == 1
    with pytest.raises(TypeError, match="torch.nn.Module"):
        checks.eval_network("net", why="-")
    with pytest.raises(TypeError, match="integer attribute k"):
        checks.denoiser(torch.nn.Linear(2, 2).eval(), needs_observation=False, why="-")
    with pytest.raises(ValueError, match="prediction-only"):
        checks.denoiser(UNet(k=1, width=2, scales=1, prediction_only=True).eval(), needs_observation=True, why="-")
