"""The stronger-LoRA check of a new voice (engine.training.voice_strength) and the card's own
diction factor it writes."""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.anchors.model import Anchor, AnchorCard, applied_weights
from engine.errors import AnchorError
from engine.training import voice_strength
from engine.training.voice import VOICE_CALIBRATION, make_voice, strengthen_voice
from engine.training.voice_strength import (CHECK_OPENINGS, CHECK_SAMPLES_EACH, MIN_PROSE_SHARE, STRONGER_LORA,
                                            StrengthCheck, check_stronger, page_windows)

# about 620 words of a writer's page: calibrated (450 words or more) and under two pages, so the
# check is one a real page gets
PAGE = "\n\n".join([
    "I keep a notebook by the kettle, and most mornings it fills before the water boils. My neighbour "
    "says I write the way other people hum: without noticing, and a little off-key.",
    "Today it was the postman, who whistles the same four notes every day and never the fifth. I have "
    "waited three years for the fifth, and I suspect he is saving it for a better street than ours.",
    "The baker on the corner has given up on me. She sets aside the burnt loaf before I ask, because I "
    "once told her that the dark crust tastes of the oven's whole history, and she believed me.",
    "In the afternoons the light comes in sideways across the table, and the notebook looks older than "
    "it is. I write slower then, as if the page were listening and might object.",
] * 4)


def test_page_windows_spread_over_the_page_and_refuse_too_little():
    words = " ".join(f"w{i}" for i in range(200))
    windows = page_windows(words, words=45, count=8)
    assert len(windows) == 8 and all(len(w.split()) == 45 for w in windows)
    assert windows[0].split()[0] == "w0" and windows[-1].split()[-1] == "w199"  # the whole page
    assert len(page_windows(" ".join(["w"] * 50), words=45, count=32)) == 6  # a short page overlaps, no repeats
    assert page_windows("too few words here", words=45) == []


def test_the_diction_has_a_factor_of_its_own_on_the_card(tmp_path):
    with pytest.raises(AnchorError, match="diction_calibration"):
        AnchorCard(name="v", kind="voice", diction_calibration=0.0)
    with pytest.raises(AnchorError, match="diction_calibration"):
        AnchorCard(name="v", kind="voice", diction_calibration=float("nan"))
    plain = Anchor("v", tmp_path, 16.0, False, {}, card=AnchorCard(name="v", calibration=1.25))
    split = Anchor("w", tmp_path, 16.0, False, {},
                   card=AnchorCard(name="w", calibration=1.5, diction_calibration=1.25))
    assert plain.diction_calibration == 1.25  # none of its own: the calibration
    assert applied_weights((0.5, 0.5), [plain, split]) == pytest.approx((0.625, 0.75))
    assert applied_weights((0.5, 0.5), [plain, split], diction=True) == pytest.approx((0.625, 0.625))
    card = replace(split.card, kind="voice")
    card.save(tmp_path / "anchor.json")
    assert AnchorCard.load(tmp_path / "anchor.json").diction_calibration == 1.25  # saved and read back


def test_a_backend_applies_the_diction_at_its_own_factor(session_cache, tmp_path):
    from engine.backends.llama_cpp import LlamaCppBackend

    voice = made_voice(tmp_path)
    card = AnchorCard.load(voice / "anchor.json")
    card = replace(card, calibration=1.5, diction_calibration=1.0)
    card.save(voice / "anchor.json")
    backend = LlamaCppBackend()
    backend.load(None, [voice])
    try:
        backend.set_weights([1.0], strength=0.5)
        diction = backend.anchors[0].diction
        assert diction is not None
        np.testing.assert_allclose(backend.logit_bias, 0.5 * 1.0 * diction, rtol=1e-6)  # not 0.5 * 1.5
        assert backend.anchors_applied  # the LoRA is applied (at 0.5 * 1.5, engine.anchors.model)
    finally:
        backend.close()


def made_voice(tmp_path: Path) -> Path:
    """A voice of PAGE in one step, without the check (the tests call it themselves)."""
    return make_voice([PAGE], "page", tmp_path / "page", steps=1, check=False).path


def test_the_check_reads_its_samples_by_the_pages_own_limit(session_cache, tmp_path):
    """On a backend of its own, opened as the app opens one (the command line's voice)."""
    voice = made_voice(tmp_path)
    before = (voice / "anchor.json").read_text()
    found = check_stronger(voice, PAGE, seed=3)
    assert (voice / "anchor.json").read_text() == before  # the card is the caller's to write
    assert found.samples == CHECK_OPENINGS * CHECK_SAMPLES_EACH == len(found.perplexities)
    assert math.isfinite(found.limit) and found.limit > 1
    assert found.prose == sum(p <= found.limit for p in found.perplexities)
    stronger = found.prose >= MIN_PROSE_SHARE * found.samples
    assert (found.lora, found.diction) == ((STRONGER_LORA, VOICE_CALIBRATION) if stronger
                                           else (VOICE_CALIBRATION, VOICE_CALIBRATION))
    assert f"{found.prose} of {found.samples}" in found.why


def test_the_check_samples_on_the_apps_backend_and_leaves_it_as_it_was(session_cache, tmp_path, adapters,
                                                                        monkeypatch):
    """The app's backend, holding the voice beside other anchors: the check samples what the
    writer would hear at the voice's corner, with the guards and the diction as each step
    applies them, and afterwards the backend writes at any point what it wrote before."""
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.sampling import SamplingConfig

    voice = made_voice(tmp_path)
    backend = LlamaCppBackend()
    backend.load(None, [adapters[0], voice])
    try:
        point, greedy = [0.5, 0.5], SamplingConfig(max_tokens=12, temperature=0.0)
        backend.set_weights(point)
        before = backend.generate("The rain had not stopped", greedy).text
        cards = [a.card for a in backend.anchors]
        used, real = [], voice_strength._samples
        monkeypatch.setattr(voice_strength, "_samples", lambda b, *a: (used.append(b), real(b, *a))[1])
        found = check_stronger(voice, PAGE, seed=3, backend=backend)
        assert used == [backend]  # sampled there: no second model loaded
        assert found.samples == CHECK_OPENINGS * CHECK_SAMPLES_EACH
        assert [a.card for a in backend.anchors] == cards
        backend.set_weights(point)
        assert backend.generate("The rain had not stopped", greedy).text == before
    finally:
        backend.close()


def test_the_check_keeps_the_voice_when_its_time_is_up_or_it_is_stopped(session_cache, tmp_path, monkeypatch):
    voice = made_voice(tmp_path)
    started = time.perf_counter()
    late = check_stronger(voice, PAGE, deadline=time.perf_counter() + 1)
    assert (late.lora, late.samples) == (VOICE_CALIBRATION, 0) and "no time" in late.why
    assert time.perf_counter() - started < 5  # it did not load a model to find that out
    stopped = check_stronger(voice, PAGE, should_stop=lambda: True)
    assert (stopped.lora, stopped.samples) == (VOICE_CALIBRATION, 0) and "stopped" in stopped.why
    assert json.loads(json.dumps(stopped.as_card(), allow_nan=False))["limit"] is None  # strict JSON on the card
    # Esc once the samples are written, while they are read (a few seconds, seen in Xvfb): skipped too
    import engine.training.voice_strength as strength

    stop, read = [], strength._perplexities
    monkeypatch.setattr(strength, "_perplexities", lambda *a: (stop.append(True), read(*a))[1])
    reading = check_stronger(voice, PAGE, should_stop=lambda: bool(stop))
    assert stop and reading.lora == VOICE_CALIBRATION and "stopped as its samples were read" in reading.why


def test_a_page_keeps_what_the_check_found_on_its_card(session_cache, tmp_path, monkeypatch):
    seen = []

    def fake(voice, text, **kw):
        seen.append((voice, text, kw.get("deadline"), kw.get("backend")))
        assert json.loads((voice / "anchor.json").read_text())["kind"] == "voice"  # made before it is checked
        return StrengthCheck(STRONGER_LORA, VOICE_CALIBRATION, 11, 12, 150.0, 9.0,
                             "with its LoRA at 1.5, 11 of 12 samples stayed prose: the voice takes 1.5")

    monkeypatch.setattr(voice_strength, "check_stronger", fake)
    made = make_voice([PAGE], "page", tmp_path / "page", steps=1)
    assert len(seen) == 1 and seen[0][0] == made.path  # the check ran once, on the voice written
    assert seen[0][2] is None  # after the voice is made, not against its minute
    assert seen[0][3] is None  # the command line's voice: the check opens a backend as the app does
    card = json.loads((made.path / "anchor.json").read_text())
    assert (card["calibration"], card["diction_calibration"]) == (STRONGER_LORA, VOICE_CALIBRATION)
    assert card["training"]["strength_check"]["prose"] == 11 and made.calibration == STRONGER_LORA
    assert "takes 1.5" in made.strength and made.check_seconds == 9.0 and made.wants_check
    # the voice's own seconds are its making's; the check's are the card's strength_check's
    assert card["training"]["source"]["seconds"] == pytest.approx(made.seconds, abs=0.2)
    assert card["training"]["strength_check"]["seconds"] == 9.0
    unchecked = make_voice([PAGE], "again", tmp_path / "again", steps=1, check=False)
    assert len(seen) == 1 and unchecked.calibration == VOICE_CALIBRATION and unchecked.strength == ""
    assert unchecked.wants_check  # the app runs it as a task of its own
    lora, why, seconds = strengthen_voice(unchecked.path, PAGE, should_stop=lambda: True)
    assert len(seen) == 2 and lora == STRONGER_LORA and seconds == 9.0  # the fake ignores the stop
    stop = []  # a cancel as the training ends: the voice is whole, the check is skipped
    stopped = make_voice([PAGE], "stopped", tmp_path / "stopped", steps=1, should_stop=lambda: bool(stop),
                         progress=lambda p: stop.append(1) if p.message == "done" else None)
    assert stop and len(seen) == 2 and stopped.strength == "" and stopped.calibration == VOICE_CALIBRATION
