"""Command line: ``python -m scoretutor COMMAND ...`` (machinery; chapter 5 shows its use).

* ``train``: train (or resume) a conditional bias-free U-net (:mod:`scoretutor.cli.train`);
* ``export``: turn a run into a checkpoint with its model card (:mod:`scoretutor.cli.export`);
* ``evaluate``: input and output PSNR per noise level on the data a checkpoint's card names (:mod:`scoretutor.cli.evaluate`);
* ``davis``: build the DAVIS32 cache and print its split (:mod:`scoretutor.cli.davis`);
* ``download``: fetch and unpack DAVIS-2017 (:mod:`scoretutor.cli.download`);
* ``check-exercises``: run a chapter's exercise checks on a student's notebook
  (:mod:`scoretutor.cli.check_exercises`).

Each command is a ``main(argv=None)`` function returning the exit status, which tests call; :func:`main`
dispatches. Errors are one ``error: ...`` line on stderr and a non-zero status, never a traceback
(set ``SCORETUTOR_DEBUG=1`` to see one for an unexpected error); :class:`Parser` makes argparse's
own errors one such line too.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

__all__ = ["COMMANDS", "Parser", "fail", "in_cli_terms", "main"]

#: command -> one line of help; the command's ``main`` is in the module of the same name ('-' -> '_')
COMMANDS = {
    "train": "train or resume a conditional bias-free U-net",
    "export": "turn a run into a checkpoint with a model card (in your checkpoint folder)",
    "evaluate": "print input/output PSNR per noise level on the data a checkpoint's card names",
    "davis": "build the DAVIS32 cache and print the number of clips of each split",
    "download": "download and unpack DAVIS-2017 (480p trainval)",
    "check-exercises": "run a chapter's exercise checks on the functions of a student's notebook",
}


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error: ...`` line (with a pointer to ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def fail(message, status: int = 2) -> int:
    """Print ``error: message`` (one line) on stderr and return ``status``."""
    text = " ".join(str(message).split())
    print(f"error: {text}", file=sys.stderr)
    return status


def in_cli_terms(message, options=(), replacements=()) -> str:
    """A library message in command-line terms: ``name=value`` and a leading ``name must`` for each
    of ``options`` (argument names such as ``batch_size``) become ``--batch-size value`` and
    ``--batch-size must``; ``replacements`` are extra ``(library phrase, command-line phrase)`` pairs."""
    text = str(message)
    for old, new in (("resume=True (--resume)", "--resume"), *replacements):
        text = text.replace(old, new)
    for name in options:
        flag = "--" + name.replace("_", "-")
        text = re.sub(rf"(?<![\w.-]){name}=(?=\S)", f"{flag} ", text)
        text = re.sub(rf"^{name} (must|only|needs)\b", rf"{flag} \1", text)
    return text


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
        return fail(f"unknown command {command!r}; choose one of {', '.join(COMMANDS)}")
    run = importlib.import_module(f".{command.replace('-', '_')}", __name__).main
    try:
        return run(rest)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback on the command line
        if os.environ.get("SCORETUTOR_DEBUG"):
            raise
        return fail(f"{command} failed unexpectedly: {type(exc).__name__}: {exc} (this is a bug in scoretutor: "
                    "please report it; SCORETUTOR_DEBUG=1 shows the traceback)", 1)
