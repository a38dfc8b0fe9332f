"""Shipped checkpoints: round trip, float16 storage, weights_only, names, wrong architectures, atomic writes."""
from fractions import Fraction

import pytest
import torch

from scoretutor import checkpoints
from scoretutor.checkpoints import (
    FORMAT,
    available,
    load,
    load_pretrained,
    resolve,
    save_pretrained,
)
from scoretutor.atomic import atomic_save
from scoretutor.cards import card_markdown
from scoretutor.unet import BiasFreeBatchNorm2d, UNet


def _model(k=2, width=4, **kw) -> UNet:
    torch.manual_seed(0)
    model = UNet(k=k, width=width, **kw)
    model.train()
    with torch.no_grad():
        model(torch.rand(4, model.in_channels, 16, 16))  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, BiasFreeBatchNorm2d):
                m.scale.uniform_(0.5, 1.5)
    return model.eval()


CARD = {"command": ["python -m scoretutor train --k 2"], "commit": "abc", "data": "leaves", "seed": 0,
        "epochs": 3, "wall_time_s": 12.5, "hardware": ["CPU"], "final_metrics": {"val_loss": 0.01, "val_psnr": 20.0}}


def test_round_trip_float32_is_exact(tmp_path):
    model = _model()
    path = save_pretrained(model, tmp_path / "m.pt", card=CARD, half=False)
    loaded, card = load(path, with_card=True)
    assert not loaded.training and loaded.config == model.config and card == CARD
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_float16_shipping_halves_the_file_and_loads_as_float32(tmp_path):
    model = _model(width=8)
    p16 = save_pretrained(model, tmp_path / "h.pt", card=CARD)
    p32 = save_pretrained(model, tmp_path / "f.pt", card=CARD, half=False)
    raw = torch.load(p16, weights_only=True)  # plain data only
    assert raw["format"] == FORMAT and raw["config"] == model.config
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values() if v.is_floating_point())
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    loaded = load(p16)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        ref, out = model(x), loaded(x)
    assert float((out - ref).norm() / ref.norm()) < 5e-3


def test_checkpoint_with_arbitrary_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"  # a Fraction needs its class unpickled: weights_only refuses it
    torch.save({"format": FORMAT, "payload": Fraction(1, 3)}, path)
    with pytest.raises(ValueError, match="cannot be read safely|not a scoretutor checkpoint"):
        load(path)


def test_other_formats_and_architectures_are_refused(tmp_path):
    model = _model()
    state = {k: v for k, v in model.state_dict().items()}
    torch.save({"format": "someone-else-v3", "config": model.config, "state_dict": state}, tmp_path / "a.pt")
    with pytest.raises(ValueError, match="format 'someone-else-v3'"):
        load(tmp_path / "a.pt")
    torch.save({"format": FORMAT, "config": {**model.config, "arch": "resnet"}, "state_dict": state}, tmp_path / "b.pt")
    with pytest.raises(ValueError, match="architecture 'resnet'"):
        load(tmp_path / "b.pt")
    torch.save({"format": FORMAT, "config": {**model.config, "width": 8}, "state_dict": state}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="do not fit the architecture"):
        load(tmp_path / "c.pt")
    torch.save({"weights": state}, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="no 'format' tag"):
        load(tmp_path / "d.pt")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")


def test_names_available_and_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", tmp_path)
    assert available() == []
    save_pretrained(_model(k=2), tmp_path / "leaves_k2.pt", card=CARD)
    save_pretrained(_model(k=0), tmp_path / "leaves_k0.pt", card=CARD)
    assert available() == ["leaves_k0", "leaves_k2"]
    model = load_pretrained("leaves_k2")
    assert model.k == 2 and not model.training
    with pytest.raises(ValueError, match=r"unknown checkpoint name 'leaves_k3'; available: leaves_k0, leaves_k2"):
        load_pretrained("leaves_k3")
    with pytest.raises(TypeError):
        load_pretrained(2)
    assert resolve("leaves_k0") == tmp_path / "leaves_k0.pt"
    with pytest.raises(ValueError, match="Available: leaves_k0, leaves_k2"):
        resolve("nope")


@pytest.mark.parametrize("name", available())
def test_shipped_checkpoints_load_and_have_cards(name):
    model, card = load_pretrained(name, with_card=True)
    assert not model.training
    assert (checkpoints.CHECKPOINT_DIR / f"{name}.md").is_file()
    for key in ("command", "commit", "data", "seed", "wall_time_s", "hardware", "epochs", "final_metrics"):
        assert key in card, f"{name}: card lacks {key}"
    assert (checkpoints.CHECKPOINT_DIR / f"{name}.pt").stat().st_size < 8e6


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    atomic_save({"a": 1}, path)

    def broken(obj, f, *args, **kwargs):  # f: the temporary file, open (atomic_save passes a file object)
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"a": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]  # no temporary file left


def test_card_markdown_lists_the_facts():
    rows = [{"sigma": 0.5, "input_psnr": 6.02, "output_psnr": 28.3}]
    text = card_markdown("leaves_k2", {**CARD, "denoising_table": rows, "parameters": 1234}, _model().config)
    for needle in ("# Model card: `leaves_k2`", "python -m scoretutor train --k 2", "Commit: `abc`",
                   "Seed: 0", "val_psnr: 20", "| 0.5 | 6.02 | 28.30 |", "parameters: 1,234", "k: `2`"):
        assert needle in text, needle


DAVIS_NAMES = [n for n in available() if n.startswith("davis_")]


@pytest.mark.parametrize("name", DAVIS_NAMES)
def test_every_davis_card_names_its_training_and_test_sequences(name):
    from scoretutor.cards import card_dataset

    _, card = load_pretrained(name, with_card=True)
    assert card_dataset(card) == card["dataset"] == "davis32"
    train, test = card["training_sequences"], card["test_sequences"]
    assert train == sorted(train) and test == sorted(test) and len(train) == 12 and len(test) == 3
    assert set(train).isdisjoint(test), f"{name}: a sequence on both sides of the split"
    text = (checkpoints.CHECKPOINT_DIR / f"{name}.md").read_text()
    assert f"Training sequences (12): {', '.join(train)}" in text and f"Test sequences (3): {', '.join(test)}" in text
    # the free-text notes say the same (they were the only record before the structured fields)
    assert all(s in card["notes"] for s in train + test)


def test_the_davis_cards_agree_on_the_split():
    cards = [load_pretrained(n, with_card=True)[1] for n in DAVIS_NAMES]
    assert len({(tuple(c["training_sequences"]), tuple(c["test_sequences"])) for c in cards}) == 1


def test_card_dataset_reads_the_field_else_the_data_line():
    from scoretutor.cards import card_dataset

    assert card_dataset({"dataset": "leaves", "data": "DAVIS32 ..."}) == "leaves"
    assert card_dataset({"data": "DAVIS32 (scoretutor.davis.load_davis32) built from ..."}) == "davis32"
    assert card_dataset({"data": "Moving Leaves (scoretutor.data.leaves.generate, default options): ..."}) == "leaves"
    assert card_dataset({}) is None and card_dataset({"data": None}) is None
    assert card_dataset(load_pretrained("leaves_k2", with_card=True)[1]) == "leaves"
