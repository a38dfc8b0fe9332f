"""The conditional bias-free U-net: homogeneity, Euler identity, no bias anywhere, bad inputs."""
import pytest
import torch
from torch import nn

from scoretutor.unet import BiasFreeBatchNorm2d, UNet, stack_inputs


def _trained_stats(model: UNet, channels: int, size: int = 16) -> UNet:
    """Run a few training-mode passes so the running statistics are not trivial, then eval mode."""
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, channels, size, size, generator=g))
        for m in model.modules():  # and make the scales non-trivial too
            if isinstance(m, BiasFreeBatchNorm2d):
                m.scale.uniform_(0.5, 1.5, generator=g)
    return model.eval()


@pytest.mark.parametrize("k,prediction_only", [(0, False), (2, False), (2, True)])
def test_homogeneous_in_eval_mode(k, prediction_only):
    torch.manual_seed(0)
    model = _trained_stats(UNet(k=k, width=6, prediction_only=prediction_only), k + (not prediction_only))
    x = torch.rand(3, model.in_channels, 16, 16)
    with torch.no_grad():
        fx = model(x)
        for alpha in (0.03, 0.5, 2.0, 17.0):
            f_ax = model(alpha * x)
            rel = float((f_ax - alpha * fx).norm() / (alpha * fx).norm())
            assert rel <= 1e-5, f"f(a x) != a f(x) for a={alpha}: relative error {rel:.2e}"


def test_euler_identity_f_equals_jacobian_times_input():
    torch.manual_seed(0)
    model = _trained_stats(UNet(k=2, width=4), 3, size=8).double()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    jac = torch.func.jacrev(model)(x).reshape(64, 3 * 64)  # d out / d in, one output pixel per row
    with torch.no_grad():
        fx = model(x).reshape(64)
    assert torch.allclose(jac @ x.reshape(-1), fx, rtol=1e-9, atol=1e-12)
    assert fx.abs().max() > 1e-3  # not a vacuous identity


def test_no_parameter_is_a_bias():
    model = UNet(k=2, width=8)
    names = [name for name, _ in model.named_parameters()]
    assert not any("bias" in name for name in names), names
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 2 * 5 + 2 + 1  # two per block (3 encoder + 2 decoder), 2 up-samplings, output
    assert all(m.bias is None for m in convs)
    norms = [m for m in model.modules() if isinstance(m, BiasFreeBatchNorm2d)]
    assert len(norms) == 10
    for m in norms:
        assert [n for n, _ in m.named_parameters()] == ["scale"]
    # no other module kind carries parameters
    kinds = {type(m) for m in model.modules() if list(m.parameters(recurse=False))}
    assert kinds <= {nn.Conv2d, nn.ConvTranspose2d, BiasFreeBatchNorm2d}


@pytest.mark.parametrize("training", [True, False])
def test_zero_maps_to_zero(training):
    model = _trained_stats(UNet(k=1, width=4), 2)
    model.train(training)
    with torch.no_grad():
        out = model(torch.zeros(2, 2, 16, 16))
    assert out.shape == (2, 1, 16, 16)
    assert torch.count_nonzero(out) == 0


def test_batch_norm_divides_by_std_without_centring():
    bn = BiasFreeBatchNorm2d(3, momentum=0.5)
    with torch.no_grad():
        bn.scale.copy_(torch.tensor([1.0, 2.0, 0.5]))
    x = torch.randn(4, 3, 5, 5) + 3.0  # a large mean that a standard batch norm would remove
    y = bn(x)
    sd = torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False) + bn.eps)
    assert torch.allclose(y, x / sd.view(1, 3, 1, 1) * bn.scale.view(1, 3, 1, 1), atol=1e-6)
    assert torch.allclose(bn.running_sd, 0.5 * torch.ones(3) + 0.5 * sd)
    bn.eval()
    x2 = torch.randn(2, 3, 5, 5)
    assert torch.allclose(bn(x2), x2 / bn.running_sd.view(1, 3, 1, 1) * bn.scale.view(1, 3, 1, 1))
    assert [n for n, _ in bn.named_buffers()] == ["running_sd"]
    with pytest.raises(ValueError, match="expects input of shape"):
        bn(torch.randn(2, 4, 5, 5))


def test_shapes_config_and_rebuild():
    model = UNet(k=3, width=4, scales=2)
    assert model(torch.rand(2, 4, 6, 10)).shape == (2, 1, 6, 10)
    rebuilt = UNet.from_config(model.config)
    assert rebuilt.config == model.config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert all(isinstance(v, (int, bool, str)) for v in model.config.values())
    assert UNet(k=2, width=64).config == {"arch": "bias-free-unet", "k": 2, "width": 64, "scales": 3,
                                          "prediction_only": False}
    with pytest.raises(ValueError, match="architecture"):
        UNet.from_config({**model.config, "arch": "resnet"})
    with pytest.raises(ValueError, match="unknown keys"):
        UNet.from_config({**model.config, "depth": 3})


def test_bad_inputs_name_the_problem():
    model = UNet(k=2, width=4)
    with pytest.raises(ValueError, match=r"expects 3 input channels.*got 2"):
        model(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match=r"divisible by 2\*\*\(scales-1\) = 4"):
        model(torch.rand(1, 3, 18, 16))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(torch.full((1, 3, 16, 16), float("nan")))
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\)"):
        model(torch.rand(3, 16, 16))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(1, 3, 16, 16, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model([[0.0]])
    pred = UNet(k=2, width=4, prediction_only=True)
    with pytest.raises(ValueError, match=r"expects 2 input channels \(2 past frames\)"):
        pred(torch.rand(1, 3, 16, 16))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="k must be"):
        UNet(k=-1)
    with pytest.raises(ValueError, match="width must be"):
        UNet(width=0)
    with pytest.raises(ValueError, match="scales must be"):
        UNet(scales=2.5)
    with pytest.raises(ValueError, match="k >= 1"):
        UNet(k=0, prediction_only=True)
    with pytest.raises(ValueError, match="num_channels"):
        BiasFreeBatchNorm2d(0)


def test_stack_inputs_puts_past_first_then_observation():
    past = torch.stack([torch.full((2, 4, 4), 1.0), torch.full((2, 4, 4), 2.0)], dim=1)  # (2, 2, 4, 4)
    noisy = torch.full((2, 1, 4, 4), 9.0)
    x = stack_inputs(past, noisy)
    assert x.shape == (2, 3, 4, 4)
    assert x[:, 0].eq(1).all() and x[:, 1].eq(2).all() and x[:, 2].eq(9).all()
    assert stack_inputs(past, noisy[:, 0]).equal(x)  # (B, H, W) observation
    assert stack_inputs(past[0], noisy[:1]).equal(x[:1])  # one sample without batch axis
    assert stack_inputs(past).equal(past)  # prediction-only
    assert stack_inputs(torch.zeros(2, 0, 4, 4), noisy).equal(noisy)  # k = 0
    with pytest.raises(ValueError, match="disagree"):
        stack_inputs(past, torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match="noisy must have shape"):
        stack_inputs(past, torch.zeros(2, 2, 4, 4))
    with pytest.raises(TypeError, match="past must be"):
        stack_inputs(None, noisy)
