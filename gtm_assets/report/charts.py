"""Charts for the reports: matplotlib (Agg) rendered to inline SVG or base64 PNG."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "gtm_assets",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)
PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#84cc16"]


def figure_to_svg(fig) -> str:
    """Serialise a figure to an inline ``<svg>`` element (deterministic ids)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def figure_to_png_b64(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def grouped_bars(
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    ylabel: str = "",
):
    """A grouped bar chart figure (categories on x, one bar per series)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / max(1, len(series))
    positions = range(len(categories))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(
            [p + i * width for p in positions],
            [0 if v is None else v for v in values],
            width=width,
            label=name,
            color=PALETTE[i % len(PALETTE)],
        )
    ax.set_xticks([p + width * (len(series) - 1) / 2 for p in positions])
    ax.set_xticklabels(categories, rotation=30, ha="right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return fig


def line_chart(x: Sequence[str], series: dict[str, Sequence[float | None]], title: str):
    """A line chart figure with one line per series."""
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    for i, (name, values) in enumerate(series.items()):
        ax.plot(
            list(x),
            [float("nan") if v is None else v for v in values],
            marker="o",
            label=name,
            color=PALETTE[i % len(PALETTE)],
        )
    ax.set_title(title)
    ax.legend(frameon=False)
    ax.tick_params(axis="x", rotation=30)
    return fig
