"""The command line, run as a user would: `python main.py SUBCOMMAND`."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if cache:
        env["PROSEMIX_CACHE"] = str(cache)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT)


def test_generate_json_with_anchors_and_weights(adapters, session_cache):
    r = run("generate", "--prompt", "Dear diary,", "--anchor", str(adapters[0]), "--anchor",
            str(adapters[1]), "--weights", "alpha=0.25,beta=0.75", "--max-tokens", "12",
            "--temperature", "0", "--json", cache=session_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["weights"] == {"alpha": 0.25, "beta": 0.75}
    assert out["applied"] == {"alpha": 0.25, "beta": 0.75}  # no cards: no balance, no calibration
    assert out["backend"] == "llama" and out["tokens"] == 12 and out["text"]
    assert out["anchors_applied"] == "merged"
    assert out["seconds"] >= out["first_token_seconds"] > 0
    same = run("generate", "--prompt", "Dear diary,", "--anchor", str(adapters[0]), "--anchor",
               str(adapters[1]), "--weights", "0.25,0.75", "--max-tokens", "12",
               "--temperature", "0", "--json", cache=session_cache)
    assert json.loads(same.stdout)["text"] == out["text"]


def test_generate_json_says_what_the_shipped_cards_apply_at_the_centre(session_cache):
    """The shipped triangle's cards move the picker's centre to their balance point and scale
    each delta by their calibration; --json reports the multipliers that were applied."""
    from engine.anchors.model import AnchorCard
    from engine.anchors.shipped import DEFAULT_TRIANGLE, shipped_anchors_dir

    cards = [AnchorCard.load(shipped_anchors_dir() / n / "anchor.json") for n in DEFAULT_TRIANGLE]
    r = run("generate", "--prompt", "Once", "--weights", "0.333333,0.333333,0.333333", "--max-tokens", "1",
            "--json", cache=session_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    total = sum(c.balance for c in cards)
    assert out["applied"] == pytest.approx({c.name: c.balance / total * c.calibration for c in cards}, abs=1e-5)
    assert "normalised" in out["note"]


@pytest.mark.parametrize("args, message", [
    (["generate", "--prompt", ""], "prompt is empty"),
    (["generate", "--prompt", "x", "--weights", "0.2,0.2,0.2"], "sum to 0.6"),
    (["generate", "--prompt", "x", "--backend", "remote"], "--server URL"),
    (["generate", "--prompt", "x", "--model", "/nonexistent.gguf"], "model not found"),
    (["generate", "--prompt", "x", "--anchor", "no-such-anchor"], "anchor not found"),
    (["generate", "--prompt", "x", "--temperature", "-1"], "temperature must be"),
    (["generate", "--prompt", "x", "--dry", "9"], "dry must be a number in [0.0, 5.0]"),
    (["convert-lora", "/nonexistent", "--out", "/tmp/x.gguf"], "anchor not found"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, session_cache):
    r = run(*args, cache=session_cache)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_weights_for_anchors(adapters, session_cache):
    common = ["generate", "--prompt", "x", "--anchor", str(adapters[0]), "--anchor", str(adapters[1])]
    r = run(*common, "--weights", "1.5,-0.5", cache=session_cache)
    assert r.returncode == 2 and "extrapolation" in r.stderr
    r = run(*common, "--weights", "1.5,-0.5", "--extrapolate", "--max-tokens", "3", "--json",
            cache=session_cache)
    assert r.returncode == 0 and json.loads(r.stdout)["zone"] == "stable extrapolation"
    r = run(*common, "--weights", "alpha=1,zeta=0", cache=session_cache)
    assert r.returncode == 2 and "unknown anchor name" in r.stderr


def test_debug_shows_the_traceback(session_cache):
    r = run("--debug", "generate", "--prompt", "", cache=session_cache)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_anchors_and_convert(tmp_path, adapters, session_cache):
    r = run("anchors", str(adapters[0]), "--json", cache=session_cache)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert row["rank"] == 8 and row["alpha"] == 16 and row["targets"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert len(row["layer_delta_norms"]) == 30 and all(v > 0 for v in row["layer_delta_norms"].values())
    out = tmp_path / "a.gguf"
    r = run("convert-lora", str(adapters[0]), "--out", str(out), cache=session_cache)
    assert r.returncode == 0, r.stderr
    r = run("generate", "--prompt", "Hi", "--anchor", str(out), "--max-tokens", "4", "--json",
            cache=session_cache)
    assert r.returncode == 0 and json.loads(r.stdout)["weights"] == {"a": 1.0}


def test_info(session_cache):
    r = run("info", cache=session_cache)
    info = json.loads(r.stdout)
    assert info["backends"]["llama"] is True
    assert info["default_model"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    from engine.machine import cpu_model

    assert cpu_model() in info["machine"]  # every figure names the CPU it was measured on


@pytest.mark.parametrize("features, says", [(["AVX2", "FMA", "F16C"], "(AVX2 FMA F16C, no AVX-512)"),
                                            (["AVX2", "AVX-512", "AVX512-BF16"], "(AVX2 AVX-512 AVX512-BF16)")])
def test_the_machine_is_named_with_its_simd(features, says, monkeypatch):
    import engine.machine as machine

    monkeypatch.setattr(machine, "cpu_features", lambda: features)
    monkeypatch.setattr(machine, "cpu_model", lambda: "Some CPU")
    assert machine.describe_machine().endswith(f"Some CPU {says}")


def test_prosemix_with_no_arguments_opens_the_app(monkeypatch):
    """The installed `prosemix` is main.py's entry: no arguments open the window, as
    `python main.py` does (it printed help and exited 2 before)."""
    import tomllib

    import gui.app
    import main

    root = Path(__file__).resolve().parent.parent
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["prosemix"] == "main:main_entry"
    opened = []
    monkeypatch.setattr(gui.app, "run", lambda: opened.append(True) or 0)
    monkeypatch.setattr(sys, "argv", ["prosemix"])
    with pytest.raises(SystemExit) as done:
        main.main_entry()
    assert done.value.code == 0 and opened == [True]


def test_a_missing_x11_library_is_named_before_qt_aborts(monkeypatch, capsys):
    """On a fresh Debian without libxcb-icccm4, libxcb-keysyms1 and libxcb-cursor0, Qt's xcb
    plugin aborts with a message that names at most one of them; the app names every package
    to install and exits 2 instead."""
    import ctypes.util
    import subprocess

    import gui.app
    from PySide6.QtWidgets import QApplication

    ldd = ("\tlibxcb-icccm.so.4 => not found\n\tlibxkbcommon-x11.so.0 => not found\n"
           "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x0)\n")
    found = {"xcb-cursor": None}
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: found.get(name, f"lib{name}.so"))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, ldd, ""))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert gui.app.missing_x11_libraries() == ["libxcb-icccm4", "libxkbcommon-x11-0", "libxcb-cursor0"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # no X11 plugin: nothing to ask for
    assert gui.app.missing_x11_libraries() == []
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    ldd, found["xcb-cursor"] = "\tlibc.so.6 => /lib/libc.so.6 (0x0)\n", "libxcb-cursor.so.0"
    assert gui.app.missing_x11_libraries() == []
    found["xcb-cursor"] = None
    monkeypatch.setattr(QApplication, "instance", staticmethod(lambda: None))
    assert gui.app.run([]) == 2
    assert "sudo apt-get install libxcb-cursor0" in capsys.readouterr().err
    assert gui.app.debian_package("libxcb-render-util.so.0") == "libxcb-render-util0"


def test_gpu_layers_on_a_cpu_build_is_a_clear_message():
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python build has GPU support")
    r = run("generate", "--prompt", "Hi", "--max-tokens", "2", "--gpu-layers", "4")
    assert r.returncode == 2 and "no GPU support" in r.stderr and "CMAKE_ARGS" in r.stderr


def test_thirds_as_typed_and_strength_in_json(adapters, session_cache):
    """`--weights 0.333333,...` used to fail with "weights sum to 0.999999, not 1"."""
    args = ["generate", "--prompt", "Dear diary,", "--max-tokens", "4", "--temperature", "0", "--json"]
    for a in adapters:
        args += ["--anchor", str(a)]
    r = run(*args, "--weights", "0.333333,0.333333,0.333333", "--strength", "1.5", cache=session_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["strength"] == 1.5 and "normalised" in out["note"] and "0.999999" in out["note"]
    assert out["zone"] == "stable extrapolation"
    r = run(*args, "--weights", "0.33,0.33,0.33", cache=session_cache)
    assert r.returncode == 2 and "sum to 0.99" in r.stderr
    r = run(*args, "--strength", "9", cache=session_cache)
    assert r.returncode == 2 and "strength must be" in r.stderr


def test_continue_appends_a_passage_with_its_provenance(tmp_path, adapters, session_cache):
    doc = tmp_path / "story.md"
    doc.write_text("The rain had not stopped for three days, and")
    anchors = []
    for a in adapters:
        anchors += ["--anchor", str(a)]
    for seed in ("1", "2"):
        r = run("continue", str(doc), *anchors, "--weights", "alpha=0.5,beta=0.5,gamma=0",
                "--max-tokens", "8", "--seed", seed, "--json", cache=session_cache)
        assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    text = doc.read_text()
    assert text.endswith(out["text"]) and text[out["start"]:out["end"]] == out["text"]
    assert out["provenance"]["weights"] == {"alpha": 0.5, "beta": 0.5, "gamma": 0.0}
    assert out["provenance"]["seed"] == 2 and out["context_tokens"] > 5
    sidecar = json.loads((tmp_path / "story.md.prosemix.json").read_text())
    assert len(sidecar["passages"]) == 2
    r = run("continue", str(tmp_path / "story.docx"), cache=session_cache)
    assert r.returncode == 2 and ".md or .txt" in r.stderr


def test_continue_writes_with_the_documents_voices(tmp_path, session_cache):
    """Without --anchor, `continue` blends the voices the window saved with the document."""
    doc = tmp_path / "story.md"
    doc.write_text("The rain had not stopped for three days, and")
    side = tmp_path / "story.md.prosemix.json"
    side.write_text(json.dumps({"version": 1, "palette": ["austen", "shakespeare"]}))
    r = run("continue", str(doc), "--max-tokens", "6", "--json", cache=session_cache)
    assert r.returncode == 0, r.stderr
    assert list(json.loads(r.stdout)["provenance"]["weights"]) == ["austen", "shakespeare"]
    assert json.loads(side.read_text())["palette"] == ["austen", "shakespeare"]
    side.write_text(json.dumps({"version": 1, "palette": ["austen", "nobody-voice"]}))
    r = run("continue", str(doc), "--max-tokens", "6", cache=session_cache)
    assert r.returncode == 2 and "nobody-voice" in r.stderr and "--anchor" in r.stderr


def test_continue_honours_bans_and_a_lorebook_and_keeps_them_in_the_sidecar(tmp_path, adapters, session_cache):
    start = "The rain had not stopped for three days, and the river"
    anchors = ["--anchor", str(adapters[0]), "--anchor", str(adapters[1]), "--weights", "0.5,0.5"]
    common = ["--max-tokens", "24", "--temperature", "0", "--json", *anchors]
    world = tmp_path / "world.json"
    world.write_text(json.dumps({"entries": {"0": {"uid": 0, "key": ["river"], "content": "The river is the Wend.",
                                                   "comment": "Wend", "order": 100}}}))
    # the text without the ban, from the same context (the lorebook's entry changes the prompt):
    # the banned run's first request writes it, so the ban must go back at least once
    plain_doc = tmp_path / "plain.md"
    plain_doc.write_text(start)
    r = run("continue", str(plain_doc), *common, "--lorebook", str(world), cache=session_cache)
    assert r.returncode == 0, r.stderr
    plain = json.loads(r.stdout)["text"]
    # two words a space apart (greedy text may break a line between words: "great,\nThe")
    phrase = re.findall(r"(?=(?<!\S)(\S+ \S+))", plain)[2]
    doc = tmp_path / "story.md"
    doc.write_text(start)
    r = run("continue", str(doc), *common, "--ban", phrase, "--lorebook", str(world), cache=session_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert phrase.lower() not in out["text"].lower() and out["rewinds"] >= 1 and out["bans"] == 1
    assert out["lorebook"]["active"] == [["river"]] and out["lorebook"]["tokens"] > 0
    side = json.loads((tmp_path / "story.md.prosemix.json").read_text())
    assert side["bans"]["phrases"] == [{"text": phrase, "regex": False, "case_sensitive": False}]
    assert side["lorebook"]["entries"][0]["keys"] == ["river"]
    r = run("continue", str(doc), *common, "--top-logprobs", "5", cache=session_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "".join(t["text"] for t in out["tokens"]) == out["text"]
    counts = [len(t["alternatives"]) for t in out["tokens"]]
    # a token cut where a banned phrase began keeps its kept part without alternatives
    assert set(counts) <= {0, 5} and counts.count(0) <= out["rewinds"] and counts.count(5) > 10
    r = run("continue", str(doc), "--top-logprobs", "50", cache=session_cache)
    assert r.returncode == 2 and "top_logprobs must be 0..20" in r.stderr
    r = run("continue", str(doc), "--ban-regex", "(unclosed", cache=session_cache)
    assert r.returncode == 2 and "not valid" in r.stderr
    r = run("continue", str(doc), "--lorebook", str(tmp_path / "none.json"), cache=session_cache)
    assert r.returncode == 2 and "not found" in r.stderr


def test_continue_reads_the_style_window_as_the_write_tab_does(tmp_path, session_cache):
    """The CLI and the window assemble the same context (engine.documents.context.desk_context):
    the style window caps a long document's text."""
    doc = tmp_path / "long.md"
    doc.write_text("The rain fell on the town and the river rose again. " * 300)
    r = run("continue", str(doc), "--max-tokens", "4", "--json", cache=session_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["context_budget"] == 384 and out["context_tokens"] <= 384 and out["dropped_chars"] > 0
    r = run("continue", str(doc), "--max-tokens", "4", "--window", "1000", "--json", cache=session_cache)
    assert json.loads(r.stdout)["context_budget"] == 1000
    r = run("continue", str(doc), "--window", "3", cache=session_cache)
    assert r.returncode == 2 and "--window must be" in r.stderr


def test_generate_with_no_repeats(session_cache):
    prompt = "One two three four five six seven. One two three four five six seven. One two three"
    common = ["generate", "--prompt", prompt, "--max-tokens", "4", "--temperature", "0",
              "--repetition-penalty", "1", "--json"]
    plain = run(*common, cache=session_cache)
    dry = run(*common, "--dry", "0.8", cache=session_cache)
    assert plain.returncode == 0 and dry.returncode == 0, plain.stderr + dry.stderr
    assert json.loads(plain.stdout)["text"].startswith(" four")
    assert not json.loads(dry.stdout)["text"].startswith(" four")
