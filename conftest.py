"""Test-suite set-up: run headless (no progress bars, widgets drawn as static figures), and skip
the chapters that need DAVIS when no DAVIS folder is configured.

The variable is inherited by the kernels that nbval starts, so the chapters run exactly as when
they were committed by ``tools/execute_notebooks.py``.
"""
import os

import pytest

os.environ["SCORETUTOR_HEADLESS"] = "1"

#: chapters that read real video; their stored outputs come from the DAVIS frames CI points at
NEEDS_DAVIS = ("07_natural_video.ipynb",)


def pytest_collection_modifyitems(config, items):
    from scoretutor.data.davis import davis_root

    try:
        davis_root()
        return
    except ValueError as exc:
        reason = (f"needs DAVIS: {exc}. Set SCORETUTOR_DAVIS_ROOT (CI: ../shared/davis) or run "
                  "python -m scoretutor download")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.path.name in NEEDS_DAVIS:
            item.add_marker(skip)
