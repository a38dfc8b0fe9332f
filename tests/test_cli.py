"""The command line: help texts and a tiny train -> resume -> export -> evaluate run."""
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
    assert "k=2, width=4" in lines[0] and "input PSNR" in lines[1] and len(lines) == 4
    assert main(["evaluate", "no_such_checkpoint"]) == 2
    assert "Available:" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "empty"), "--name", "x", "--dest", str(dest)]) == 2
    assert main(["export", str(run), "--name", "bad name", "--dest", str(dest)]) == 2
