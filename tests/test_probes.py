"""Collision-course probes and the front-disk decision (scoretutor.data.probes; the sweep in scoretutor.psychometric)."""
import numpy as np
import pytest
import torch

from scoretutor.data import leaves
from scoretutor.data.probes import LARGE, SMALL, collision_probes, front_disk


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


# --- the psychometric sweep (chapter 6) ------------------------------------------------------
def test_binomial_interval_wilson_values_and_edges():
    from scoretutor.psychometric import binomial_interval

    low, high = binomial_interval(np.array([0, 5, 10]), 10)
    assert np.allclose(low, [0.0, 0.236590, 0.722460], atol=1e-6)    # Wilson 95 % intervals
    assert np.allclose(high, [0.277540, 0.763410, 1.0], atol=1e-6)
    assert low[0] == 0 and high[0] > 0.2                               # 0 of 10 is not "exactly 0"
    wide, narrow = binomial_interval(50, 100, z=1.96), binomial_interval(50, 100, z=1.0)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    assert all(np.isnan(v) for v in binomial_interval(0, 0))
    for args in [(3, 2), (-1, 4), (1.5, 4)]:
        with pytest.raises(ValueError, match="successes"):
            binomial_interval(*args)
    with pytest.raises(ValueError, match="z"):
        binomial_interval(1, 4, z=0)


class _Oracle(torch.nn.Module):
    """A k = 2 "denoiser" that knows each probe's answer: it finds the probe by its past frames and
    returns the chosen next frame (NaN for probes marked to diverge), whatever the observation."""

    multiple = 1
    prediction_only = False
    k = 2

    def __init__(self, conditioning, answers):
        super().__init__()
        self.table = torch.from_numpy(conditioning).flatten(1)
        self.answers = torch.from_numpy(answers)
        self.eval()

    def forward(self, x):
        which = torch.cdist(x[:, :2].flatten(1), self.table).argmin(dim=1)
        return self.answers[which][:, None]


def test_front_sweep_counts_each_ratio_and_leaves_out_diverged_chains():
    from scoretutor.psychometric import front_sweep

    ratios, n = [0.6, 1.0, 0.8], 6
    batches = [collision_probes(n, r, seed=5) for r in ratios]       # the probes front_sweep will draw
    probes = type(batches[0])(**{k: np.concatenate([getattr(b, k) for b in batches]) for k in vars(batches[0])})
    large = np.array([True] * n + [True, False] * (n // 2) + [True] * 4 + [False] * 2)
    answers = np.where(large[:, None, None], probes.target_large_front, probes.target_small_front)
    answers[n + 1] = np.nan                                          # one ratio-1 probe: its chains diverge
    sweep = front_sweep(_Oracle(probes.conditioning, answers), ratios, n, 2, probe_seed=5, seed=0,
                        h0=0.2, sigma_stop=0.05)
    assert sweep.samples.shape == (3, n, 2, 32, 32) and sweep.large_front.shape == (3, n, 2)
    assert np.array_equal(sweep.probes.conditioning, probes.conditioning)
    lum = sweep.probes.luminance.reshape(3, n, 2)                     # paired design: only the sizes change
    assert np.array_equal(lum[0], lum[1]) and np.array_equal(lum[0], lum[2])
    assert np.allclose(sweep.probes.radius_ratio, np.repeat(ratios, n))
    assert sweep.counts.tolist() == [12, 10, 12] and int(sweep.trace.diverged.sum()) == 2
    assert np.allclose(sweep.frequency, [1.0, 0.6, 4 / 6])
    assert np.allclose(sweep.stderr, np.sqrt(sweep.frequency * (1 - sweep.frequency) / sweep.counts))
    assert np.allclose(sweep.reliable_fraction(), 1.0)                 # exact frames show one luminance
    low, high = sweep.interval()
    assert np.all(low <= sweep.frequency) and np.all(sweep.frequency <= high)
    assert sweep.monotone()
    assert "ratio" in sweep.table() and len(sweep.table().splitlines()) == 4
    assert np.isnan(sweep.samples[1, 1]).all() and np.isnan(sweep.error[1, 1]).all()


def test_monotone_flags_a_frequency_that_rises_beyond_its_error_bars():
    from scoretutor.psychometric import FrontSweep

    def sweep(large_counts, n=40):
        large = np.zeros((len(large_counts), n, 1), dtype=bool)
        for i, c in enumerate(large_counts):
            large[i, :c] = True
        return FrontSweep(ratios=np.linspace(0.6, 1.0, len(large_counts)), probes=None, samples=None,
                          large_front=large, error=np.zeros(large.shape), front_visible=np.ones(large.shape), valid=np.ones(large.shape, bool),
                          trace=None)

    assert sweep([40, 36, 20]).monotone()
    assert sweep([38, 40, 21]).monotone()           # a small rise within the error bars is allowed
    assert not sweep([10, 38, 20]).monotone()       # 10/40 then 38/40: a significant rise


def test_front_sweep_bad_input():
    from scoretutor.psychometric import front_sweep

    model = _Oracle(np.zeros((1, 2, 32, 32), np.float32), np.zeros((1, 32, 32), np.float32))
    with pytest.raises(ValueError, match="ratios"):
        front_sweep(model, [], 2)
    with pytest.raises(ValueError, match="n_probes"):
        front_sweep(model, [1.0], 0)
    with pytest.raises(TypeError, match="warn"):
        front_sweep(model, [1.0], 2, warn=True)
    with pytest.raises(TypeError, match="k"):
        front_sweep(torch.nn.Identity(), [1.0], 2)


@pytest.mark.parametrize("shift", [(0, 1), (1, 0), (-1, -1), (0, -2)])
def test_front_disk_reads_displaced_predictions(probes, shift):
    """A prediction whose disks sit a pixel or two off the probe's target is judged by what it shows
    (which disk stays whole), not by the luminance at the target's overlap position."""
    a = np.roll(probes.target_large_front, shift, axis=(1, 2))
    b = np.roll(probes.target_small_front, shift, axis=(1, 2))
    da, db = front_disk(a, probes), front_disk(b, probes)
    assert da.large_front.mean() > 0.97 and db.large_front.mean() < 0.03
    exact = front_disk(probes.target_large_front, probes)
    np.testing.assert_allclose(exact.visible_large, 1.0)
    assert np.all(exact.visible_small < 1.0)
