"""The New anchor and New voice dialogs' values turned into tasks the worker runs (engine
training API)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.anchors.model import VOICE_COLOUR, validate_name
from engine.paths import user_anchors_dir
from engine.errors import ProsemixError


@dataclass(frozen=True)
class AnchorTrained:
    """What the New anchor task hands back: the anchor's folder and its validation losses."""

    name: str
    out_dir: Path
    val: float
    base_val: float

    def summary(self) -> str:
        return f"anchor {self.name} trained: validation loss {self.base_val:.3f} -> {self.val:.3f}; it is on the picker"


@dataclass(frozen=True)
class VoiceMade(AnchorTrained):
    """What the New voice task hands back. ``check_text``: the page, where the voice wants its
    stronger-LoRA check; ``check_skipped``: a stop came as the voice was written."""

    seconds: float = 0.0
    words: int = 0
    lora: float = 1.0
    check_text: str | None = None
    check_skipped: bool = False

    def summary(self) -> str:
        return (f"voice {self.name} made from {self.words:,} words in {self.seconds:.0f} s, its LoRA at "
                f"{self.lora:g}: validation loss {self.base_val:.3f} -> {self.val:.3f}; it is on the picker"
                + ("; the stop came as it was written, so it was not tried stronger" if self.check_skipped else ""))


@dataclass(frozen=True)
class VoiceChecked:
    """What the stronger-LoRA check found: the LoRA's factor now (``was`` before) and why."""

    name: str
    out_dir: Path
    lora: float
    was: float
    why: str
    seconds: float

    def summary(self) -> str:
        return f"voice {self.name}: {self.why} ({self.seconds:.0f} s)"


def training_task(values: dict) -> Callable[[Any, Callable, Callable], AnchorTrained]:
    """Validate the dialog's values now (so mistakes show at once) and return the task."""
    from engine.training.config import TrainConfig

    name = validate_name(values.get("name", ""))
    files = [Path(f) for f in values.get("files", [])]
    if not files:
        raise ProsemixError("choose at least one text file to train on")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ProsemixError(f"file not found: {missing[0]}")
    config = TrainConfig(rank=int(values.get("rank", 16)), alpha=16.0,
                         steps=int(values.get("steps", 80)))
    out = user_anchors_dir() / name

    def task(_backend: Any, report: Callable[[str, float], None], should_stop: Callable[[], bool]) -> AnchorTrained:
        from engine.training.train import train_anchor

        def progress(p) -> None:
            if p.total:
                eta = f", about {int(p.eta_seconds) // 60} min {int(p.eta_seconds) % 60} s left" if p.step else ""
                report(f"training {name}: step {p.step}/{p.total}{eta}", p.step / p.total * 0.98)
            else:
                report(f"training {name}: {p.message}", -1.0)

        result = train_anchor(files, out, name=name, config=config, colour=values.get("colour", "#2874a6"),
                              description="trained in Prosemix on the writer's own texts",
                              corpus_name=", ".join(f.name for f in files),
                              license="the writer's own", progress=progress, should_stop=should_stop)
        return AnchorTrained(name, Path(result.out_dir), result.val_loss, result.base_val_loss)

    return task


def voice_task(values: dict) -> Callable[[Any, Callable, Callable], VoiceMade]:
    """The New voice dialog's text and name, checked now, as a task (engine.training.voice)."""
    from engine.words import MIN_VOICE_WORDS, word_count

    name = validate_name(values.get("name", ""))
    text = str(values.get("text", ""))
    if word_count(text) < MIN_VOICE_WORDS:
        raise ProsemixError(f"a voice needs at least {MIN_VOICE_WORDS} words of your writing")
    out = user_anchors_dir() / name

    def task(_backend: Any, report: Callable[[str, float], None], should_stop: Callable[[], bool]) -> VoiceMade:
        from engine.training.voice import make_voice

        def progress(p) -> None:
            if p.total:
                report(f"making the voice {name}: step {p.step}/{p.total}", p.step / p.total * 0.95)
            else:
                report(f"making the voice {name}: {p.message}", -1.0)

        result = make_voice([text], name, out, colour=values.get("colour", VOICE_COLOUR), progress=progress,
                            should_stop=should_stop, steps=int(values["steps"]) if values.get("steps") else None,
                            check=False)  # the check is a task of its own, once the voice is on the picker
        # a cancel that came once the steps were done (the voice was being written) made the voice
        # all the same; it then skips the check, as Esc during the check would
        late = result.wants_check and should_stop()
        return VoiceMade(name, Path(result.path), result.val_loss, result.base_val_loss, seconds=result.seconds,
                         words=result.words, lora=result.calibration,
                         check_text=text if result.wants_check and not late else None, check_skipped=late)

    return task


def strength_task(made: VoiceMade) -> Callable[[Any, Callable, Callable], VoiceChecked]:
    """A voice just made tried with its LoRA stronger; a cancel or closing the app ends the
    check and the voice keeps its factor (engine.training.voice.strengthen_voice)."""
    name, out, text = made.name, made.out_dir, str(made.check_text)

    def task(backend: Any, report: Callable[[str, float], None], should_stop: Callable[[], bool]) -> VoiceChecked:
        from engine.training.voice import strengthen_voice

        report(f"voice {name} is on the picker; trying it a little stronger (15-20 s; Esc skips it)", -1.0)
        lora, why, seconds = strengthen_voice(out, text, backend=backend, should_stop=should_stop)
        return VoiceChecked(name, out, lora, made.lora, why, seconds)

    return task
