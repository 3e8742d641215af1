"""The remote backend against a real llama-server on loopback (built from llama.cpp's sources
by packaging/build_llama_server.sh, cached outside the repo)."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from engine.anchors.loading import load_anchor
from engine.backends.llama_amx import repack_allowed
from engine.backends.llama_cpp import LlamaCppBackend
from engine.backends.remote import RemoteBackend
from engine.errors import AnchorError, ProsemixError
from engine.anchors.gguf_lora import write_gguf_lora
from engine.sampling import SamplingConfig

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-key"
GREEDY = SamplingConfig(max_tokens=20, temperature=0.0, repetition_penalty=1.0)
PROMPT = "The weather this morning was"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_binary() -> str:
    r = subprocess.run(["bash", str(ROOT / "packaging" / "build_llama_server.sh")], capture_output=True,
                       text=True, timeout=1500)
    if r.returncode == 3:
        pytest.skip(f"llama-server cannot be built here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def gguf_adapters(tmp_path_factory, adapters, base):
    root = tmp_path_factory.mktemp("gguf")
    return [write_gguf_lora(load_anchor(p, base), base, root / f"{p.name}.gguf") for p in adapters[:2]]


def _start(binary: str, adapters: list[Path], base, parallel: int = 2,
           extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """A llama-server on loopback with ``adapters`` at scale 0 and ``parallel`` slots (the
    context split between them), plus ``extra`` arguments; benchmarks/remote_load.py starts its
    server with this too."""
    port = _free_port()
    args = [binary, "-m", str(base.path), "--host", "127.0.0.1", "--port", str(port), "-c", str(2048 * parallel),
            "-np", str(parallel), "-fa", "off", "-t", "2", "--api-key", KEY, "--lora-init-without-apply", *extra]
    if not repack_allowed():  # llama.cpp's AMX path crashes (engine.backends.llama_amx)
        args.append("--no-repack")
    for a in adapters:
        args += ["--lora", str(a)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited: {proc.stderr.read()[-2000:]}")
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("llama-server did not become healthy in 60 s")


@pytest.fixture(scope="module")
def server(server_binary, gguf_adapters, base):
    proc, url = _start(server_binary, gguf_adapters, base)
    yield url
    proc.kill()
    proc.wait()


def _remote(url, **kw) -> RemoteBackend:
    b = RemoteBackend(url, api_key=KEY, **kw)
    b.load()
    return b


def test_lists_and_maps_the_servers_adapters(server):
    b = _remote(server)
    assert b.anchor_names == ["alpha", "beta"]
    b2 = RemoteBackend(server, api_key=KEY)
    b2.load(None, ["beta"])
    assert b2.anchor_names == ["beta"]
    with pytest.raises(AnchorError, match="no adapter for anchor 'gamma'"):
        RemoteBackend(server, api_key=KEY).load(None, ["gamma"])


@pytest.mark.parametrize("weights", [(1.0, 0.0), (0.3, 0.7), (0.0, 1.0)])
def test_same_text_as_the_local_backend(server, gguf_adapters, weights):
    local = LlamaCppBackend(merge=False)  # the server applies runtime adapters too
    local.load(None, gguf_adapters)
    local.set_weights(weights)
    expected = local.generate(PROMPT, GREEDY).text
    local.close()
    remote = _remote(server)
    remote.set_weights(weights)
    assert remote.generate(PROMPT, GREEDY).text == expected


def test_weights_change_the_text_and_seed_reproduces(server):
    b = _remote(server)
    b.set_weights((1.0, 0.0))
    a = b.generate(PROMPT, GREEDY).text
    b.set_weights((0.0, 1.0))
    assert b.generate(PROMPT, GREEDY).text != a
    sampled = SamplingConfig(max_tokens=16, temperature=0.9, seed=5)
    assert b.generate(PROMPT, sampled).text == b.generate(PROMPT, sampled).text


def test_concurrent_requests_keep_their_own_weights(server):
    expected = {}
    for w in ((1.0, 0.0), (0.0, 1.0)):
        b = _remote(server)
        b.set_weights(w)
        expected[w] = b.generate(PROMPT, SamplingConfig(max_tokens=40, temperature=0)).text
    got = {}

    def run(w):
        b = _remote(server)
        b.set_weights(w)
        got[w] = b.generate(PROMPT, SamplingConfig(max_tokens=40, temperature=0)).text

    threads = [threading.Thread(target=run, args=(w,)) for w in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert got == expected


@dataclass
class Room:
    """What a room of writers got: each point's text alone, and all at once (text, first-token
    seconds, tokens), the errors, and the wall time of each part."""

    alone: dict = field(default_factory=dict)
    together: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    alone_seconds: float = 0.0
    together_seconds: float = 0.0


def room_of_writers(url: str, points: list[tuple[float, ...]], prompt: str, sampling: SamplingConfig,
                    api_key: str = KEY) -> Room:
    """Each point's text from a lone request, one after another, then the same requests from
    one writer per point all at once (a barrier starts them together)."""
    room = Room()
    start = time.perf_counter()
    for w in points:
        b = RemoteBackend(url, api_key=api_key)
        b.load()
        b.set_weights(w)
        room.alone[w] = b.generate(prompt, sampling).text
    room.alone_seconds = time.perf_counter() - start
    ready = threading.Barrier(len(points) + 1)

    def writer(w: tuple[float, ...]) -> None:
        try:
            b = RemoteBackend(url, api_key=api_key)
            b.load()
            b.set_weights(w)
            ready.wait(60)
            result = b.generate(prompt, sampling)
            room.together[w] = (result.text, result.first_token_seconds, result.n_tokens)
        except Exception as exc:  # noqa: BLE001 - reported, not lost
            room.errors.append(f"{w}: {exc}")

    threads = [threading.Thread(target=writer, args=(w,)) for w in points]
    for t in threads:
        t.start()
    ready.wait(60)
    start = time.perf_counter()
    for t in threads:
        t.join(300)
    room.together_seconds = time.perf_counter() - start
    return room


def test_a_room_of_eight_writers_on_four_slots_each_gets_its_points_text(server_binary, gguf_adapters, base):
    """Eight writers at eight points at once on a server with four slots: none is lost, none
    mixed; each text is the one its point gives alone (llama-server never batches slots whose
    adapter scales differ)."""
    proc, url = _start(server_binary, gguf_adapters, base, parallel=4)
    try:
        points = [(k / 7, 1 - k / 7) for k in range(8)]
        room = room_of_writers(url, points, PROMPT, SamplingConfig(max_tokens=24, temperature=0))
    finally:
        proc.kill()
        proc.wait()
    assert room.errors == [] and sorted(room.together) == sorted(points)
    assert len(set(room.alone.values())) >= 4  # the points write differently
    assert {w: t for w, (t, _, _) in room.together.items()} == room.alone


def test_cancel_closes_the_stream(server):
    b = _remote(server)
    stream = b.stream(PROMPT, SamplingConfig(max_tokens=400, temperature=0.8))
    next(stream)
    stream.close()
    assert stream.result.finish_reason == "cancelled" and stream.result.n_tokens < 400


def test_clear_errors(server, gguf_adapters, base, tmp_path):
    with pytest.raises(ProsemixError, match="cannot reach"):
        RemoteBackend(f"http://127.0.0.1:{_free_port()}").load()
    with pytest.raises(ProsemixError, match="refused the API key"):
        RemoteBackend(server, api_key="wrong").load()
    with pytest.raises(ProsemixError, match="must start with http"):
        RemoteBackend("localhost:8080")
    # a server that accepts but never answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(ProsemixError, match="did not answer"):
            RemoteBackend(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=1.0).load()
    finally:
        silent.close()


def test_adapter_for_another_base_is_refused(server, tmp_path):
    import numpy as np

    from tests.synthetic import write_raw_gguf_lora

    # same name as a served adapter, but for a 768-wide model
    path = write_raw_gguf_lora(tmp_path / "alpha.gguf", "llama", {
        "blk.0.attn_q.weight.lora_a": np.zeros((8, 768), np.float32),
        "blk.0.attn_q.weight.lora_b": np.zeros((768, 8), np.float32)})
    with pytest.raises(AnchorError, match="another base"):
        RemoteBackend(server, api_key=KEY).load(None, [path])


def test_server_killed_mid_stream(server_binary, gguf_adapters, base):
    proc, url = _start(server_binary, gguf_adapters, base)
    b = _remote(url)
    pieces = []
    with pytest.raises(ProsemixError, match="broke mid-stream|cannot reach|stopped answering"):
        for piece in b.stream(PROMPT, SamplingConfig(max_tokens=2000, temperature=0.8)):
            pieces.append(piece)
            if len(pieces) == 3:
                proc.kill()
    proc.wait()
    assert len(pieces) >= 3
    with pytest.raises(ProsemixError, match="cannot reach"):
        b.generate(PROMPT, GREEDY)  # still a clean error, not a crash


def test_gui_remote_model_choice(qtbot, server, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    import gui.main_window as mw
    from engine.backends import BackendSpec
    from gui.dialogs import ModelDialog

    monkeypatch.setenv("PROSEMIX_DATA", str(tmp_path))
    dialog = ModelDialog(BackendSpec(backend="remote", server=server, api_key=KEY))
    qtbot.addWidget(dialog)
    assert dialog.source.currentIndex() == 3
    dialog._test()
    assert "OK" in dialog.test_result.text() and "alpha" in dialog.test_result.text()
    choice = dialog.choice()
    assert choice == BackendSpec(backend="remote", server=server, api_key=KEY)
    w = mw.MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), load_defaults=False)
    qtbot.addWidget(w)
    w.model_choice = choice
    with qtbot.waitSignal(w.worker.loaded, timeout=90000):
        w.load()
    assert w.picker.anchor_names() == ["alpha", "beta"] and not w.anchors.isEnabled()
    w.generation.max_tokens.setValue(8)
    with qtbot.waitSignal(w.worker.finished, timeout=20000) as done:
        w.generate()
    assert done.args[1].text
    w.close()
    assert w.worker.wait(10000)


def test_cli_generate_json_against_a_server(server):
    """`generate --backend remote --json` reported "'RemoteAnchor' object has no attribute
    'source'" (exit 1): every backend now holds the same Anchor type."""
    import json
    import os
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "--backend", "remote",
                        "--server", server, "--api-key", KEY, "--prompt", PROMPT,
                        "--weights", "alpha=0.5,beta=0.5", "--max-tokens", "6", "--json"],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["backend"] == "remote" and out["anchors_applied"] == "per request"
    assert [Path(a).stem for a in out["anchors"]] == ["alpha", "beta"] and out["text"]


def test_logprobs_travel_with_the_tokens(server):
    """A sweep's self-perplexity needs log p of each token; the server sends them with the
    tokens when asked, and cannot score a fixed text (the contract says so)."""
    b = _remote(server)
    result = b.generate(PROMPT, GREEDY, logprobs=True)
    assert len(result.logprobs) == result.n_tokens and all(x <= 0 for x in result.logprobs)
    assert result.perplexity >= 1.0
    assert b.can_score is False
    with pytest.raises(ProsemixError, match="cannot score a fixed text"):
        b.perplexity("some fixed text to score")


def test_candidates_are_the_lone_requests_of_their_seeds(server):
    """K seeds, each the text of a lone request with its seed (the requests go one after
    another: sent together, the server batches its slots and the texts differed); stop
    strings act per candidate, a cancel stops them all."""
    b = _remote(server)
    sampling = SamplingConfig(max_tokens=16, temperature=0.9, stop=("\n",))
    results = b.generate_candidates(PROMPT, sampling, [1, 2, 3])
    assert [r.seed for r in results] == [1, 2, 3]
    assert all(r.finish_reason in ("length", "stop", "eos") and r.n_tokens for r in results)
    assert all("\n" not in r.text for r in results)
    alone = [b.generate(PROMPT, SamplingConfig(max_tokens=16, temperature=0.9, stop=("\n",), seed=s))
             for s in (1, 2, 3)]
    assert [a.text for a in alone] == [r.text for r in results]
    stopped = b.generate_candidates(PROMPT, SamplingConfig(max_tokens=200), [4, 5],
                                    should_stop=lambda: True)
    assert {r.finish_reason for r in stopped} == {"cancelled"}


@pytest.fixture
def remote_blend(server):
    """A remote backend on the test server, its two adapters at (0.5, 0.5)."""
    backend = _remote(server)
    backend.set_weights([0.5, 0.5])
    yield backend
    backend.close()


def test_bans_rewind_by_asking_the_server_again(remote_blend):
    """Client-side bans: the server rules the phrase's first token out of a one-token request."""
    from tests.test_bans import _check_bans

    _check_bans(remote_blend)


def test_token_alternatives_come_from_the_servers_n_probs(remote_blend):
    from tests.test_alternatives import check_alternatives

    check_alternatives(remote_blend)


def test_a_pinned_slot_reuses_its_cache_only_at_the_same_scales(server):
    """llama.cpp reuses a slot's prompt cache across LoRA scales (upstream #26207): a pinned slot
    asks for its cache only when its last request ran the same scales, and the text is always
    the text of a request with the cache off."""
    doc = " ".join(f"On day {k} the rain fell on the {w} and the river rose." for k, w in
                   enumerate(("town", "bridge", "mill", "church", "market", "road") * 6))
    more = doc + " Then the bells began to ring, and the keeper said"
    backend = _remote(server)
    try:
        backend.set_weights([1.0, 0.0])
        fresh = backend.generate(more, GREEDY).text  # not pinned: the cache is off
        backend.pin("story.md")
        backend.generate(doc, GREEDY)
        assert backend.generate(more, GREEDY).text == fresh
        assert backend.last_cached > 300  # the document was not read again
        backend.set_weights([0.0, 1.0])  # other scales: this request reads everything again
        backend.pin(None)
        fresh_other = backend.generate(more, GREEDY).text
        backend.pin("story.md")
        assert backend.generate(more, GREEDY).text == fresh_other and backend.last_cached == 0
        assert fresh_other != fresh
    finally:
        backend.close()


# ----- a model split over machines: llama.cpp's RPC backend ---------------------------------------
@pytest.fixture(scope="module")
def rpc_binaries() -> Path:
    r = subprocess.run(["bash", str(ROOT / "packaging" / "build_llama_server.sh"), "--rpc"], capture_output=True,
                       text=True, timeout=2400)
    if r.returncode == 3:
        pytest.skip(f"llama-server with RPC cannot be built here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr[-3000:]
    return Path(r.stdout.strip().splitlines()[-1])


def _rpc_server(folder: Path) -> tuple[subprocess.Popen, str]:
    """A ggml-rpc-server on loopback (it exposes this machine's CPU as a device)."""
    port = _free_port()
    proc = subprocess.Popen([str(folder / "ggml-rpc-server"), "-H", "127.0.0.1", "-p", str(port), "-t", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        if proc.poll() is not None:
            raise RuntimeError(f"ggml-rpc-server exited: {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("ggml-rpc-server did not listen in 30 s")


def test_a_model_split_over_two_rpc_servers_keeps_each_points_text_and_a_lost_one_is_an_error(
        rpc_binaries, gguf_adapters, base, server):
    """The model's layers on two rpc-servers (loopback stands in for two machines), the anchors
    as LoRAs on the llama-server in front: each point's text is the one the plain server
    writes, and a killed rpc-server gives the writer an error, not a hang."""
    workers = [_rpc_server(rpc_binaries) for _ in range(2)]
    proc = None
    try:
        proc, url = _start(str(rpc_binaries / "llama-server"), gguf_adapters, base,
                           extra=("--rpc", ",".join(addr for _, addr in workers), "-ngl", "99"))
        split, plain = _remote(url), _remote(server)
        for weights in ((1.0, 0.0), (0.3, 0.7), (0.0, 1.0)):
            split.set_weights(weights)
            plain.set_weights(weights)
            assert split.generate(PROMPT, GREEDY).text == plain.generate(PROMPT, GREEDY).text, weights
        workers[1][0].kill()
        workers[1][0].wait()
        started = time.time()

        def ask() -> None:
            b = RemoteBackend(url, api_key=KEY, timeout=20.0)
            b.load()
            b.generate(PROMPT, GREEDY)
        with pytest.raises(ProsemixError, match="cannot reach|broke mid-stream|stopped answering|did not answer"):
            ask()
        assert time.time() - started < 90  # said, not hung
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        for p, _ in workers:
            p.kill()
            p.wait()



def test_a_voice_with_a_diction_is_refused_by_name(server, gguf_adapters, tmp_path):
    """The server gets adapter scales only: a voice's diction (a bias on every token) would not
    reach it, so such a voice is refused by name rather than played weaker than it is."""
    import shutil

    import numpy as np
    from safetensors.numpy import save_file

    from engine.anchors.diction import DICTION_FILE

    folder = tmp_path / "alpha"
    folder.mkdir()
    voice = Path(shutil.copy(gguf_adapters[0], folder / "alpha.gguf"))
    RemoteBackend(server, api_key=KEY).load(None, [voice])  # without a diction: served as it is
    save_file({"diction": np.zeros(8, np.float32)}, str(folder / DICTION_FILE))
    with pytest.raises(AnchorError, match="voice 'alpha' has a diction.*llama or torch"):
        RemoteBackend(server, api_key=KEY).load(None, [voice])


def test_no_repeats_reaches_the_servers_own_dry_sampler(server):
    backend = _remote(server)
    try:
        backend.set_weights([0.5, 0.5], strength=0.0)  # the base model, which copies the run
        prompt = "One two three four five six seven. One two three four five six seven. One two three"
        greedy = SamplingConfig(max_tokens=4, temperature=0.0, repetition_penalty=1.0)
        assert backend.generate(prompt, greedy).text.startswith(" four")
        text = backend.generate(prompt, replace(greedy, dry=0.8)).text
        assert not text.startswith(" four"), text
    finally:
        backend.close()
