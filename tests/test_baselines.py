"""Classical next-frame predictors (scoretutor.baselines) on constructed cases with known answers."""
import numpy as np
import pytest
import torch

from scoretutor.baselines import BASELINES, block_matching, copy_last, estimate_motion, linear_extrapolation


def translating(velocities, n_frames=3, size=32, seed=0):
    """Clips of a random pattern moving at a constant integer velocity: frame n at pixel p is
    ``pattern[p - n v]`` (crops of one larger pattern, so the frames have genuine content up to
    their borders). Returns float32 ``(B, n_frames, size, size)``, one clip per velocity ``(dy, dx)``."""
    rng = np.random.default_rng(seed)
    margin = 16
    clips = []
    for dy, dx in velocities:
        pattern = rng.random((size + 2 * margin, size + 2 * margin))
        frames = [pattern[margin - n * dy:margin - n * dy + size, margin - n * dx:margin - n * dx + size]
                  for n in range(n_frames)]
        clips.append(np.stack(frames))
    return torch.from_numpy(np.stack(clips).astype(np.float32))


VELOCITIES = [(0, 0), (1, 0), (0, -1), (2, -3), (-3, 3), (-1, 2)]


def test_copy_last_returns_the_latest_frame():
    past = torch.rand(3, 4, 8, 9)
    out = copy_last(past)
    assert out.shape == (3, 1, 8, 9) and torch.equal(out[:, 0], past[:, -1])
    out[:] = 0  # a copy, not a view of the input
    assert past[:, -1].max() > 0
    assert copy_last(past[:, :1]).shape == (3, 1, 8, 9)  # one past frame is enough


def test_linear_extrapolation_exact_on_a_ramp_in_time_and_clipped():
    rng = np.random.default_rng(0)
    start = rng.integers(24, 41, size=(2, 5, 6)) / 64.0  # multiples of 1/64: exact in float32
    slope = rng.integers(-8, 9, size=(2, 5, 6)) / 64.0  # |3 slope| <= 24/64: every frame stays in [0, 1]
    frames = np.stack([start + n * slope for n in range(4)], axis=1).astype(np.float32)  # (2, 4, 5, 6)
    assert frames.min() >= 0 and frames.max() <= 1
    out = linear_extrapolation(frames[:, :3])  # NumPy in, torch out
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 5, 6)
    assert torch.equal(out[:, 0], torch.from_numpy(frames[:, 3]))
    # only the last two frames count
    other = frames[:, :3].copy()
    other[:, 0] = rng.random((2, 5, 6))
    assert torch.equal(linear_extrapolation(other), out)
    # clipping at both ends of the range
    past = torch.tensor([[[[0.2, 0.9]], [[0.9, 0.2]]]])  # (1, 2, 1, 2): 2*0.9-0.2=1.6 -> 1, 2*0.2-0.9=-0.5 -> 0
    assert torch.equal(linear_extrapolation(past), torch.tensor([[[[1.0, 0.0]]]]))


def test_estimate_motion_recovers_a_constant_translation():
    clips = translating(VELOCITIES)
    v = estimate_motion(clips[:, 0], clips[:, 1], block=4, search=3)
    assert v.dtype == torch.long and v.shape == (len(VELOCITIES), 8, 8, 2)
    inner = v[:, 1:-1, 1:-1]  # blocks whose match lies inside the frame for |v| <= 4
    want = torch.tensor(VELOCITIES).view(-1, 1, 1, 2).expand_as(inner)
    assert torch.equal(inner, want)


def test_block_matching_exact_for_constant_velocity_away_from_borders():
    clips = translating(VELOCITIES)
    out = block_matching(clips[:, :2], block=4, search=3)
    assert out.shape == (len(VELOCITIES), 1, 32, 32) and out.dtype == torch.float32
    assert torch.equal(out[:, 0, 4:-4, 4:-4], clips[:, 2, 4:-4, 4:-4])
    assert 0 <= out.min() and out.max() <= 1
    # the other baselines do not manage it (except for the still clip)
    for name in ("copy last frame", "linear extrapolation"):
        err = (BASELINES[name](clips[:, :2])[:, 0] - clips[:, 2]).abs().flatten(1).amax(dim=1)
        assert err[0] == 0 and (err[1:] > 0.5).all(), name


def test_block_matching_other_block_sizes_and_a_frame_not_divisible_by_the_block():
    clips = translating([(1, 2), (-2, 0)], n_frames=4, size=30, seed=1)
    out = block_matching(clips[:, 1:3], block=5, search=2)  # k=2 from a longer clip; 6x6 blocks of 5
    assert torch.equal(out[:, 0, 5:-5, 5:-5], clips[:, 3, 5:-5, 5:-5])
    out = block_matching(clips[:, :3], block=8, search=2)  # k=3; 30 = 3*8 + 6: a short last row/column of blocks
    assert out.shape == (2, 1, 30, 30)
    assert torch.equal(out[:, 0, 8:-6, 8:-6], clips[:, 3, 8:-6, 8:-6])
    v = estimate_motion(clips[:, 0], clips[:, 1], block=8, search=2)
    assert v.shape == (2, 4, 4, 2)
    assert block_matching(torch.rand(1, 2, 3, 5), block=8).shape == (1, 1, 3, 5)  # one block, larger than the frame


def loop_reference(previous, current, block, search):
    """Block matching written out with loops on one pair of NumPy frames: the vectors, and the prediction
    ``current[p - v]`` (edge pixels repeated beyond the border)."""
    h, w = current.shape
    shifts = sorted(((dy, dx) for dy in range(-search, search + 1) for dx in range(-search, search + 1)),
                    key=lambda v: (v[0] ** 2 + v[1] ** 2, v[0], v[1]))
    nby, nbx = -(-h // block), -(-w // block)
    vectors = np.zeros((nby, nbx, 2), dtype=int)
    for by in range(nby):
        for bx in range(nbx):
            best = np.inf
            for dy, dx in shifts:
                cost = sum((current[y, x] - previous[min(max(y - dy, 0), h - 1), min(max(x - dx, 0), w - 1)]) ** 2
                           for y in range(by * block, min(by * block + block, h))
                           for x in range(bx * block, min(bx * block + block, w)))
                if cost < best:
                    best, vectors[by, bx] = cost, (dy, dx)
    prediction = np.empty_like(current)
    for y in range(h):
        for x in range(w):
            dy, dx = vectors[y // block, x // block]
            prediction[y, x] = current[min(max(y - dy, 0), h - 1), min(max(x - dx, 0), w - 1)]
    return vectors, prediction


@pytest.mark.parametrize("block, search, shape", [(4, 2, (8, 12)), (3, 4, (7, 10)), (2, 3, (6, 6)), (1, 1, (4, 5))])
def test_agrees_with_a_loop_implementation_including_borders(block, search, shape):
    """Random frames (no true motion), a few with flat patches so that ties occur, everywhere including
    the border blocks, where the replicate padding and the tie rule decide."""
    rng = np.random.default_rng(block * 10 + search)
    past = rng.random((3, 2) + shape)
    past[1, :, : shape[0] // 2] = 0.5  # flat top half in both frames
    past[2] = np.round(past[2])  # binary frames: many equal costs
    vectors = estimate_motion(past[:, 0], past[:, 1], block, search)
    prediction = block_matching(past, block, search)
    for i in range(3):
        want_v, want_p = loop_reference(past[i, 0], past[i, 1], block, search)
        assert np.array_equal(vectors[i].numpy(), want_v), i
        np.testing.assert_allclose(prediction[i, 0].numpy(), want_p, rtol=0, atol=0)


def test_ties_go_to_the_smallest_displacement():
    flat = torch.full((1, 12, 12), 0.5)
    assert not estimate_motion(flat, flat, block=4, search=3).any()  # every displacement fits: v = 0
    # a vertical edge moving right by one pixel: dy is undetermined in the middle blocks (any dy fits),
    # so the shortest vector (dy = 0) wins
    prev = torch.zeros(1, 12, 12)
    prev[:, :, 5:] = 1.0
    cur = torch.zeros(1, 12, 12)
    cur[:, :, 6:] = 1.0
    v = estimate_motion(prev, cur, block=4, search=2)
    assert v[0, :, 1].tolist() == [[0, 1]] * 3
    # equal lengths: ties broken by dy then dx, ascending. A horizontal stripe pattern of period 2
    # shifted by one row matches at dy = -1 and dy = +1 equally well; -1 comes first.
    stripes = (torch.arange(12) % 2).float().view(1, 12, 1).expand(1, 12, 12)
    v = estimate_motion(stripes, 1 - stripes, block=4, search=1)
    assert (v[0, 1:-1, 1:-1] == torch.tensor([-1, 0])).all()
    # a checkerboard moved by one pixel fits (-1, 0), (0, -1), (0, 1) and (1, 0) equally: dy decides first
    checker = ((torch.arange(12).view(12, 1) + torch.arange(12)) % 2).float()[None]
    v = estimate_motion(checker, 1 - checker, block=4, search=1)
    assert (v[0, 1:-1, 1:-1] == torch.tensor([-1, 0])).all()


def test_block_matching_keeps_dtype_device_and_accepts_numpy():
    clips = translating([(1, 1)]).double()
    out = block_matching(clips[:, :2])
    assert out.dtype == torch.float64
    out_np = block_matching(clips[:, :2].numpy())
    assert isinstance(out_np, torch.Tensor) and torch.equal(out_np, out)
    for fn in BASELINES.values():
        assert fn(clips[:, :2].numpy().astype(np.float32)).dtype == torch.float32
        assert fn((clips[:, :2].numpy() > 0.5).astype(np.uint8)).dtype == torch.float32  # 0/1 integers


@pytest.mark.parametrize("fn", list(BASELINES.values()), ids=list(BASELINES))
def test_bad_input(fn):
    with pytest.raises(ValueError, match=r"past must have shape \(B, k, H, W\)"):
        fn(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="at least"):
        fn(torch.rand(2, 0 if fn is copy_last else 1, 8, 8))
    bad = torch.rand(2, 2, 8, 8)
    bad[1, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="past contains NaN"):
        fn(bad)
    bad[1, 0, 3, 3] = float("inf")
    with pytest.raises(ValueError, match="past contains NaN or infinite"):
        fn(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(torch.rand(2, 2, 8, 8) * 255)
    with pytest.raises(ValueError, match="non-empty"):
        fn(torch.rand(0, 2, 8, 8))
    with pytest.raises(TypeError, match="past"):
        fn("frames")


def test_block_matching_bad_parameters():
    past = torch.rand(1, 2, 8, 8)
    for kw, word in [({"block": 0}, "block"), ({"block": 2.5}, "block"), ({"search": -1}, "search"),
                     ({"search": True}, "search")]:
        with pytest.raises(ValueError, match=f"{word} must be an integer"):
            block_matching(past, **kw)
    with pytest.raises(ValueError, match="same shape"):
        estimate_motion(torch.rand(1, 8, 8), torch.rand(1, 8, 9))
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        estimate_motion(torch.rand(8, 8), torch.rand(8, 8))
    with pytest.raises(ValueError, match="current must hold pixel values"):
        estimate_motion(torch.rand(1, 8, 8), torch.rand(1, 8, 8) + 1)
    assert torch.equal(block_matching(past, search=0), copy_last(past))  # no search: no motion
