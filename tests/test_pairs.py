"""FramePairs (scoretutor.data.pairs): (k past frames, next frame) pairs from a set of sequences."""
import numpy as np
import pytest
import torch

from scoretutor.data.pairs import FramePairs
from scoretutor.data.leaves import generate


@pytest.fixture(scope="module")
def frames():
    return generate(6, seed=4)[0]  # (6, 11, 32, 32) float32


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_lengths_shapes_and_values(frames, k):
    ds = FramePairs(frames, k)
    assert len(ds) == 6 * (11 - k)
    want = np.rint(frames * 255) / 255  # stored as uint8
    seen = set()
    for i in range(len(ds)):
        past, target = ds[i]
        assert past.shape == (k, 32, 32) and target.shape == (1, 32, 32)
        assert past.dtype == torch.float32 and target.dtype == torch.float32
        s, t = ds.locate(i)
        assert t >= k
        seen.add((s, t))
        assert np.allclose(target[0].numpy(), want[s, t], atol=1e-6)
        assert np.allclose(past.numpy(), want[s, t - k : t], atol=1e-6)
        assert 0 <= float(past.min() if k else 0) and float(target.max()) <= 1
    # every target position with k frames before it, exactly once
    assert seen == {(s, t) for s in range(6) for t in range(k, 11)}


def test_values_match_the_float_frames_to_quantisation(frames):
    past, target = FramePairs(frames, 2)[17]
    s, t = FramePairs(frames, 2).locate(17)
    assert np.abs(target[0].numpy() - frames[s, t]).max() <= 0.5 / 255 + 1e-6


def test_storage_is_uint8_and_uint8_input_is_kept(frames):
    ds = FramePairs(frames, 2)
    assert ds.frames.dtype == torch.uint8 and ds.frames.shape == (6, 11, 32, 32)
    u8 = generate(6, seed=4, dtype="uint8")[0]
    assert torch.equal(FramePairs(u8, 2).frames, ds.frames)
    assert torch.equal(FramePairs(torch.from_numpy(frames), 2).frames, ds.frames)


def test_batch_matches_items_and_dataloader_works(frames):
    ds = FramePairs(frames, 3)
    idx = [0, 5, 9, 40, len(ds) - 1, -1]
    past, target = ds.batch(idx)
    assert past.shape == (6, 3, 32, 32) and target.shape == (6, 1, 32, 32)
    for row, i in enumerate(idx):
        p, t = ds[i]
        assert torch.equal(past[row], p) and torch.equal(target[row], t)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
    p, t = next(iter(loader))
    assert p.shape == (4, 3, 32, 32) and t.shape == (4, 1, 32, 32)


def test_prediction_only(frames):
    ds = FramePairs(frames, 2, prediction_only=True)
    assert ds.prediction_only and len(ds) == 6 * 9
    assert torch.equal(ds[3][1], FramePairs(frames, 2)[3][1])
    with pytest.raises(ValueError, match="prediction_only"):
        FramePairs(frames, 0, prediction_only=True)


def test_index_out_of_range(frames):
    ds = FramePairs(frames, 2)
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(IndexError):
        ds.batch([len(ds)])


@pytest.mark.parametrize(
    "make, k, err, word",
    [
        (lambda f: f, -1, ValueError, "k"),
        (lambda f: f, 11, ValueError, "k"),
        (lambda f: f[0], 2, ValueError, "shape"),
        (lambda f: f * 2, 2, ValueError, r"\[0, 1\]"),
        (lambda f: -f, 2, ValueError, r"\[0, 1\]"),
        (lambda f: (f * 100).astype(np.int64), 2, TypeError, "uint8"),
        (lambda f: f[:0], 2, ValueError, "at least one"),
    ],
)
def test_bad_input(frames, make, k, err, word):
    with pytest.raises(err, match=word):
        FramePairs(make(frames), k)
