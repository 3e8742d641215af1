"""The one long-lived thread that owns the backend.

torch and llama.cpp objects are created and touched only here. The GUI sends typed requests
through a queue; the thread sleeps until one arrives. Results come back as signals that carry
the request they answer, which Qt delivers in the GUI thread, so the GUI matches a result to
its request by identity, never by parsing a string. A newer generation request with
``replace_queued`` replaces an older one of the same purpose that is still queued, and
`cancel()` stops the running one within a token.
"""
from __future__ import annotations

import enum
import itertools
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from engine.anchors.model import Anchor
from engine.backends import BackendSpec
from engine.documents.context import DocumentContext, context_for
from engine.documents.jobs import Job, run_job
from engine.errors import ProsemixError

_ids = itertools.count(1)


@dataclass(frozen=True)
class AnchorSpec:
    """An anchor as the GUI knows it: where it is, and what the user calls and colours it."""

    path: Path
    name: str
    colour: str = ""


class Purpose(enum.Enum):
    """What a generation is for, so the GUI knows where its tokens go."""

    MAIN = "main"  # the Generate tab's output
    COMPARE = "compare"  # one column of the Compare view (``index``)
    WRITE = "write"  # a passage of the document in the Write tab


@dataclass(frozen=True)
class LoadRequest:
    spec: BackendSpec = BackendSpec()
    anchors: tuple[AnchorSpec, ...] = ()  # ignored by a remote backend: the server's are used
    id: int = field(default_factory=lambda: next(_ids))


@dataclass(frozen=True)
class GenerateRequest:
    """A `Job` (engine.documents.jobs) for the worker, and where its answer goes in the window."""

    job: Job
    purpose: Purpose = Purpose.MAIN
    index: int = 0  # Compare: the column
    record: bool = True  # store in history
    replace_queued: bool = False  # drop queued requests of the same purpose
    id: int = field(default_factory=lambda: next(_ids))


class TaskKind(enum.Enum):
    TRAIN = "train"
    SWEEP = "sweep"
    COUNT = "count"  # the desk's context counter: `count_context`
    VOICE_CHECK = "voice check"  # a new voice tried stronger (gui.anchors.training_task.strength_task)


@dataclass(frozen=True)
class TaskRequest:
    """Run ``fn(backend, progress, should_stop)`` in the worker (training, sweeps)."""

    fn: Callable[..., Any]
    kind: TaskKind
    needs_backend: bool = False
    id: int = field(default_factory=lambda: next(_ids))


Request = LoadRequest | GenerateRequest | TaskRequest


@dataclass(frozen=True)
class Loaded:
    backend: str
    model: str
    anchors: list[str]
    anchor_objects: list[Anchor]  # plain numpy data, safe to share; remote ones hold no factors
    seconds: float
    device: str
    anchors_applied: str  # "merged", "runtime" adapters or "per request" (remote)
    why: str
    can_preview: bool = False  # a drag's restyle can start from an earlier point's KV


@dataclass(frozen=True)
class Finished:
    text: str
    tokens: int
    seconds: float
    first_token_seconds: float | None
    tokens_per_second: float
    finish_reason: str
    weights: dict[str, float]
    strength: float
    note: str  # how the point was read, if the user should know (e.g. normalised weights)
    history_id: int | None
    context_tokens: int = 0  # a document continuation: the context's tokens and its budget
    context_budget: int = 0
    context_lore: tuple[str, ...] = ()  # the lorebook entries that context held
    rewinds: int = 0  # times a banned phrase was taken back
    # with top_logprobs: the passage's tokens and the alternatives at each
    token_texts: tuple[str, ...] = ()
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()
    # a candidates request: each one's (seed, text, finish reason); the fields above are
    # the first one's
    candidates: tuple[tuple[int, str, str], ...] = ()


@dataclass(frozen=True)
class Failure:
    message: str
    details: str
    no_model: bool = False  # the request needed a model and none was loaded (yet)


class NoModel(ProsemixError):
    """A request that needs the model came before one was loaded."""


@dataclass
class _Stop:
    pass


def count_context(before: str, document: DocumentContext, max_tokens: int) -> TaskRequest:
    """A task that measures the context a Continue would use now (the desk's live counter)."""
    return TaskRequest(lambda backend, progress, should_stop:
                       context_for(backend, before, document, max_tokens),
                       TaskKind.COUNT, needs_backend=True)


class EngineWorker(QThread):
    """Owns the backend. Signals carry the request they answer and plain Python data."""

    loaded = Signal(object, object)  # LoadRequest, Loaded
    token = Signal(object, str)  # GenerateRequest, piece
    candidate_token = Signal(object, int, str)  # GenerateRequest with seeds, candidate, piece
    finished = Signal(object, object)  # GenerateRequest, Finished
    errored = Signal(object, object)  # Request, Failure
    progress = Signal(object, str, float)  # Request, message, fraction (-1: unknown)
    task_done = Signal(object, object)  # TaskRequest, return value
    busy = Signal(bool)

    def __init__(self, history: Any = None, parent: QObject | None = None):
        super().__init__(parent)
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._backend: Any = None  # the engine Backend this thread owns
        self._history = history

    # ----- called from the GUI thread ---------------------------------------------------------
    def submit(self, request: Request) -> None:
        if isinstance(request, GenerateRequest) and request.replace_queued:
            self._drop_queued(lambda r: isinstance(r, GenerateRequest) and r.purpose == request.purpose)
        self._queue.put(request)

    def cancel(self) -> None:
        """Stop the running generation or task after its current step."""
        self._cancel.set()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel what runs, stop the thread and free the model."""
        self._drop_queued(lambda r: True)
        self._cancel.set()
        self._queue.put(_Stop())
        return self.wait(timeout_ms)

    def _drop_queued(self, match: Callable[[object], bool]) -> None:
        with self._queue.mutex:
            kept = [r for r in self._queue.queue if not match(r)]
            self._queue.queue.clear()
            self._queue.queue.extend(kept)

    # ----- the thread ---------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            request = self._queue.get()
            if isinstance(request, _Stop):
                break
            self._cancel.clear()
            self.busy.emit(True)
            try:
                if isinstance(request, LoadRequest):
                    self._load(request)
                elif isinstance(request, GenerateRequest):
                    self._generate(request)
                elif isinstance(request, TaskRequest):
                    self._task(request)
            except Exception as exc:  # every error reaches the GUI, none kills the thread
                message = str(exc) if isinstance(exc, ProsemixError) else f"{type(exc).__name__}: {exc}"
                self.errored.emit(request, Failure(message, traceback.format_exc(), isinstance(exc, NoModel)))
            finally:
                self.busy.emit(False)
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def _load(self, request: LoadRequest) -> None:
        from engine.anchors.loading import load_anchor
        from engine.backends import open_backend
        from engine.models.base import base_info

        start = time.perf_counter()
        report = lambda message, fraction: self.progress.emit(request, message, fraction)  # noqa: E731
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        anchors: list[Anchor] = []
        if not request.spec.remote:
            report("finding the model", 0.0)
            info = base_info(request.spec.model)
            for spec in request.anchors:
                anchor = load_anchor(spec.path, info, allow_pickle=request.spec.allow_pickle)
                anchor.name = spec.name
                anchors.append(anchor)
        backend = open_backend(request.spec, anchors, progress=report)
        self._backend = backend
        self.loaded.emit(request, Loaded(
            backend=backend.name, model=str(backend.model_path), anchors=backend.anchor_names,
            anchor_objects=list(backend.anchors), seconds=time.perf_counter() - start,
            device=backend.device, anchors_applied=backend.anchors_applied,
            why=backend.anchors_reason, can_preview=backend.can_preview))

    def _generate(self, request: GenerateRequest) -> None:
        backend = self._backend
        if backend is None:
            raise NoModel("no model is loaded yet")
        job = request.job

        def emit(index: int, piece: str) -> None:
            if job.seeds:
                self.candidate_token.emit(request, index, piece)
            else:
                self.token.emit(request, piece)

        run = run_job(backend, job, self._cancel.is_set, emit)
        record_id = self._record(request, run.results) if request.record else None
        result, context = run.results[0], run.context
        self.finished.emit(request, Finished(
            text=result.text, tokens=result.n_tokens, seconds=result.seconds,
            first_token_seconds=result.first_token_seconds,
            tokens_per_second=result.tokens_per_second, finish_reason=result.finish_reason,
            weights=result.weights, strength=result.strength, note=run.note, history_id=record_id,
            context_tokens=context.tokens if context else 0,
            context_budget=context.budget if context else 0,
            context_lore=context.lore if context else (),
            rewinds=sum(r.rewinds for r in run.results),
            token_texts=tuple(result.token_texts), alternatives=tuple(result.alternatives),
            candidates=tuple((r.seed or 0, r.text, r.finish_reason) for r in run.results)
            if job.seeds else ()))

    def _record(self, request: GenerateRequest, results: list) -> int | None:
        """Each written result into the history; the last one's id."""
        if self._history is None:
            return None
        from engine.history import Record

        backend, sampling, record_id = self._backend, request.job.sampling, None
        assert backend is not None
        for result in results:
            if not result.text:
                continue
            params = {k: v for k, v in vars(sampling).items() if k != "seed"}
            params["stop"] = list(sampling.stop)
            params["strength"] = result.strength
            record_id = self._history.add(Record(
                prompt=request.job.prompt, output=result.text, weights=result.weights,
                seed=sampling.seed if result.seed is None else result.seed,
                params=params, backend=backend.name, model=str(backend.model_path),
                tokens=result.n_tokens, seconds=result.seconds))
        return record_id

    def _task(self, request: TaskRequest) -> None:
        if request.needs_backend and self._backend is None:
            raise NoModel("no model is loaded yet")
        report = lambda message, fraction: self.progress.emit(request, message, fraction)  # noqa: E731
        value = request.fn(self._backend, report, self._cancel.is_set)
        self.task_done.emit(request, value)
