"""Sphinx extension of the book: the built pages load nothing from the network.

MathJax is served from ``book/_static/mathjax`` (``mathjax_path`` in ``_config.yml``). The one
external image the chapters show, Colab's *Open in Colab* badge, is replaced in the written HTML
by the book's copy, ``_static/colab-badge.svg``; the notebooks keep Colab's (GitHub, Jupyter and
Colab show them directly). The links to Colab stay links. ``tests/test_book.py`` checks the result.
"""
from __future__ import annotations

import os
from pathlib import Path

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _localise_badges(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if COLAB_BADGE not in text:
            continue
        static = os.path.relpath(out / "_static" / "colab-badge.svg", page.parent)
        page.write_text(text.replace(COLAB_BADGE, Path(static).as_posix()), encoding="utf-8")


def setup(app):
    app.connect("build-finished", _localise_badges)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
