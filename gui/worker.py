"""The one long-lived thread that owns the backend.

torch and llama.cpp objects are created and touched only here. The GUI sends requests
through a queue; the thread sleeps until one arrives. Results come back as signals, which
Qt delivers in the GUI thread. A newer generation request replaces an older one that is
still queued, and `cancel()` stops the running one within a token.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from engine.errors import ProsemixError
from engine.sampling import SamplingConfig


@dataclass(frozen=True)
class AnchorSpec:
    """An anchor as the GUI knows it: where it is, and what the user calls and colours it."""

    path: Path
    name: str
    colour: str = ""


@dataclass(frozen=True)
class LoadRequest:
    model: str | None = None  # None: the embedded default
    backend: str = "auto"
    device: str = "auto"
    anchors: tuple[AnchorSpec, ...] = ()
    api_key: str | None = None  # remote backend only; ``model`` is then the server URL


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    weights: tuple[float, ...]
    sampling: SamplingConfig
    tag: str = "main"
    extrapolate: bool = False
    record: bool = True


@dataclass(frozen=True)
class TaskRequest:
    """Run ``fn(backend, progress, should_stop)`` in the worker (training, sweeps)."""

    fn: Callable[..., Any]
    tag: str = "task"
    needs_backend: bool = False


@dataclass
class _Stop:
    pass


class EngineWorker(QThread):
    """Owns the backend. Signals carry plain Python data."""

    loaded = Signal(object)  # dict: backend, model, anchors, seconds
    token = Signal(str, str)  # tag, piece
    finished = Signal(str, object)  # tag, dict (GenerationResult fields, history id)
    errored = Signal(str, str, str)  # tag, message, details
    progress = Signal(str, str, float)  # tag, message, fraction (-1: unknown)
    task_done = Signal(str, object)  # tag, return value
    busy = Signal(bool)

    def __init__(self, history: Any = None, parent: QObject | None = None):
        super().__init__(parent)
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._backend = None
        self._history = history

    # ----- called from the GUI thread ---------------------------------------------------------
    def submit(self, request: LoadRequest | GenerateRequest | TaskRequest) -> None:
        if isinstance(request, GenerateRequest) and "#" in request.tag:
            # "main#7" supersedes "main#6" still waiting in the queue
            channel = request.tag.split("#")[0]
            self._drop_queued(lambda r: isinstance(r, GenerateRequest) and r.tag.split("#")[0] == channel)
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
            tag = getattr(request, "tag", "load")
            try:
                if isinstance(request, LoadRequest):
                    self._load(request)
                elif isinstance(request, GenerateRequest):
                    self._generate(request)
                elif isinstance(request, TaskRequest):
                    self._task(request)
            except Exception as exc:  # every error reaches the GUI, none kills the thread
                message = str(exc) if isinstance(exc, ProsemixError) else f"{type(exc).__name__}: {exc}"
                self.errored.emit(tag, message, traceback.format_exc())
            finally:
                self.busy.emit(False)
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def _load(self, request: LoadRequest) -> None:
        from engine.anchors import load_anchor
        from engine.backends import choose_backend, create_backend
        from engine.models import base_info, resolve_model

        start = time.perf_counter()
        report = lambda message, fraction: self.progress.emit("load", message, fraction)  # noqa: E731
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        if request.backend == "remote":
            backend = create_backend("remote", url=request.model or "", api_key=request.api_key)
            backend.load(None, [], progress=report)  # the anchors come from the server
            self._loaded(backend, str(request.model), start)
            return
        report("finding the model", 0.0)
        path = resolve_model(request.model)
        kind = choose_backend(request.backend, model_is_gguf=path.is_file())
        info = base_info(path)
        anchors = []
        for spec in request.anchors:
            anchor = load_anchor(spec.path, info)
            anchor.name = spec.name
            anchors.append(anchor)
        options: dict[str, Any] = {"device": request.device} if kind == "torch" else {}
        backend = create_backend(kind, **options)
        backend.load(path, anchors, progress=report)
        self._loaded(backend, str(path), start)

    def _loaded(self, backend: Any, model: str, start: float) -> None:
        self._backend = backend
        # Anchor objects are plain numpy data (no torch or llama.cpp state): safe to share.
        anchor_objects = [a for a in backend.anchors if hasattr(a, "factors")]
        self.loaded.emit({"backend": backend.name, "model": model, "anchors": backend.anchor_names,
                          "anchor_objects": anchor_objects,
                          "seconds": time.perf_counter() - start,
                          "device": getattr(backend, "device", "cpu"),
                          # llama.cpp: anchors "merged" into shared weights or "runtime" adapters
                          "anchors_applied": getattr(backend, "mode", ""),
                          "why": getattr(backend, "mode_reason", "")})

    def _generate(self, request: GenerateRequest) -> None:
        from engine.history import Record

        backend = self._backend
        if backend is None:
            raise ProsemixError("no model is loaded yet")
        if backend.anchors:
            backend.set_weights(list(request.weights), extrapolate=request.extrapolate)
        stream = backend.stream(request.prompt, request.sampling, self._cancel.is_set)
        for piece in stream:
            self.token.emit(request.tag, piece)
        result = backend.last_result
        record_id = None
        if self._history is not None and request.record and result.text:
            params = {k: v for k, v in vars(request.sampling).items() if k != "seed"}
            params["stop"] = list(request.sampling.stop)
            record_id = self._history.add(Record(
                prompt=request.prompt, output=result.text, weights=result.weights,
                seed=request.sampling.seed, params=params, backend=backend.name,
                model=str(backend.model_path), tokens=result.n_tokens, seconds=result.seconds))
        self.finished.emit(request.tag, {
            "text": result.text, "tokens": result.n_tokens, "seconds": result.seconds,
            "first_token_seconds": result.first_token_seconds,
            "tokens_per_second": result.tokens_per_second, "finish_reason": result.finish_reason,
            "weights": result.weights, "history_id": record_id})

    def _task(self, request: TaskRequest) -> None:
        if request.needs_backend and self._backend is None:
            raise ProsemixError("no model is loaded yet")
        report = lambda message, fraction: self.progress.emit(request.tag, message, fraction)  # noqa: E731
        value = request.fn(self._backend, report, self._cancel.is_set)
        self.task_done.emit(request.tag, value)
