"""A float Hugging Face copy of a GGUF model, for torch: the torch backend runs it and
training fine-tunes it. Made once per model file and kept in the cache."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from engine.errors import ModelError
from engine.models.base import model_sha256
from engine.paths import cache_dir


def float_copy_of_gguf(path: Path, progress: Callable[[str, float], None] | None = None) -> Path:
    """A float Hugging Face folder for a GGUF model, made once and kept in the cache."""
    progress = progress or (lambda message, fraction: None)
    folder = cache_dir() / "hf" / model_sha256(path)[:16]
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
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
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    meta = {"source": str(path), "note": "float copy of a GGUF model, made by Prosemix"}
    (tmp / "prosemix.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder
