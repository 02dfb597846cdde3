"""Figures of a run, drawn with matplotlib's object API (no pyplot state, no display needed)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from kerascnn import files


def plot_history(history: dict[str, list[float]], path: str | Path, *, title: str = "") -> Path:
    """Training curves: one panel per metric (loss, accuracy, learning rate), train and validation."""
    metrics = [k for k in history if not k.startswith("val_")]
    figure = Figure(figsize=(4.2 * len(metrics), 3.4), layout="constrained")
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    for axis, metric in zip(axes, metrics, strict=True):
        epochs = range(1, len(history[metric]) + 1)
        axis.plot(epochs, history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
            axis.legend()
        axis.set_xlabel("epoch")
        axis.set_title(metric.replace("_", " "))
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    with files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    return Path(path)
