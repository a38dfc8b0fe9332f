"""Collision-course probes and the front-disk decision (scoretutor.probes)."""
import numpy as np
import pytest
import torch

from scoretutor import leaves
from scoretutor.probes import LARGE, SMALL, collision_probes, front_disk


@pytest.fixture(scope="module", params=[0.6, 0.8, 1.0])
def probes(request):
    return collision_probes(300, request.param, seed=3, k=2)


def test_shapes_and_ranges(probes):
    n = 300
    assert probes.conditioning.shape == (n, 2, 32, 32)
    assert probes.target_large_front.shape == probes.target_small_front.shape == (n, 32, 32)
    assert probes.centres.shape == (n, 2, 3, 2) and probes.overlap_mask.shape == (n, 32, 32)
    for x in (probes.conditioning, probes.target_large_front, probes.target_small_front):
        assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    assert probes.sequences(True).shape == (n, 3, 32, 32)


def test_geometry_follows_the_generator_rules(probes):
    r, d = probes.radius, probes.depth
    assert np.allclose(r[:, SMALL] / r[:, LARGE], probes.radius_ratio)
    assert np.all(r[:, SMALL] <= r[:, LARGE] + 1e-12) and r.min() >= 3 - 1e-9 and r.max() <= 10
    assert np.allclose(r * d, 10.0)  # same rule as leaves.generate: radius = 10 / depth
    # each disk moves at its speed, which scales as 1 / depth
    step = np.linalg.norm(np.diff(probes.centres, axis=2), axis=-1)  # (n, 2, k)
    assert np.allclose(step, probes.speed[:, :, None])
    assert np.allclose(probes.speed * d, (probes.speed * d)[0, 0])


def test_clean_past_and_overlap_at_the_target(probes):
    c, r = probes.centres, probes.radius
    dist = np.linalg.norm(c[:, LARGE] - c[:, SMALL], axis=-1)  # (n, k + 1)
    assert np.all(np.diff(dist, axis=1) < 0)  # moving towards each other
    assert np.all(dist[:, :-1] >= r.sum(axis=1)[:, None] + 1 - 1e-9)  # past: apart (1 pixel gap)
    assert np.all(dist[:, -1] < r.sum(axis=1))  # target: overlapping
    assert np.all(probes.hidden_fraction > 0.2)
    assert probes.overlap_mask.sum(axis=(1, 2)).min() >= 5
    # the whole target pair is in view
    ct = c[:, :, -1]
    assert ((ct - r[..., None] >= -1e-9) & (ct + r[..., None] <= 32 + 1e-9)).all()


def test_luminances_are_well_separated(probes):
    lum = np.concatenate([probes.luminance, probes.background[:, None]], axis=1)
    gaps = np.abs(lum[:, :, None] - lum[:, None, :])[:, ~np.eye(3, dtype=bool)]
    assert gaps.min() >= 0.25


def test_front_disk_decides_the_two_possible_targets(probes):
    a = front_disk(probes.target_large_front, probes)
    b = front_disk(probes.target_small_front, probes)
    assert a.large_front.all() and not b.large_front.any()
    assert a.error.max() < 1e-4 and b.error.max() < 1e-4 and a.reliable().all()
    # the pixels of the overlap show the front disk's luminance exactly
    lum = probes.luminance
    m = probes.overlap_mask
    assert np.allclose(probes.target_large_front[m], np.repeat(lum[:, LARGE], m.sum(axis=(1, 2))), atol=1e-5)
    # the least-squares answer, their average, is neither: off both luminances by half their gap
    avg = front_disk(0.5 * (probes.target_large_front + probes.target_small_front), probes)
    assert np.allclose(avg.error, np.abs(lum[:, 0] - lum[:, 1]) / 2, atol=1e-4)
    assert not avg.reliable(0.1).any()


def test_front_disk_on_samples_and_tensors(probes):
    stack = np.stack([probes.target_large_front, probes.target_small_front, probes.target_large_front], axis=1)
    dec = front_disk(torch.from_numpy(stack), probes)
    assert dec.large_front.shape == (300, 3)
    assert dec.large_front[:, 0].all() and not dec.large_front[:, 1].any() and dec.large_front[:, 2].all()
    with pytest.raises(ValueError, match="predicted"):
        front_disk(stack[:10], probes)


def test_conditioning_frames_agree_with_the_renderer():
    p = collision_probes(5, 0.7, seed=1, k=3)
    order = np.tile([SMALL, LARGE], (5, 1))
    again = leaves.render(p.centres, p.radius, p.luminance, p.background, order, 32)
    assert np.array_equal(again[:, :3], p.conditioning) and np.array_equal(again[:, 3], p.target_large_front)


def test_k_zero_seed_and_array_ratio():
    p = collision_probes(4, 1.0, seed=0, k=0)
    assert p.conditioning.shape == (4, 0, 32, 32) and p.centres.shape == (4, 2, 1, 2)
    ratios = np.linspace(0.5, 1.0, 6)
    a = collision_probes(6, ratios, seed=9)
    b = collision_probes(6, ratios, seed=9)
    assert np.allclose(a.radius_ratio, ratios)
    assert np.array_equal(a.conditioning, b.conditioning)
    assert not np.array_equal(a.conditioning, collision_probes(6, ratios, seed=10).conditioning)


@pytest.mark.parametrize(
    "args, kwargs, word",
    [
        ((0, 1.0), {}, "n"),
        ((5, 0.0), {}, "radius_ratio"),
        ((5, 1.2), {}, "radius_ratio"),
        ((5, 0.2), {}, "radius_ratio"),
        ((5, [0.8, 0.9]), {}, "radius_ratio"),
        ((5, 1.0), {"k": -1}, "k"),
        ((5, 1.0), {"size": 12}, "size"),
        ((5, 1.0), {"speed_scale": 0}, "speed_scale"),
        ((5, 1.0), {"large_radius": (2.0, 7.0)}, "large_radius"),
    ],
)
def test_bad_input(args, kwargs, word):
    with pytest.raises(ValueError, match=word):
        collision_probes(*args, **kwargs)
