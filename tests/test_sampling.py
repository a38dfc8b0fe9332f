"""The network sampler of scoretutor.sampling (chapter 6): the update equations checked by hand,
per-chain stopping and its cost, divergence, the iteration cap, seeds, shapes, recursive generation,
a known-answer prior, and bad inputs. Stub "networks" with a known output keep every test fast."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from scoretutor.sampling import SampleTrace, one_step, rollout, sample
from scoretutor.unet import UNet


class Stub(nn.Module):
    """A "conditional denoiser" f(past, y) = fn(past, y), with the attributes the sampler reads.
    Input (m, k+1, H, W) (past frames then the observation), output (m, 1, H, W)."""

    multiple = 1
    prediction_only = False

    def __init__(self, k, fn):
        super().__init__()
        self.k, self.fn = k, fn
        self.calls = []  # batch size of every call
        self.eval()

    def forward(self, x):
        self.calls.append(x.shape[0])
        return self.fn(x[:, : self.k], x[:, self.k:])


def frames(values, k=2, size=4):
    """(B, k, size, size) past whose frame i of sequence b is the constant values[b][i]."""
    v = torch.as_tensor(values, dtype=torch.float32).reshape(len(values), k)
    return v[:, :, None, None].expand(-1, -1, size, size).clone()


def tiny_unet(k=2, prediction_only=False):
    torch.manual_seed(0)
    return UNet(k=k, width=4, scales=2, prediction_only=prediction_only).eval()


# --- the update equations -------------------------------------------------------------------
def test_three_steps_follow_the_update_equations_by_hand():
    c, a, h0, beta, sigma0 = 0.3, 0.6, 0.3, 0.4, 0.8
    model = Stub(2, lambda past, y: c * past.mean(dim=1, keepdim=True) + a * y)
    past = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    seen = []
    samples, trace = sample(model, past, 2, h0=h0, beta=beta, sigma0=sigma0, max_steps=3, seed=7, warn=False,
                            callback=lambda step, info: seen.append((step, info["y"].clone(), info["h"])))

    # the documented order of the random numbers: y0 for all chains, then one draw per step
    gen = torch.Generator().manual_seed(7)
    y = 0.5 + sigma0 * torch.randn((4, 1, 4, 4), generator=gen)
    cond = past.repeat_interleave(2, dim=0)  # chain b * n + j
    for t in (1, 2, 3):
        step, y_seen, h_seen = seen[t - 1]
        assert step == t
        assert torch.allclose(y_seen, y, atol=1e-6), f"y entering step {t} differs from the hand computation"
        z = torch.randn((4, 1, 4, 4), generator=gen)
        f = c * cond.mean(dim=1, keepdim=True) + a * y
        d = f - y
        sigma = d.pow(2).mean(dim=(1, 2, 3)).sqrt()
        assert torch.allclose(trace.sigma.reshape(4, -1)[:, t - 1], sigma, rtol=1e-5)
        h = h0 * t / (1 + h0 * (t - 1))
        assert h_seen == pytest.approx(h)
        gamma = sigma * math.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2)
        if t < 3:
            y = y + h * d + gamma.view(-1, 1, 1, 1) * z
    # out of steps after evaluation 3: the sample is that evaluation's output f(y_2)
    assert torch.allclose(samples.reshape(4, 1, 4, 4), f, atol=1e-6)
    assert trace.nfe.tolist() == [[3, 3], [3, 3]]
    assert not trace.converged.any() and not trace.diverged.any()


def test_point_mass_noise_falls_by_one_minus_beta_h_per_step():
    # f(y) = x* for every y: the remaining noise e = y - x* obeys e <- (1 - h) e + gamma z, so that
    # E sigma_{t+1}^2 = (1 - beta h_t)^2 sigma_t^2 exactly; with N = 1024 pixels the ratio is sharp.
    h0, beta, stop = 0.05, 0.5, 0.01
    model = Stub(1, lambda past, y: past[:, -1:].expand_as(y))
    past = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    samples, trace = sample(model, past, 4, h0=h0, beta=beta, sigma_stop=stop, seed=0)
    assert trace.converged.all() and not trace.diverged.any()
    assert torch.equal(samples[:, :, 0], past.expand(4, 4, 32, 32))  # returns x* itself
    sig = trace.sigma.reshape(16, -1).double()
    t_min = int(trace.nfe.min())
    h = torch.tensor([h0 * t / (1 + h0 * (t - 1)) for t in range(1, t_min)], dtype=torch.float64)
    ratio = (sig[:, 1:t_min] / sig[:, : t_min - 1]).mean(dim=0)
    assert torch.allclose(ratio, 1 - beta * h, rtol=0.03), (ratio, 1 - beta * h)
    # each chain stops at the first step where sigma_1 * prod(1 - beta h_s) < sigma_stop, within a step
    schedule = torch.cumprod(1 - beta * torch.tensor([h0 * t / (1 + h0 * (t - 1)) for t in range(1, 200)]), 0)
    predicted = [1 + int(torch.nonzero(s1 * schedule < stop)[0]) + 1 for s1 in sig[:, 0]]
    assert (trace.nfe.flatten() - torch.tensor(predicted)).abs().max() <= 1


# --- per-chain stopping, divergence, the cap ------------------------------------------------
def shrink_model():
    """f = y + a (x* - y) with a = the past frame's value: the chains of each sequence see their own
    noise estimate a * ||y - x*|| / sqrt(N) and move by a fraction h * a of the way: a small a converges
    more slowly."""
    return Stub(1, lambda past, y: y + past * (0.2 - y))


def test_chains_stop_on_their_own_and_stop_costing_evaluations():
    model = shrink_model()
    past = frames([[1.0], [0.1]], k=1)
    samples, trace = sample(model, past, 6, seed=1)
    assert trace.converged.all()
    assert trace.nfe[0].float().mean() + 10 <= trace.nfe[1].float().mean(), trace.nfe
    nfe = trace.nfe.flatten()
    # one call per step, each on exactly the chains still running
    assert model.calls == [int((nfe >= t).sum()) for t in range(1, int(nfe.max()) + 1)]
    assert sum(model.calls) == int(nfe.sum())
    sig = trace.sigma.reshape(12, -1)
    for chain, count in enumerate(nfe.tolist()):
        assert torch.isfinite(sig[chain, :count]).all() and torch.isnan(sig[chain, count:]).all()
        assert sig[chain, count - 1] < 0.01 <= sig[chain, : count - 1].min()

    chunked = shrink_model()
    again, trace2 = sample(chunked, past, 6, seed=1, batch_size=5)
    assert max(chunked.calls) <= 5 and sum(chunked.calls) == int(nfe.sum())
    assert torch.equal(again, samples) and torch.equal(trace2.nfe, trace.nfe)

    # a chain's noise does not depend on when the other chains stop
    other, trace3 = sample(shrink_model(), frames([[0.5], [0.1]], k=1), 6, seed=1)
    assert not torch.equal(trace3.nfe[0], trace.nfe[0])
    assert torch.equal(other[1], samples[1]) and torch.equal(trace3.nfe[1], trace.nfe[1])


def test_diverging_chains_are_stopped_reported_and_nan():
    # sequence 0: a point mass (converges); sequence 1: f = 3y, whose residual grows without bound
    model = Stub(1, lambda past, y: torch.where(past > 0.5, 3 * y, past))
    past = frames([[0.2], [0.9]], k=1)
    with pytest.warns(RuntimeWarning, match="3 of 6 chains diverged"):
        samples, trace = sample(model, past, 3, seed=0)
    assert trace.converged[0].all() and not trace.diverged[0].any()
    assert trace.diverged[1].all() and not trace.converged[1].any()
    assert torch.isnan(samples[1]).all() and torch.isfinite(samples[0]).all()
    assert (trace.nfe[1] < 20).all()  # stopped early, not run to max_steps
    last = trace.sigma[1].gather(1, (trace.nfe[1] - 1)[:, None])
    assert (last > 4.0).all()  # default bound: 4 * sigma0


def test_a_network_returning_nan_is_reported_diverged_at_once():
    model = Stub(0, lambda past, y: y * math.nan)
    with pytest.warns(RuntimeWarning, match="diverged"):
        samples, trace = sample(model, torch.zeros(2, 0, 4, 4), 2, seed=0)
    assert trace.diverged.all() and (trace.nfe == 1).all() and torch.isnan(samples).all()


def test_max_steps_stops_unconverged_with_the_last_estimate():
    model = Stub(1, lambda past, y: past.expand_as(y))
    past = frames([[0.3]], k=1)
    with pytest.warns(RuntimeWarning, match="did not reach sigma_stop"):
        samples, trace = sample(model, past, 3, max_steps=5, seed=0)
    assert not trace.converged.any() and not trace.diverged.any() and trace.out_of_steps.all()
    assert (trace.nfe == 5).all() and trace.sigma.shape == (1, 3, 5)
    assert torch.allclose(samples, torch.full_like(samples, 0.3))
    summary = trace.summary()
    assert "0 converged" in summary and "3 out of steps" in summary
    # two lines within the book's 88-character column (chapters 6 and 7 print it)
    assert len(summary.splitlines()) == 2 and max(map(len, summary.splitlines())) <= 88


# --- a prior with a known answer --------------------------------------------------------------
def two_frame_prior(delta, size=16):
    """Exact posterior mean for a prior of two frames x_a (probability p = the past frame's value) and
    x_b, at a plug-in noise level sigma^2 = min distance^2 / N; ||x_a - x_b|| = delta."""
    unit = torch.ones(1, size, size) / size
    x_a, x_b = 0.5 + delta / 2 * unit, 0.5 - delta / 2 * unit

    def posterior_mean(past, y):
        p = past.mean(dim=(1, 2, 3))
        da = (y - x_a).flatten(1).pow(2).sum(1)
        db = (y - x_b).flatten(1).pow(2).sum(1)
        s2 = torch.minimum(da, db) / y[0].numel()
        w = torch.sigmoid(torch.log(p) - torch.log1p(-p) + (db - da) / (2 * s2)).view(-1, 1, 1, 1)
        return w * x_a + (1 - w) * x_b

    return Stub(1, posterior_mean), x_a, x_b


def test_samples_pick_each_frame_with_its_prior_probability():
    # ||x_a - x_b|| small against sigma0, so the start N(0.5, sigma0^2) is close to the blurred prior
    model, x_a, x_b = two_frame_prior(delta=0.25)
    probs = [0.25, 0.8]
    n = 1000
    samples, trace = sample(model, frames([[p] for p in probs], k=1, size=16), n, seed=0)
    assert trace.converged.all()
    to_a = (samples - x_a).flatten(2).norm(dim=2)
    to_b = (samples - x_b).flatten(2).norm(dim=2)
    assert (torch.minimum(to_a, to_b) < 1e-3).all()  # every sample is one of the two frames
    for b, p in enumerate(probs):
        freq = float((to_a[b] < to_b[b]).float().mean())
        se = math.sqrt(p * (1 - p) / n)
        assert abs(freq - p) < 3 * se, f"sequence {b}: frame a chosen {freq:.3f} of the time, prior {p}"


# --- seeds, shapes, devices -------------------------------------------------------------------
def test_same_seed_same_samples_and_batching_does_not_change_them():
    model = tiny_unet()
    past = torch.rand(2, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    kw = dict(max_steps=6, diverge_sigma=math.inf, warn=False)
    a, ta = sample(model, past, 3, seed=3, **kw)
    b, tb = sample(model, past, 3, seed=3, **kw)
    assert torch.equal(a, b)
    assert torch.allclose(ta.sigma, tb.sigma, equal_nan=True)
    assert not torch.allclose(a, sample(model, past, 3, seed=4, **kw)[0])
    c, _ = sample(model, past, 3, seed=torch.Generator().manual_seed(3), **kw)
    assert torch.equal(a, c)
    d, _ = sample(model, past, 3, seed=3, batch_size=4, **kw)
    assert torch.allclose(a, d, atol=1e-5)
    torch.manual_seed(11)
    e, _ = sample(model, past, 3, **kw)
    torch.manual_seed(11)
    f, _ = sample(model, past, 3, **kw)
    assert torch.equal(e, f)


def test_shapes_for_several_sequences_and_samples():
    model = tiny_unet()
    assert all(p.requires_grad for p in model.parameters())
    past = torch.rand(2, 2, 8, 8)
    samples, trace = sample(model, past, 3, max_steps=4, diverge_sigma=math.inf, seed=0, warn=False)
    assert samples.shape == (2, 3, 1, 8, 8) and samples.dtype == torch.float32
    assert not samples.requires_grad  # ran under no_grad
    assert isinstance(trace, SampleTrace)
    assert trace.sigma.shape == (2, 3, 4) and trace.nfe.shape == trace.converged.shape == trace.diverged.shape == (2, 3)
    single, _ = sample(model, past[0].numpy(), 2, max_steps=2, diverge_sigma=math.inf, seed=0, warn=False)
    assert single.shape == (1, 2, 1, 8, 8)  # a (k, H, W) NumPy array is one sequence


def test_one_step_denoises_pure_noise_once():
    identity = Stub(0, lambda past, y: y)
    est = one_step(identity, torch.zeros(2, 0, 8, 8), 500, sigma0=0.7, seed=0)
    assert est.shape == (2, 500, 1, 8, 8) and identity.calls == [1000]
    assert float(est.mean()) == pytest.approx(0.5, abs=0.01) and float(est.std()) == pytest.approx(0.7, rel=0.02)
    assert torch.equal(est, one_step(identity, torch.zeros(2, 0, 8, 8), 500, sigma0=0.7, seed=0))
    predictor = tiny_unet(prediction_only=True)
    past = torch.rand(3, 2, 8, 8)
    est = one_step(predictor, past, 2)
    with torch.no_grad():
        expected = predictor(past)
    assert est.shape == (3, 2, 1, 8, 8) and torch.allclose(est[:, 1], expected) and torch.equal(est[:, 0], est[:, 1])


# --- recursive generation -----------------------------------------------------------------------
def extrapolate(past, y):
    """A point mass at the constant-velocity continuation 2 x_{t-1} - x_{t-2}."""
    return (2 * past[:, -1:] - past[:, -2:-1]).expand_as(y)


@pytest.mark.parametrize("method", ["sample", "one_step"])
def test_rollout_feeds_each_frame_back_as_conditioning(method):
    model = Stub(2, extrapolate)
    past = frames([[0.1, 0.15], [0.9, 0.8]], k=2)  # velocities +0.05 and -0.1 per frame
    out, traces = rollout(model, past, 4, 3, method=method, seed=0)
    assert out.shape == (2, 3, 4, 4, 4)  # (B, n, n_future, H, W)
    expected = torch.tensor([[0.2, 0.25, 0.3, 0.35], [0.7, 0.6, 0.5, 0.4]])
    assert torch.allclose(out, expected[:, None, :, None, None].expand_as(out), atol=1e-5)
    if method == "sample":
        assert len(traces) == 4 and all(t.nfe.shape == (2, 3) and t.converged.all() for t in traces)
    else:
        assert traces is None


def test_rollout_samples_differ_between_chains_and_are_reproducible():
    model = tiny_unet()
    past = torch.rand(1, 2, 8, 8)
    kw = dict(max_steps=3, diverge_sigma=math.inf, warn=False)
    a, traces = rollout(model, past, 2, 2, seed=5, **kw)
    assert a.shape == (1, 2, 2, 8, 8) and len(traces) == 2
    assert not torch.allclose(a[0, 0], a[0, 1])
    assert torch.equal(a, rollout(model, past, 2, 2, seed=5, **kw)[0])


def test_rollout_stops_a_chain_whose_frame_diverged():
    # the constant-velocity continuation, but NaN once the last frame is brighter than 0.75
    model = Stub(2, lambda past, y: torch.where(past[:, -1:] > 0.75, y * math.nan, extrapolate(past, y)))
    out, traces = rollout(model, frames([[0.5, 0.6]]), 4, 2, seed=0, warn=False)
    assert torch.allclose(out[0, :, :2], torch.tensor([0.7, 0.8])[None, :, None, None].expand(2, 2, 4, 4))
    assert torch.isnan(out[0, :, 2:]).all()
    assert traces[2].diverged.all() and (traces[2].nfe == 1).all()  # sampled once, diverged
    assert traces[3].diverged.all() and (traces[3].nfe == 0).all()  # not sampled again


# --- bad inputs ---------------------------------------------------------------------------------
def test_a_model_in_training_mode_is_refused():
    model = tiny_unet().train()
    with pytest.raises(ValueError, match="training mode.*model.eval"):
        sample(model, torch.rand(1, 2, 8, 8))
    assert model.training  # left as it was


@pytest.mark.parametrize("kwargs,match", [
    (dict(beta=0.0), "beta must be in"),
    (dict(beta=1.5), "beta must be in"),
    (dict(h0=0.0), "h0 must be in"),
    (dict(h0=2.0), "h0 must be in"),
    (dict(sigma_stop=0.0), "sigma_stop must be"),
    (dict(sigma_stop=-1.0), "sigma_stop must be"),
    (dict(sigma0=0.0), "sigma0 must be"),
    (dict(sigma0=math.inf), "sigma0 must be"),
    (dict(start=math.nan), "start must be"),
    (dict(n_samples=0), "n_samples must be"),
    (dict(max_steps=0), "max_steps must be"),
    (dict(batch_size=0), "batch_size must be"),
    (dict(diverge_sigma=0.005), "diverge_sigma .* must be larger than sigma_stop"),
    (dict(seed=-1), "seed must be"),
    (dict(past=torch.rand(1, 3, 8, 8)), "past has 3 frames .* k=2"),
    (dict(past=torch.rand(1, 2, 7, 8)), "7x8 .* divisible by 2"),
    (dict(past=torch.full((1, 2, 8, 8), math.nan)), "past contains NaN"),
    (dict(past=torch.rand(8, 8)), r"past must have shape \(B, k, H, W\)"),
])
def test_bad_sampler_inputs_raise_clear_value_errors(kwargs, match):
    kwargs = dict(kwargs)
    past = kwargs.pop("past", torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match=match):
        sample(tiny_unet(), past, **kwargs)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="prediction-only"):
        sample(tiny_unet(prediction_only=True), torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="prediction-only"):
        rollout(tiny_unet(prediction_only=True), torch.rand(1, 2, 8, 8), 2)
    with pytest.raises(TypeError, match="integer attribute k"):
        sample(nn.Identity().eval(), torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="method must be"):
        rollout(tiny_unet(), torch.rand(1, 2, 8, 8), 2, method="mean")
    with pytest.raises(ValueError, match="n_future must be"):
        rollout(tiny_unet(), torch.rand(1, 2, 8, 8), 0)
    with pytest.raises(ValueError, match="sigma0 must be"):
        one_step(tiny_unet(), torch.rand(1, 2, 8, 8), sigma0=-1.0)
    with pytest.raises(TypeError, match="floating-point"):
        sample(tiny_unet(), np.zeros((1, 2, 8, 8), dtype=np.uint8))


def test_speed_benchmark_prints_both_ways(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "sampling_speed.py"
    spec = importlib.util.spec_from_file_location("sampling_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    n_threads = torch.get_num_threads()
    assert bench.main(["--n", "4", "--probes", "2", "--n-loop", "2", "--max-steps", "2", "--width", "4",
                       "--device", "cpu"]) == 0
    torch.set_num_threads(n_threads)
    out = capsys.readouterr().out
    assert "batched sampler : 4 samples" in out and "one at a time   : 4 samples" in out
    assert "mean NFE per sample 2.0" in out and "measured on 2 samples" in out
