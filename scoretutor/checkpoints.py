"""Shipped network checkpoints: a small file format, its writer and its loaders. Taught in chapter 5.

A shipped checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads:

* ``"format"``: ``"scoretutor-unet-v1"``;
* ``"config"``: the architecture (:attr:`scoretutor.unet.UNet.config`: arch, k, width, scales,
  prediction_only);
* ``"state_dict"``: the weights, floating tensors stored as float16 or float32 (loaded back as float32);
* ``"card"``: a dict of str/int/float/list/dict describing how it was made (command, commit, data,
  seed, wall time, hardware, epochs, final metrics): the model card of :mod:`scoretutor.cards`.

The course's checkpoints live in the package, ``scoretutor/checkpoints/<name>.pt``, each with a
model card ``<name>.md``; :func:`load_pretrained` reads them by name, and also the checkpoints you
export yourself (``python -m scoretutor export``), which go to :func:`user_dir`
(``$SCORETUTOR_DATA/checkpoints``, default ``~/.cache/scoretutor/checkpoints``), never into the
package unless asked. :func:`load` also reads a training run's checkpoint (:mod:`scoretutor.run_record`),
with the run's own card.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from . import checks
from .atomic import atomic_save
from .cards import run_card
from .run_record import BEST_NAME, CHECKPOINT_NAME, TRAIN_FORMAT, load_torch_file
from .unet import ARCH, UNet

__all__ = [
    "FORMAT",
    "CHECKPOINT_DIR",
    "user_dir",
    "save_pretrained",
    "load",
    "load_pretrained",
    "available",
    "exported",
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


def user_dir() -> Path:
    """Where ``python -m scoretutor export`` writes your own checkpoints by default, and where
    :func:`load_pretrained` and :func:`resolve` look after the shipped ones: ``$SCORETUTOR_CHECKPOINTS``
    if set, else ``$SCORETUTOR_DATA/checkpoints`` (default ``~/.cache/scoretutor/checkpoints``).
    Taught in chapter 5."""
    from .data.davis import data_dir

    value = os.environ.get("SCORETUTOR_CHECKPOINTS")
    return Path(value).expanduser() if value else data_dir() / "checkpoints"


def _weights(path: Path, state) -> dict:
    """``state`` checked to be a dict of tensors (the weights), floating ones as float32."""
    if not isinstance(state, dict) or not state:
        found = "missing" if state is None else f"a {type(state).__name__}"
        raise ValueError(f"{path} holds no weights: its state_dict is {found}, not a dict of tensors")
    bad = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise ValueError(f"{path} is damaged: its state_dict entry {bad[0]!r} is a "
                         f"{type(state[bad[0]]).__name__}, not a tensor")
    return {key: (v.float() if v.is_floating_point() else v) for key, v in state.items()}


def load(path, *, device=None, with_card: bool = False):
    """Load a shipped checkpoint (or a training run's ``checkpoint.pt``, or its folder) as a UNet in eval mode.

    Weights come back as float32 on ``device`` (default CPU). With ``with_card=True`` returns
    ``(model, card)`` (for a training run, its :func:`scoretutor.cards.run_card`). A file of another
    format or architecture raises a ValueError that says so. Taught in chapter 5.
    """
    if device is not None:
        device = checks.device(device, "device")
    path = Path(path)
    if path.is_dir():  # a training run folder
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        obj = load_torch_file(path)
    except ValueError as exc:
        best = path.with_name(BEST_NAME)
        if path.name == CHECKPOINT_NAME and best.is_file():
            raise ValueError(f"{exc}; the run's {best} may be intact: use that file instead") from None
        raise
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
    state = _weights(path, state)
    try:
        model = UNet.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} has an unusable config {config}: {exc}") from None
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


def exported() -> list[str]:
    """Names of your own exported checkpoints in :func:`user_dir`, sorted. Taught in chapter 5."""
    folder = user_dir()
    return sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []


def _by_name(name: str) -> Path | None:
    """The file of a shipped checkpoint ``name``, else of an exported one, else None."""
    for folder in (CHECKPOINT_DIR, user_dir()):
        path = folder / f"{name}.pt"
        if path.is_file():
            return path
    return None


def _known_names() -> str:
    text = ", ".join(available()) or "(none shipped yet)"
    mine = exported()
    return text + (f"; exported in {user_dir()}: {', '.join(mine)}" if mine else "")


def resolve(name_or_path) -> Path:
    """A shipped (or exported, :func:`user_dir`) checkpoint's name, or a path to a ``.pt`` file or a
    training run folder, as a file path. Taught in chapter 5."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir() and (path / CHECKPOINT_NAME).is_file():
        return path / CHECKPOINT_NAME
    if path.is_dir() and (path / BEST_NAME).is_file():
        raise ValueError(f"{path} has no {CHECKPOINT_NAME} but a {BEST_NAME}: name that file ({path / BEST_NAME})")
    if path.is_file():
        return path
    found = _by_name(text) if text and "/" not in text else None
    if found is not None:
        return found
    raise ValueError(f"unknown checkpoint {text!r}: not a file, a run folder, nor a shipped name. "
                     f"Available: {_known_names()}")


def load_pretrained(name: str, *, device=None, with_card: bool = False):
    """Load the shipped checkpoint ``name`` (see :func:`available`), or one you exported (see
    :func:`exported`), in eval mode. Taught in chapter 5.

    An unknown name raises a ValueError that lists the available names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    path = _by_name(name) if name and "/" not in name else None
    if path is None:
        raise ValueError(f"unknown checkpoint name {name!r}; available: {_known_names()}")
    return load(path, device=device, with_card=with_card)
