"""Shipped network checkpoints: a small file format, its writer and its loaders. Taught in chapter 5.

A shipped checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads:

* ``"format"``: ``"scoretutor-unet-v1"``;
* ``"config"``: the architecture (:attr:`scoretutor.unet.UNet.config`: arch, k, width, scales,
  prediction_only);
* ``"state_dict"``: the weights, floating tensors stored as float16 or float32 (loaded back as float32);
* ``"card"``: a dict of str/int/float/list/dict describing how it was made (command, commit, data,
  seed, wall time, hardware, epochs, final metrics): the model card of :mod:`scoretutor.cards`.

The course's checkpoints live in the package, ``scoretutor/checkpoints/<name>.pt``, each with a
model card ``<name>.md``; :func:`load_pretrained` reads them by name. :func:`load` also reads a
training run's checkpoint (:mod:`scoretutor.run_record`), with the run's own card.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .atomic import atomic_save
from .cards import run_card
from .run_record import CHECKPOINT_NAME, TRAIN_FORMAT
from .unet import ARCH, UNet

__all__ = [
    "FORMAT",
    "CHECKPOINT_DIR",
    "save_pretrained",
    "load",
    "load_pretrained",
    "available",
    "resolve",
]

FORMAT = "scoretutor-unet-v1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


def save_pretrained(model: UNet, path, *, card: dict | None = None, half: bool = True) -> Path:
    """Write ``model`` as a shipped checkpoint at ``path`` (atomically) and return the path. Taught in chapter 5.

    ``half=True`` stores floating tensors as float16 (half the size; the loss in accuracy is far below
    what the figures show). ``card`` is a plain dict describing the run (see module docstring).
    """
    if not isinstance(model, UNet):
        raise TypeError(f"model must be a scoretutor.unet.UNet, got {type(model).__name__}")
    card = dict(card or {})
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu").clone()
        if value.is_floating_point():
            value = value.to(torch.float16 if half else torch.float32)
        state[key] = value
    obj = {"format": FORMAT, "config": model.config, "state_dict": state, "card": card}
    path = Path(path)
    atomic_save(obj, path)
    return path


def _read(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # not a torch file, or one holding arbitrary objects
        raise ValueError(f"{path} is not a scoretutor checkpoint that can be read safely: {exc}") from exc
    return obj


def load(path, *, device=None, with_card: bool = False):
    """Load a shipped checkpoint (or a training run's ``checkpoint.pt``, or its folder) as a UNet in eval mode.

    Weights come back as float32 on ``device`` (default CPU). With ``with_card=True`` returns
    ``(model, card)`` (for a training run, its :func:`scoretutor.cards.run_card`). A file of another
    format or architecture raises a ValueError that says so. Taught in chapter 5.
    """
    path = Path(path)
    if path.is_dir():  # a training run folder
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    obj = _read(path)
    if not isinstance(obj, dict) or "format" not in obj:
        raise ValueError(f"{path} is not a scoretutor checkpoint (no 'format' tag)")
    fmt = obj["format"]
    if fmt == FORMAT:
        config, state, card = obj.get("config"), obj.get("state_dict"), obj.get("card", {})
    elif fmt == TRAIN_FORMAT:  # a training run's checkpoint: its own record, in a card's words
        config, state, card = obj.get("model_config"), obj.get("model"), run_card(obj)
    else:
        raise ValueError(f"{path} has format {fmt!r}; this version of scoretutor reads {FORMAT!r}")
    if not isinstance(config, dict) or config.get("arch") != ARCH:
        arch = config.get("arch") if isinstance(config, dict) else None
        raise ValueError(f"{path} holds architecture {arch!r}; expected {ARCH!r}")
    model = UNet.from_config(config)
    state = {key: (v.float() if v.is_floating_point() else v) for key, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"the weights in {path} do not fit the architecture its config describes ({config}): {exc}"
        ) from exc
    model.eval()
    if device is not None:
        model.to(device)
    return (model, card) if with_card else model


def available() -> list[str]:
    """Names of the checkpoints shipped in the package (``scoretutor/checkpoints/*.pt``), sorted. Taught in chapter 5."""
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt"))


def resolve(name_or_path) -> Path:
    """A shipped checkpoint's name, or a path to a ``.pt`` file or a training run folder, as a file path.
    Taught in chapter 5."""
    text = str(name_or_path)
    path = Path(text)
    if path.is_dir() and (path / CHECKPOINT_NAME).is_file():
        return path / CHECKPOINT_NAME
    if path.is_file():
        return path
    if text in available():
        return CHECKPOINT_DIR / f"{text}.pt"
    names = ", ".join(available()) or "(none shipped yet)"
    raise ValueError(f"unknown checkpoint {text!r}: not a file, a run folder, nor a shipped name. Available: {names}")


def load_pretrained(name: str, *, device=None, with_card: bool = False):
    """Load the shipped checkpoint ``name`` (see :func:`available`) in eval mode. Taught in chapter 5.

    An unknown name raises a ValueError that lists the available names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    names = available()
    if name not in names:
        raise ValueError(f"unknown checkpoint name {name!r}; available: {', '.join(names) or '(none shipped yet)'}")
    return load(CHECKPOINT_DIR / f"{name}.pt", device=device, with_card=with_card)
