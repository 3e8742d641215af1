"""The list of anchors: enable or disable, rename, colour, add by dialog or drag-and-drop."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (QColorDialog, QFileDialog, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from engine.anchors.loading import find_card
from engine.anchors.model import AnchorCard, default_colour
from engine.errors import AnchorError

from ..worker import AnchorSpec

PATH_ROLE = Qt.ItemDataRole.UserRole
COLOUR_ROLE = Qt.ItemDataRole.UserRole + 1


def card_of(path: Path) -> AnchorCard | None:
    """The anchor's card, if it has a readable one (a broken card is reported when the worker
    loads the anchor, not here)."""
    try:
        return find_card(path)
    except AnchorError:
        return None


class AnchorsPanel(QWidget):
    anchorsChanged = Signal(object)  # list[AnchorSpec] of the enabled anchors
    newAnchorRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setToolTip("Tick to use an anchor; double-click to rename; drop PEFT folders or .gguf LoRAs here")
        self.add_button = QPushButton("Add…")
        self.add_folder_button = QPushButton("Add folder…")
        self.colour_button = QPushButton("Colour…")
        self.remove_button = QPushButton("Remove")
        self.new_button = QPushButton("New anchor…")
        self.setAcceptDrops(True)
        row = QHBoxLayout()
        for b in (self.add_button, self.add_folder_button, self.colour_button, self.remove_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Anchors"))
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        layout.addWidget(self.new_button)
        self.list.itemChanged.connect(lambda _item: self._emit())
        self.add_button.clicked.connect(self.add_file)
        self.add_folder_button.clicked.connect(self.add_folder)
        self.colour_button.clicked.connect(self._pick_colour)
        self.remove_button.clicked.connect(self._remove)
        self.new_button.clicked.connect(self.newAnchorRequested)
        self._muted = False

    # ----- model --------------------------------------------------------------------------------
    def add_anchor(self, path: Path, enabled: bool = True, name: str | None = None,
                   colour: str | None = None) -> None:
        path = Path(path)
        for i in range(self.list.count()):
            if Path(self.list.item(i).data(PATH_ROLE)) == path:
                return
        card = card_of(path)
        name = name or (card.name if card else path.stem)
        colour = colour or (card.colour if card else default_colour(name))
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable)
        item.setCheckState(Qt.CheckState.Checked if enabled else Qt.CheckState.Unchecked)
        item.setData(PATH_ROLE, str(path))
        item.setToolTip(f"{path}\n{card.description if card else ''}")
        muted, self._muted = self._muted, True
        self.list.addItem(item)
        self._set_colour(item, colour)
        self._muted = muted
        self._emit()

    def add_many(self, entries: list[tuple]) -> None:
        """Add several anchors, (path, enabled[, name, colour]) each, announcing the change once."""
        muted, self._muted = self._muted, True
        for path, enabled, *style in entries:
            name, colour = (style + [None, None])[:2]
            self.add_anchor(path, enabled=enabled, name=name or None, colour=colour or None)
        self._muted = muted
        self._emit()

    def enabled(self) -> list[AnchorSpec]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(AnchorSpec(Path(item.data(PATH_ROLE)), item.text().strip(),
                                      item.data(COLOUR_ROLE)))
        return out

    def set_enabled_names(self, names: list[str]) -> list[str]:
        """Tick exactly the anchors called ``names`` (a document's palette), announcing the
        change once; returns the names that no listed anchor has."""
        found: set[str] = set()
        muted, self._muted = self._muted, True
        for i in range(self.list.count()):
            item = self.list.item(i)
            name = item.text().strip()
            on = name in names and name not in found  # two anchors of one name cannot load together
            if on:
                found.add(name)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self._muted = muted
        self._emit()
        return [n for n in names if n not in found]

    def set_enabled_at(self, row: int, enabled: bool) -> None:
        self.list.item(row).setCheckState(Qt.CheckState.Checked if enabled else Qt.CheckState.Unchecked)  # emits

    def all_entries(self) -> list[dict]:
        return [{"path": self.list.item(i).data(PATH_ROLE), "name": self.list.item(i).text(),
                 "colour": self.list.item(i).data(COLOUR_ROLE),
                 "enabled": self.list.item(i).checkState() == Qt.CheckState.Checked}
                for i in range(self.list.count())]

    def _emit(self) -> None:
        if not self._muted:
            self.anchorsChanged.emit(self.enabled())

    def _set_colour(self, item: QListWidgetItem, colour: str) -> None:
        pixmap = QPixmap(14, 14)
        pixmap.fill(QColor(colour))
        item.setIcon(QIcon(pixmap))
        item.setData(COLOUR_ROLE, colour)

    # ----- actions ------------------------------------------------------------------------------
    def add_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF LoRA", "", "GGUF LoRA (*.gguf)")
        if path:
            self.add_anchor(Path(path))

    def add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a PEFT adapter folder")
        if path:
            self.add_anchor(Path(path))

    def _pick_colour(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        colour = QColorDialog.getColor(QColor(item.data(COLOUR_ROLE)), self, "Anchor colour")
        if colour.isValid():
            self._set_colour(item, colour.name())
            self._emit()

    def _remove(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.add_anchor(Path(url.toLocalFile()))
        event.acceptProposedAction()
