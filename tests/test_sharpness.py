"""The sharpness measure of scoretutor.metrics (chapter 6): root-mean-square gradient, against hand
values, its fall under blur (where the mean absolute gradient does not fall), shapes and kinds, bad input."""
import numpy as np
import pytest
import torch

from scoretutor.metrics import sharpness


def step_edge(height=0.6, h=8, w=10, width=1):
    """(h, w) image: 0 on the left, ``height`` on the right, the step spread linearly over ``width`` pixels."""
    ramp = np.clip((np.arange(w) - w / 2 + 1) / width, 0, 1)
    return np.tile(height * ramp, (h, 1))


def test_hand_values():
    assert sharpness(np.zeros((5, 7))) == 0.0
    assert sharpness(step_edge(0.6, 8, 10)) == pytest.approx(0.6 / np.sqrt(9))           # a / sqrt(W - 1)
    assert sharpness(step_edge(0.6, 8, 10).T) == pytest.approx(0.6 / np.sqrt(9))         # same edge, turned
    checker = np.indices((4, 6)).sum(axis=0) % 2.0                                       # every difference is ±1
    assert sharpness(checker) == pytest.approx(np.sqrt(2))


def test_blur_lowers_it_as_one_over_root_width_where_mean_abs_gradient_does_not_change():
    sharp, blurred = step_edge(1.0, 8, 16, 1), step_edge(1.0, 8, 16, 4)
    assert sharpness(blurred) == pytest.approx(sharpness(sharp) / 2)                      # spread over 4 pixels
    mean_abs = lambda x: np.abs(np.diff(x, axis=1)).mean()                                # noqa: E731
    assert mean_abs(blurred) == pytest.approx(mean_abs(sharp))


def test_batches_kinds_and_nan():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 2, 6, 9))
    out = sharpness(x)
    assert isinstance(out, np.ndarray) and out.shape == (3, 2) and out.dtype == np.float64
    assert np.allclose(out[1, 0], sharpness(x[1, 0]))
    t = sharpness(torch.from_numpy(x).float())
    assert isinstance(t, torch.Tensor) and t.shape == (3, 2) and t.dtype == torch.float32
    assert np.allclose(t.numpy(), out, rtol=1e-5)
    assert sharpness(torch.zeros(4, 4, dtype=torch.uint8)).dtype == torch.float32
    x[0, 1, 2, 3] = np.nan
    out = sharpness(x)
    assert np.isnan(out[0, 1]) and np.isfinite(np.delete(out.ravel(), 1)).all()


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((1, 5)), np.zeros((3, 5, 1)), torch.zeros(2)])
def test_too_small_images_are_refused(bad):
    with pytest.raises(ValueError, match="images"):
        sharpness(bad)


def test_non_arrays_are_refused():
    with pytest.raises(TypeError, match="images"):
        sharpness(object())
