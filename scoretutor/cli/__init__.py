"""Command line: ``python -m scoretutor COMMAND ...`` (machinery; chapter 5 shows its use).

* ``train``: train (or resume) a conditional bias-free U-net (:mod:`scoretutor.cli.train`);
* ``export``: turn a run into a shipped checkpoint with its model card (:mod:`scoretutor.cli.export`);
* ``evaluate``: input and output PSNR per noise level on held-out data (:mod:`scoretutor.cli.evaluate`);
* ``davis``: build the DAVIS32 cache and print its split (:mod:`scoretutor.cli.davis`);
* ``download``: fetch and unpack DAVIS-2017 (:mod:`scoretutor.cli.download`).

Each command is a ``main(argv=None)`` function returning the exit status, which tests call; :func:`main`
dispatches. Errors are one ``error: ...`` line on stderr and a non-zero status.
"""
from __future__ import annotations

import importlib
import sys

__all__ = ["COMMANDS", "main"]

#: command -> one line of help; the command's ``main`` is in the module of the same name
COMMANDS = {
    "train": "train or resume a conditional bias-free U-net",
    "export": "turn a run into a shipped checkpoint with a model card",
    "evaluate": "print input/output PSNR per noise level on held-out sequences",
    "davis": "build the DAVIS32 cache and print the number of clips of each split",
    "download": "download and unpack DAVIS-2017 (480p trainval)",
}


def main(argv=None) -> int:
    """Dispatch ``python -m scoretutor COMMAND ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        width = max(len(c) for c in COMMANDS)
        lines = [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
        print(f"usage: python -m scoretutor {{{','.join(COMMANDS)}}} ...\n\n" + "\n".join(lines)
              + "\n\nEach command has --help.")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return importlib.import_module(f".{command}", __name__).main(rest)
