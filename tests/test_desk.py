"""The desk's logic without Qt or a model (engine.documents.desk): the jobs it asks for, the
pieces fed back, candidates, restyle, rewrites, token alternatives and the one undo history;
and the same desk run on the real llama backend, as `prosemix continue` runs it."""
from __future__ import annotations

import random

import pytest

from engine.backends.bans import BanList, PhraseBan
from engine.backends.generation import Finish
from engine.documents.context import assemble
from engine.documents.desk import Desk, DeskError, Job, Outcome, changed_span
from engine.documents.lorebook import LoreEntry, Lorebook
from engine.documents.model import Document
from engine.sampling import SamplingConfig
from engine.weights import make_point

START = "The rain had not stopped for three days."
A, B = make_point((1.0, 0.0), ("austen", "wry")), make_point((0.0, 1.0), ("austen", "wry"))
S = SamplingConfig(max_tokens=8, temperature=0.8, seed=3)


def desk_with(text: str = START) -> Desk:
    desk = Desk(Document())
    desk.names, desk.model = ["austen", "wry"], "m.gguf"
    desk.type(0, 0, text)
    return desk


def write(desk: Desk, job: Job, *pieces: str, finish: Finish = Finish.LENGTH, alts: bool = False) -> None:
    for p in pieces:
        assert desk.piece(job, p)
    desk.finished(job, Outcome(finish, pieces if alts else (),
                               tuple(((p, -0.1), (" other", -2.5)) for p in pieces) if alts else ()))


def test_a_continue_asks_for_the_context_and_takes_its_pieces_then_tab_keeps_it():
    desk = desk_with()
    desk.doc.memory = "A story of floods."
    desk.doc.bans = BanList((PhraseBan("tapestry"),))
    desk.doc.lorebook = Lorebook((LoreEntry(("river",), "The river Wend floods."),))
    job = desk.continue_at(len(START), A, S)
    assert job.prompt == START and job.point.values == (1.0, 0.0) and job.sampling.seed == 3
    assert job.document is not None and job.document.memory == "A story of floods."
    assert job.document.lorebook is desk.doc.lorebook and job.document.budget == desk.window
    assert job.bans == (PhraseBan("tapestry"),) and job.top_logprobs == 10 and desk.job is job
    write(desk, job, " The", " river", " rose.")
    assert desk.job is None and desk.whole and desk.doc.text == START + " The river rose."
    passage = desk.accept()
    assert passage is not None and passage.provenance.weights == {"austen": 1.0, "wry": 0.0}
    assert passage.provenance.seed == 3 and desk.doc.pending is None


def test_pieces_of_a_job_the_desk_no_longer_waits_for_are_ignored():
    desk = desk_with()
    old = desk.continue_at(len(START), A, S)
    new = desk.restyle(len(START), B, S)  # the handle moved: the old job is dropped
    assert new is not None and new is not old and new.point.values == (0.0, 1.0)
    assert not desk.piece(old, " stale") and not desk.finished(old, Outcome(Finish.CANCELLED))
    write(desk, new, " Fresh.")
    assert desk.doc.text == START + " Fresh."
    assert desk.restyle(len(START), B, S) is None  # whole at that point already: nothing to do
    job = desk.restyle(len(START), A, S)
    assert job is not None and job.sampling.seed == 3 and job.prompt == START  # same context and seed


def test_a_drag_previews_each_move_and_the_release_writes_the_exact_passage():
    desk = desk_with()
    write(desk, desk.continue_at(len(START), A, S), " First.", alts=True)
    moving = desk.restyle(len(START), B, S, preview=True)
    assert moving is not None and moving.preview and moving.top_logprobs == 0
    assert desk.doc.text == START + " First." and desk.previewing  # no blank flash: the old text stays
    assert desk.doc.pending.candidates[0][1].sampling.get("preview") is None  # ...with its own provenance
    assert desk.restyle(len(START), B, S, preview=True) is None  # the same point again: nothing new
    write(desk, moving, " Pre", "view.", alts=True)
    assert desk.doc.text == START + " Preview." and desk.previewing
    made = desk.doc.pending.candidates[0][1]
    assert made.sampling["preview"] is True and made.weights == {"austen": 0.0, "wry": 1.0}
    release = desk.restyle(len(START), B, S)  # let go at the same point: the exact passage
    assert release is not None and not release.preview and release.top_logprobs == 10
    assert desk.doc.text == START and not desk.previewing  # an exact restyle starts clean
    write(desk, release, " Exact.")
    assert "preview" not in desk.doc.pending.candidates[0][1].sampling
    assert desk.restyle(len(START), B, S) is None and desk.restyle(len(START), B, S, preview=True) is None
    quiet = desk.restyle(len(START), A, S, preview=True)  # a preview that writes nothing empties it
    desk.finished(quiet, Outcome(Finish.STOP))
    assert desk.doc.text == START and desk.previewing


def test_retry_cycle_and_a_retry_many_keeps_no_empty_candidate():
    desk = desk_with()
    write(desk, desk.continue_at(len(START), A, S), " One.")
    job = desk.retry(len(START), A, S, seed=9)
    assert job.sampling.seed == 9
    write(desk, job, " Two.")
    assert desk.candidates_text().startswith("candidate 2/2")
    assert desk.cycle(-1) == "1/2" and desk.doc.text == START + " One." and desk.seed == 3
    many = desk.retry_many(len(START), A, S, [20, 21, 22])
    assert many.seeds == (20, 21, 22) and many.top_logprobs == 0
    assert desk.candidate_piece(many, 0, " Three.")  # the one in view
    assert not desk.candidate_piece(many, 1, " Four.")  # behind it
    assert len(desk.doc.pending.candidates) == 5
    desk.finished(many, Outcome(Finish.CANCELLED, candidates=(Finish.LENGTH, Finish.CANCELLED)))
    assert [t for t, _ in desk.doc.pending.candidates] == [" One.", " Two.", " Three.", " Four."]
    assert desk.whole and desk.job is None  # the one in view was written whole


def test_undo_takes_back_typing_runs_and_whole_generations_and_redo_brings_provenance():
    desk = desk_with()
    write(desk, desk.continue_at(len(START), A, S), " The", " river", " rose.")
    desk.accept()
    generated = desk.doc.text
    for k, ch in enumerate(" Then"):  # typed a key at a time: one step
        desk.type(len(generated) + k, 0, ch)
    desk.type(len(desk.doc.text) - 1, 1, "")  # a backspace at the end joins it
    assert desk.doc.text == generated + " The"
    assert desk.undo() and desk.doc.text == generated and len(desk.doc.passages) == 1
    assert desk.undo() and desk.doc.text == START and desk.doc.passages == [] and desk.doc.pending is None
    assert desk.redo() and desk.doc.text == generated and desk.doc.passages[0].provenance.seed == 3
    assert desk.undo() and desk.undo() and not desk.undo()  # the first typing, then nothing


def test_a_discard_is_a_step_and_its_undo_brings_the_pending_passage_back_to_restyle():
    desk = desk_with()
    write(desk, desk.continue_at(len(START), A, S), " Kept?")
    desk.discard()
    assert desk.doc.text == START and desk.doc.pending is None
    assert desk.undo() and desk.doc.text == START + " Kept?" and desk.doc.pending is not None
    job = desk.restyle(len(START), B, S)  # from the text before it, with its seed
    assert job is not None and job.prompt == START and job.sampling.seed == 3


def test_a_rewrite_of_a_selection_in_the_blend_or_by_instruction_and_one_undo():
    text = START + " The boats were gone. Nobody slept."
    desk = desk_with(text)
    start, end = text.index("The boats"), text.index(" Nobody")
    with pytest.raises(DeskError, match="Select the text"):
        desk.rewrite_selection(5, 5, "", A, S)
    job = desk.rewrite_selection(start, end, "", A, S)
    assert job.prompt == text[:start] and job.document is not None and not job.sampling.chat
    assert job.sampling.stop == ("\n\n",) and desk.doc.text == text[:start] + text[end:]
    write(desk, job, "Every boat had left.")
    desk.discard()  # the selection comes back
    assert desk.doc.text == text
    job = desk.rewrite_selection(start, end, "in the first person", A, S)
    assert job.sampling.chat and job.document is None and "in the first person" in job.prompt
    write(desk, job, "I saw the boats go.")
    desk.accept()
    assert desk.doc.text == text[:start] + "I saw the boats go." + text[end:]
    assert desk.undo() and desk.doc.text == text  # one step takes the whole rewrite back


def test_an_alternative_writes_the_passage_again_from_its_token_as_a_new_candidate():
    desk = desk_with()
    job = desk.continue_at(len(START), A, S)
    write(desk, job, " The", " river", " rose", ".", alts=True)
    desk.accept()
    hit = desk.token_at(len(START) + len(" The") + 1)
    assert hit is not None and hit.text == " river" and hit.index == 1
    again = desk.rewrite_from(hit, " other")
    assert again is not None and again.prompt == START + " The other"
    assert again.sampling.seed == 3 and again.sampling.max_tokens == 8 - 2
    assert desk.doc.text == START + " The other" and desk.doc.pending.position == "2/2"
    write(desk, again, " fell.", alts=True)
    found = desk.tokens.tokens(desk.doc.pending.candidates[1][1])
    assert found is not None and found[0] == (" The", " other", " fell.")  # the kept prefix's tokens too
    assert desk.cycle(-1) == "1/2" and desk.doc.text == START + " The river rose."
    desk.accept()
    desk.type(len(START) + 2, 0, "x")  # an edit inside " The": its alternatives go, later ones too
    assert desk.token_at(len(START) + 1) is None and desk.token_at(len(START) + 7) is None
    desk.names = ["austen"]  # a voice left the picker
    with pytest.raises(DeskError, match="not all on the picker"):
        desk.rewrite_from(hit, " other")


def test_a_beginning_is_needed_and_the_counter_sees_what_a_continue_would_send():
    desk = desk_with("")
    with pytest.raises(DeskError, match="Write a beginning"):
        desk.continue_at(0, A, S)
    assert desk.count_request(0) is None and desk.job is None
    desk.doc.memory = "Memory only."
    before, spec = desk.count_request(0)
    assert before == "" and spec.memory == "Memory only."


def test_changed_span_is_the_shortest_edit():
    rng = random.Random(0)
    for _ in range(300):
        old = "".join(rng.choice("ab ") for _ in range(rng.randrange(0, 30)))
        a, b = sorted(rng.randrange(0, len(old) + 1) for _ in range(2))
        new = old[:a] + "".join(rng.choice("abc") for _ in range(rng.randrange(0, 5))) + old[b:]
        start, old_end, new_end = changed_span(old, new)
        assert old[:start] + new[start:new_end] + old[old_end:] == new  # the edit gives the new text
        assert start == min(len(old), len(new)) or old[start] != new[start]  # no longer common start
        assert start in (old_end, new_end) or old[old_end - 1] != new[new_end - 1]  # nor common end
        assert new_end - start <= len(new) - len(old) + (b - a)  # no longer than what was put in
    assert changed_span("same", "same") == (4, 4, 4)


def test_the_desk_runs_on_the_llama_backend_as_the_window_does(session_cache):
    """`prosemix continue`'s path: the desk's job on a real backend, the context built as the
    worker builds it, the pieces fed back into the pending passage."""
    from engine.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend()
    backend.load(None, [])
    try:
        desk = Desk(Document(START))
        desk.model, desk.top_k = "m", 3
        sampling = SamplingConfig(max_tokens=8, temperature=0.0, seed=1)
        job = desk.continue_at(len(START), make_point((), ()), sampling)
        shown: list[str] = []
        result, context = desk.run(backend, job, shown.append)
        expect = assemble(START, "", "", min(desk.window, backend.n_ctx - 8), backend.count_tokens)
        assert context is not None and context.prompt == expect.prompt
        assert desk.doc.text == START + result.text == START + "".join(shown) and result.text
        assert desk.token_at(len(START)) is not None  # 3 alternatives a token
        assert desk.accept() is not None and desk.doc.passages[0].provenance.seed == 1
    finally:
        backend.close()


def test_no_repeats_travels_with_a_continue_its_provenance_and_an_alternatives_rewrite():
    desk = desk_with()
    job = desk.continue_at(len(START), A, SamplingConfig(max_tokens=8, seed=3, dry=0.8))
    assert job.sampling.dry == 0.8
    write(desk, job, " The", " river", " rose", ".", alts=True)
    passage = desk.accept()
    assert passage is not None and passage.provenance.sampling["dry"] == 0.8
    hit = desk.token_at(len(START) + len(" The") + 1)
    again = desk.rewrite_from(hit, " other")
    assert again is not None and again.sampling.dry == 0.8  # the passage's own setting, not the panel's
