"""Worked solutions for chapter 4's exercises (the conditional bias-free U-net)."""
import torch


def bias_free_norm(x, running_sd, scale):
    """Exercise 4.2: eval-mode bias-free batch norm: divide each channel by its running standard
    deviation and multiply by its learned scale; no mean is subtracted and nothing is added."""
    return x * (scale / running_sd).view(1, -1, 1, 1)


def parameter_count(k, width, scales):
    """Exercise 4.1: trainable parameters of UNet(k, width, scales).

    A 3x3 convolution from a to b channels without bias has 9ab weights; each bias-free batch norm
    has one scale per channel; a block is conv(a->b), norm(b), conv(b->b), norm(b). The encoder's
    stage s has c_s = width * 2**s channels and reads c_{s-1} (k + 1 at the first stage). Each of the
    scales - 1 decoder stages up-samples c_{s+1} -> c_s with a 2x2 transposed convolution (4 c_{s+1} c_s
    weights) and runs a block on the concatenation (2 c_s -> c_s). The output is a 3x3 conv width -> 1.
    """
    chans = [width * 2**s for s in range(scales)]

    def block(a, b):
        return 9 * a * b + b + 9 * b * b + b

    total, c_in = 0, k + 1
    for c in chans:
        total += block(c_in, c)
        c_in = c
    for s in range(scales - 1):
        total += 4 * chans[s + 1] * chans[s] + block(2 * chans[s], chans[s])
    return total + 9 * width


def jvp(model, x, v):
    """Exercise 4.3: J(x) v by forward-mode automatic differentiation (exact, one pass)."""
    _, tangent = torch.func.jvp(model, (x,), (v,))
    return tangent


SOLUTIONS = {
    "check_bias_free_norm": bias_free_norm,
    "check_parameter_count": parameter_count,
    "check_jvp": jvp,
}
