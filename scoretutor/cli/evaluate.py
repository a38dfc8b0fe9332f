"""``python -m scoretutor evaluate NAME_OR_PATH ...``: input and output PSNR per noise level of a
checkpoint on the data it was trained on, read from its model card (chapter 5; figure 6's protocol,
``--common-target``, chapter 7).

What is scored comes from the card (:func:`scoretutor.cards.card_dataset`): a Moving Leaves
checkpoint on fresh sequences from a seed training never uses; a DAVIS32 checkpoint on the clips of
the split ``--split`` names, with the sequences its card lists (``training_sequences``,
``test_sequences``; ``held-out``: the DAVIS folder's other sequences). ``--data`` is only for a
checkpoint whose card says nothing. The first line of the output says what was scored.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from . import Parser, fail, in_cli_terms

__all__ = ["parser", "main", "SPLITS"]

#: the values of ``--split``: the card's training or test sequences, both, or every other sequence
SPLITS = ("test", "train", "all", "held-out")


def parser() -> Parser:
    from ..data.davis import ENV_ROOT

    p = Parser(
        prog="python -m scoretutor evaluate",
        description="Print input and output PSNR per noise level of a checkpoint on the data its model card "
                    "says it was trained on (Moving Leaves from a seed training never uses, or DAVIS32 clips of "
                    "the sequences the card lists). Several checkpoints are compared with --common-target.",
    )
    p.add_argument("checkpoint", nargs="+",
                   help="a shipped checkpoint name, a .pt file or a training run folder (several with "
                        "--common-target: one column each)")
    p.add_argument("--data", choices=("leaves", "davis32"), default=None,
                   help="the data, for a checkpoint whose card does not say (default: the card's; leaves when "
                        "it says nothing)")
    p.add_argument("--root", default=None,
                   help=f"DAVIS folder, the one holding JPEGImages/480p (default ${ENV_ROOT}, else the folder "
                        "that 'python -m scoretutor download' fills)")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="DAVIS32 sequences to score: test (the card's test sequences; default), train (its "
                        "training sequences), all (both) or held-out (the folder's sequences in neither list)")
    p.add_argument("--common-target", action="store_true",
                   help="score the last frame of every clip only, seen through the k frames before it: every "
                        "k (and a prediction-only network) on the same targets and the same noise (figure 6)")
    p.add_argument("--sequences", type=int, default=200,
                   help="Moving Leaves sequences, or DAVIS32 clips evenly spread over the split (default 200)")
    p.add_argument("--sigmas", type=float, nargs="+", default=None,
                   help="noise levels (default 0.02 0.05 0.1 0.2 0.5 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--data-seed", type=int, default=None,
                   help="seed of the Moving Leaves sequences (default: the held-out seed)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default cpu)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar over the noise levels of each checkpoint (default: in a terminal)")
    return p


class _Refused(Exception):
    """An evaluation that cannot go ahead; the message says why."""


def _dataset(names, cards, asked) -> str:
    """The one data set every checkpoint was trained on (``asked``: ``--data``, for cards that say nothing)."""
    from ..cards import card_dataset

    found = {name: card_dataset(card) for name, card in zip(names, cards)}
    for name, data in found.items():
        if data is not None and asked is not None and data != asked:
            raise _Refused(f"{name} was trained on {data} (its card says so), not on --data {asked}: "
                           "leave --data out")
    kinds = {data or asked or "leaves" for data in found.values()}
    if len(kinds) > 1:
        raise _Refused("the checkpoints were trained on different data ("
                       + ", ".join(f"{n}: {d}" for n, d in found.items()) + "): compare like with like")
    return kinds.pop()


def _davis_names(names, cards, split: str, root):
    """``(sequence names, how they were chosen)`` of ``split`` for DAVIS cards, or ``(None, ...)`` when
    the cards list no sequences (the loader's own split rule then decides)."""
    from ..cards import DATA_FIELDS

    listed = {tuple(tuple(card.get(key) or ()) for key in DATA_FIELDS) for card in cards}
    if len(listed) > 1:
        raise _Refused("the checkpoints' cards list different training or test sequences: compare checkpoints "
                       "trained on the same split")
    train, test = (list(v) for v in listed.pop())
    if not train and not test:
        if split == "held-out":
            raise _Refused(f"the card of {names[0]} lists no training sequences, so no sequence is known to be "
                           "held out: use --split test, train or all")
        return None, "the loader's split (the card lists no sequences)"
    if split == "held-out":
        from ..data.davis import discover_sequences

        present = discover_sequences(root)
        others = sorted(set(present) - set(train) - set(test))
        if not others:
            raise _Refused(f"every sequence of the DAVIS folder {root} is among the card's training or test "
                           "sequences: --split held-out has nothing to score there (a folder with more sequences, "
                           "e.g. the full DAVIS-2017 download, has)")
        return others, "sequences in neither of the card's lists"
    chosen = {"train": train, "test": test, "all": sorted(train + test)}[split]
    return chosen, "the card's " + {"train": "training sequences", "test": "test sequences",
                                    "all": "training and test sequences"}[split]


def _davis_clips(names, cards, args):
    """``(clips float32 (N, 11, 32, 32), description)`` for DAVIS checkpoints."""
    from ..data.davis import load_davis32

    root = None
    if args.split == "held-out":
        from ..data.davis import davis_root

        root = davis_root(args.root)
    chosen, how = _davis_names(names, cards, args.split, root or args.root)
    if chosen is None:
        data = load_davis32(args.split, args.root)
        keep = np.arange(len(data))
        sequences = list(data.sequences)
    else:
        data = load_davis32("all", root or args.root)
        missing = [s for s in chosen if s not in data.sequences]
        if missing:
            raise _Refused(f"the DAVIS folder {data.manifest['source']} lacks {len(missing)} of the {len(chosen)} sequences of --split "
                           f"{args.split} ({how}): {', '.join(missing)}")
        keep = np.flatnonzero(np.isin(data.sequence, chosen))
        sequences = chosen
    if not len(keep):
        raise _Refused(f"--split {args.split} holds no clip")
    idx = keep[np.unique(np.linspace(0, len(keep) - 1, min(args.sequences, len(keep))).round().astype(int))]
    frames = data.frames[idx].astype(np.float32) / np.float32(255.0)
    what = (f"DAVIS32 {args.split} split, {len(sequences)} sequences ({', '.join(sequences)}; {how}), "
            f"{len(idx)} clips")
    return frames, what


def main(argv=None) -> int:
    """``python -m scoretutor evaluate NAME_OR_PATH ...``; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return _evaluate(args)
    except _Refused as exc:
        return fail(exc)
    except (ValueError, FileNotFoundError) as exc:
        return fail(in_cli_terms(exc, ("root",), (("pass root=,", "pass --root,"),)))


def _evaluate(args) -> int:
    from ..checkpoints import load, resolve
    from ..data.sources import HELD_OUT_SEED, LeavesSource
    from ..metrics import TABLE_SIGMAS, common_target_table, denoising_table, format_table
    from ..runtime import show_progress

    if args.sequences < 1:
        raise _Refused("--sequences must be at least 1")
    bad = [s for s in args.sigmas or () if not (s >= 0 and math.isfinite(s))]
    if bad:
        raise _Refused(f"--sigmas must be finite noise levels >= 0, got {bad[0]}")
    names = list(args.checkpoint)
    if len(names) > 1 and not args.common_target:
        raise _Refused("several checkpoints are compared on common targets only: add --common-target")
    models, cards = [], []
    for name in names:
        model, card = load(resolve(name), device=args.device, with_card=True)
        models.append(model), cards.append(card)
    data = _dataset(names, cards, args.data)
    if data == "davis32":
        frames, what = _davis_clips(names, cards, args)
    else:
        if args.split != "test" or args.root is not None:
            option = "--root" if args.root is not None else f"--split {args.split}"
            raise _Refused(f"{option} applies to DAVIS32 checkpoints; {names[0]} was trained on Moving Leaves and "
                           "is scored on fresh sequences from a seed training never uses")
        seed = HELD_OUT_SEED if args.data_seed is None else args.data_seed
        frames = LeavesSource().held_out_frames(args.sequences, seed=seed)
        what = f"{args.sequences} held-out Moving Leaves sequences (seed {seed})"
    sigmas = list(args.sigmas or TABLE_SIGMAS)
    if args.common_target:
        unit = "clip" if data == "davis32" else "sequence"
        pairs = f"common targets (the last frame of each {unit}, the same noise for every checkpoint)"
    else:
        pairs = f"all {frames.shape[1] - models[0].k} pairs per {'clip' if data == 'davis32' else 'sequence'}"
    print(f"{', '.join(names)}: {what}, {pairs}, sigmas {' '.join(f'{s:g}' for s in sigmas)}, "
          f"noise seed {args.seed}")
    for name, model in zip(names, models):
        c = model.config
        print(f"  {name}: k={c['k']}, width={c['width']}, prediction_only={c['prediction_only']}")
    table = common_target_table if args.common_target else denoising_table
    show = show_progress() if args.progress is None else args.progress
    tables = [table(m, frames, sigmas=sigmas, seed=args.seed, progress=f"evaluating {n}" if show else None)
              for n, m in zip(names, models)]
    if not args.common_target:
        print(format_table(tables[0]))
        return 0
    if len(models) == 1:
        print(format_table(tables[0]))
        return 0
    width = max(11, *(len(n) for n in names))
    print(f"{'sigma':>7}  {'input PSNR':>10}  " + "  ".join(f"{n:>{width}}" for n in names) + "   (output PSNR, dB)")
    for i, s in enumerate(sigmas):
        print(f"{s:>7g}  {tables[0][i]['input_psnr']:>10.2f}  "
              + "  ".join(f"{t[i]['output_psnr']:>{width}.2f}" for t in tables))
    return 0
