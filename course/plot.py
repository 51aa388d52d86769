"""Plotting helpers used across chapters (introduced in chapter 05)."""
from __future__ import annotations

import matplotlib.pyplot as plt
from cycler import cycler

# Okabe & Ito's colour-vision-safe palette (yellow left out: too faint on white), in the
# order series take them: "C0" is blue, "C1" vermillion, "C2" bluish green…
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# One line style per colour, so that series sharing an axes differ without colour too.
LINESTYLES = ("-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 1)), (0, (8, 3)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # the same, for scatter plots


def use_svg() -> None:
    """Crisp figures in notebooks and in the book; the same figure gives the same SVG bytes
    (a fixed hash salt for matplotlib's element ids), so re-releasing a chapter whose
    figures did not change leaves them unchanged in git. Series take their colours from
    :data:`PALETTE` and their line styles from :data:`LINESTYLES`, in step."""
    plt.rcParams["svg.hashsalt"] = "linear-nn-course"
    plt.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE), linestyle=list(LINESTYLES))
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("svg")
    except ImportError:  # outside Jupyter
        pass


def plot_curves(curves: dict, xlabel: str, ylabel: str, logy: bool = False,
                title: str | None = None, figsize=(4.5, 3)):
    """One figure with one line per entry of ``curves`` (label → y values or (x, y))."""
    fig, ax = plt.subplots(figsize=figsize)
    for label, ys in curves.items():
        xs, ys = ys if isinstance(ys, tuple) else (range(1, len(ys) + 1), ys)
        ax.plot(list(xs), [float(v) for v in ys], label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig, ax
