"""The New anchor and New voice dialogs' values turned into tasks the worker runs (engine
training API)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from engine.anchors.model import validate_name
from engine.paths import user_anchors_dir
from engine.errors import ProsemixError


def training_task(values: dict) -> Callable[[Any, Callable, Callable], dict]:
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

    def task(_backend: Any, report: Callable[[str, float], None], should_stop: Callable[[], bool]) -> dict:
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
        return {"out_dir": str(result.out_dir), "name": name, "val": result.val_loss,
                "base_val": result.base_val_loss}

    return task


def voice_task(values: dict) -> Callable[[Any, Callable, Callable], dict]:
    """The New voice dialog's text and name, checked now, as a task (engine.training.voice)."""
    from engine.words import MIN_VOICE_WORDS, word_count

    name = validate_name(values.get("name", ""))
    text = str(values.get("text", ""))
    if word_count(text) < MIN_VOICE_WORDS:
        raise ProsemixError(f"a voice needs at least {MIN_VOICE_WORDS} words of your writing")
    out = user_anchors_dir() / name

    def task(_backend: Any, report: Callable[[str, float], None], should_stop: Callable[[], bool]) -> dict:
        from engine.training.voice import make_voice

        def progress(p) -> None:
            if p.total:
                report(f"making the voice {name}: step {p.step}/{p.total}", p.step / p.total * 0.95)
            else:
                report(f"making the voice {name}: {p.message}", -1.0)

        result = make_voice([text], name, out, colour=values.get("colour", "#7d3c98"), progress=progress,
                            should_stop=should_stop, steps=int(values["steps"]) if values.get("steps") else None,
                            check=False)  # the check is a task of its own, once the voice is on the picker
        # a cancel that came once the steps were done (the voice was being written) made the voice
        # all the same; it then skips the check, as Esc during the check would
        late = result.wants_check and should_stop()
        return {"out_dir": str(result.path), "name": name, "val": result.val_loss, "base_val": result.base_val_loss,
                "seconds": result.seconds, "words": result.words, "lora": result.calibration,
                **({"check_text": text} if result.wants_check and not late else {}),
                **({"check_skipped": True} if late else {})}

    return task


def strength_task(made: dict) -> Callable[[Any, Callable, Callable], dict]:
    """A voice just made (voice_task's value) tried with its LoRA stronger; a cancel or closing
    the app ends the check and the voice keeps its factor (engine.training.voice.strengthen_voice)."""
    name, out, text = made["name"], Path(made["out_dir"]), str(made["check_text"])

    def task(_backend: Any, report: Callable[[str, float], None], should_stop: Callable[[], bool]) -> dict:
        from engine.training.voice import strengthen_voice

        report(f"voice {name} is on the picker; trying it a little stronger (about 15 s; Esc skips it)", -1.0)
        lora, why, seconds = strengthen_voice(out, text, should_stop=should_stop)
        return {"name": name, "out_dir": str(out), "lora": lora, "was": made["lora"], "why": why, "seconds": seconds}

    return task
