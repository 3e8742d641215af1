from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# llama.cpp evaluates the prompts of every test backend, whatever the layout probe measured on
# this CPU (torch's prompt pass may win on one): the tests that expect llama.cpp's own prefix
# reuse stay valid everywhere, and tests/test_kv_handoff.py asks for torch's pass by name.
os.environ.setdefault("PROSEMIX_PROMPT_PATH", "llama")
# transformers 5 loads weights on a thread pool that it shuts down without waiting, so a worker
# could outlive the test that loaded a model (no_threads_left failed on it once in CI): load
# synchronously in tests
os.environ.setdefault("HF_DEACTIVATE_ASYNC_LOAD", "1")


# A test is an integration test when it loads the real model, starts a server, trains or builds
# the bundle: through one of these fixtures, a `slow` mark, or `pytestmark = pytest.mark.integration`
# in its module. The rest are unit tests (`make test-fast`), and `unit_loads_no_model` holds them to it.
MODEL_FIXTURES = {"session_cache", "base", "adapters", "merged", "torch_blend", "bare_backend"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def unit_loads_no_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that loads a model fails at once, naming the mark it lacks."""
    if request.node.get_closest_marker("integration"):
        return
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.backends.torch import TorchBackend

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a unit test loaded a model: mark it integration (tests/conftest.py)")

    for backend in (LlamaCppBackend, TorchBackend):
        monkeypatch.setattr(backend, "_load_model", refused)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prosemix cache for the whole run (the torch float copy takes ~20 s to make).
    PROSEMIX_TEST_CACHE keeps it between runs on a developer machine."""
    keep = os.environ.get("PROSEMIX_TEST_CACHE")
    path = Path(keep) if keep else tmp_path_factory.mktemp("prosemix-cache")
    os.environ["PROSEMIX_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def base():
    from engine.models.base import base_info

    return base_info(None)


@pytest.fixture(scope="session")
def adapters(tmp_path_factory: pytest.TempPathFactory, base) -> list[Path]:
    """Three synthetic rank-8 q/k/v/o anchors for the embedded model, strong enough to
    change greedy text."""
    from tests.synthetic import write_random_peft

    root = tmp_path_factory.mktemp("adapters")
    return [write_random_peft(root / name, base, rank=8, alpha=16, seed=i, strength=0.15)
            for i, name in enumerate(("alpha", "beta", "gamma"))]


@pytest.fixture(scope="module")
def merged(adapters, session_cache):
    """The llama backend with the three synthetic anchors merged (the default mode)."""
    from engine.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend(merge=True)
    b.load(None, adapters)
    yield b
    b.close()


@pytest.fixture
def torch_blend(adapters):
    """The torch backend with the synthetic anchors at (0.5, 0.5, 0)."""
    pytest.importorskip("torch")
    from engine.backends.torch import TorchBackend

    backend = TorchBackend(device="cpu", dtype="float32")
    backend.load(None, adapters)
    backend.set_weights([0.5, 0.5, 0.0])
    yield backend
    backend.close()


@pytest.fixture(autouse=True)
def no_threads_left():
    """Fail any test that leaves a thread running."""
    before = set(threading.enumerate())
    yield
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive()
             and not t.daemon]
    assert not extra, f"test left threads running: {extra}"


@pytest.fixture(params=["llama", "torch"])
def bare_backend(request, session_cache):
    """Each local backend (llama.cpp merged, torch fp32) with the embedded model and no anchors."""
    if request.param == "torch":
        pytest.importorskip("torch")
        from engine.backends.torch import TorchBackend

        backend = TorchBackend(device="cpu", dtype="float32")
    else:
        from engine.backends.llama_cpp import LlamaCppBackend

        backend = LlamaCppBackend(merge=True)
    backend.load(None, [])
    yield backend
    backend.close()
