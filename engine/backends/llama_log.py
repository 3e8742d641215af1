"""llama.cpp's log, routed into Python logging: the last lines are kept so that an error can
quote llama.cpp's own reason, and the failures of an evaluation we aborted ourselves (a
cancel) are logged quietly."""
from __future__ import annotations

import collections
import ctypes
import logging

log = logging.getLogger("engine.backends.llama_cpp")  # the llama backend's log
recent_log: collections.deque[str] = collections.deque(maxlen=40)
# ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (a continued line)
_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}
_log_callback = None  # kept alive for as long as llama.cpp may call it


class _State:
    aborted = False  # the last evaluation was stopped by our abort callback (errors expected)


state = _State()


def install_log_capture(llama_cpp: object) -> None:
    """Route llama.cpp's log into Python logging and keep the last lines, so that an
    error can quote llama.cpp's own reason."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback  # type: ignore[attr-defined]  # llama_cpp is a module passed in
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        recent_log.append(line)
        # an evaluation we aborted ourselves (a cancel) is reported as a failure: not a problem
        quiet = state.aborted and level in (3, 4)
        log.log(logging.DEBUG if quiet else _LOG_LEVELS.get(level, logging.DEBUG),
                "llama.cpp: %s", line.rstrip())

    _log_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))  # type: ignore[attr-defined]  # as above


def llama_reason() -> str:
    lines = [l.strip() for l in recent_log if l.strip()]
    errors = [l for l in lines if "error" in l.lower() or "fail" in l.lower() or "invalid" in l.lower()]
    return (errors or lines or ["no reason given"])[-1]


