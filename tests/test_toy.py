"""Tests for scoretutor.toy: closed forms against numerical integration, the Tweedie identity,
the blind denoiser, the iteration and the sampler's frequencies, the tiny network, bad inputs."""
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from scoretutor import toy
from scoretutor.schedule import injected_noise, step_size
from scoretutor.toy import BlindDenoiser, GaussianMixturePrior, PointMassPrior

GMM = GaussianMixturePrior(means=[-1.0, 0.5, 2.0], stds=[0.3, 0.8, 0.2], weights=[0.2, 0.5, 0.3])
POINTS = PointMassPrior(locations=[-1.0, 0.3, 1.5], weights=[0.25, 0.25, 0.5])
CASES = [(-2.0, 0.3), (0.1, 0.3), (1.7, 0.1), (0.4, 1.0), (3.0, 2.5)]  # (y, sigma)


def rel_err(got, want):
    """Largest absolute difference relative to the largest magnitude of the reference."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


# ---------------------------------------------------------------------------------------------
# Closed forms against numerical integration
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("y, sigma", CASES)
def test_gaussian_mixture_closed_forms_match_integrals_over_x(y, sigma):
    """p_sigma(y) = ∫ p(x) N(y; x, sigma^2) dx, E[x|y] and the score by quadrature over x."""
    def joint(x):
        return math.exp(GMM.prior_log_density(x)) * norm.pdf(y, loc=x, scale=sigma)

    kw = dict(points=list(GMM.means), limit=200, epsabs=0, epsrel=1e-11)
    p = integrate.quad(joint, -12, 12, **kw)[0]
    mean = integrate.quad(lambda x: x * joint(x), -12, 12, **kw)[0] / p
    dp = integrate.quad(lambda x: joint(x) * (x - y) / sigma**2, -12, 12, **kw)[0]  # d/dy of p_sigma(y)
    assert GMM.density(y, sigma) == pytest.approx(p, rel=1e-8)
    assert GMM.log_density(y, sigma) == pytest.approx(math.log(p), rel=1e-8)
    assert GMM.denoise(y, sigma) == pytest.approx(mean, rel=1e-7, abs=1e-9)
    assert GMM.score(y, sigma) == pytest.approx(dp / p, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("prior", [GMM, POINTS], ids=["gmm", "points"])
@pytest.mark.parametrize("sigma", [0.2, 1.0])
def test_density_integrates_to_one_with_the_right_moments(prior, sigma):
    kw = dict(limit=400, epsabs=1e-12)
    lo, hi = -15.0, 15.0
    pts = list(prior._centres)
    mass = integrate.quad(lambda y: prior.density(y, sigma), lo, hi, points=pts, **kw)[0]
    first = integrate.quad(lambda y: y * prior.density(y, sigma), lo, hi, points=pts, **kw)[0]
    second = integrate.quad(lambda y: y**2 * prior.density(y, sigma), lo, hi, points=pts, **kw)[0]
    # the tower property: E[E[x | y]] = E[x]
    tower = integrate.quad(lambda y: prior.denoise(y, sigma) * prior.density(y, sigma), lo, hi, points=pts, **kw)[0]
    assert mass == pytest.approx(1.0, abs=1e-9)
    assert first == pytest.approx(prior.mean, abs=1e-8)
    assert second == pytest.approx(prior.variance + prior.mean**2 + sigma**2, abs=1e-8)
    assert tower == pytest.approx(prior.mean, abs=1e-8)


def test_point_mass_posterior_matches_bayes_rule_by_hand():
    y = np.linspace(-3, 3, 41)
    sigma = 0.6
    lik = np.stack([w * norm.pdf(y, loc=m, scale=sigma) for m, w in zip(POINTS.locations, POINTS.weights)])
    p = lik.sum(axis=0)
    np.testing.assert_allclose(POINTS.density(y, sigma), p, rtol=1e-12)
    np.testing.assert_allclose(POINTS.responsibilities(y, sigma), (lik / p).T, rtol=1e-10)
    np.testing.assert_allclose(POINTS.denoise(y, sigma), (POINTS.locations @ lik) / p, rtol=1e-10)


def test_point_masses_are_the_narrow_limit_of_gaussian_mixtures():
    narrow = GaussianMixturePrior(POINTS.locations, [1e-5] * 3, POINTS.weights)
    y = np.linspace(-3, 3, 25)
    for f in ("log_density", "score", "denoise"):
        np.testing.assert_allclose(getattr(narrow, f)(y, 0.5), getattr(POINTS, f)(y, 0.5), rtol=1e-8, atol=1e-8)


def test_posterior_variance_matches_quadrature():
    y, sigma = 0.2, 0.5

    def joint(x):
        return math.exp(GMM.prior_log_density(x)) * norm.pdf(y, loc=x, scale=sigma)

    p = integrate.quad(joint, -12, 12, points=list(GMM.means), limit=200)[0]
    m2 = integrate.quad(lambda x: x**2 * joint(x), -12, 12, points=list(GMM.means), limit=200)[0] / p
    assert GMM.posterior_variance(y, sigma) == pytest.approx(m2 - GMM.denoise(y, sigma) ** 2, rel=1e-7)


# ---------------------------------------------------------------------------------------------
# The Tweedie / Miyasawa identity
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prior", [GMM, POINTS], ids=["gmm", "points"])
@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.5, 2.0, 10.0])
def test_tweedie_identity(prior, sigma):
    y = np.linspace(-4, 5, 901)
    assert rel_err(y + sigma**2 * prior.score(y, sigma), prior.denoise(y, sigma)) <= 1e-6


@pytest.mark.parametrize("prior", [GMM, POINTS], ids=["gmm", "points"])
@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_score_matches_finite_differences_of_log_density(prior, sigma):
    y = np.linspace(-4, 5, 451)
    eps = 1e-5 * sigma
    fd = (prior.log_density(y + eps, sigma) - prior.log_density(y - eps, sigma)) / (2 * eps)
    assert rel_err(fd, prior.score(y, sigma)) <= 1e-6


def test_score_from_denoiser_is_tweedie():
    y = np.linspace(-3, 3, 31)
    score = toy.score_from_denoiser(y, POINTS.denoise(y, 0.4), 0.4)
    np.testing.assert_allclose(score, POINTS.score(y, 0.4), rtol=1e-9, atol=1e-9)


def test_numerically_stable_far_from_the_data_and_at_tiny_noise():
    y = np.array([-60.0, -1.0 + 1e-4, 0.3, 50.0])
    sigma = 1e-3
    assert np.all(np.isfinite(POINTS.log_density(y, sigma)))
    np.testing.assert_allclose(POINTS.denoise(y, sigma), [-1.0, -1.0, 0.3, 1.5])
    assert rel_err(y + sigma**2 * POINTS.score(y, sigma), POINTS.denoise(y, sigma)) <= 1e-6
    assert np.all(np.isfinite(GMM.score(y, sigma)))


def test_broadcasting_and_shapes():
    y = np.linspace(-1, 1, 3)[:, None]
    sigma = np.array([0.1, 0.5, 1.0, 2.0])
    for f in ("log_density", "score", "denoise", "posterior_variance"):
        out = getattr(GMM, f)(y, sigma)
        assert out.shape == (3, 4)
        assert getattr(GMM, f)(y[1, 0], sigma[2]) == pytest.approx(out[1, 2])
    assert GMM.responsibilities(y, sigma).shape == (3, 4, 3)
    assert np.ndim(POINTS.denoise(0.3, 0.5)) == 0


def test_sample_frequencies_and_moments():
    rng = np.random.default_rng(1)
    x = POINTS.sample(20_000, rng)
    freq = [np.mean(x == m) for m in POINTS.locations]
    np.testing.assert_allclose(freq, POINTS.weights, atol=0.015)
    g = GMM.sample(20_000, rng)
    assert g.mean() == pytest.approx(GMM.mean, abs=0.03)
    assert g.var() == pytest.approx(GMM.variance, rel=0.03)
    xs, ys = POINTS.sample_noisy(5000, 0.5, rng)
    assert xs.shape == ys.shape == (5000,)
    assert np.std(ys - xs) == pytest.approx(0.5, rel=0.05)


# ---------------------------------------------------------------------------------------------
# Blind denoising and the MAP noise estimate
# ---------------------------------------------------------------------------------------------
TWO = PointMassPrior([0.0, 1.0], [0.3, 0.7])


@pytest.mark.parametrize("y", [-0.4, 0.2, 0.55, 1.3])
def test_blind_denoiser_matches_quadrature_over_sigma(y):
    lo, hi = 1e-3, 1.0
    blind = BlindDenoiser(TWO, sigma_min=lo, sigma_max=hi, n_sigmas=801)

    def weight(u):  # p(sigma | y) in u = log sigma, up to a constant
        return float(TWO.density(y, math.exp(u)))

    kw = dict(limit=400, epsabs=0, epsrel=1e-10)
    z = integrate.quad(weight, math.log(lo), math.log(hi), **kw)[0]
    num = integrate.quad(lambda u: weight(u) * float(TWO.denoise(y, math.exp(u))), math.log(lo), math.log(hi), **kw)[0]
    assert blind.denoise(y) == pytest.approx(num / z, abs=1e-5)
    assert np.sum(blind.sigma_posterior(y)) == pytest.approx(1.0)


def test_most_probable_sigma_of_a_single_mass_is_distance_over_root_two():
    prior = PointMassPrior([0.5], [1.0])
    grid = toy.log_uniform_grid(1e-3, 10.0, 4001)
    y = np.array([0.5 + 0.3, 0.5 - 0.05, 0.5 + 2.0])
    want = np.abs(y - 0.5) / math.sqrt(2)
    np.testing.assert_allclose(toy.most_probable_sigma(prior, y, grid), want, rtol=2e-3)


def test_blind_plugin_and_joint_versions_agree_where_they_should():
    blind = BlindDenoiser(TWO)
    y = np.linspace(-0.5, 1.5, 21)
    np.testing.assert_allclose(blind(y[:, None])[:, 0], blind.denoise(y))  # one pixel: the same thing
    np.testing.assert_allclose(blind.plugin(y), TWO.denoise(y, blind.most_probable_sigma(y)))
    # near a mass both denoisers return the mass
    assert blind.denoise(1.001) == pytest.approx(1.0, abs=1e-3)
    assert blind.plugin(-0.001) == pytest.approx(0.0, abs=1e-3)
    # many pixels sharing sigma: the joint posterior on sigma concentrates at the true level
    rng = np.random.default_rng(0)
    x, yy = TWO.sample_noisy(400, 0.3, rng)
    assert blind.posterior_mean_sigma(yy[None, :], joint=True)[0] == pytest.approx(0.3, rel=0.1)
    with pytest.raises(ValueError, match="n_pixels"):
        blind(y)


# ---------------------------------------------------------------------------------------------
# Iteration and the sampler
# ---------------------------------------------------------------------------------------------
def test_deterministic_iteration_converges_to_the_masses():
    blind = BlindDenoiser(TWO)
    y0 = np.array([-1.0, 0.05, 0.6, 2.0])
    final, path = toy.iterate(blind.denoise, y0, h=0.2, n_steps=200, trace=True)
    assert path.shape == (201, 4)
    np.testing.assert_allclose(path[0], y0)
    # the fixed points sit next to the masses (within about sigma_min = 1e-3: the blind denoiser
    # never quite believes that there is no noise at all)
    np.testing.assert_allclose(final, [0.0, 0.0, 1.0, 1.0], atol=3e-3)
    assert np.all(np.abs(blind.residual(final)) < 1e-9)


def test_sampler_step_follows_the_formula():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(3, 5))
    den = y + rng.normal(scale=0.3, size=(3, 5))
    z = rng.normal(size=(3, 5))
    t, h0, beta = 7, 0.05, 0.4
    d = den - y
    sigma = np.sqrt(np.mean(d**2, axis=1, keepdims=True))
    h = h0 * t / (1 + h0 * (t - 1))
    gamma = sigma * np.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2)
    np.testing.assert_allclose(toy.sampler_step(y, den, t, h0, beta, z), y + h * d + gamma * z, rtol=1e-12)
    np.testing.assert_allclose(toy.noise_level(d), sigma[:, 0])
    # beta = 1 adds no noise
    np.testing.assert_allclose(toy.sampler_step(y, den, t, h0, 1.0, z), y + step_size(t, h0) * d)


def test_sampler_frequencies_match_the_prior_weights():
    """Chains of 16 pixels sharing one noise level; >= 2,000 pixel samples; within 3 standard
    errors of the weights (standard error from the spread between chains)."""
    blind = BlindDenoiser(TWO, sigma_min=5e-3, sigma_max=3.0, n_sigmas=61)
    res = toy.sample_chains(blind, 128, np.random.default_rng(0), n_pixels=16, beta=0.5, start=0.5, sigma0=3.0)
    assert res.samples.shape == (128, 16) and res.samples.size >= 2000
    assert res.converged.all()
    at_one = np.abs(res.samples - 1.0) < 0.05
    at_zero = np.abs(res.samples) < 0.05
    assert np.all(at_one | at_zero)
    per_chain = at_one.mean(axis=1)
    se = per_chain.std(ddof=1) / math.sqrt(per_chain.size)
    assert abs(per_chain.mean() - 0.7) < 3 * se, (per_chain.mean(), se)


def test_sampler_traces_and_start():
    blind = BlindDenoiser(TWO, n_sigmas=61)
    y0 = np.full((50, 1), 0.2)
    res = toy.sample_chains(blind, 50, 1, beta=1.0, y0=y0, trace=True)
    assert res.trace_y.shape[1:] == (50, 1) and res.trace_sigma.shape == res.trace_y.shape[:2]
    np.testing.assert_allclose(res.trace_y[0], y0)
    # deterministic (beta = 1) from one start: every chain takes the same path to the same mass
    assert np.unique(res.samples).size == 1 and np.unique(res.n_steps).size == 1
    assert res.trace_sigma[0, 0] == pytest.approx(abs(blind.denoise(0.2) - 0.2))
    last = res.n_steps[0]
    assert np.isnan(res.trace_y[last + 1:]).all() and not np.isnan(res.trace_y[last]).any()


# ---------------------------------------------------------------------------------------------
# Empirical Bayes with a tiny network
# ---------------------------------------------------------------------------------------------
def test_mlp_learns_the_posterior_mean_from_samples():
    prior = PointMassPrior([-1.0, 1.0], [0.3, 0.7])
    x, y = prior.sample_noisy(4000, 0.5, np.random.default_rng(0))
    net = toy.train_mlp_denoiser(y, x, steps=300, seed=0, progress=False)
    grid = np.linspace(-1.5, 1.5, 61)
    gap = np.sqrt(np.mean((net(grid) - prior.denoise(grid, 0.5)) ** 2))
    assert gap < 0.08
    assert net.losses[-50:].mean() < net.losses[:50].mean()
    assert net(grid[:60].reshape(3, 20)).shape == (3, 20)


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda: PointMassPrior([0, 1], [-0.2, 1.2]), "weights must be non-negative"),
    (lambda: PointMassPrior([0, 1], [0.5, 0.6]), "weights must sum to 1"),
    (lambda: PointMassPrior([0, 1, 2], [0.5, 0.5]), "same length"),
    (lambda: PointMassPrior([], []), "locations"),
    (lambda: PointMassPrior([0, np.nan], [0.5, 0.5]), "locations must be finite"),
    (lambda: GaussianMixturePrior([0, 1], [0.1], [0.5, 0.5]), "stds has 1 entries"),
    (lambda: GaussianMixturePrior([0, 1], [0.1, 0.0], [0.5, 0.5]), "stds must be > 0"),
    (lambda: GaussianMixturePrior([0, 1], [0.1, 0.2], [0.5, 0.4]), "weights must sum to 1"),
    (lambda: TWO.denoise(0.3, 0.0), "sigma must be > 0"),
    (lambda: TWO.score([0.1, 0.2], [0.5, -1.0]), "sigma must be > 0"),
    (lambda: TWO.log_density("a", 0.5), "y must be"),
    (lambda: TWO.sample(0), "n must be an integer >= 1"),
    (lambda: TWO.sample(3, rng="seed"), "rng must be"),
    (lambda: BlindDenoiser(TWO, sigma_min=1.0, sigma_max=0.1), "sigma_max must be larger"),
    (lambda: BlindDenoiser("prior"), "prior must be"),
    (lambda: toy.iterate(TWO.sample, [0.0], h=1.5, n_steps=3), "h must be"),
    (lambda: toy.sample_chains(BlindDenoiser(TWO), 10, beta=0.0), "beta must be in"),
    (lambda: toy.sample_chains(BlindDenoiser(TWO), 10, h0=2.0), "h0 must be in"),
    (lambda: toy.sample_chains(BlindDenoiser(TWO), 10, y0=np.zeros(10)), "y0 must have shape"),
    (lambda: toy.train_mlp_denoiser(np.zeros(10), np.zeros(9)), "same length|one length"),
])
def test_bad_inputs_raise_clear_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_used_by_the_sampler_is_the_shared_one():
    # the 1-D sampler and the network sampler share scoretutor.schedule (one way to do it)
    assert toy.step_size is step_size and toy.injected_noise is injected_noise
