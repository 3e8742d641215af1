"""A float Hugging Face copy of a GGUF model, for torch: the torch backend runs it and
training fine-tunes it. Made once per model file and kept in the cache.

Making it is slow (about half a minute for the embedded model on 2 cores), nearly all of it
transformers reading the GGUF. So it is made off the clock where
it can be: by setup (`prosemix prepare`) and by the app when the New voice dialog opens, so that
a writer's first voice does not pay it. Two threads asking at once make it once (a lock); each
process writes its own temporary folder, and one whose process has gone (an app quit while
making it) is removed before the next is made."""
from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from engine.errors import ModelError, ProsemixError
from engine.models.base import model_sha256
from engine.paths import cache_dir


_making = threading.Lock()


def float_copy_folder(path: Path) -> Path:
    """Where the float copy of the GGUF model ``path`` is (or will be) kept."""
    return cache_dir() / "hf" / model_sha256(path)[:16]


def has_float_copy(path: Path) -> bool:
    """Whether the float copy of ``path`` is made (a folder model needs none)."""
    folder = float_copy_folder(path) if path.is_file() else path
    return not path.is_file() or ((folder / "config.json").is_file() and (folder / "model.safetensors").is_file())


def float_copy_of_gguf(path: Path, progress: Callable[[str, float], None] | None = None) -> Path:
    """A float Hugging Face folder for a GGUF model, made once and kept in the cache."""
    if has_float_copy(path):
        return float_copy_folder(path)
    with _making:  # a second thread waits here, then finds the copy made
        if has_float_copy(path):
            return float_copy_folder(path)
        return _make_float_copy(path, progress or (lambda message, fraction: None))


def _make_float_copy(path: Path, progress: Callable[[str, float], None]) -> Path:
    folder = float_copy_folder(path)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    progress(f"dequantizing {path.name} (first load only)", 0.2)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                     local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name,
                                                  local_files_only=True)
    except Exception as exc:
        raise ModelError(f"transformers cannot load {path}: {exc}") from None
    progress("writing the float copy to the cache", 0.6)
    # save_pretrained refuses a model loaded from GGUF: rebuild it from a clean config.
    config_dict = model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    clean = AutoModelForCausalLM.from_config(config)
    clean.load_state_dict(model.state_dict())
    _clear_abandoned(folder)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    meta = {"source": str(path), "note": "float copy of a GGUF model, made by Prosemix"}
    (tmp / "prosemix.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def _clear_abandoned(folder: Path) -> None:
    """Remove the temporary folders next to ``folder`` whose process is no longer running (half
    a float copy each, about half a GB)."""
    for tmp in folder.parent.glob(f"{folder.name}.tmp*"):
        pid = tmp.name.rpartition(".tmp")[2]
        if not pid.isdigit() or not _running(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: running
        return True
    return True


def prepare_in_background(model: str | None = None) -> threading.Thread | None:
    """Start making the float copy of ``model`` (None: the embedded one) in a thread of its own
    (a daemon: quitting the app leaves a temporary folder, which the next making removes), or
    None where it is made or there is no such model. A voice that asks for it meanwhile waits
    for this one instead of making a second. A failure is left to that voice, which makes the
    copy itself and names the problem."""
    from engine.models.base import resolve_model

    try:
        path = resolve_model(model)
    except ProsemixError:  # no model: the voice that needs one says so
        return None
    if has_float_copy(path):
        return None

    def make() -> None:
        try:
            float_copy_of_gguf(path)
        except Exception:  # noqa: BLE001  the voice that needs it tries again and says why
            pass

    thread = threading.Thread(target=make, name="prosemix-float-copy", daemon=True)
    thread.start()
    return thread
