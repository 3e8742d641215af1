"""The status bar's permanent parts: the model, the speed, and progress with a Cancel."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from .worker import Finished, Loaded

APPLIED = {"merged": " (anchors merged)", "runtime": " (runtime adapters)",
           "per request": " (anchors per request)"}


class StatusArea:
    def __init__(self, bar: QStatusBar):
        self.bar = bar
        self.model_label = QLabel("loading…")
        self.speed_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.cancel = QPushButton("Cancel")
        self.cancel.setVisible(False)
        self.words_label = QLabel("")
        self._progress_message = ""  # shown while the bar runs, cleared when it ends
        for label in (self.words_label, self.speed_label):
            label.setContentsMargins(0, 0, 12, 0)  # apart from the next part of the bar
        self.words_label.setToolTip("Words in the document, and written since it was opened "
                                    "(Write > Session goal… sets a goal)")
        for w in (self.progress, self.cancel, self.words_label, self.speed_label, self.model_label):
            bar.addPermanentWidget(w)
        bar.messageChanged.connect(self._make_room)

    def _make_room(self, message: str) -> None:
        """A message that would not fit beside the model and the speed hides them until it goes
        (a voice's result or a step's progress was cut off mid-sentence), and so does a running
        progress bar's message, which is what the writer reads then; hovering shows it whole."""
        self.bar.setToolTip(message)
        fits = True
        if message:
            shown = [w for w in (self.progress, self.cancel, self.words_label) if not w.isHidden()]
            parts = [*shown, self.model_label, self.speed_label]  # the two it may hide count as shown
            width = sum(max(w.sizeHint().width(), w.minimumWidth()) for w in parts)
            need = self.bar.fontMetrics().horizontalAdvance(message) + 24 + 8 * len(parts)  # margins, gaps, grip
            fits = message != self._progress_message and need + width <= self.bar.width()
        self.model_label.setVisible(fits)
        self.speed_label.setVisible(fits)

    def words(self, total: int, session: int, goal: int = 0) -> None:
        """The writer's count: the document's words, this session's, and the goal if set."""
        sign = "+" if session >= 0 else "−"
        text = f"{total:,} words · {sign}{abs(session):,} this session"
        if goal:
            text += f" / goal {goal:,}" + (" ✓" if session >= goal else "")
        self.words_label.setText(text)

    def say(self, message: str, ms: int = 6000) -> None:
        self.bar.showMessage(message, ms)

    def loading(self) -> None:
        self.model_label.setText("loading…")

    def loaded(self, info: Loaded) -> None:
        applied = APPLIED.get(info.anchors_applied, "") if info.anchors else ""
        self.model_label.setText(f"{Path(info.model).name} · {info.backend}{applied} · "
                                 f"{len(info.anchors)} anchors · ready in {info.seconds:.1f} s")
        self.model_label.setToolTip(info.why)
        self.done()

    def speed(self, result: Finished) -> None:
        if result.first_token_seconds is None:  # stopped before its first token (a drag)
            return
        first = result.first_token_seconds
        self.speed_label.setText(f"{result.tokens_per_second:.0f} tok/s · first token "
                                 f"{first * 1000:.0f} ms · {result.tokens} tokens")

    def show_progress(self, message: str, fraction: float, cancellable: bool) -> None:
        self.progress.setVisible(fraction < 1.0)
        self.cancel.setVisible(cancellable and fraction < 1.0)
        self.progress.setRange(0, 0 if fraction < 0 else 100)
        self.progress.setValue(int(max(0.0, fraction) * 100))
        if fraction < 1.0:  # stays while the bar runs: a slow step must not leave a bare bar
            self._progress_message = message
            self.bar.showMessage(message)
        else:  # a finished step's "ready" would hide what the writer should read
            self._clear_progress_message()

    def _clear_progress_message(self) -> None:
        if self._progress_message and self.bar.currentMessage() == self._progress_message:
            self.bar.clearMessage()
        self._progress_message = ""

    def done(self) -> None:
        self.progress.setVisible(False)
        self.cancel.setVisible(False)
        self._clear_progress_message()
