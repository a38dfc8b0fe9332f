"""Model cards: what a checkpoint says about how it was made. Taught in chapter 5.

A card is a plain dict of str/int/float/list/dict, stored inside the checkpoint (so that
``torch.load(..., weights_only=True)`` reads it) and rendered as the markdown file beside it. It is
**built once**, from a training run's saved state (:func:`run_card`), then completed by the export
(:func:`scoretutor.cli.export`: the selected epoch, the parameter count, the stored dtype, the
held-out table); and **rendered once** (:func:`card_markdown`). Its fields:

* ``command``, ``commit``, ``hardware``: lists, one entry per distinct value over the run's
  sessions (a resumed run may have several); ``data``: one line describing the training data;
* ``seed``, ``epochs``, ``batch_size``, ``wall_time_s``, ``torch_version``;
* ``final_metrics``: the shipped epoch's ``train_loss``, ``val_loss``, ``val_psnr``, ``lr``;
* ``dataset``: the training data's name, a key of :data:`scoretutor.data.sources.DATA_SOURCES`
  (``"leaves"``, ``"davis32"``); ``python -m scoretutor evaluate`` scores a checkpoint on it;
* ``training_sequences``, ``test_sequences`` (DAVIS32 only): the sorted names of the DAVIS
  sequences the run trained on and of those it kept for testing (:data:`DATA_FIELDS`); any other
  sequence of a DAVIS folder is held out from both;
* ``parent`` (fine-tuned runs only): the record of the checkpoint the run started from
  (:func:`parent_record`), itself with a ``parent`` when that one was fine-tuned too: the lineage;
* added by the export: ``selected``, ``parameters``, ``stored_dtype``, ``denoising_table``,
  ``evaluation``, ``notes``.
"""
from __future__ import annotations

__all__ = ["PARENT_KEYS", "DATA_FIELDS", "run_card", "parent_record", "card_markdown", "card_dataset"]

#: the fields of a parent's card that a fine-tuned card repeats (its lineage)
PARENT_KEYS = ("command", "commit", "data", "epochs", "wall_time_s", "hardware")
_METRICS = ("train_loss", "val_loss", "val_psnr", "lr")
#: the structured fields that say which DAVIS sequences a run trained and was tested on
DATA_FIELDS = ("training_sequences", "test_sequences")


def run_card(state: dict) -> dict:
    """The card of a training run's saved state (a ``checkpoint.pt`` or ``best.pt`` dict, see
    :mod:`scoretutor.run_record`): the fields of the module docstring that the run itself knows. Taught in chapter 5."""
    config = state.get("config", {})
    history = state.get("history", [])
    card = {
        "command": list(state.get("commands", [])),
        "commit": list(state.get("commits", [])) or ["unknown (the run did not record it)"],
        "data": state.get("data", config.get("data")),
        "seed": config.get("seed"),
        "epochs": int(state.get("epoch", 0)),
        "batch_size": config.get("batch_size"),
        "wall_time_s": round(float(state.get("wall_time_s", 0.0)), 1),
        "hardware": list(state.get("hardware", [])),
    }
    if config.get("data"):
        card["dataset"] = config["data"]
    for key in DATA_FIELDS:
        if (state.get("data_fields") or {}).get(key) is not None:
            card[key] = list(state["data_fields"][key])
    if history:
        card["final_metrics"] = {key: history[-1][key] for key in _METRICS}
    if state.get("parent"):
        card["parent"] = state["parent"]
    if state.get("torch_version"):
        card["torch_version"] = state["torch_version"]
    return card


def card_dataset(card: dict) -> str | None:
    """The name of the data a card's checkpoint was trained on (``"leaves"``, ``"davis32"``): its
    ``dataset`` field, else read from its ``data`` line (cards written before that field), else None.
    Taught in chapter 5."""
    if card.get("dataset"):
        return str(card["dataset"])
    data = str(card.get("data") or "")
    if data.startswith("DAVIS32"):
        return "davis32"
    if data.startswith("Moving Leaves"):
        return "leaves"
    return None


def parent_record(checkpoint: str, card: dict) -> dict:
    """What a fine-tuned run records about the checkpoint it starts from: its name or path and the
    :data:`PARENT_KEYS` of its card, with the parent's own parent (the lineage, however long). Taught in chapter 5."""
    record = {"checkpoint": str(checkpoint)}
    record.update({key: card[key] for key in PARENT_KEYS if card.get(key) is not None})
    if card.get("parent"):
        record["parent"] = card["parent"]
    return record


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _field_lines(key: str, label: str, value) -> list[str]:
    """Markdown list lines for one card field (commands and commits in code spans)."""
    code = key in ("command", "commit")
    if key in DATA_FIELDS:
        return [f"- {label} ({len(value)}): " + ", ".join(str(v) for v in value)]
    if isinstance(value, list):
        return [f"- {label}:"] + [f"  - `{v}`" if code else f"  - {v}" for v in value]
    if isinstance(value, dict):
        return [f"- {label}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())]
    return [f"- {label}: `{value}`" if code else f"- {label}: {_fmt(value)}"]


#: the card's training fields in the order the markdown lists them, with their labels
_TRAINING_FIELDS = (
    ("command", "Command"),
    ("commit", "Commit"),
    ("data", "Data"),
    ("dataset", "Dataset"),
    ("training_sequences", "Training sequences"),
    ("test_sequences", "Test sequences"),
    ("seed", "Seed"),
    ("epochs", "Epochs"),
    ("selected", "Checkpoint"),
    ("wall_time_s", "Wall time (s)"),
    ("hardware", "Hardware"),
    ("stored_dtype", "Stored weights"),
)


def card_markdown(name: str, card: dict, config: dict) -> str:
    """Render a model card (markdown) from a card dict and a model config. Taught in chapter 5."""
    lines = [f"# Model card: `{name}`", ""]
    lines.append(
        "A conditional bias-free U-net trained by `scoretutor` as a blind universal denoiser of the next "
        "video frame (see chapters 4 and 5)."
    )
    lines += ["", "## Architecture", ""]
    for key, value in config.items():
        lines.append(f"- {key}: `{value}`")
    if "parameters" in card:
        lines.append(f"- parameters: {card['parameters']:,}")
    lines += ["", "## Training", ""]
    for key, label in _TRAINING_FIELDS:
        if key in card:
            lines += _field_lines(key, label, card[key])
    parent = card.get("parent")
    if parent:
        lines += ["", "The figures above (epochs, wall time, hardware) are this run's alone."]
    while parent:
        lines += ["", f"Initialised from `{parent.get('checkpoint')}` (fine-tuning, fresh optimiser), which was trained by:", ""]
        for key, value in parent.items():
            if key not in ("checkpoint", "parent"):
                lines += _field_lines(key, key, value)
        parent = parent.get("parent")
    if "final_metrics" in card:
        lines += ["", "## Validation metrics of the shipped epoch", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in card["final_metrics"].items()]
    table = card.get("denoising_table")
    if table:
        lines += ["", "## Denoising on held-out sequences", ""]
        desc = card.get("evaluation")
        if desc:
            lines += [f"{desc}", ""]
        lines += ["| σ | input PSNR (dB) | output PSNR (dB) |", "|---|---|---|"]
        for row in table:
            lines.append(f"| {row['sigma']:g} | {row['input_psnr']:.2f} | {row['output_psnr']:.2f} |")
    notes = card.get("notes")
    if notes:
        lines += ["", "## Notes", "", str(notes)]
    return "\n".join(lines) + "\n"
