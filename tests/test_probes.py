"""Collision-course probes and the reading of predicted frames (scoretutor.data.probes; the sweep in scoretutor.psychometric)."""
import numpy as np
import pytest
import torch

from scoretutor.data import leaves
from scipy.ndimage import gaussian_filter

from scoretutor.data.probes import (BLENDED, CATEGORIES, LARGE, LARGER, NEITHER, NO_CONTACT, SMALL, SMALLER,
                                     blend_coefficient, collision_probes, read_occlusion)


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


def _only(probes, disk):
    """The probes' target with one disk left out."""
    c = probes.centres[:, disk:disk + 1, -1:]
    return leaves.render(c, probes.radius[:, disk:disk + 1], probes.luminance[:, disk:disk + 1],
                         probes.background, np.zeros((probes.n, 1), int), 32)[:, 0]


def _share(reading, category):
    return float(np.mean(reading.category == category))


def test_read_occlusion_reads_each_order_and_blends(probes):
    a, b = probes.target_large_front, probes.target_small_front
    ra, rb = read_occlusion(a, probes), read_occlusion(b, probes)
    assert (ra.category == LARGER).all() and (rb.category == SMALLER).all()
    np.testing.assert_allclose(ra.coefficient, 1.0, atol=1e-3)
    np.testing.assert_allclose(rb.coefficient, 0.0, atol=1e-3)
    assert ra.fit_error.max() < 1e-3 and rb.fit_error.max() < 1e-3
    np.testing.assert_allclose(ra.centres, probes.centres[:, :, -1], atol=0.05)  # the refit finds the target
    for w in (0.5, 0.7):
        mix = read_occlusion(w * a + (1 - w) * b, probes)
        assert (mix.category == BLENDED).all()
        np.testing.assert_allclose(mix.coefficient, w, atol=1e-3)


@pytest.mark.parametrize("shift", [(0, 1), (1, 0), (-1, -1), (0, -2), (2, 1)])
def test_read_occlusion_refits_displaced_frames(probes, shift):
    """A frame whose disks sit a pixel or two off the probe's target is read by what it shows."""
    ra = read_occlusion(np.roll(probes.target_large_front, shift, axis=(1, 2)), probes)
    rb = read_occlusion(np.roll(probes.target_small_front, shift, axis=(1, 2)), probes)
    assert _share(ra, LARGER) >= 0.97 and _share(rb, SMALLER) >= 0.97


def test_read_occlusion_with_noise_blur_and_missing_disks(probes):
    rng = np.random.default_rng(0)
    a, b = probes.target_large_front, probes.target_small_front
    noisy = read_occlusion(a + 0.05 * rng.normal(size=a.shape), probes)
    assert _share(noisy, LARGER) >= 0.99
    # the one-step (least-squares) answer: a blurred average of the two orders is a blend, not a decision
    blur = read_occlusion(gaussian_filter(0.5 * (a + b), (0, 1.0, 1.0)), probes)
    assert _share(blur, BLENDED) >= 0.98 and not np.isin(blur.category, [LARGER, SMALLER]).any()
    for disk in (LARGE, SMALL):
        missing = read_occlusion(_only(probes, disk), probes)
        assert _share(missing, NEITHER) >= 0.95, f"a frame without disk {1 - disk} fits neither order"
    # the disks where they were in the last past frame: they never touched
    apart = leaves.render(probes.centres[:, :, -2:-1], probes.radius, probes.luminance, probes.background,
                          np.tile([SMALL, LARGE], (probes.n, 1)), 32)[:, 0]
    none = read_occlusion(apart, probes)
    assert (none.category == NO_CONTACT).all() and np.isnan(none.coefficient).all()


def test_read_occlusion_on_samples_tensors_and_nan(probes):
    stack = np.stack([probes.target_large_front, probes.target_small_front, probes.target_large_front], axis=1)
    stack[0, 2] = np.nan
    r = read_occlusion(torch.from_numpy(stack), probes)
    assert r.category.shape == r.coefficient.shape == r.fit_error.shape == (300, 3)
    assert r.centres.shape == (300, 3, 2, 2)
    assert (r.category[:, 0] == LARGER).all() and (r.category[:, 1] == SMALLER).all()
    assert r.category[0, 2] == NEITHER and (r.category[1:, 2] == LARGER).all()
    counts = r.counts()
    assert list(counts) == list(CATEGORIES) and sum(counts.values()) == 900
    with pytest.raises(ValueError, match="predicted"):
        read_occlusion(stack[:10], probes)


def test_blend_coefficient_is_the_least_squares_solution():
    rng = np.random.default_rng(1)
    first, second = rng.uniform(size=(2, 4, 5, 6))
    frame = rng.uniform(size=(4, 5, 6))
    a = blend_coefficient(frame, first, second)
    for i in range(4):
        grid = np.linspace(a[i] - 0.1, a[i] + 0.1, 201)
        sse = [((frame[i] - second[i] - g * (first[i] - second[i])) ** 2).sum() for g in grid]
        assert abs(grid[int(np.argmin(sse))] - a[i]) < 1e-3
    assert np.isnan(blend_coefficient(frame, second, second)).all()


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
    assert sweep.samples.shape == (3, n, 2, 32, 32) and sweep.category.shape == (3, n, 2)
    assert np.array_equal(sweep.probes.conditioning, probes.conditioning)
    lum = sweep.probes.luminance.reshape(3, n, 2)                     # paired design: only the sizes change
    assert np.array_equal(lum[0], lum[1]) and np.array_equal(lum[0], lum[2])
    assert np.allclose(sweep.probes.radius_ratio, np.repeat(ratios, n))
    assert sweep.counts.tolist() == [12, 10, 12] and int(sweep.trace.diverged.sum()) == 2
    assert np.allclose(sweep.frequency, [1.0, 0.6, 4 / 6])
    assert np.allclose(sweep.stderr, np.sqrt(sweep.frequency * (1 - sweep.frequency) / sweep.counts))
    assert sweep.decided_counts.tolist() == [12, 10, 12] and sweep.undecided_fraction.tolist() == [0, 0, 0]
    low, high = sweep.interval()
    assert np.all(low <= sweep.frequency) and np.all(sweep.frequency <= high)
    assert sweep.monotone()
    assert "ratio" in sweep.table() and len(sweep.table().splitlines()) == 4
    assert max(len(line) for line in sweep.table().splitlines()) <= 88  # the book's column
    assert np.isnan(sweep.samples[1, 1]).all() and np.isnan(sweep.fit_error[1, 1]).all()


def test_monotone_flags_a_frequency_that_rises_beyond_its_error_bars():
    def sweep(large_counts, n=40):
        category = np.full((len(large_counts), n, 1), SMALLER, dtype=object)
        for i, c in enumerate(large_counts):
            category[i, :c] = LARGER
        return _sweep(category)

    assert sweep([40, 36, 20]).monotone()
    assert sweep([38, 40, 21]).monotone()           # a small rise within the error bars is allowed
    assert not sweep([10, 38, 20]).monotone()       # 10/40 then 38/40: a significant rise


def _sweep(category, valid=None):
    from scoretutor.psychometric import FrontSweep

    category = np.asarray(category).astype(str)
    return FrontSweep(ratios=np.linspace(0.6, 1.0, len(category)), probes=None, samples=None, category=category,
                      coefficient=np.zeros(category.shape), fit_error=np.zeros(category.shape),
                      valid=np.ones(category.shape, bool) if valid is None else valid, trace=None)


def test_sweep_counts_all_five_readings_and_states_claims_on_decided_samples():
    from scoretutor.psychometric import binomial_interval

    # ratio 0.6: 6 larger, 2 smaller, 1 blended, 1 neither; ratio 1.0: 2 blended, 1 no contact, 1 larger,
    # 1 smaller, and one diverged chain that is not counted
    rows = [[LARGER] * 6 + [SMALLER] * 2 + [BLENDED, NEITHER],
            [BLENDED, BLENDED, NO_CONTACT, LARGER, SMALLER, NEITHER] + [LARGER] * 4]
    category = np.array(rows, dtype=object)[:, :, None]
    valid = np.ones(category.shape, bool)
    valid[1, 5] = False
    sw = _sweep(category, valid)
    assert sw.counts.tolist() == [10, 9]
    assert {c: sw.category_counts(c).tolist() for c in CATEGORIES} == {
        LARGER: [6, 5], SMALLER: [2, 1], BLENDED: [1, 2], NEITHER: [1, 0], NO_CONTACT: [0, 1]}
    assert np.allclose(sw.frequency, [6 / 8, 5 / 6])                # among decided samples only
    assert np.allclose(sw.undecided_fraction, [2 / 10, 2 / 9])
    assert np.allclose(sw.interval(), binomial_interval([6, 5], [8, 6]))
    assert np.allclose(sw.undecided_interval(), binomial_interval([2, 2], [10, 9]))
    assert np.allclose(sum(sw.fraction(c) for c in CATEGORIES), 1.0)
    table = sw.table()
    assert all(word in table for word in ("larger", "smaller", "blended", "neither", "no contact"))
    with pytest.raises(ValueError, match="category"):
        sw.category_counts("front")


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


def test_measure_occlusion_refuses_bad_arguments():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "measure_occlusion.py"
    spec = importlib.util.spec_from_file_location("measure_occlusion", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for argv in (["--n", "0"], ["--ratios", "1.5"]):
        with pytest.raises(SystemExit):
            tool.main(argv)


def test_sweep_criteria_pass_a_good_sweep_and_name_each_failure():
    from scoretutor.psychometric import FrontSweep

    def sweep(rows, samples=None):
        category = np.array(rows, dtype=object)[:, :, None]
        shape = category.shape
        return FrontSweep(ratios=np.array([0.5, 0.6, 1.0]), probes=None,
                          samples=np.full(shape + (2, 2), 0.5) if samples is None else samples,
                          category=category, coefficient=np.zeros(shape), fit_error=np.zeros(shape),
                          valid=np.ones(shape, bool), trace=None)

    good = [[LARGER] * 40, [LARGER] * 39 + [SMALLER], [LARGER] * 20 + [SMALLER] * 20]
    met = {key: ok for key, (_, _, ok) in sweep(good).criteria().items()}
    assert met == {"decisive": True, "clear": True, "half": True, "monotone": True, "range": True}
    blends = [[LARGER] * 30 + [BLENDED] * 10, [LARGER] * 39 + [SMALLER], [LARGER] * 20 + [SMALLER] * 20]
    crit = sweep(blends).criteria()
    assert not crit["decisive"][2] and crit["decisive"][1].startswith("0.5: 0.25")
    backwards = [[SMALLER] * 40, [SMALLER] * 39 + [LARGER], [LARGER] * 40]  # the order reversed
    crit = sweep(backwards).criteria()
    assert not crit["clear"][2] and not crit["half"][2] and not crit["monotone"][2]
    wild = np.full((3, 40, 1, 2, 2), 0.5)
    wild[:, :, :, 0, 0] = 1.2  # a quarter of the pixels out of range
    crit = sweep(good, wild).criteria()
    assert not crit["range"][2] and crit["range"][1] == "75.0%"
