"""DAVIS32 (scoretutor.data.davis): crop geometry, anti-aliasing, the split by sequence, the cache and bad input.

Everything runs on tiny synthetic folders in the official DAVIS layout; one optional test reads the
real frames when ``SCORETUTOR_DAVIS_ROOT`` is set.
"""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scoretutor.cli import main as cli_main
from scoretutor.data import davis
from scoretutor.data.pairs import FramePairs

# Small builds: frames of 160×96 pixels, crops of 32 and 64 pixels reduced to 16×16 (factors 2 and 4).
SMALL = dict(scales=(32, 64), size=16, progress=False)


def gradient(h, w, offset=0.0):
    """A smooth grey image (JPEG keeps it almost exactly): float in 0..255."""
    r, c = np.mgrid[0:h, 0:w]
    return np.clip(offset + 0.4 * r + 0.5 * c, 0, 255)


def make_davis(root: Path, lengths: dict, shape=(96, 160), image=None) -> Path:
    """A DAVIS-layout folder: ``lengths = {sequence: number of frames}``; frame ``t`` of sequence ``s``
    is ``image(s, t)`` (default: a gradient shifted by ``3 t``), saved as an RGB JPEG."""
    image = image or (lambda s, t: gradient(*shape, offset=3.0 * t))
    for name, n in lengths.items():
        folder = root / "JPEGImages" / "480p" / name
        folder.mkdir(parents=True)
        for t in range(n):
            grey = np.rint(image(name, t)).astype(np.uint8)
            Image.fromarray(grey).convert("RGB").save(folder / f"{t:05d}.jpg", quality=95)
    return root


@pytest.fixture
def folder(tmp_path):
    return make_davis(tmp_path / "DAVIS", {"alpha": 12, "bravo": 11, "charlie": 11, "delta": 22})


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("scale", [64, 128, 256])
def test_21_distinct_crops_per_scale_span_the_frame(scale):
    corners = davis.crop_grid(480, 854, scale)
    assert corners.shape == (21, 2)
    assert len({tuple(c) for c in corners}) == 21
    assert corners.min() == 0
    assert corners[:, 0].max() == 480 - scale and corners[:, 1].max() == 854 - scale
    assert (corners[:, 0] + scale <= 480).all() and (corners[:, 1] + scale <= 854).all()


def test_crop_grid_documented_corners():
    c = davis.crop_grid(480, 854, 64)
    assert sorted(set(c[:, 0])) == [0, 208, 416]
    assert sorted(set(c[:, 1])) == [0, 132, 263, 395, 527, 658, 790]


def test_crop_larger_than_frame_is_an_error():
    with pytest.raises(ValueError, match="larger than the 200×100 frame"):
        davis.crop_grid(100, 200, 128)
    with pytest.raises(ValueError, match="no room"):
        davis.crop_grid(65, 200, 64)


def test_constant_image_stays_constant():
    out = davis.crop_reduce(np.full((100, 120), 0.3), 5, 7, 64, 32)
    assert out.shape == (32, 32) and out.dtype == np.float64
    np.testing.assert_allclose(out, 0.3)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_high_frequency_grating_averages_to_grey(factor):
    s = 32 * factor
    cols = np.indices((s, s))[1] % 2  # one-pixel stripes, the finest detail there is
    checker = np.indices((s, s)).sum(0) % 2
    for pattern in (cols, checker):
        np.testing.assert_allclose(davis.crop_reduce(pattern.astype(float), 0, 0, s), 0.5)
        strided = pattern[::factor, ::factor]  # plain striding aliases it to a flat 0
        assert strided.std() == 0 and strided.mean() == 0


def test_crop_reduce_is_the_box_average_of_the_right_window():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(70, 90)).astype(np.uint8)
    out = davis.crop_reduce(image, 3, 11, 64, 16)
    expected = np.array(
        [[image[3 + 4 * i : 7 + 4 * i, 11 + 4 * j : 15 + 4 * j].mean() for j in range(16)] for i in range(16)]
    )
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)


def test_crop_reduce_bad_input():
    img = np.zeros((64, 64))
    with pytest.raises(ValueError, match="multiple of size"):
        davis.crop_reduce(img, 0, 0, 48, 32)
    with pytest.raises(ValueError, match="does not fit"):
        davis.crop_reduce(img, 1, 0, 64, 32)
    with pytest.raises(ValueError, match="2-D"):
        davis.crop_reduce(np.zeros((2, 64, 64)), 0, 0, 64, 32)
    with pytest.raises(ValueError, match="top"):
        davis.crop_reduce(img, -1, 0, 32, 32)


# --------------------------------------------------------------------------- split

NAMES = [f"seq-{i:02d}" for i in range(40)]


def test_split_is_by_sequence_deterministic_and_stable():
    train, test = davis.split_sequences(NAMES)
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(NAMES)
    assert 1 <= len(test) < len(train)
    assert davis.split_sequences(list(reversed(NAMES))) == (train, test)
    more_train, more_test = davis.split_sequences(NAMES + ["extra-1", "extra-2"])
    assert set(test) <= set(more_test) and set(train) <= set(more_train)  # nobody changes sides


def test_split_always_has_a_test_sequence_when_it_can():
    for names in (["a", "b"], ["x", "y", "z"]):
        train, test = davis.split_sequences(names)
        assert len(test) >= 1 and len(train) >= 1
    assert davis.split_sequences(["only"]) == (["only"], [])


def test_split_uses_official_lists_when_present(tmp_path):
    sets = tmp_path / "ImageSets" / "2017"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("seq-00\nseq-01\nnot-here\n")
    (sets / "val.txt").write_text("seq-02\n")
    train, test = davis.split_sequences(["seq-00", "seq-01", "seq-02"], tmp_path)
    assert (train, test) == (["seq-00", "seq-01"], ["seq-02"])
    (sets / "val.txt").write_text("seq-02\nseq-01\n")
    with pytest.raises(ValueError, match="both train.txt and val.txt"):
        davis.split_sequences(["seq-00", "seq-01", "seq-02"], tmp_path)


def test_split_bad_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        davis.split_sequences(NAMES, test_fraction=1.0)


# --------------------------------------------------------------------------- build, load, cache


def test_build_and_load_shapes_counts_and_metadata(folder, tmp_path):
    train = davis.load_davis32("train", folder, tmp_path / "cache", **SMALL)
    test = davis.load_davis32("test", folder, tmp_path / "cache", **SMALL)
    assert set(train.sequences).isdisjoint(test.sequences)
    assert set(train.sequences) | set(test.sequences) == {"alpha", "bravo", "charlie", "delta"}
    assert set(np.unique(train.sequence)) == set(train.sequences)
    starts = {"alpha": 1, "bravo": 1, "charlie": 1, "delta": 2}  # non-overlapping 11-frame clips
    for data in (train, test):
        assert data.frames.dtype == np.uint8 and data.frames.shape[1:] == (11, 16, 16)
        assert len(data) == sum(starts[s] for s in data.sequences) * 42
        for field in ("sequence", "scale", "location", "top", "left", "start"):
            assert getattr(data, field).shape == (len(data),)
        assert set(data.scale) == {32, 64} and set(data.location) == set(range(21))
    # every clip is the box-averaged crop its metadata names, frames start..start+10
    full = davis.load_davis32("all", folder, tmp_path / "cache", **SMALL)
    for i in np.random.default_rng(1).choice(len(full), 12, replace=False):
        for dt in (0, 10):
            src = gradient(96, 160, offset=3.0 * (full.start[i] + dt))
            expected = davis.crop_reduce(src, full.top[i], full.left[i], full.scale[i], 16)
            assert np.abs(full.frames[i, dt] - expected).max() <= 2.5  # JPEG's rounding only
    assert set(full.start[full.sequence == "delta"]) == {0, 11}


def test_float_frames_stride_and_framepairs(folder, tmp_path):
    data = davis.load_davis32("all", folder, tmp_path / "cache", stride=5, dtype="float32", **SMALL)
    assert data.frames.dtype == np.float32 and 0 <= data.frames.min() and data.frames.max() <= 1
    # overlapping clips: starts 0, 5, 10, ... while a clip fits
    assert len(data) == (1 + 1 + 1 + 3) * 42
    assert set(data.start[data.sequence == "delta"]) == {0, 5, 10}
    pairs = FramePairs(data.frames, 2)
    past, target = pairs[0]
    assert past.shape == (2, 16, 16) and target.shape == (1, 16, 16)
    np.testing.assert_allclose(target[0].numpy(), data.frames[0, 2], atol=1 / 255)


def test_cache_hit_and_invalidation(folder, tmp_path):
    cache = tmp_path / "cache"
    first = davis.build_davis32(folder, cache, **SMALL)
    assert first.built
    files = sorted(os.listdir(cache))
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".npz")  # no temp files left
    manifest = json.loads((cache / files[0]).read_text())
    assert manifest["sequences"] == {"alpha": 12, "bravo": 11, "charlie": 11, "delta": 22}
    assert manifest["params"]["scales"] == [32, 64] and manifest["source"] == str(folder.resolve())
    again = davis.build_davis32(folder, cache, **SMALL)
    assert not again.built
    np.testing.assert_array_equal(again.crops, first.crops)
    # touching a frame (new modification time) invalidates the cache
    frame = folder / "JPEGImages" / "480p" / "bravo" / "00004.jpg"
    st = frame.stat()
    os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert davis.build_davis32(folder, cache, **SMALL).built
    assert not davis.build_davis32(folder, cache, **SMALL).built
    # changing a frame's content changes the data
    Image.fromarray(np.full((96, 160), 200, np.uint8)).convert("RGB").save(frame, quality=95)
    changed = davis.build_davis32(folder, cache, **SMALL)
    assert changed.built
    s = changed.sequences.index("bravo")
    assert np.abs(changed.crops[changed.offsets[s] + 4].astype(int) - 200).max() <= 1
    # a new sequence invalidates it too; different parameters use another cache file
    make_davis(folder, {"echo": 11})
    assert "echo" in davis.build_davis32(folder, cache, **SMALL).sequences
    assert davis.build_davis32(folder, cache, scales=(32,), size=16, progress=False).built
    assert len(os.listdir(cache)) == 4


def test_damaged_cache_is_rebuilt(folder, tmp_path):
    cache = tmp_path / "cache"
    davis.build_davis32(folder, cache, **SMALL)
    npz = next(cache.glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:100])
    assert davis.build_davis32(folder, cache, **SMALL).built


def test_locations_come_from_the_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SCORETUTOR_DAVIS_ROOT", str(folder))
    monkeypatch.setenv("SCORETUTOR_DATA", str(tmp_path / "data"))
    assert davis.davis_root() == folder
    data = davis.load_davis32("train", **SMALL)
    assert len(data) > 0 and len(list((tmp_path / "data" / "davis32").glob("*.npz"))) == 1
    monkeypatch.delenv("SCORETUTOR_DAVIS_ROOT")
    with pytest.raises(ValueError, match="SCORETUTOR_DAVIS_ROOT"):
        davis.davis_root()


def test_default_parameters_on_full_size_frames(tmp_path):
    root = make_davis(tmp_path / "D", {"a": 11, "b": 11}, shape=(480, 854))
    data = davis.load_davis32("all", root, tmp_path / "c", progress=False)
    assert data.frames.shape == (2 * 63, 11, 32, 32)
    for scale in (64, 128, 256):
        sel = (data.sequence == "a") & (data.scale == scale)
        assert len({(t, l) for t, l in zip(data.top[sel], data.left[sel])}) == 21


def test_main_prints_the_split(tmp_path, capsys):
    root = make_davis(tmp_path / "D", {"a": 11, "b": 11}, shape=(480, 854))
    assert cli_main(["davis", "--root", str(root), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and "test:" in out
    assert cli_main(["davis", "--root", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err  # errors go to stderr


# --------------------------------------------------------------------------- bad input


def test_folder_without_jpegimages(tmp_path):
    (tmp_path / "DAVIS" / "Annotations").mkdir(parents=True)
    with pytest.raises(ValueError, match="no JPEGImages/480p"):
        davis.load_davis32("train", tmp_path / "DAVIS", tmp_path / "c", **SMALL)
    with pytest.raises(ValueError, match="not a folder"):
        davis.load_davis32("train", tmp_path / "missing", tmp_path / "c", **SMALL)
    (tmp_path / "DAVIS" / "JPEGImages" / "480p").mkdir(parents=True)
    with pytest.raises(ValueError, match="no sequence folders"):
        davis.load_davis32("train", tmp_path / "DAVIS", tmp_path / "c", **SMALL)


def test_short_and_empty_sequences_are_skipped_with_a_warning(folder, tmp_path):
    make_davis(folder, {"short": 10})
    (folder / "JPEGImages" / "480p" / "empty").mkdir()
    with pytest.warns(UserWarning) as record:
        data = davis.build_davis32(folder, tmp_path / "c", **SMALL)
    messages = " | ".join(str(w.message) for w in record)
    assert "'empty': 0 frames" in messages and "'short': 10 frames" in messages
    assert data.sequences == ("alpha", "bravo", "charlie", "delta")


def test_requested_short_or_missing_sequence_is_an_error(folder, tmp_path):
    make_davis(folder, {"short": 10})
    with pytest.raises(ValueError, match="'short' has 10 frames, fewer than clip_length=11"):
        davis.build_davis32(folder, tmp_path / "c", sequences=["alpha", "short"], **SMALL)
    with pytest.raises(ValueError, match="not in"):
        davis.build_davis32(folder, tmp_path / "c", sequences=["zulu"], **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asking for good sequences only: no warning about "short"
        data = davis.build_davis32(folder, tmp_path / "c", sequences=["alpha", "bravo"], **SMALL)
    assert data.sequences == ("alpha", "bravo")


def test_every_sequence_too_short_is_an_error(tmp_path):
    root = make_davis(tmp_path / "D", {"a": 3})
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no sequence has at least"):
        davis.build_davis32(root, tmp_path / "c", **SMALL)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_frame_is_named(folder, tmp_path, damage):
    frame = folder / "JPEGImages" / "480p" / "charlie" / "00007.jpg"
    data = frame.read_bytes()
    frame.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not a jpeg" * 50, "empty": b""}[damage])
    with pytest.raises(ValueError, match=r"cannot read frame .*charlie/00007\.jpg"):
        davis.build_davis32(folder, tmp_path / "c", **SMALL)
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())  # nothing half-written


def test_missing_frame_is_named(folder, tmp_path):
    (folder / "JPEGImages" / "480p" / "alpha" / "00005.jpg").unlink()
    with pytest.raises(ValueError, match=r"alpha/00005\.jpg' is missing"):
        davis.build_davis32(folder, tmp_path / "c", **SMALL)
    # a gap in a sequence that is not asked for does not matter
    assert davis.build_davis32(folder, tmp_path / "c", sequences=["bravo", "delta"], **SMALL).built


def test_crops_larger_than_the_frame(tmp_path):
    root = make_davis(tmp_path / "D", {"a": 11, "b": 11}, shape=(48, 160))
    with pytest.raises(ValueError, match="sequence 'a': crop of 64 pixels is larger than the 160×48 frame"):
        davis.build_davis32(root, tmp_path / "c", **SMALL)


def test_frame_of_another_size(folder, tmp_path):
    frame = folder / "JPEGImages" / "480p" / "delta" / "00003.jpg"
    Image.fromarray(np.zeros((90, 160), np.uint8)).save(frame)
    with pytest.raises(ValueError, match=r"delta/00003\.jpg' is 160×90"):
        davis.build_davis32(folder, tmp_path / "c", **SMALL)


def test_bad_arguments(folder, tmp_path):
    with pytest.raises(ValueError, match="split"):
        davis.load_davis32("validation", folder, tmp_path / "c", **SMALL)
    with pytest.raises(ValueError, match="dtype"):
        davis.load_davis32("train", folder, tmp_path / "c", dtype="float16", **SMALL)
    with pytest.raises(ValueError, match="stride"):
        davis.load_davis32("train", folder, tmp_path / "c", stride=0, **SMALL)
    with pytest.raises(ValueError, match="multiple of size"):
        davis.build_davis32(folder, tmp_path / "c", scales=(40,), size=16, progress=False)
    root = make_davis(tmp_path / "one", {"only": 11})
    with pytest.raises(ValueError, match="test' is empty.*lone sequence"):
        davis.load_davis32("test", root, tmp_path / "c", **SMALL)


# --------------------------------------------------------------------------- the real frames (optional)


@pytest.mark.skipif(not os.environ.get("SCORETUTOR_DAVIS_ROOT"), reason="SCORETUTOR_DAVIS_ROOT is not set")
def test_real_davis_frames(tmp_path):
    """Builds from the two shortest real sequences (kept small for speed) into a temporary cache."""
    found = davis.discover_sequences()
    assert found, "no sequences"
    shortest = sorted((len(f), name) for name, f in found.items() if len(f) >= 11)[:2]
    names = [name for _, name in shortest]
    data = davis.load_davis32("all", None, tmp_path, sequences=names, progress=False)
    expected = sum((len(found[n]) - 11) // 11 + 1 for n in names) * 63
    assert data.frames.shape == (expected, 11, 32, 32) and data.frames.dtype == np.uint8
    assert data.manifest["sequences"] == {n: len(found[n]) for n in names}
    assert 20 < data.frames.mean() < 235 and data.frames.std() > 10  # natural images, not blank
    # natural video: consecutive frames are far more alike than frames of different clips
    step = np.abs(np.diff(data.frames.astype(np.float32), axis=1)).mean()
    other = np.abs(data.frames[1:, 0].astype(np.float32) - data.frames[:-1, 0]).mean()
    assert step < other


# --------------------------------------------------------------------------- any video as clips (video_clips)


def test_video_clips_shapes_range_and_provenance():
    video = np.random.default_rng(0).uniform(size=(23, 480, 854)).astype(np.float32)
    clips = davis.video_clips(video)
    assert clips.frames.shape == (63 * 2, 11, 32, 32) and clips.frames.dtype == np.float32  # 2 clips per crop
    assert 0 <= clips.frames.min() and clips.frames.max() <= 1
    assert clips.split == "video" and set(clips.sequence.tolist()) == {"video"}
    assert sorted(set(clips.scale.tolist())) == [64, 128, 256] and sorted(set(clips.start.tolist())) == [0, 11]
    overlapping = davis.video_clips(video, stride=4, name="mine")
    assert len(overlapping) == 63 * 4 and overlapping.sequences == ("mine",)  # starts 0, 4, 8, 12


def test_video_clips_of_a_constant_video_are_constant():
    clips = davis.video_clips(np.full((11, 96, 160), 0.5), **SMALL_VIDEO)
    np.testing.assert_array_equal(clips.frames, np.float32(128 / 255))  # 0.5 -> 127.5 -> 8 bits: 128
    as_uint8 = davis.video_clips(np.full((11, 96, 160), 128, np.uint8), **SMALL_VIDEO)
    np.testing.assert_array_equal(as_uint8.frames, clips.frames)


SMALL_VIDEO = dict(scales=(32, 64), size=16)


def test_video_clips_keep_a_translation_scaled_by_the_reduction():
    base = np.random.default_rng(1).integers(0, 256, size=(96, 400)).astype(np.uint8)
    video = np.stack([np.roll(base, 4 * t, axis=1)[:, :160] for t in range(11)])  # 4 pixels per frame, rightwards
    clips = davis.video_clips(video, **SMALL_VIDEO)
    for scale, shift in [(32, 2), (64, 1)]:  # reduced by 2 and by 4
        x = clips.frames[clips.scale == scale]
        np.testing.assert_array_equal(x[:, 1:, :, shift:], x[:, :-1, :, :-shift])
        assert not np.array_equal(x[:, 1:], x[:, :-1])


def test_video_clips_of_a_davis_sequence_are_its_davis32_clips(tmp_path):
    root = make_davis(tmp_path / "DAVIS", {"alpha": 12, "bravo": 11})
    files = davis.discover_sequences(root)["alpha"]
    video = np.stack([davis.read_luma(p) for p in files])
    mine = davis.video_clips(video, **SMALL_VIDEO, name="alpha")
    built = davis.load_davis32("all", root, tmp_path / "cache", sequences=["alpha"], dtype="float32", **SMALL)
    np.testing.assert_array_equal(mine.frames, built.frames)
    for key in ("scale", "location", "top", "left", "start"):
        np.testing.assert_array_equal(getattr(mine, key), getattr(built, key))


def test_video_clips_of_rgb_use_the_bt601_luma():
    rgb = np.zeros((11, 96, 160, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    luma = np.rint(0.299 * 200 + 0.587 * 100 + 0.114 * 50)  # 124
    clips = davis.video_clips(rgb, **SMALL_VIDEO)
    np.testing.assert_allclose(clips.frames, luma / 255, atol=1 / 255 + 1e-7)
    grey = davis.video_clips(np.full((11, 96, 160), int(clips.frames.flat[0] * 255 + 0.5), np.uint8), **SMALL_VIDEO)
    np.testing.assert_array_equal(clips.frames, grey.frames)


@pytest.mark.parametrize("video, match", [
    (np.zeros((11, 96)), r"must be a \(T, H, W\) array of grey levels or \(T, H, W, 3\) of RGB, got shape \(11, 96\)"),
    (np.zeros((11, 96, 160, 4)), r"got shape \(11, 96, 160, 4\)"),
    (np.zeros((10, 96, 160)), r"video has 10 frames, fewer than clip_length=11"),
    (np.zeros((11, 40, 160)), r"video frames of 160×40 pixels: crop of 64 pixels is larger than the 160×40 frame"),
    (np.full((11, 96, 160), 2.0), r"a float video must lie in \[0, 1\], got values from 2 to 2 \(uint8 videos: 0..255\)"),
    (np.full((11, 96, 160), np.nan), r"NaN or infinite"),
    (np.full((11, 96, 160), 300), r"an integer video must lie in 0..255, got values from 300 to 300"),
    (np.zeros((11, 96, 160), bool), r"must hold real grey levels"),
    (np.full((11, 96, 160), "a"), r"must hold real grey levels"),
])
def test_video_clips_bad_videos(video, match):
    with pytest.raises(ValueError, match=match):
        davis.video_clips(video, **SMALL_VIDEO)
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        davis.video_clips(np.zeros((11, 96, 160)), stride=0, **SMALL_VIDEO)
