"""``python -m scoretutor check-exercises NOTEBOOK.ipynb ...``: run a chapter's exercise checks on the
functions a student's notebook defines, for teachers (the guide: ``book/teachers.md``)."""
from __future__ import annotations

from . import Parser, fail

__all__ = ["parser", "main"]


def parser() -> Parser:
    p = Parser(
        prog="python -m scoretutor check-exercises",
        description="Run every exercise check of a chapter on the functions that a student's chapter notebook "
                    "defines, and print one verdict per exercise. Only the notebook's imports, function and "
                    "class definitions and literal constants are run (nothing is trained or plotted), but "
                    "that is the student's code: run it where you would run their notebook. Exit status 0 "
                    "when every exercise of every notebook is correct, 1 otherwise.")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK",
                   help="a chapter notebook (its chapter is read from its scoretutor.exercises.chNN import, "
                        "else from its file name NN_...)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the random inputs (default: fresh ones, named in each verdict), the same for "
                        "every student when given")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="SECONDS",
                   help="seconds one exercise's check may run before it is marked as an error (a student's "
                        "endless loop) and the next is checked (default: 60; 0 for no limit)")
    return p


def main(argv=None) -> int:
    """``python -m scoretutor check-exercises NOTEBOOK ...``; returns the exit status."""
    from ..exercises import check_notebook

    args = parser().parse_args(argv)
    if args.time_limit < 0:
        return fail(f"--time-limit must be >= 0 seconds, got {args.time_limit:g}")
    all_ok = True
    for path in args.notebooks:
        print(f"== {path}")
        try:
            verdicts = check_notebook(path, seed=args.seed, time_limit=args.time_limit or None)
        except ValueError as exc:
            return fail(exc)
        right = sum(v.ok for v in verdicts)
        print(f"{right} of {len(verdicts)} exercises correct")
        all_ok = all_ok and right == len(verdicts)
    return 0 if all_ok else 1
