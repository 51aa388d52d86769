"""Watching a training run (chapters 08 and 09): sums, a live plot, and image grids.

* :class:`Accumulator` keeps running sums (correct predictions, examples, loss…).
* :class:`Animator` is a figure of curves that grows during training. In Jupyter it
  redraws in place after each point; when the cell ends the last drawing stays, which is
  the static figure the book shows.
* :func:`show_images` draws a grid of images with titles (chapter 08).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from course.plot import LINESTYLES, PALETTE


class Accumulator:
    """Running sums of ``n`` quantities, e.g. ``Accumulator(2)`` for (correct, examples)."""

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *args) -> None:
        """Add one value to each sum (numbers or one-element tensors)."""
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return self.data[idx]


def _ipython_display():
    """IPython's ``display`` module when running in a kernel, else None."""
    try:
        from IPython import get_ipython, display
    except ImportError:
        return None
    shell = get_ipython()
    return display if shell is not None and hasattr(shell, "kernel") else None


class Animator:
    """Curves that grow point by point, redrawn in place in Jupyter.

    Args:
        xlabel, ylabel: the axis labels.
        legend: one name per curve.
        xlim, ylim: the axis ranges (fixed, so the picture does not jump as points arrive).
        styles: line styles, one per curve (colours follow :data:`course.plot.PALETTE`,
            so curves differ in colour and in style).
        figsize: the figure's size in inches.
    """

    def __init__(self, xlabel: str | None = None, ylabel: str | None = None, legend=(),
                 xlim=None, ylim=None, styles=LINESTYLES, figsize=(4.5, 3)):
        self.fig, self.ax = plt.subplots(figsize=figsize)
        plt.close(self.fig)  # shown by display() below, not again when the cell ends
        self.xlabel, self.ylabel, self.legend = xlabel, ylabel, list(legend)
        self.xlim, self.ylim, self.styles = xlim, ylim, styles
        self.X: list[list[float]] = []
        self.Y: list[list[float]] = []
        self._display = _ipython_display()

    def add(self, x: float, ys) -> None:
        """Add the point ``(x, y)`` to each curve (``ys`` a number or one value per curve)."""
        ys = list(ys) if hasattr(ys, "__len__") else [ys]
        if not self.X:
            self.X, self.Y = [[] for _ in ys], [[] for _ in ys]
        for i, y in enumerate(ys):
            if y is not None:
                self.X[i].append(float(x))
                self.Y[i].append(float(y))
        self.draw()
        if self._display is not None:
            self._display.clear_output(wait=True)  # cleared when the new drawing arrives
            self._display.display(self.fig)

    def draw(self) -> None:
        """Redraw every curve on the axes."""
        ax = self.ax
        ax.cla()
        for xs, ys, style, color in zip(self.X, self.Y, self.styles, PALETTE):
            ax.plot(xs, ys, linestyle=style, color=color)
        ax.set_xlabel(self.xlabel or "")
        ax.set_ylabel(self.ylabel or "")
        if self.xlim:
            ax.set_xlim(self.xlim)
        if self.ylim:
            ax.set_ylim(self.ylim)
        if self.legend:
            ax.legend(self.legend)
        ax.grid(alpha=0.3)
        self.fig.tight_layout()


# The font size of show_images' titles: 9 points stay at least 9 px tall in the book's
# column for grids up to six images of 1.5 inches per row (tests/test_a11y.py measures it).
TITLE_POINTS = 9


def show_images(imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.5):
    """A grid of grayscale images with optional titles; returns the figure's axes.

    Args:
        imgs: a tensor ``(n, 28, 28)`` / ``(n, 1, 28, 28)`` or a list of images.
        num_rows, num_cols: the grid.
        titles: one string per image (it may contain newlines: each row of the grid gets the
            height of the longest title, so that titles never reach into the row above).
        scale: inches per image.
    """
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    title_height = lines * TITLE_POINTS * 1.4 / 72  # inches above each image for its title
    fig, axes = plt.subplots(num_rows, num_cols, squeeze=False,
                             figsize=(num_cols * scale, num_rows * (scale + title_height) + 0.1))
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        img = img.detach().cpu().reshape(img.shape[-2:]) if torch.is_tensor(img) else img
        ax.imshow(img, cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=TITLE_POINTS)
    for ax in axes[len(imgs):]:
        ax.axis("off")
    fig.tight_layout()
    return axes
