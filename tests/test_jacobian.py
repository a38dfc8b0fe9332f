"""scoretutor.jacobian (chapter 8): the full Jacobian against torch.autograd.functional.jacobian, the
exact split f = sum_t J_c,t c_t + J_y y, and each cheap estimator against the exact answer."""
import pytest
import torch

from scoretutor import jacobian as J
from scoretutor.unet import UNet


def _net(k=2, prediction_only=False, seed=0):
    torch.manual_seed(seed)
    net = UNet(k=k, width=4, scales=2, prediction_only=prediction_only).double().eval()
    for layer in net.modules():  # give the batch norms non-trivial statistics
        if hasattr(layer, "running_sd"):
            layer.running_sd.uniform_(0.5, 2.0)
    return net


@pytest.fixture(scope="module")
def case():
    net = _net()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return net, x, J.full_jacobian(net, x, chunk=7)


def test_full_jacobian_equals_autograd_functional_jacobian(case):
    net, x, jac = case
    ref = torch.autograd.functional.jacobian(net, x).reshape(64, 3, 8, 8)
    assert jac.shape == (64, 3, 8, 8)
    assert torch.allclose(jac, ref, rtol=0, atol=1e-12)
    rows = J.full_jacobian(net, x[0], pixels=[5, 63, 0])  # (C, H, W) works too, and chosen rows
    assert torch.allclose(rows, ref[[5, 63, 0]], atol=1e-12)


def test_float64_on_request_leaves_the_model_alone():
    net = _net().float()
    x = torch.rand(1, 3, 8, 8)
    jac = J.full_jacobian(net, x, dtype=torch.float64)
    assert jac.dtype == torch.float64 and net.out.weight.dtype == torch.float32
    assert torch.allclose(jac.float(), J.full_jacobian(net, x), atol=1e-5)


def test_split_is_exact_and_matches_one_jvp_each(case):
    net, x, jac = case
    jc, jy = J.split_jacobian(jac, net)
    assert jc.shape == (2, 64, 64) and jy.shape == (64, 64)
    flat = x[0].reshape(3, 64)
    f = net(x).detach().reshape(64)
    parts = [jc[t] @ flat[t] for t in range(2)] + [jy @ flat[2]]
    assert float((sum(parts) - f).norm() / f.norm()) < 1e-5
    past, obs = J.contributions(net, x)
    assert torch.allclose(past.reshape(64), parts[0] + parts[1], atol=1e-12)
    assert torch.allclose(obs.reshape(64), parts[2], atol=1e-12)


def test_split_is_exact_for_a_float32_network():
    net = _net().float()
    x = torch.rand(1, 3, 8, 8)
    past, obs = J.contributions(net, x)
    f = net(x).detach()
    assert float((past + obs - f).norm() / f.norm()) < 1e-5


def test_observation_vjp_is_the_transpose(case):
    net, x, jac = case
    _, jy = J.split_jacobian(jac, net)
    u = torch.randn(3, 8, 8, dtype=torch.float64)
    assert torch.allclose(J.observation_vjp(net, x)(u).reshape(3, 64), u.reshape(3, 64) @ jy, atol=1e-12)


def test_hutchinson_trace_is_unbiased_within_its_standard_error(case):
    net, x, jac = case
    _, jy = J.split_jacobian(jac, net)
    est, se = J.hutchinson_trace(net, torch.cat([x, x]), probes=400, seed=3, batch=128)
    exact = float(torch.trace(jy))
    assert est.shape == (2,) and torch.all(se > 0)
    assert abs(float(est[0]) - exact) < 4 * float(se[0])
    # the standard error is honest: it is what Rademacher probes give (Var = 2 sum_{i != j} S_ij^2)
    s = (jy + jy.T) / 2
    sd = float(torch.sqrt(2 * ((s**2).sum() - (torch.diag(s) ** 2).sum())))
    assert float(se[0]) == pytest.approx(sd / 20, rel=0.25)


def test_asymmetry_exact_and_estimated(case):
    net, x, jac = case
    _, jy = J.split_jacobian(jac, net)
    exact = J.asymmetry(jy)
    assert J.asymmetry(jy + jy.T) == pytest.approx(0.0, abs=1e-12)
    assert J.asymmetry_estimate(net, x, probes=2000, seed=1) == pytest.approx(exact, rel=0.05)


def test_top_eigen_finds_the_exact_eigenpairs(case):
    net, x, jac = case
    _, jy = J.split_jacobian(jac, net)
    vals, vecs = torch.linalg.eigh((jy + jy.T) / 2)
    shift = float(vals[0])  # iterate on S - lambda_min I: the largest eigenvalues dominate it
    got, vectors = J.top_eigen(net, x, m=2, iters=300, shift=shift, seed=2)
    assert torch.allclose(got, vals.flip(0)[:2], rtol=1e-6, atol=1e-9)
    overlap = torch.abs(vectors.reshape(2, 64) @ vals.new_tensor(vecs[:, -2:].flip(1).numpy()))
    assert float(overlap[0, 0]) > 1 - 1e-6 and vectors.reshape(2, 64).norm(dim=1).allclose(torch.ones(2,
                                                                                                       dtype=vals.dtype))


def test_sure_is_unbiased_for_a_linear_denoiser():
    """A denoiser we can grade exactly: the k = 0 network's J_y at its input, used as a fixed linear
    filter A on many noisy copies of one clean image; SURE's mean matches the true squared error."""
    net = _net(k=0)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (jy,) = J.split_jacobian(J.full_jacobian(net, x), net)[1:]
    sigma, m = 0.3, 4000
    g = torch.Generator().manual_seed(5)
    noisy = x.reshape(1, 64) + sigma * torch.randn(m, 64, dtype=torch.float64, generator=g)
    out = noisy @ jy.T
    true = ((out - x.reshape(1, 64)) ** 2).sum(1)
    est = ((out - noisy) ** 2).sum(1) - 64 * sigma**2 + 2 * sigma**2 * torch.trace(jy)
    assert abs(float(est.mean() - true.mean())) < 4 * float((est - true).std() / m**0.5)
    # and the library's sure() computes that very formula for the network itself
    y = x + sigma * torch.randn(3, 1, 8, 8, dtype=torch.float64, generator=g)
    traces = torch.stack([torch.trace(J.split_jacobian(J.full_jacobian(net, y[i]), net)[1]) for i in range(3)])
    f = net(y).detach()[:, 0]
    expected = ((f - y[:, 0]) ** 2).sum((1, 2)) - 64 * sigma**2 + 2 * sigma**2 * traces
    assert torch.allclose(J.sure(net, y, sigma, trace=traces), expected, atol=1e-12)
    assert J.sure(net, y, sigma, probes=4).shape == (3,)


# --------------------------------------------------------------------------- bad input

BAD = [
    ("training mode", lambda net, x: J.full_jacobian(net.train(), x), ValueError, r"model is in training mode"),
    ("a batch of two", lambda net, x: J.full_jacobian(net, torch.cat([x, x])), ValueError,
     r"x must hold one input.* got a batch of shape \(2, 3, 8, 8\)"),
    ("a 2-d input", lambda net, x: J.full_jacobian(net, x[0, 0]), ValueError, r"x must have shape \(C, H, W\)"),
    ("wrong channel count", lambda net, x: J.full_jacobian(net, x[:, :2]), ValueError, r"expects 3 input channels"),
    ("an integer input", lambda net, x: J.full_jacobian(net, (x * 255).to(torch.uint8)), TypeError,
     r"floating-point"),
    ("a pixel outside the frame", lambda net, x: J.full_jacobian(net, x, pixels=[64]), ValueError,
     r"pixels must be flat indices in \[0, 64\)"),
    ("chunk 0", lambda net, x: J.full_jacobian(net, x, chunk=0), ValueError, r"chunk must be an integer >= 1"),
    ("prediction-only: no J_y", lambda net, x: J.hutchinson_trace(_net(prediction_only=True), x[:, :2]),
     ValueError, r"prediction-only network: it has no noisy-observation input, so it has no J_y"),
    ("prediction-only split", lambda net, x: J.split_jacobian(torch.zeros(64, 2, 8, 8), _net(prediction_only=True)),
     ValueError, r"no J_y"),
    ("split of a wrong-shaped Jacobian", lambda net, x: J.split_jacobian(torch.zeros(64, 2, 8, 8), net), ValueError,
     r"jac must be a full Jacobian \(H\*W, 3, H, W\)"),
    ("top_eigen of a batch", lambda net, x: J.top_eigen(net, torch.cat([x, x])), ValueError, r"one input"),
    ("sure with sigma 0", lambda net, x: J.sure(net, x, 0.0), ValueError, r"sigma must be a positive number"),
    ("asymmetry of a vector", lambda net, x: J.asymmetry(torch.zeros(4)), ValueError, r"square matrix"),
]


@pytest.mark.parametrize("row, action, kind, pattern", BAD, ids=[r[0] for r in BAD])
def test_bad_input(row, action, kind, pattern):
    net = _net()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(kind, match=pattern):
        action(net, x)


def test_trace_from_probes_and_power_iteration_against_exact(case):
    net, x, jac = case
    _, jy = J.split_jacobian(jac, net)
    eye = torch.eye(64, dtype=torch.float64).reshape(64, 8, 8)  # the basis as probes: exact trace
    assert float(J.trace_from_probes(net, x, eye)) * 64 == pytest.approx(float(torch.trace(jy)), rel=1e-9)
    a = jy.T @ jy  # symmetric positive semi-definite
    vals, vecs = torch.linalg.eigh(a)
    v = J.power_iteration(lambda u: a @ u, torch.ones(64, dtype=torch.float64), iters=500)
    assert abs(float(v @ vecs[:, -1])) > 1 - 1e-8
