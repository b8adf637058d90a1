"""One curve plotter for the whole package: training curves as a PNG, written atomically.

    plot_curves("curves.png", [
        Panel("loss", "cross-entropy", {"train": (epochs, train_loss), "validation": (...)}),
        Panel("accuracy", "%", {"validation": (epochs, accuracy)}, hlines={"test": 97.9}),
    ], xlabel="epoch", title="MNIST mlp")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


@dataclass
class Panel:
    """One subplot: named curves as (x values, y values), optional horizontal reference lines."""
    title: str
    ylabel: str
    curves: dict[str, tuple[Sequence[float], Sequence[float]]]
    hlines: dict[str, float] = field(default_factory=dict)


def plot_curves(path: str | os.PathLike, panels: Sequence[Panel], *, xlabel: str = "epoch",
                title: str | None = None) -> Path:
    """Draw the panels side by side and write the PNG atomically; returns the path.

    Raises PlotUnavailable (a RuntimeError) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "plot_curves: matplotlib is not installed; install it with pip install 'dlpy[plot]'"
        ) from None
    from dlpy.io import atomic_write

    if not panels:
        raise ValueError("plot_curves: expected at least one panel")
    path = Path(path)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label, (xs, ys) in panel.curves.items():
            ax.plot(list(xs), list(ys), "o-" if len(xs) <= 30 else "-", label=label)
        for label, value in panel.hlines.items():
            ax.axhline(value, color="gray", ls="--", label=label)
        ax.set(xlabel=xlabel, ylabel=panel.ylabel, title=panel.title)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
    return path
