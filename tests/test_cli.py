"""The command line: help texts and a tiny train -> resume -> export -> evaluate run."""
import numpy as np
import pytest
import torch

from scoretutor.checkpoints import load
from scoretutor.cli import evaluate, export, main, train


def test_top_level_help_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main([]) == 2


@pytest.mark.parametrize("command,needle", [
    (train.main, "--resume"), (export.main, "--name"), (evaluate.main, "--sequences"),
])
def test_each_command_has_help(command, needle, capsys):
    with pytest.raises(SystemExit) as info:
        command(["--help"])
    assert info.value.code == 0
    assert needle in capsys.readouterr().out


def test_tiny_train_resume_export_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--width", "4", "--train-sequences", "3", "--val-sequences", "2", "--batch-size", "9",
              "--out", str(run), "--quiet", "--no-progress"]
    assert main(["train", "--k", "2", "--epochs", "1", *common]) == 0
    assert (run / "checkpoint.pt").is_file() and (run / "log.csv").is_file()
    # resume: options left out come from the saved run
    assert main(["train", "--epochs", "2", "--resume", "--out", str(run), "--quiet", "--no-progress"]) == 0
    assert load(run).config["width"] == 4
    assert len((run / "log.csv").read_text().splitlines()) == 3
    # a run folder is never silently overwritten, nor resumed with another architecture
    assert main(["train", "--epochs", "3", *common]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--epochs", "3", "--resume", *common[:-4], "--out", str(run), "--width", "8", "--quiet"]) == 2
    assert "width: saved 4, given 8" in capsys.readouterr().err

    dest = tmp_path / "shipped"
    assert main(["export", str(run), "--name", "tiny_k2", "--dest", str(dest), "--eval-sequences", "2"]) == 0
    out = capsys.readouterr().out
    assert "output PSNR" in out and "wrote" in out
    assert (dest / "tiny_k2.md").is_file()
    model, card = load(dest / "tiny_k2.pt", with_card=True)
    assert not model.training and len(card["denoising_table"]) == 6
    assert card["epochs"] in (1, 2) and "lowest validation loss" in card["selected"]  # best.pt by default
    assert main(["export", str(run), "--which", "last", "--name", "tiny_last", "--dest", str(dest),
                 "--eval-sequences", "0"]) == 0
    assert load(dest / "tiny_last.pt", with_card=True)[1]["epochs"] == 2
    capsys.readouterr()
    assert "--width 4" in card["command"][0]
    assert "Denoising on held-out sequences" in (dest / "tiny_k2.md").read_text()

    assert main(["evaluate", str(dest / "tiny_k2.pt"), "--sequences", "2", "--sigmas", "0.1", "0.5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "2 held-out Moving Leaves sequences" in lines[0] and "k=2, width=4" in lines[1]
    assert "input PSNR" in lines[2] and len(lines) == 5
    assert main(["evaluate", "no_such_checkpoint"]) == 2
    assert "Available:" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "empty"), "--name", "x", "--dest", str(dest)]) == 2
    assert main(["export", str(run), "--name", "bad name", "--dest", str(dest)]) == 2


# --------------------------------------------------------------------------- evaluate reads the card


@pytest.fixture(scope="module")
def davis_folder(tmp_path_factory):
    """Four full-size DAVIS sequences of 11 frames (a pattern translating 2 pixels per frame)."""
    import sys
    from pathlib import Path

    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent))
    from test_davis import make_davis

    base = np.random.default_rng(0).uniform(0, 255, size=(480, 854))
    root = tmp_path_factory.mktemp("davis") / "DAVIS"
    return make_davis(root, {"a": 11, "b": 11, "c": 11, "d": 11}, shape=(480, 854),
                      image=lambda s, t: np.roll(base, 2 * t + 40 * (ord(s) - 97), axis=1))


def _tiny(tmp_path, name, k, card, prediction_only=False):
    from scoretutor.checkpoints import save_pretrained
    from scoretutor.unet import UNet

    torch.manual_seed(k)
    return save_pretrained(UNet(k=k, width=4, scales=2, prediction_only=prediction_only), tmp_path / f"{name}.pt",
                           card=card)


DAVIS_CARD = {"data": "DAVIS32 (test)", "dataset": "davis32", "training_sequences": ["a", "b"],
              "test_sequences": ["c"]}


def test_evaluate_scores_a_davis_checkpoint_on_its_cards_sequences(davis_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCORETUTOR_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("SCORETUTOR_DAVIS_ROOT", raising=False)
    k2 = _tiny(tmp_path, "k2", 2, DAVIS_CARD)
    common = ["--root", str(davis_folder), "--sigmas", "0.1", "1", "--sequences", "5"]
    expected = {"test": "1 sequences (c; the card's test sequences)",
                "train": "2 sequences (a, b; the card's training sequences)",
                "all": "3 sequences (a, b, c; the card's training and test sequences)",
                "held-out": "1 sequences (d; sequences in neither of the card's lists)"}
    for split, words in expected.items():
        assert main(["evaluate", str(k2), "--split", split, *common]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith(f"{k2}: DAVIS32 {split} split, {words}, 5 clips, all 9 pairs per clip, "
                                   "sigmas 0.1 1, noise seed 0"), lines[0]
        assert "k=2, width=4" in lines[1] and "input PSNR" in lines[2] and len(lines) == 5
    # the default root is $SCORETUTOR_DAVIS_ROOT
    monkeypatch.setenv("SCORETUTOR_DAVIS_ROOT", str(davis_folder))
    assert main(["evaluate", str(k2), "--sigmas", "0.1", "--sequences", "2"]) == 0
    assert "DAVIS32 test split, 1 sequences (c;" in capsys.readouterr().out.splitlines()[0]
    # no folder at all: the error names both ways of giving one
    monkeypatch.delenv("SCORETUTOR_DAVIS_ROOT")
    assert main(["evaluate", str(k2), "--sigmas", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "--root" in err and "$SCORETUTOR_DAVIS_ROOT" in err and err.count("\n") == 1


def test_evaluate_common_targets_compare_every_k_on_the_same_frames(davis_folder, tmp_path, monkeypatch, capsys):
    from scoretutor.checkpoints import load
    from scoretutor.data.davis import load_davis32
    from scoretutor.metrics import common_target_table, denoising_table

    monkeypatch.setenv("SCORETUTOR_DATA", str(tmp_path / "data"))
    paths = [_tiny(tmp_path, f"k{k}", k, DAVIS_CARD) for k in (0, 1, 3)]
    paths.append(_tiny(tmp_path, "pred", 2, DAVIS_CARD, prediction_only=True))
    argv = ["evaluate", *map(str, paths), "--root", str(davis_folder), "--common-target", "--sigmas", "0.1", "0.5"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "common targets (the last frame of each clip, the same noise for every checkpoint)" in lines[0]
    assert "21 clips" not in lines[0] and "63 clips" in lines[0]  # 63 crops of the one 11-frame clip of 'c'
    rows = [line.split() for line in lines[6:]]
    assert [r[0] for r in rows] == ["0.1", "0.5"] and all(len(r) == 6 for r in rows)
    # the same numbers as the library's common-target table, which scores x_10 from the k frames before it
    clips = load_davis32("all", davis_folder).frames
    clips = clips[np.isin(load_davis32("all", davis_folder).sequence, ["c"])].astype(np.float32) / 255
    for col, path in enumerate(paths):
        table = common_target_table(load(path), clips, sigmas=[0.1, 0.5])
        model = load(path)
        direct = denoising_table(model, clips[:, 10 - model.k:], sigmas=[0.1, 0.5])
        assert table == direct
        assert [float(r[2 + col]) for r in rows] == pytest.approx([t["output_psnr"] for t in table], abs=0.006)
        assert [float(r[1]) for r in rows] == pytest.approx([t["input_psnr"] for t in table], abs=0.006)
    assert rows[0][5] == rows[1][5]  # prediction only: the observation is ignored
    # several checkpoints need common targets
    assert main(argv[:-4] + ["--sigmas", "0.1"]) == 2
    assert "add --common-target" in capsys.readouterr().err


def test_evaluate_scores_a_leaves_checkpoint_on_leaves(tmp_path, capsys):
    path = _tiny(tmp_path, "leaves", 1, {"data": "Moving Leaves (scoretutor.data.leaves.generate, default options)"})
    assert main(["evaluate", str(path), "--sequences", "2", "--sigmas", "0.2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "2 held-out Moving Leaves sequences (seed 1000003), all 10 pairs per sequence, sigmas 0.2" in first
    assert main(["evaluate", str(path), "--split", "train"]) == 2
    assert "--split train applies to DAVIS32 checkpoints" in capsys.readouterr().err
    # a card-less checkpoint: --data decides; a card that says otherwise refuses it
    assert main(["evaluate", str(path), "--data", "davis32"]) == 2
    assert "was trained on leaves (its card says so), not on --data davis32" in capsys.readouterr().err


def test_evaluate_draws_a_bar_on_stderr_and_prints_the_same_table(tmp_path, capsys):
    path = _tiny(tmp_path, "leaves", 1, {"data": "Moving Leaves (scoretutor.data.leaves.generate, default options)"})
    argv = ["evaluate", str(path), "--sequences", "2", "--sigmas", "0.1", "0.5"]
    assert main(argv + ["--no-progress"]) == 0
    quiet = capsys.readouterr()
    assert main(argv + ["--progress"]) == 0
    shown = capsys.readouterr()
    assert shown.out == quiet.out and "evaluating" in shown.err and "evaluating" not in quiet.err
    # one noise level at a time gives the table of one call (the same noise z scaled by each sigma)
    from scoretutor.data.sources import LeavesSource
    from scoretutor.metrics import denoising_table

    model, frames = load(path), LeavesSource().held_out_frames(2, seed=5)
    both = denoising_table(model, frames, sigmas=[0.1, 0.5], seed=3)
    assert both == [denoising_table(model, frames, sigmas=[s], seed=3)[0] for s in (0.1, 0.5)]


def test_evaluate_reads_the_shipped_davis_cards(davis_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCORETUTOR_DATA", str(tmp_path / "data"))
    assert main(["evaluate", "davis_k2", "--root", str(davis_folder)]) == 2
    err = capsys.readouterr().err
    assert "lacks 3 of the 3 sequences of --split test (the card's test sequences): car-shadow, drift-chicane, parkour" \
        in err


@pytest.mark.skipif(not __import__("os").environ.get("SCORETUTOR_DAVIS_ROOT"), reason="needs $SCORETUTOR_DAVIS_ROOT")
def test_evaluate_davis_k2_on_the_real_test_split(capsys):
    assert main(["evaluate", "davis_k2", "--sequences", "3", "--sigmas", "0.5", "--common-target"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("davis_k2: DAVIS32 test split, 3 sequences (car-shadow, drift-chicane, parkour; "
                            "the card's test sequences), 3 clips, common targets")
