"""Fine-tuning (chapter 6's remedy for rare first contacts): --init, --freeze-bn, --contact-boost and
leaves.predicted_contacts."""
import numpy as np
import pytest
import torch

from scoretutor.data import leaves
from scoretutor.cards import card_markdown
from scoretutor.checkpoints import load, save_pretrained
from scoretutor.cli import main as cli_main
from scoretutor.data.pairs import pair_windows
from scoretutor.data.sources import LeavesSource, make_source
from scoretutor.run_record import read_checkpoint
from scoretutor.runtime import derive_seed
from scoretutor.training import Trainer, TrainConfig, train
from scoretutor.unet import UNet

TINY = dict(k=2, width=4, scales=2, train_sequences=4, val_sequences=2, batch_size=8, threads=1)


# --------------------------------------------------------------------------- predicted contacts


def _meta(centres, radius=(3.0, 3.0)):
    """meta for two disks with the given (2, T, 2) centres."""
    return {"centres": np.asarray(centres, dtype=float)[None], "radius": np.asarray([radius], dtype=float)}


def test_predicted_contacts_flags_an_approach_from_the_past():
    # disk 1 fixed at x = 20, disk 0 moving right by 2 px per frame: touching needs distance < 6
    x0 = np.array([4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0])
    centres = np.zeros((2, 7, 2))
    centres[0, :, 0], centres[1, :, 0] = x0, 20.0
    flags = leaves.predicted_contacts(_meta(centres), k=2)
    assert flags.shape == (1, 5)  # targets are frames 2..6
    # distances 16 14 12 10 8 6 4: target frame 6 (distance 4) is predicted from frames 4, 5 (8, 6 -> 4)
    # and frame 5 apart (6 >= 6); target 5 is predicted at distance 6: not overlapping
    np.testing.assert_array_equal(flags[0], [False, False, False, False, True])


def test_predicted_contacts_reads_only_the_past():
    frames, meta = leaves.generate(200, seed=3)
    flags = leaves.predicted_contacts(meta, k=2)
    assert flags.dtype == bool and flags.shape == (200, 9)
    # moving the disks in the target frame, or swapping the depth order, changes nothing: pair j reads
    # frames j and j + 1 only (j + 2 is its target)
    moved = dict(meta, centres=meta["centres"].copy())
    moved["centres"][:, 0, -1] += 7.0
    np.testing.assert_array_equal(leaves.predicted_contacts(moved, k=2)[:, :-1], flags[:, :-1])
    np.testing.assert_array_equal(leaves.predicted_contacts(dict(meta, order=meta["order"][:, ::-1]), k=2), flags)
    # and it finds the first contacts: most of those where the target overlaps and the last past frame does not
    dist = np.linalg.norm(meta["centres"][:, 0] - meta["centres"][:, 1], axis=-1)
    touch = dist < meta["radius"].sum(axis=1)[:, None]
    first = touch[:, 2:] & ~touch[:, 1:-1]
    assert 0.01 < flags.mean() < 0.1
    assert (flags & first).sum() >= 0.6 * first.sum()
    assert (flags & first).sum() >= 0.9 * flags.sum()


@pytest.mark.parametrize("k", [0, 1, True])
def test_predicted_contacts_needs_two_past_frames(k):
    _, meta = leaves.generate(2, seed=0)
    with pytest.raises(ValueError, match="k >= 2"):
        leaves.predicted_contacts(meta, k=k)


# --------------------------------------------------------------------------- contact boost


def test_contact_boost_repeats_flagged_pairs():
    source = LeavesSource(0, 30, 2, contact_boost=4, k=2)
    windows = source.train_frames(5)
    frames, meta = leaves.generate(30, seed=derive_seed(0, 0, 5))
    flags = leaves.predicted_contacts(meta, k=2).reshape(-1)
    n_pairs = 30 * 9
    assert windows.shape == (n_pairs + 3 * flags.sum(), 3, 32, 32)
    assert flags.sum() > 0
    # the first n_pairs windows are every pair in order, the rest are the flagged ones, three times each
    past, target = pair_windows(torch.from_numpy(frames), 2, torch.arange(n_pairs))
    np.testing.assert_array_equal(windows[:n_pairs, :2], past.numpy())
    np.testing.assert_array_equal(windows[:n_pairs, 2:], target.numpy())
    flagged = windows[:n_pairs][flags]
    np.testing.assert_array_equal(windows[n_pairs:], np.repeat(flagged, 3, axis=0))
    assert "repeated 4 times" in source.describe()
    # validation stays the plain sequences; boost 1 gives the plain sequences too
    assert source.val_frames().shape == (2, 11, 32, 32)
    np.testing.assert_array_equal(LeavesSource(0, 30, 2).train_frames(5), frames)


def test_contact_boost_validation():
    with pytest.raises(ValueError, match="k >= 2"):
        TrainConfig(k=1, contact_boost=3)
    with pytest.raises(ValueError, match="only applies to data='leaves'"):
        TrainConfig(data="davis32", contact_boost=3)
    with pytest.raises(ValueError, match="contact_boost must be an integer >= 1"):
        TrainConfig(contact_boost=0)
    assert make_source(TrainConfig(contact_boost=5)).contact_boost == 5


def test_a_boosted_run_trains_on_pairs(tmp_path):
    cfg = TrainConfig(**TINY, epochs=1, contact_boost=3, out=str(tmp_path / "run"))
    result = train(cfg, progress=False)
    assert result["epoch"] == 1 and np.isfinite(result["history"][0]["train_loss"])
    assert "repeated 3 times" in read_checkpoint(cfg.out)["data"]


# --------------------------------------------------------------------------- freeze_bn


def test_freeze_bn_keeps_the_running_scales_and_trains_the_weights():
    torch.manual_seed(0)
    model = UNet(k=2, width=4, scales=2)
    before = {key: v.clone() for key, v in model.state_dict().items()}
    trainer = Trainer(model, lr=1e-2, device="cpu", freeze_bn=True)
    past, target = torch.rand(8, 2, 16, 16), torch.rand(8, 1, 16, 16)
    trainer.step(past, target, torch.Generator().manual_seed(0))
    after = {key: v.clone() for key, v in model.state_dict().items()}
    running = [key for key in before if "running" in key]
    assert running
    for key in running:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)
    assert any(not torch.equal(after[key], before[key]) for key in before if "weight" in key)
    # without it, a training step moves the running scales
    Trainer(model, lr=1e-2, device="cpu").step(past, target, torch.Generator().manual_seed(0))
    assert any(not torch.equal(model.state_dict()[key], after[key]) for key in running)


# --------------------------------------------------------------------------- init


def _parent(tmp_path, **config):
    torch.manual_seed(1)
    model = UNet(**{"k": 2, "width": 4, "scales": 2, **config}).eval()
    card = {"command": ["python -m scoretutor train --parent"], "commit": ["abc123"], "epochs": 7,
            "wall_time_s": 12.5, "hardware": ["some GPU"], "data": "parent data"}
    return model, save_pretrained(model, tmp_path / "parent.pt", card=card, half=False)


def test_init_starts_from_the_parent_weights_and_records_it(tmp_path):
    parent, path = _parent(tmp_path)
    cfg = TrainConfig(**TINY, epochs=1, lr=1e-12, freeze_bn=True, init=str(path), out=str(tmp_path / "run"))
    train(cfg, progress=False)
    saved = read_checkpoint(cfg.out)
    for key, value in parent.state_dict().items():  # lr ~ 0 and frozen batch norm: nothing moved
        torch.testing.assert_close(saved["model"][key], value, rtol=0, atol=1e-9)
    assert saved["parent"]["checkpoint"] == str(path)
    assert saved["parent"]["commit"] == ["abc123"] and saved["parent"]["wall_time_s"] == 12.5
    # resuming reads the run's own state, not the parent again
    train(TrainConfig(**{**TINY, "epochs": 2}, lr=1e-12, freeze_bn=True, init=str(path), out=cfg.out),
          resume=True, progress=False)
    assert read_checkpoint(cfg.out)["epoch"] == 2


def test_init_refuses_another_architecture_and_unknown_names(tmp_path):
    _, path = _parent(tmp_path, width=8)
    with pytest.raises(ValueError, match="has architecture .* but this run asks for"):
        train(TrainConfig(**TINY, epochs=1, init=str(path), out=str(tmp_path / "a")), progress=False)
    with pytest.raises(ValueError, match="unknown checkpoint 'no_such_model'.*Available"):
        train(TrainConfig(**TINY, epochs=1, init="no_such_model", out=str(tmp_path / "b")), progress=False)
    with pytest.raises(ValueError, match="init must be"):
        TrainConfig(init="")


def test_export_card_names_the_parent(tmp_path):
    _, path = _parent(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "--k", "2", "--width", "4", "--scales", "2", "--train-sequences", "4", "--val-sequences", "2",
            "--batch-size", "8", "--epochs", "1", "--init", str(path), "--freeze-bn", "--contact-boost", "2",
            "--out", str(out), "--quiet", "--threads", "1", "--no-progress"]
    assert cli_main(argv) == 0
    assert read_checkpoint(out)["config"]["freeze_bn"] is True
    assert cli_main(["export", str(out), "--name", "child", "--dest", str(tmp_path), "--eval-sequences", "0"]) == 0
    _, card = load(tmp_path / "child.pt", with_card=True)
    assert card["parent"]["checkpoint"] == str(path) and card["parent"]["epochs"] == 7
    text = (tmp_path / "child.md").read_text()
    assert f"Initialised from `{path}`" in text and "python -m scoretutor train --parent" in text
    assert text == card_markdown("child", card, load(tmp_path / "child.pt").config)


def test_init_from_a_run_folder_keeps_the_whole_lineage(tmp_path):
    _, path = _parent(tmp_path)
    first = TrainConfig(**TINY, epochs=1, freeze_bn=True, init=str(path), out=str(tmp_path / "first"))
    train(first, progress=False, command="first command")
    second = TrainConfig(**TINY, epochs=1, freeze_bn=True, init=first.out, out=str(tmp_path / "second"))
    train(second, progress=False, command="second command")
    parent = read_checkpoint(second.out)["parent"]
    assert parent["checkpoint"] == first.out and parent["command"] == ["first command"] and parent["epochs"] == 1
    assert parent["parent"]["checkpoint"] == str(path) and parent["parent"]["commit"] == ["abc123"]
    assert cli_main(["export", second.out, "--name", "grandchild", "--dest", str(tmp_path), "--eval-sequences", "0"]) == 0
    text = (tmp_path / "grandchild.md").read_text()
    assert text.index(f"Initialised from `{first.out}`") < text.index(f"Initialised from `{path}`")
    assert "first command" in text and "python -m scoretutor train --parent" in text
