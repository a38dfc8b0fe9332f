"""What issue 14 fixed, one behaviour a test: k = 0 roll-outs, the U-net's dtypes, batch norm on empty
batches, fsync before rename, the run folder's lock, exports in the user's folder, the command line's
help, progress bars and messages."""
import os
import re

import pytest
import torch

from scoretutor import atomic, checkpoints
from scoretutor.checkpoints import available, load_pretrained, resolve, user_dir
from scoretutor.cli import COMMANDS, Parser, in_cli_terms, main
from scoretutor.data import download
from scoretutor.data.sources import LeavesSource
from scoretutor.run_record import LOCK_NAME, RunFolderBusy, RunLock, hardware
from scoretutor.sampling import rollout
from scoretutor.training import TrainConfig, train
from scoretutor.unet import BiasFreeBatchNorm2d, UNet

TINY = dict(k=2, width=4, train_sequences=6, val_sequences=3, batch_size=9)


def tiny_source():
    return LeavesSource(0, 6, 3, size=16, radius_range=(1.5, 4.0))


# --------------------------------------------------------------------------- sampling and the network


@pytest.mark.parametrize("name", ["leaves_k0", "davis_k0"])
@pytest.mark.parametrize("method", ["one_step", "sample"])
def test_rollout_of_a_shipped_k0_network(name, method):
    """A k = 0 network conditions on nothing: every frame of a roll-out is a fresh draw (it failed with
    'past has 1 frames' from the second frame on)."""
    model = load_pretrained(name)
    past = torch.zeros(1, 0, 32, 32)
    kw = dict(max_steps=4, warn=False) if method == "sample" else {}
    frames, traces = rollout(model, past, 2, 1, method=method, seed=0, **kw)
    assert frames.shape == (1, 1, 2, 32, 32) and bool(torch.isfinite(frames).all())
    if method == "sample":
        assert len(traces) == 2 and all(int(t.nfe.min()) > 0 for t in traces)  # every frame was sampled
        assert not torch.equal(frames[:, :, 0], frames[:, :, 1])  # fresh noise for each frame


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_unet_converts_other_floating_inputs_to_its_weights_dtype(dtype):
    torch.manual_seed(0)
    model = UNet(k=1, width=4).eval()
    x = torch.rand(2, 2, 8, 8)
    with torch.no_grad():
        want, got = model(x), model(x.to(dtype))
    assert got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-2 if dtype == torch.float16 else 1e-6)


def test_empty_batches_in_eval_mode_are_fine_and_training_mode_keeps_its_scales():
    layer = BiasFreeBatchNorm2d(3).train()
    before = layer.running_sd.clone()
    with pytest.raises(ValueError, match="empty batch"):
        layer(torch.zeros(0, 3, 4, 4))
    assert torch.equal(layer.running_sd, before)  # not NaN
    assert layer.eval()(torch.zeros(0, 3, 4, 4)).shape == (0, 3, 4, 4)


# --------------------------------------------------------------------------- files


def test_atomic_write_syncs_the_file_and_its_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append(("replace", None)) or real_replace(a, b))
    atomic.atomic_write_text("hello", tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert calls[0] == ("fsync", False) and calls[1] == ("replace", None)  # the file, before the rename
    if os.name != "nt":
        assert calls[2] == ("fsync", True)  # then its folder


def test_stale_temporaries_are_removed_only_for_the_names_given(tmp_path):
    for name in (".checkpoint.pt.ab12cd.tmp", ".best.pt.x_y.tmp", ".other.npz.zz.tmp", "keep.tmp"):
        (tmp_path / name).write_text("half")
    removed = atomic.remove_stale_temporaries(tmp_path, ("checkpoint.pt", "best.pt"))
    assert sorted(p.name for p in removed) == [".best.pt.x_y.tmp", ".checkpoint.pt.ab12cd.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.zz.tmp", "keep.tmp"]


def test_lock_names_its_owner_is_released_and_a_stale_one_is_taken_over(tmp_path):
    lock = RunLock.acquire(tmp_path)
    text = (tmp_path / LOCK_NAME).read_text()
    assert text.startswith(f"{os.getpid()} ") and lock.stale is None
    with pytest.raises(RunFolderBusy, match=f"PID {os.getpid()} on "):
        RunLock.acquire(tmp_path)
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    (tmp_path / LOCK_NAME).write_text("4242 elsewhere 2026-01-01T00:00:00\n")  # its owner died: nobody holds it
    again = RunLock.acquire(tmp_path)
    assert again.stale == "PID 4242 on elsewhere, since 2026-01-01T00:00:00"
    again.release()


def test_a_finished_run_releases_its_lock_and_a_failed_start_leaves_no_folder(tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(**TINY, epochs=1, out=str(out)), source=tiny_source(), progress=False)
    assert not (out / LOCK_NAME).exists() and (out / "checkpoint.pt").is_file()
    bad = tmp_path / "deep" / "bad"
    with pytest.raises(ValueError, match="exceeds"):
        train(TrainConfig(**{**TINY, "batch_size": 1000}, epochs=1, out=str(bad)), source=tiny_source(), progress=False)
    assert not bad.exists()


def test_resume_notes_are_warnings_for_library_callers(tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(**TINY, epochs=1, out=str(out)), source=tiny_source(), progress=False)
    (out / ".checkpoint.pt.dead00.tmp").write_bytes(b"half")
    with pytest.warns(RuntimeWarning, match="removed 1 half-written file"):
        train(TrainConfig(**TINY, epochs=2, out=str(out)), resume=True, source=tiny_source(), progress=False)


# --------------------------------------------------------------------------- exports


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(**TINY, epochs=1, out=str(out)), source=tiny_source(), progress=False)
    return out


def test_export_goes_to_the_user_folder_where_names_are_found(run_dir, capsys):
    shipped_before = {p.name: p.stat().st_mtime_ns for p in checkpoints.CHECKPOINT_DIR.iterdir()}
    assert main(["export", str(run_dir), "--name", "mine_k2", "--eval-sequences", "0"]) == 0
    assert (user_dir() / "mine_k2.pt").is_file() and (user_dir() / "mine_k2.md").is_file()
    assert {p.name: p.stat().st_mtime_ns for p in checkpoints.CHECKPOINT_DIR.iterdir()} == shipped_before
    assert "mine_k2" not in available() and "mine_k2" in checkpoints.exported()
    assert resolve("mine_k2") == user_dir() / "mine_k2.pt"
    assert load_pretrained("mine_k2").width == 4
    assert main(["export", str(run_dir), "--name", "mine_k2", "--eval-sequences", "0"]) == 2
    assert "pass --force to replace it" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--name", "mine_k2", "--eval-sequences", "0", "--force"]) == 0
    with pytest.raises(ValueError, match=r"available: davis_k0.*; exported in .*: mine_k2"):
        load_pretrained("not_mine")


def test_export_card_says_which_epoch_and_what_it_is(run_dir, tmp_path):
    assert main(["export", str(run_dir), "--name", "a", "--dest", str(tmp_path), "--eval-sequences", "0"]) == 0
    card = checkpoints.load(tmp_path / "a.pt", with_card=True)[1]
    assert card["selected"] == "epoch 1 of the 1-epoch run: the lowest validation loss"
    assert main(["export", str(run_dir), "--which", "last", "--name", "b", "--dest", str(tmp_path),
                 "--eval-sequences", "0"]) == 0
    card = checkpoints.load(tmp_path / "b.pt", with_card=True)[1]
    assert card["selected"] == "epoch 1 of the 1-epoch run: the last one, also the lowest validation loss"


def test_export_table_per_noise_level_equals_one_call(run_dir, tmp_path, capsys):
    """The export scores one noise level at a time (for its progress bar): the same noise, the same table."""
    from scoretutor.metrics import TABLE_SIGMAS, denoising_table

    assert main(["export", str(run_dir), "--name", "t", "--dest", str(tmp_path), "--eval-sequences", "2",
                 "--fp32"]) == 0
    model, card = checkpoints.load(tmp_path / "t.pt", with_card=True)
    frames = LeavesSource().held_out_frames(2)
    assert card["denoising_table"] == denoising_table(model, frames, sigmas=TABLE_SIGMAS, seed=0)


# --------------------------------------------------------------------------- the command line


def _parsers():
    import importlib

    for command in COMMANDS:
        module = importlib.import_module(f"scoretutor.cli.{command.replace('-', '_')}")
        yield command, module.parser()


@pytest.mark.parametrize("command, parser", list(_parsers()), ids=list(COMMANDS))
def test_every_option_of_every_command_is_explained_in_plain_text(command, parser, capsys):
    unexplained = [a.dest for a in parser._actions if not (a.help and a.help.strip()) and a.dest != "help"]
    assert not unexplained, f"{command}: options without help: {unexplained}"
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = capsys.readouterr().out
    assert not re.search(r"``|:func:|:class:|:mod:|:data:", text), f"{command} --help shows reST markup"
    assert isinstance(parser, Parser) or command == "evaluate"


def test_parser_errors_are_one_line(capsys):
    p = Parser(prog="prog")
    p.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as info:
        p.parse_args(["--n", "x"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: argument --n: invalid int value: 'x' (see prog --help)\n"


def test_messages_in_command_line_terms():
    names = ("batch_size", "k", "data")
    assert in_cli_terms("batch_size=9 exceeds the 27 pairs", names) == "--batch-size 9 exceeds the 27 pairs"
    assert in_cli_terms("k must be <= 10", names) == "--k must be <= 10"
    assert in_cli_terms("x exists: pass resume=True (--resume) to continue", names) == "x exists: pass --resume to continue"
    assert in_cli_terms("p only applies to data='leaves'", names) == "p only applies to --data 'leaves'"
    assert in_cli_terms("the run_k=2/ folder", names) == "the run_k=2/ folder"  # inside a word: left alone


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch, capsys):
    import scoretutor.cli.davis as davis

    def boom(argv):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(davis, "main", boom)
    assert main(["davis"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "davis failed unexpectedly: RuntimeError: something nobody expected" in err
    monkeypatch.setenv("SCORETUTOR_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["davis"])


def test_train_shows_a_step_bar_with_the_loss_and_epoch_lines_above_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCORETUTOR_HEADLESS", raising=False)
    train(TrainConfig(**TINY, epochs=2, out=str(tmp_path / "r")), source=tiny_source(), progress=True, verbose=True)
    out, err = capsys.readouterr()
    assert "epoch 1/2" in err and "step" in err and "loss=" in err  # the bar, on stderr
    assert re.search(r"^epoch 1/2  train [\d.]+  val", out, re.M)  # the epoch line, on a line of its own
    monkeypatch.setenv("SCORETUTOR_HEADLESS", "1")
    train(TrainConfig(**TINY, epochs=1, out=str(tmp_path / "h")), source=tiny_source(), verbose=True)
    assert "loss=" not in capsys.readouterr().err  # headless: no bar


def test_hardware_line_says_1_thread(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert ", 1 thread, torch" in hardware(torch.device("cpu"))


def test_download_defaults_pin_the_official_archive():
    import inspect

    from scoretutor.cli import download as command

    assert download.DAVIS_2017_TRAINVAL_480P_SIZE == 832_766_765
    assert download.DAVIS_2017_TRAINVAL_480P_SHA256 == "e3d0b5b77c3d031b000a19e0e25e3e2cac65d183755601bc2cf066df1a2aa492"
    params = inspect.signature(download.download_davis).parameters
    assert params["sha256"].default == download.DAVIS_2017_TRAINVAL_480P_SHA256
    assert params["size"].default == download.DAVIS_2017_TRAINVAL_480P_SIZE
    args = command.parser().parse_args([])
    assert (args.sha256, args.size, args.allow_insecure) == (download.DAVIS_2017_TRAINVAL_480P_SHA256,
                                                            download.DAVIS_2017_TRAINVAL_480P_SIZE, False)
    assert args.url.startswith("https://")


@pytest.mark.parametrize("name", available())
def test_shipped_cards_speak_in_the_projects_voice(name):
    """No '1 threads', and no first person (the cards are the project's, not one engineer's)."""
    card = (checkpoints.CHECKPOINT_DIR / f"{name}.md").read_text()
    assert not re.search(r"\b1 threads\b", card)
    assert not re.search(r"\b(I|I'm|I've|my|me|we|our)\b", card.replace("`", " ")), name


def test_resuming_a_finished_run_says_there_is_nothing_to_train(tmp_path, capsys):
    out = tmp_path / "run"
    train(TrainConfig(**TINY, epochs=2, out=str(out)), source=tiny_source(), progress=False)
    with pytest.warns(RuntimeWarning, match=r"has already finished 2 epochs, no fewer than the 1 asked for \(--epochs\): nothing to train"):
        result = train(TrainConfig(**TINY, epochs=1, out=str(out)), resume=True, source=tiny_source(), progress=False)
    assert result["epoch"] == 2


def test_a_bad_device_in_the_environment_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCORETUTOR_DEVICE", "foo")
    assert main(["train", "--out", str(tmp_path / "r"), "--width", "4", "--epochs", "1"]) == 2
    assert "error: $SCORETUTOR_DEVICE must be cpu, cuda, cuda:N or mps, got 'foo'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
