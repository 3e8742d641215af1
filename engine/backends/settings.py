"""The engine's measuring knobs, read from the environment in one place.

None of these is needed for writing: each overrides something the engine measures or decides
for itself, for benchmarks and for tracking a problem down. `prosemix info` lists them.

| variable | what it overrides | values |
|---|---|---|
| PROSEMIX_PROMPT_PATH | who evaluates prompts on the llama backend (docs/dev/decisions/0003) | auto, llama, torch |
| PROSEMIX_LLAMA_MERGE | merged working copy or runtime adapters (docs/dev/decisions/0001) | 1, 0 (unset: merged where possible) |
| PROSEMIX_PROMPT_CACHE | keep a prompt's evaluated prefix between generations | 1, 0 (unset: where it gives the same text) |
| PROSEMIX_LLAMA_REPACK | llama.cpp's weight repacking and AMX path (docs/dev/decisions/0004) | 1, 0 (unset: off on a CPU with AMX) |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Mapping

from engine.errors import ProsemixError

PROMPT_PATHS = ("auto", "llama", "torch")
VARIABLES = {"prompt_path": "PROSEMIX_PROMPT_PATH", "merge": "PROSEMIX_LLAMA_MERGE",
             "prompt_cache": "PROSEMIX_PROMPT_CACHE", "repack": "PROSEMIX_LLAMA_REPACK"}


@dataclass(frozen=True)
class EngineSettings:
    """``merge`` and ``repack`` None: the engine decides; ``prompt_cache`` False: every prompt
    is evaluated whole."""

    prompt_path: str = "auto"
    merge: bool | None = None
    prompt_cache: bool = True
    repack: bool | None = None

    def __post_init__(self) -> None:
        if self.prompt_path not in PROMPT_PATHS:
            raise ProsemixError(f"the prompt path must be one of {', '.join(PROMPT_PATHS)}, "
                                f"got {self.prompt_path!r}")
        for name in ("merge", "repack"):
            if getattr(self, name) not in (None, True, False):
                raise ProsemixError(f"{name} must be true, false or unset, got {getattr(self, name)!r}")
        if not isinstance(self.prompt_cache, bool):
            raise ProsemixError(f"prompt_cache must be true or false, got {self.prompt_cache!r}")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> "EngineSettings":
        """The settings the PROSEMIX_* variables ask for; a value that means nothing is named."""
        env = os.environ if env is None else env

        def switch(name: str) -> bool | None:
            raw = env.get(VARIABLES[name], "").strip()
            if raw in ("", "auto"):
                return None
            if raw not in ("0", "1"):
                raise ProsemixError(f"{VARIABLES[name]} must be 0 or 1, got {raw!r}")
            return raw == "1"

        cache = switch("prompt_cache")
        return cls(prompt_path=env.get(VARIABLES["prompt_path"], "").strip() or "auto",
                   merge=switch("merge"), prompt_cache=cache is not False, repack=switch("repack"))

    def described(self) -> list[tuple[str, str]]:
        """(variable, value) for each knob, as `prosemix info` prints them."""
        def shown(value: object) -> str:
            return "engine decides" if value is None else str(value).lower()

        return [(VARIABLES[f.name], shown(getattr(self, f.name))) for f in fields(self)]
