"""DAVIS32: natural-video clips of 11 frames of 32×32 grey pixels cut from DAVIS-2017. Taught in chapter 7.

The paper's natural-video data set (appendix D), rebuilt from a DAVIS folder in the official
layout ``<root>/JPEGImages/480p/<sequence>/00000.jpg, 00001.jpg, ...`` (854×480 JPEGs). Where it
lives is configuration: ``root=`` or ``$SCORETUTOR_DAVIS_ROOT`` (see :func:`davis_root`); the
cache goes to ``cache_dir=`` or ``$SCORETUTOR_DATA/davis32`` (see :func:`data_dir`).

How a clip is made (all choices here, none hidden in the code):

* **Grey levels.** Each frame is read as ITU-R BT.601 luma, ``Y' = 0.299 R' + 0.587 G' + 0.114 B'``
  on the gamma-encoded values: for a JPEG this is the luma channel the file stores, decoded
  directly (Pillow's ``draft("L")``); other files go through Pillow's ``convert("L")``, the same
  formula. Values 0..255 map to ``[0, 1]``.
* **Crops.** Square crops of ``scales = (64, 128, 256)`` pixels, each reduced to ``size = 32``
  pixels by averaging every ``f × f`` block, ``f = scale / size`` (2, 4, 8): a box blur followed by
  subsampling by exactly its width, so that detail finer than the output grid averages out
  instead of aliasing (a one-pixel grating becomes flat grey). See :func:`crop_reduce`.
* **Locations.** 21 distinct locations per scale: a 3 × 7 grid (rows × columns) of top-left
  corners evenly spaced from the frame's top-left corner to its bottom-right one, so that the
  crops span the whole frame at every scale: ``top = round(i (H - s) / 2)``,
  ``left = round(j (W - s) / 6)``. For 854×480 frames and ``s = 64`` the corners are at rows
  0, 208, 416 and columns 0, 132, 263, 395, 527, 658, 790; for ``s = 256`` at rows 0, 112, 224 and
  columns 0, 100, 199, 299, 399, 498, 598. See :func:`crop_grid`. Location index ``i * 7 + j``.
* **Clips.** ``clip_length = 11`` consecutive frames of one crop; clips start every ``stride``
  frames (default 11: no overlap; ``stride < clip_length`` makes overlapping clips).
* **Split by sequence, never by clip.** Sequences named in the official
  ``ImageSets/2017/val.txt`` are the test set and those in ``train.txt`` the training set, when
  these lists are present. Any sequence they do not name (or every sequence, when they are
  absent) is assigned by a fixed hash of its name: test when ``u < test_fraction`` (default
  0.125), where ``u`` is the first 64 bits of ``sha256(name)`` read as a fraction in ``[0, 1)``.
  The rule depends on the name alone, so a sequence keeps its side when others are added. If the
  rule leaves the test set empty, the sequence with the smallest ``u`` becomes the test set; if it
  leaves the training set empty, the one with the largest ``u`` goes to training. See
  :func:`split_sequences`.
* **Too-short sequences.** A discovered sequence with fewer than ``clip_length`` frames (or none)
  is skipped with a warning; one asked for by name in ``sequences=`` is an error.

The cache holds the reduced crops of every frame (uint8, ``(frames, 63, 32, 32)``) in one compressed
``.npz`` next to a JSON manifest (source folder, sequences and their frame counts, parameters, a
fingerprint of the inputs). Clips, splits and strides are cut from it when loading, so changing
them needs no rebuild. The fingerprint is a SHA-256 of every frame file's name, size and
modification time: touching or replacing a frame, adding or removing one, or adding a sequence
triggers a rebuild; an unchanged folder is loaded from the cache. Both files are written
atomically (temporary file, then rename).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import checks
from ..atomic import atomic_write
from ..runtime import show_progress

__all__ = [
    "ENV_ROOT",
    "ENV_DATA",
    "DOWNLOAD_NAME",
    "SCALES",
    "GRID",
    "SIZE",
    "CLIP_LENGTH",
    "TEST_FRACTION",
    "data_dir",
    "davis_root",
    "discover_sequences",
    "crop_grid",
    "crop_reduce",
    "read_luma",
    "split_sequences",
    "DavisCropCache",
    "DavisClips",
    "build_davis32",
    "load_davis32",
    "video_clips",
    "split_summary",
]

ENV_ROOT = "SCORETUTOR_DAVIS_ROOT"
ENV_DATA = "SCORETUTOR_DATA"
DOWNLOAD_NAME = "DAVIS-2017-trainval-480p"  # folder that scoretutor.data.download extracts into data_dir()/davis
SCALES = (64, 128, 256)
GRID = (3, 7)
SIZE = 32
CLIP_LENGTH = 11
TEST_FRACTION = 0.125
FORMAT = "scoretutor-davis32-v1"
_FRAME_NAME = re.compile(r"^(\d+)\.jpe?g$", re.IGNORECASE)


# --------------------------------------------------------------------------- where things live


def data_dir() -> Path:
    """Folder for downloads and caches: ``$SCORETUTOR_DATA``, else ``~/.cache/scoretutor``. Taught in chapter 7."""
    value = os.environ.get(ENV_DATA)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "scoretutor"


def davis_root(root=None) -> Path:
    """The DAVIS folder (the one that holds ``JPEGImages/480p``).

    ``root`` if given, else ``$SCORETUTOR_DAVIS_ROOT``, else the folder that
    :func:`scoretutor.data.download.download_davis` extracts to (``data_dir()/davis/DAVIS-2017-trainval-480p``)
    when it exists. Raises ``ValueError`` with instructions when none is configured, and when the
    folder lacks ``JPEGImages/480p``. Taught in chapter 7.
    """
    if root is None:
        value = os.environ.get(ENV_ROOT)
        if value:
            root = value
        else:
            default = data_dir() / "davis" / DOWNLOAD_NAME
            if not default.is_dir():
                raise ValueError(
                    f"no DAVIS folder configured: pass root=, set ${ENV_ROOT} to the folder that holds "
                    f"JPEGImages/480p, or download DAVIS-2017 with python -m scoretutor download "
                    f"(it extracts to {default})"
                )
            root = default
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"root {str(root)!r} is not a folder")
    if not (root / "JPEGImages" / "480p").is_dir():
        raise ValueError(
            f"root {str(root)!r} has no JPEGImages/480p folder: expected the official DAVIS layout "
            f"<root>/JPEGImages/480p/<sequence>/00000.jpg"
        )
    return root


def _locate_root(root) -> tuple[Path, bool]:
    """``(folder, present)``: :func:`davis_root`, or, when a folder is named (``root`` or
    ``$SCORETUTOR_DAVIS_ROOT``) but does not exist, that path with ``present=False`` so that its cache
    can stand in for it (see :func:`build_davis32`)."""
    try:
        return davis_root(root), True
    except ValueError:
        named = root if root is not None else os.environ.get(ENV_ROOT)
        if named and not Path(named).expanduser().exists():
            return Path(named).expanduser(), False
        raise


# --------------------------------------------------------------------------- geometry


def crop_grid(height: int, width: int, scale: int, grid=GRID) -> np.ndarray:
    """Top-left corners of the ``rows × cols`` square crops of side ``scale`` in a ``height × width`` frame.

    Returns int64 ``(rows * cols, 2)`` of ``(top, left)`` in pixels, row-major (index ``i * cols + j``),
    evenly spaced from ``(0, 0)`` to ``(height - scale, width - scale)`` and rounded to whole pixels.
    Raises ``ValueError`` when the crop is larger than the frame, or when the frame leaves too little
    room for ``rows × cols`` distinct corners. Taught in chapter 7.
    """
    height, width = checks.integer(height, "height", 1), checks.integer(width, "width", 1)
    scale = checks.integer(scale, "scale", 1)
    rows, cols = (checks.integer(g, "grid", 1) for g in grid)
    if scale > height or scale > width:
        raise ValueError(f"crop of {scale} pixels is larger than the {width}×{height} frame")
    if height - scale < rows - 1 or width - scale < cols - 1:
        raise ValueError(
            f"a {width}×{height} frame has no room for {rows}×{cols} distinct crops of {scale} pixels"
        )
    tops = np.rint(np.linspace(0, height - scale, rows)).astype(np.int64)
    lefts = np.rint(np.linspace(0, width - scale, cols)).astype(np.int64)
    return np.stack(np.meshgrid(tops, lefts, indexing="ij"), axis=-1).reshape(-1, 2)


def crop_reduce(image, top: int, left: int, scale: int, size: int = SIZE) -> np.ndarray:
    """Anti-aliased crop-and-reduce: the ``scale × scale`` square at ``(top, left)`` averaged down to ``size × size``.

    ``image``: 2-D array ``(H, W)`` of grey levels (any real dtype, any range). Each output pixel is
    the mean of one ``f × f`` block, ``f = scale // size`` (``scale`` must be a multiple of ``size``):
    a box blur of width ``f`` sampled every ``f`` pixels. Returns float64 for float64 input, float32
    otherwise, in the input's units. Taught in chapter 7.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D (H, W) array, got shape {image.shape}")
    scale, size = checks.integer(scale, "scale", 1), checks.integer(size, "size", 1)
    top, left = checks.integer(top, "top", 0), checks.integer(left, "left", 0)
    if scale % size:
        raise ValueError(f"scale ({scale}) must be a whole multiple of size ({size})")
    h, w = image.shape
    if top + scale > h or left + scale > w:
        raise ValueError(
            f"crop of {scale} pixels at (top={top}, left={left}) does not fit in the {w}×{h} image"
        )
    f = scale // size
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    block = image[top : top + scale, left : left + scale].astype(dtype, copy=False)
    return block.reshape(size, f, size, f).mean(axis=(1, 3), dtype=dtype)


def _crop_layout(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(scale_of, location_of)``, int64 ``(L,)``: the crop side and grid location of each of a frame's
    ``L`` crops, scale-major (the order of :class:`DavisCropCache`)."""
    per_scale = params["grid"][0] * params["grid"][1]
    scale_of = np.repeat(np.asarray(params["scales"], dtype=np.int64), per_scale)
    location_of = np.tile(np.arange(per_scale, dtype=np.int64), len(params["scales"]))
    return scale_of, location_of


def _corners(height: int, width: int, params: dict) -> np.ndarray:
    """Top-left corners ``(L, 2)`` of every crop of a ``height × width`` frame, in :func:`_crop_layout`'s order."""
    return np.concatenate([crop_grid(height, width, sc, params["grid"]) for sc in params["scales"]])


def _reduce_all(luma: np.ndarray, corners: np.ndarray, scale_of: np.ndarray, size: int) -> np.ndarray:
    """Every crop of one frame, rounded to uint8 ``(L, size, size)``: :func:`crop_reduce` at each corner."""
    out = np.empty((len(corners), size, size), dtype=np.uint8)
    luma = luma.astype(np.float32)  # once per frame, not once per crop
    for i, ((top, left), scale) in enumerate(zip(corners, scale_of)):
        np.rint(crop_reduce(luma, int(top), int(left), int(scale), size), out=out[i], casting="unsafe")
    return out


# --------------------------------------------------------------------------- reading the folder


def read_luma(path) -> np.ndarray:
    """One frame as uint8 luma ``(H, W)``, 0..255 (BT.601; see the module notes).

    Raises ``ValueError`` naming the file when it is missing, empty, truncated or not an image. Taught in chapter 7.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("L", im.size)  # decode the stored luma channel, no colour conversion
            im.load()
            arr = np.asarray(im if im.mode == "L" else im.convert("L"))
    except FileNotFoundError:
        raise ValueError(f"frame {str(path)!r} is missing") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(f"cannot read frame {str(path)!r} (corrupt, truncated or not an image): {err}") from None
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _frame_files(folder: Path) -> list[Path]:
    """The frames of one sequence, in order; ``ValueError`` naming the first missing file of a gap, or
    the two files of one frame number (``00003.jpg`` and ``3.jpg``)."""
    found = {}
    for entry in folder.iterdir():
        m = _FRAME_NAME.match(entry.name)
        if m and entry.is_file():
            number = int(m.group(1))
            if number in found:
                first, second = sorted((found[number].name, entry.name))
                raise ValueError(f"sequence {folder.name!r}: {first!r} and {second!r} are both frame {number}; "
                                 "keep one of them")
            found[number] = entry
    if not found:
        return []
    for i in range(max(found) + 1):
        if i not in found:
            width = len(next(iter(found.values())).stem)
            raise ValueError(
                f"sequence {folder.name!r}: frame {str(folder / f'{i:0{width}d}.jpg')!r} is missing "
                f"(frames must run 0, 1, 2, ... without gaps)"
            )
    return [found[i] for i in range(len(found))]


def discover_sequences(root=None, names=None) -> dict[str, list[Path]]:
    """The sequence folders under ``<root>/JPEGImages/480p`` with their frame files, sorted by name.

    ``names``: only these (``ValueError`` for any that is absent); default every folder but hidden
    ones. Includes empty and short sequences (the caller decides); a gap in the frame numbers is a
    ``ValueError`` naming the missing file. Taught in chapter 7.
    """
    base = davis_root(root) / "JPEGImages" / "480p"
    present = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not present:
        raise ValueError(f"root {str(base.parent.parent)!r}: JPEGImages/480p holds no sequence folders")
    if names is not None:
        missing = [n for n in names if n not in present]
        if missing:
            raise ValueError(f"sequences {missing} are not in {str(base)!r}")
        present = sorted(names)
    return {name: _frame_files(base / name) for name in present}


def _fingerprint(files: dict[str, list[Path]]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"sequence {name}\n".encode())
        for p in files[name]:
            st = p.stat()
            h.update(f"{p.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- split


def _hash_unit(name: str) -> float:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2.0**64


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def split_sequences(names, root=None, test_fraction: float = TEST_FRACTION) -> tuple[list[str], list[str]]:
    """Split sequence names into ``(train, test)`` (each sorted), by sequence. Taught in chapter 7.

    Uses ``<root>/ImageSets/2017/{train,val}.txt`` when present (``val`` is the test set) and the
    hash rule of the module notes for every sequence the lists do not name. One sequence goes to
    training only (the test set is then empty).
    """
    names = sorted(set(str(n) for n in names))
    if not names:
        raise ValueError("names must hold at least one sequence name")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    listed_train: set[str] = set()
    listed_test: set[str] = set()
    if root is not None:
        sets = Path(root) / "ImageSets" / "2017"
        if (sets / "train.txt").is_file():
            listed_train = _read_list(sets / "train.txt")
        if (sets / "val.txt").is_file():
            listed_test = _read_list(sets / "val.txt")
        both = sorted(listed_train & listed_test & set(names))
        if both:
            raise ValueError(f"ImageSets/2017 lists {both} in both train.txt and val.txt")
    train, test, free = [], [], []
    for n in names:
        (test if n in listed_test else train if n in listed_train else free).append(n)
    u = {n: _hash_unit(n) for n in free}
    for n in free:
        (test if u[n] < test_fraction else train).append(n)
    if len(names) > 1 and free:
        if not test:
            n = min(free, key=u.get)
            train.remove(n), test.append(n)
        elif not train:
            n = max(free, key=u.get)
            test.remove(n), train.append(n)
    return sorted(train), sorted(test)


# --------------------------------------------------------------------------- build and cache


@dataclass(frozen=True)
class DavisCropCache:
    """The cached build: the reduced crops of every frame of every kept sequence.

    ``crops``: uint8 ``(F, L, size, size)``, 0..255, ``F`` frames in all (sequences one after
    another, see ``offsets``), ``L = len(scales) * rows * cols`` crops per frame, scale-major.
    ``offsets``: int64 ``(S + 1,)``: sequence ``s`` owns frames ``offsets[s]:offsets[s + 1]``.
    ``corners``: int64 ``(S, L, 2)`` top-left ``(top, left)`` of each crop in source pixels.
    ``scale_of`` / ``location_of``: int64 ``(L,)`` crop side in pixels / location index in the grid.
    Taught in chapter 7.
    """

    crops: np.ndarray
    offsets: np.ndarray
    sequences: tuple
    corners: np.ndarray
    scale_of: np.ndarray
    location_of: np.ndarray
    manifest: dict
    path: Path | None = None
    built: bool = False  # True when this call built it, False when it came from the cache


def _params(scales, grid, size, clip_length) -> dict:
    size = checks.integer(size, "size", 1)
    clip_length = checks.integer(clip_length, "clip_length", 1)
    if isinstance(scales, (int, np.integer)) or not len(scales):
        raise ValueError(f"scales must be a non-empty sequence of crop sides in pixels, got {scales!r}")
    scales = [checks.integer(s, "scales", 1) for s in scales]
    if len(set(scales)) != len(scales):
        raise ValueError(f"scales must be distinct, got {scales}")
    for s in scales:
        if s % size:
            raise ValueError(f"every scale must be a whole multiple of size={size}, got {s}")
    if len(grid) != 2:
        raise ValueError(f"grid must be (rows, cols), got {grid!r}")
    grid = [checks.integer(g, "grid", 1) for g in grid]
    return {"scales": scales, "grid": grid, "size": size, "clip_length": clip_length, "luma": "BT.601"}


def _cache_paths(cache_dir, root: Path, params: dict, sequences) -> tuple[Path, Path]:
    folder = Path(cache_dir).expanduser() if cache_dir is not None else data_dir() / "davis32"
    key = json.dumps(
        {"format": FORMAT, "root": str(root.resolve()), "params": params, "sequences": sequences},
        sort_keys=True,
    )
    stem = "davis32-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _load_cache(npz: Path, js: Path, fingerprint: str | None, params: dict) -> DavisCropCache | None:
    """The cache if it is complete and matches ``params`` and ``fingerprint`` (None: any), else None."""
    try:
        manifest = json.loads(js.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("params") != params:
            return None
        if fingerprint is not None and manifest.get("fingerprint") != fingerprint:
            return None
        with np.load(npz, allow_pickle=False) as z:
            if json.loads(str(z["manifest"])).get("fingerprint") != manifest.get("fingerprint"):
                return None
            data = {k: z[k] for k in ("crops", "offsets", "sequences", "corners", "scale_of", "location_of")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, partial or foreign: rebuild
        return None
    return DavisCropCache(
        crops=data["crops"], offsets=data["offsets"], sequences=tuple(str(s) for s in data["sequences"]),
        corners=data["corners"], scale_of=data["scale_of"], location_of=data["location_of"],
        manifest=manifest, path=npz, built=False,
    )


def build_davis32(
    root=None,
    cache_dir=None,
    *,
    sequences=None,
    scales=SCALES,
    grid=GRID,
    size: int = SIZE,
    clip_length: int = CLIP_LENGTH,
    progress: bool | None = None,
    rebuild: bool = False,
) -> DavisCropCache:
    """Reduce every frame of every sequence to its crops, or load them from the cache when nothing changed.

    ``root``: see :func:`davis_root`. ``cache_dir``: folder for the cache (default
    ``data_dir()/davis32``). ``sequences``: names to use (default: every sequence in the folder;
    discovered sequences shorter than ``clip_length`` are skipped with a warning, requested ones
    raise ``ValueError``). ``rebuild=True`` ignores the cache. A named folder that no longer exists
    (moved, deleted after building, or on a machine that only has the cache) is replaced by its cache
    with a warning, unchecked; the split then follows the hash rule. Taught in chapter 7.
    """
    root, present = _locate_root(root)
    params = _params(scales, grid, size, clip_length)
    if sequences is not None:
        if isinstance(sequences, str):
            sequences = [sequences]
        sequences = sorted(set(str(s) for s in sequences))
        if not sequences:
            raise ValueError("sequences must name at least one sequence (or be None for all)")
    if not present:
        npz, js = _cache_paths(cache_dir, root, params, sequences)
        cached = _load_cache(npz, js, None, params)
        if cached is None:
            raise ValueError(f"root {str(root)!r} is not a folder (and no DAVIS32 cache built from it is in {npz.parent})")
        warnings.warn(
            f"DAVIS folder {str(root)!r} not found: using the DAVIS32 cache built from it ({npz.name}), "
            "which cannot be checked against the frames",
            stacklevel=2,
        )
        return cached
    found = discover_sequences(root, sequences)
    if sequences is not None:
        for s in sequences:
            if len(found[s]) < params["clip_length"]:
                raise ValueError(
                    f"sequence {s!r} has {len(found[s])} frames, fewer than clip_length={params['clip_length']}"
                )
        files = {s: found[s] for s in sequences}
    else:
        files = {}
        for s, frames in found.items():
            if len(frames) < params["clip_length"]:
                warnings.warn(
                    f"skipping DAVIS sequence {s!r}: {len(frames)} frames, fewer than "
                    f"clip_length={params['clip_length']}",
                    stacklevel=2,
                )
            else:
                files[s] = frames
        if not files:
            raise ValueError(f"root {str(root)!r}: no sequence has at least clip_length={params['clip_length']} frames")
    fingerprint = _fingerprint(found)
    npz, js = _cache_paths(cache_dir, root, params, sequences)
    if not rebuild:
        cached = _load_cache(npz, js, fingerprint, params)
        if cached is not None:
            return cached

    start = time.perf_counter()
    names = sorted(files)
    counts = [len(files[s]) for s in names]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n_loc = len(params["scales"]) * params["grid"][0] * params["grid"][1]
    crops = np.empty((int(offsets[-1]), n_loc, size, size), dtype=np.uint8)
    corners = np.empty((len(names), n_loc, 2), dtype=np.int64)
    scale_of, location_of = _crop_layout(params)
    from tqdm.auto import tqdm

    show = show_progress() if progress is None else bool(progress)
    with tqdm(total=int(offsets[-1]), desc="building DAVIS32", unit="frame", disable=not show) as bar:
        for s, name in enumerate(names):
            shape = None
            for t, path in enumerate(files[name]):
                luma = read_luma(path)
                if shape is None:
                    shape = luma.shape
                    try:
                        corners[s] = _corners(shape[0], shape[1], params)
                    except ValueError as err:
                        raise ValueError(f"sequence {name!r}: {err}") from None
                elif luma.shape != shape:
                    raise ValueError(
                        f"frame {str(path)!r} is {luma.shape[1]}×{luma.shape[0]}, but the sequence's first "
                        f"frame is {shape[1]}×{shape[0]}"
                    )
                crops[offsets[s] + t] = _reduce_all(luma, corners[s], scale_of, size)
                bar.update(1)

    manifest = {
        "format": FORMAT,
        "source": str(root.resolve()),
        "sequences": {s: c for s, c in zip(names, counts)},
        "skipped": sorted(set(found) - set(names)) if sequences is None else [],
        "params": params,
        "fingerprint": fingerprint,
        "frames": int(offsets[-1]),
        "build_seconds": round(time.perf_counter() - start, 3),
    }
    text = json.dumps(manifest, indent=1, sort_keys=True)

    def write_npz(tmp):
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, crops=crops, offsets=offsets, sequences=np.asarray(names), corners=corners,
                scale_of=scale_of, location_of=location_of, manifest=np.asarray(text),
            )

    def write_json(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")

    atomic_write(npz, write_npz)
    atomic_write(js, write_json)
    return DavisCropCache(
        crops=crops, offsets=offsets, sequences=tuple(names), corners=corners, scale_of=scale_of,
        location_of=location_of, manifest=manifest, path=npz, built=True,
    )


# --------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class DavisClips:
    """Clips of DAVIS32 and where each came from. Taught in chapter 7.

    ``frames``: ``(N, clip_length, size, size)`` uint8 0..255, or float32 in ``[0, 1]``; ready for
    :class:`scoretutor.data.pairs.FramePairs` (``FramePairs(data.frames, k)``). Per clip (arrays of
    length ``N``): ``sequence`` (name), ``scale`` (crop side in source pixels), ``location`` (grid
    index 0..20), ``top`` / ``left`` (crop corner in source pixels), ``start`` (first frame index).
    """

    frames: np.ndarray
    sequence: np.ndarray
    scale: np.ndarray
    location: np.ndarray
    top: np.ndarray
    left: np.ndarray
    start: np.ndarray
    split: str
    sequences: tuple
    manifest: dict = field(repr=False)

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def _cut_clips(data: DavisCropCache, names, clip_length: int, stride: int, dtype) -> dict:
    pieces = {k: [] for k in ("frames", "sequence", "scale", "location", "top", "left", "start")}
    n_loc = data.crops.shape[1]
    t = np.arange(clip_length)
    for name in names:
        s = data.sequences.index(name)
        n = int(data.offsets[s + 1] - data.offsets[s])
        starts = np.arange(0, n - clip_length + 1, stride, dtype=np.int64)
        if not len(starts):
            continue
        # clip order: location (scale-major), then start frame
        idx_t = data.offsets[s] + starts[None, :, None] + t[None, None, :]  # (1, n_starts, T)
        locs = np.arange(n_loc)[:, None, None]  # (L, 1, 1)
        pieces["frames"].append(data.crops[idx_t, locs].reshape(-1, clip_length, *data.crops.shape[2:]))
        m = len(starts)
        pieces["sequence"].append(np.full(n_loc * m, name, dtype=object))
        pieces["scale"].append(np.repeat(data.scale_of, m))
        pieces["location"].append(np.repeat(data.location_of, m))
        pieces["top"].append(np.repeat(data.corners[s, :, 0], m))
        pieces["left"].append(np.repeat(data.corners[s, :, 1], m))
        pieces["start"].append(np.tile(starts, n_loc))
    size = data.crops.shape[2]
    if not pieces["frames"]:
        out = {k: np.zeros(0, dtype=np.int64) for k in pieces}
        out["frames"] = np.zeros((0, clip_length, size, size), dtype=np.uint8)
        out["sequence"] = np.zeros(0, dtype=str)
    else:
        out = {k: np.concatenate(v) for k, v in pieces.items()}
        out["sequence"] = out["sequence"].astype(str)
    if dtype == np.float32:
        out["frames"] = out["frames"].astype(np.float32) / np.float32(255.0)
    return out


def load_davis32(
    split: str = "train",
    root=None,
    cache_dir=None,
    *,
    sequences=None,
    stride: int = CLIP_LENGTH,
    clip_length: int = CLIP_LENGTH,
    test_fraction: float = TEST_FRACTION,
    scales=SCALES,
    grid=GRID,
    size: int = SIZE,
    dtype="uint8",
    progress: bool | None = None,
    rebuild: bool = False,
) -> DavisClips:
    """DAVIS32 clips of one split: ``"train"``, ``"test"`` or ``"all"``. Taught in chapter 7.

    Builds (or loads from the cache, see :func:`build_davis32`) the crops of ``root``'s sequences,
    splits them by sequence (:func:`split_sequences`) and cuts ``clip_length``-frame clips every
    ``stride`` frames. ``dtype``: ``"uint8"`` (0..255) or ``"float32"`` (``[0, 1]``).
    Returns a :class:`DavisClips`.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    stride = checks.integer(stride, "stride", 1)
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be uint8 or float32, got {dtype!r}") from None
    if kind not in (np.uint8, np.float32):
        raise ValueError(f"dtype must be uint8 or float32, got {dtype!r}")
    root, _ = _locate_root(root)
    data = build_davis32(
        root, cache_dir, sequences=sequences, scales=scales, grid=grid, size=size,
        clip_length=clip_length, progress=progress, rebuild=rebuild,
    )
    train, test = split_sequences(data.sequences, root, test_fraction)
    if split == "test" and not test:
        raise ValueError(
            f"split='test' is empty: none of the sequences {list(data.sequences)} goes to the test set "
            f"(a lone sequence always goes to training; see split_sequences)"
        )
    names = {"train": train, "test": test, "all": list(data.sequences)}[split]
    out = _cut_clips(data, names, data.manifest["params"]["clip_length"], stride, kind.type)
    return DavisClips(split=split, sequences=tuple(names), manifest=data.manifest, **out)


def _video_luma(video) -> np.ndarray:
    """A video as uint8 luma ``(T, H, W)``: grey levels as they are, RGB through BT.601 (module notes)."""
    arr = np.asarray(video)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"video must hold real grey levels (uint8 0..255, or floats in [0, 1]), got dtype {arr.dtype}")
    rgb = arr.ndim == 4 and arr.shape[-1] == 3
    if not (arr.ndim == 3 or rgb):
        raise ValueError(f"video must be a (T, H, W) array of grey levels or (T, H, W, 3) of RGB, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("video contains NaN or infinite values")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"a float video must lie in [0, 1], got values from {arr.min():g} to {arr.max():g} "
                             "(uint8 videos: 0..255)")
        arr = np.rint(arr * 255.0)
    elif arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"an integer video must lie in 0..255, got values from {arr.min()} to {arr.max()}")
    arr = arr.astype(np.uint8)
    if rgb:
        from PIL import Image

        # Pillow's convert("L"): the BT.601 formula read_luma applies to frames that are not JPEG
        arr = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f), "RGB").convert("L")) for f in arr])
    return arr


def video_clips(video, *, clip_length: int = CLIP_LENGTH, stride: int = CLIP_LENGTH, scales=SCALES,
                grid=GRID, size: int = SIZE, name: str = "video") -> DavisClips:
    """DAVIS32-style clips of any video, e.g. your own footage: the crops, reduction and clip cutting of
    DAVIS32 (module notes), applied to an array. Taught in chapter 7.

    ``video``: ``(T, H, W)`` grey levels, uint8 0..255 or floats in ``[0, 1]`` (rounded to 8 bits
    first, as a JPEG frame is); or ``(T, H, W, 3)`` RGB, turned into BT.601 luma by Pillow's
    ``convert("L")`` (:func:`read_luma`'s conversion). Every frame is cut into the crops of
    :func:`crop_grid` (21 locations per scale by default, so ``H`` and ``W`` must exceed the largest
    scale: 256 pixels by default), each reduced by :func:`crop_reduce` and rounded to 8 bits, as
    DAVIS32's cache holds them; clips of ``clip_length`` frames start every ``stride`` frames. A
    DAVIS sequence's frames (``read_luma``) give exactly its DAVIS32 clips. Motion of ``v`` pixels per
    frame in the video is ``v / f`` pixels per frame in clips of scale ``f * size``.

    Returns a :class:`DavisClips` with float32 frames in ``[0, 1]``, ``(N, clip_length, size, size)``,
    ``split="video"`` and every clip's ``sequence`` set to ``name``. ``ValueError`` for a video of
    the wrong shape, dtype or range, or too short or too small for one clip.
    """
    luma = _video_luma(video)
    params = _params(scales, grid, size, clip_length)
    stride = checks.integer(stride, "stride", 1)
    n, height, width = luma.shape
    if n < params["clip_length"]:
        raise ValueError(f"video has {n} frames, fewer than clip_length={params['clip_length']}")
    try:
        corners = _corners(height, width, params)
    except ValueError as err:
        raise ValueError(f"video frames of {width}×{height} pixels: {err}") from None
    scale_of, location_of = _crop_layout(params)
    crops = np.stack([_reduce_all(frame, corners, scale_of, params["size"]) for frame in luma])
    manifest = {"format": FORMAT, "source": f"array {name!r}", "sequences": {name: n}, "params": params,
                "frames": n}
    data = DavisCropCache(crops=crops, offsets=np.array([0, n], dtype=np.int64), sequences=(name,),
                          corners=corners[None], scale_of=scale_of, location_of=location_of, manifest=manifest)
    out = _cut_clips(data, [name], params["clip_length"], stride, np.float32)
    return DavisClips(split="video", sequences=(name,), manifest=manifest, **out)


def split_summary(train: "DavisClips", test: "DavisClips") -> str:
    """Two lines: how many clips each split holds, from how many sequences, and which are the test ones.
    Taught in chapter 7."""
    return (f"train: {len(train)} clips from {len(train.sequences)} sequences\n"
            f"test:  {len(test)} clips from {len(test.sequences)} sequences: {', '.join(test.sequences)}")
