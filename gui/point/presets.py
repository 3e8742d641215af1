"""Named points ("presets"), kept in QSettings as {name: {anchor: weight}}."""
from __future__ import annotations

import json

from PySide6.QtCore import QSettings

KEY = "presets"


class PresetStore:
    def __init__(self, settings: QSettings):
        self._settings = settings

    def all(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(str(self._settings.value(KEY, "{}")))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, name: str, weights: dict[str, float]) -> None:
        presets = self.all()
        presets[name] = weights
        self._settings.setValue(KEY, json.dumps(presets))
        self._settings.sync()
