"""The replay benchmark's chart: map error over time, one panel per workload, one line per policy.

Imports matplotlib, so the benchmark imports this module only when it is installed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed: the chart only goes to a file

import matplotlib.pyplot as plt
from PIL import Image

from bench.sim import Run

SMOOTHING = 60
"""Seconds each plotted point averages: per-second error is too jagged to compare by eye."""


def _smoothed(series: list[float]) -> tuple[list[float], list[float]]:
    minutes, means = [], []
    for start in range(0, len(series), SMOOTHING):
        chunk = series[start : start + SMOOTHING]
        minutes.append((start + len(chunk) / 2) / 60)
        means.append(sum(chunk) / len(chunk))
    return minutes, means


def draw(results: dict[str, dict[str, Run]], path: Path) -> None:
    """Write a PNG of each workload's mean error over time, per policy."""
    count = len(results)
    columns = 2 if count > 1 else 1
    rows = (count + columns - 1) // columns
    figure, axes = plt.subplots(
        rows, columns, figsize=(6 * columns, 3.2 * rows), dpi=72, squeeze=False
    )
    for panel, (name, runs) in zip(axes.flat, results.items(), strict=False):
        for label, run in runs.items():
            minutes, means = _smoothed(run.series)
            width = 2.2 if label == "ours" else 1.0
            panel.plot(minutes, means, label=label, linewidth=width)
        panel.set_title(name, fontsize=10)
        panel.set_xlabel("simulated minutes", fontsize=8)
        panel.set_ylabel("mean error, m", fontsize=8)
        panel.tick_params(labelsize=7)
        panel.set_ylim(bottom=0)
        panel.grid(alpha=0.3)
    for panel in list(axes.flat)[count:]:
        panel.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8)
    figure.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) > 5), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.canvas.draw()
    # A 256-colour palette keeps the PNG small enough to commit next to the docs.
    image = Image.frombuffer("RGBA", figure.canvas.get_width_height(), figure.canvas.buffer_rgba())
    image.convert("RGB").quantize(colors=64).save(path, optimize=True)
    plt.close(figure)
