"""Images from numpy arrays in one call. Painting pixel by pixel with QImage.setPixelColor is
slow, and PySide6 6.12 crashed the interpreter after some thousands of calls
("none_dealloc: deallocating None") while the picker drew its extrapolation zones."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def rgba_image(rgba: np.ndarray) -> QImage:
    """An (h, w, 4) uint8 RGBA array as a QImage that owns its pixels (a copy)."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"need an (h, w, 4) array, got {rgba.shape}")
    data = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = data.shape[:2]
    return QImage(data.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
