"""Local linearity helpers: Jacobian-vector products, Euler identity, Jacobian rows, channel split, biased twin."""
import pytest
import torch
from torch import nn

from scoretutor.linearity import euler_error, homogeneity_error, input_contributions, jacobian_row, jvp, with_biases
from scoretutor.unet import BiasFreeBatchNorm2d, UNet


def _net(k=2, width=4, size=8, dtype=torch.float64):
    """A small U-net with non-trivial running statistics and scales, in eval mode."""
    torch.manual_seed(0)
    model = UNet(k=k, width=width).to(dtype)
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, k + 1, size, size, generator=g, dtype=dtype))
        for m in model.modules():
            if isinstance(m, BiasFreeBatchNorm2d):
                m.scale.uniform_(0.5, 1.5, generator=g)
    return model.eval()


def test_jvp_matches_the_full_jacobian():
    model = _net()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    v = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    got = jvp(model, x, v)
    assert got.shape == (2, 1, 8, 8)
    for b in range(2):
        jac = torch.func.jacrev(model)(x[b:b + 1]).reshape(64, 3 * 64)
        assert torch.allclose(got[b].reshape(64), jac @ v[b].reshape(-1), rtol=1e-9, atol=1e-12)
    assert got.abs().max() > 1e-4  # not a vacuous comparison


def test_euler_identity_and_homogeneity_hold_for_the_bias_free_net_only():
    model = _net(dtype=torch.float32)
    x = torch.rand(3, 3, 8, 8)
    assert euler_error(model, x) <= 1e-5
    for alpha in (0.1, 4.0):
        assert homogeneity_error(model, x, alpha) <= 1e-5
    biased = with_biases(model).eval()
    assert euler_error(biased, x) > 1e-2
    assert homogeneity_error(biased, x, 4.0) > 1e-2
    with torch.no_grad():
        assert biased(torch.zeros(1, 3, 8, 8)).abs().max() > 1e-3  # f(0) != 0


def test_with_biases_keeps_weights_and_adds_biases():
    model = _net(dtype=torch.float32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    biased = with_biases(model, seed=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched
    convs = [m for m in biased.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(m.bias is not None and m.bias.abs().max() > 0 for m in convs)
    norms = [m for m in biased.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 10 and not any(isinstance(m, BiasFreeBatchNorm2d) for m in biased.modules())
    assert torch.allclose(biased.enc[0][1].weight, model.enc[0][1].scale)
    assert torch.allclose(torch.sqrt(biased.enc[0][1].running_var + 1e-5), model.enc[0][1].running_sd)
    assert torch.equal(biased.enc[0][0].weight, model.enc[0][0].weight)
    # zero biases and zero running means would give back the bias-free network exactly
    with torch.no_grad():
        for m in convs + norms:
            m.bias.zero_()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(biased.eval()(x), model(x), atol=1e-6)


def test_jacobian_row_is_the_filter_of_one_output_pixel():
    model = _net()
    x = torch.rand(3, 8, 8, dtype=torch.float64)
    row = jacobian_row(model, x, 2, 5)
    assert row.shape == (3, 8, 8)
    with torch.no_grad():
        fx = model(x[None])[0, 0, 2, 5]
    assert torch.allclose((row * x).sum(), fx, rtol=1e-9, atol=1e-12)
    full = torch.func.jacrev(model)(x[None])[0, 0, 2, 5, 0]
    assert torch.allclose(row, full)


def test_channel_contributions_add_up_to_the_estimate():
    model = _net()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    parts = input_contributions(model, x)
    assert parts.shape == (2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(parts.sum(dim=1, keepdim=True), model(x), rtol=1e-9, atol=1e-12)
    assert (parts.abs().flatten(2).amax(dim=2) > 0).all()  # every channel contributes


def test_bad_inputs_are_named():
    model = _net(dtype=torch.float32)
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="training mode"):
        jvp(model.train(), x, x)
    model.eval()
    with pytest.raises(ValueError, match="v must have the shape"):
        jvp(model, x, x[:, :2])
    with pytest.raises(ValueError, match="shape \\(B, C, H, W\\)"):
        euler_error(model, x[0])
    with pytest.raises(ValueError, match="alpha must be positive"):
        homogeneity_error(model, x, -1.0)
    with pytest.raises(ValueError, match="outside the 8x8 frame"):
        jacobian_row(model, x, 8, 0)
    with pytest.raises(ValueError, match="one input"):
        jacobian_row(model, torch.rand(2, 3, 8, 8), 0, 0)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        with_biases("not a model")
