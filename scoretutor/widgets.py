"""Interactive figures that still work headless (taught in chapter 1, used by every chapter).

In a live notebook (Colab, Jupyter) :func:`explore` shows ipywidgets sliders that redraw a figure.
Headless (nbval, the notebook executor, the book build; see :func:`scoretutor.runtime.headless`)
it draws the same figure once with the default values, so the built book shows a static figure
and compared outputs hold nothing that varies. Only core widgets are used, so ipywidgets 7.7
(Colab) and 8 both work.
"""
from __future__ import annotations

from typing import Callable

from .runtime import headless


def _default(control):
    """The starting value of an ``interact`` abbreviation: a widget, a (min, max[, step]) tuple,
    a list of options, or a plain value."""
    if hasattr(control, "value"):
        return control.value
    if isinstance(control, tuple) and len(control) in (2, 3) and all(isinstance(v, (int, float)) for v in control):
        lo, hi = control[:2]
        return (lo + hi) / 2 if isinstance(lo, float) or isinstance(hi, float) else (lo + hi) // 2
    if isinstance(control, (list, tuple)) and control:
        first = control[0]
        return first[1] if isinstance(first, tuple) and len(first) == 2 else first
    return control


def explore(fn: Callable[..., None], **controls):
    """Redraw ``fn(**values)`` as the learner moves the controls; a static figure when headless.

    ``controls`` are ipywidgets ``interact`` abbreviations or widgets, e.g.
    ``explore(plot_score, sigma=FloatLogSlider(value=0.3, min=-2, max=0, base=10))``. ``fn`` must
    draw one figure and end with ``plt.show()``. Returns the ipywidgets ``interactive`` object,
    or ``None`` when headless.
    """
    if not controls:
        raise ValueError("explore needs at least one control, e.g. sigma=(0.01, 1.0)")
    if headless():
        fn(**{name: _default(c) for name, c in controls.items()})
        return None
    import ipywidgets
    from IPython.display import display

    widget = ipywidgets.interactive(fn, **controls)
    display(widget)
    return widget
