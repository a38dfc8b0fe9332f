"""Worked solutions for chapter 8's exercises (opening the network)."""
import torch


def observation_contribution(model, x):
    """Exercise 8.1: the Jacobian at x applied to the observation alone (the past directions zeroed)."""
    v = torch.zeros_like(x)
    v[:, -1] = x[:, -1]
    _, tangent = torch.func.jvp(model, (x,), (v,))
    return tangent


def trace_from_probes(model, x, z):
    """Exercise 8.2: z^T J_y z for each probe (one JVP each, batched), then the mean."""
    xs = x.expand(z.shape[0], *x.shape[1:]).contiguous()
    v = torch.zeros_like(xs)
    v[:, -1] = z
    _, jz = torch.func.jvp(model, (xs,), (v,))
    return (z * jz[:, 0]).sum(dim=(-2, -1)).mean()


def power_iteration(matvec, v0, iters):
    """Exercise 8.3: multiply by A and renormalise, iters times."""
    v = v0 / v0.norm()
    for _ in range(iters):
        w = matvec(v)
        v = w / w.norm()
    return v


SOLUTIONS = {
    "check_observation_contribution": observation_contribution,
    "check_trace_from_probes": trace_from_probes,
    "check_power_iteration": power_iteration,
}
