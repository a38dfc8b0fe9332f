"""Test-suite set-up: run headless (no progress bars, widgets drawn as static figures).

The variable is inherited by the kernels that nbval starts, so the chapters run exactly as when
they were committed by ``tools/execute_notebooks.py``.
"""
import os

os.environ["SCORETUTOR_HEADLESS"] = "1"
