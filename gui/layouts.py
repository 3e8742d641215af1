"""Small helpers the window's parts share: clearing a layout, a point's label."""
from __future__ import annotations

from PySide6.QtWidgets import QLayout, QWidget


def clear_layout(layout: QLayout, keep: QWidget | None = None) -> None:
    """Take every item out of ``layout``, deleting its widgets (all but ``keep``)."""
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None and widget is not keep:
            widget.deleteLater()


def weight_text(w: float) -> str:
    """A weight to two places, never "-0.00" (a handle snapped to an edge rounds to it)."""
    return f"{w + 0.0:.2f}" if round(w, 2) != 0 else "0.00"


def weights_label(names: list[str], weights: list[float]) -> str:
    """A point as the window shows it: "austen 0.50, wry 0.30, shakespeare 0.20"."""
    return ", ".join(f"{n} {weight_text(w)}" for n, w in zip(names, weights))
