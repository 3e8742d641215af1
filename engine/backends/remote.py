"""Remote backend: llama.cpp's llama-server, started by the user with
`--lora A.gguf --lora B.gguf ... --lora-init-without-apply`.

Each request carries its own adapter scales (`"lora": [{"id": i, "scale": w_i}]`), so a weight
change costs nothing and users with different weights share one server without disturbing
each other. Tokens arrive as server-sent events; closing the stream cancels the request.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Iterator, Sequence

from ..errors import AnchorError, BackendUnavailable, ProsemixError
from ..sampling import SamplingConfig
from .base import DEFAULT_N_CTX, Backend, Progress


@dataclass
class RemoteAnchor:
    """An adapter the server holds: its id there, its path there, and our name for it."""

    name: str
    id: int
    path: str


def adapter_name(path: str) -> str:
    return PurePath(path.replace("\\", "/")).stem


class RemoteBackend(Backend):
    name = "remote"

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0,
                 n_ctx: int = DEFAULT_N_CTX) -> None:
        super().__init__(n_ctx)
        try:
            import httpx
        except ImportError:
            raise BackendUnavailable("the remote backend needs httpx, which is not installed") from None
        if not url.startswith(("http://", "https://")):
            raise ProsemixError(f"the server URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.url, headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self._props: dict = {}
        self._values: tuple[float, ...] = ()

    # ----- HTTP ----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: object) -> object:
        import httpx

        try:
            response = self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.ConnectError as exc:
            raise ProsemixError(f"cannot reach the server at {self.url}: {exc}") from None
        except httpx.TimeoutException:
            raise ProsemixError(f"the server at {self.url} did not answer {path} in time") from None
        except httpx.HTTPError as exc:
            raise ProsemixError(f"talking to {self.url}{path} failed: {exc}") from None
        self._check(response, path)
        try:
            return response.json()
        except ValueError:
            raise ProsemixError(f"{self.url}{path} did not answer with JSON: is this a llama-server?") from None

    def _check(self, response: object, path: str) -> None:
        status = response.status_code  # type: ignore[attr-defined]
        if status == 401:
            raise ProsemixError(f"the server at {self.url} refused the API key (HTTP 401)")
        if status == 404:
            raise ProsemixError(f"{self.url}{path} not found (HTTP 404): is this a llama-server?")
        if status >= 400:
            try:
                message = response.json().get("error", {}).get("message", "")  # type: ignore[attr-defined]
            except Exception:
                message = response.text[:200]  # type: ignore[attr-defined]
            raise ProsemixError(f"the server answered {path} with HTTP {status}: {message}")

    def check_connection(self) -> dict:
        """What the server says about itself (model, context, slots) and its adapters."""
        props = self._request("GET", "/props")
        adapters = self._request("GET", "/lora-adapters")
        if not isinstance(props, dict) or not isinstance(adapters, list):
            raise ProsemixError(f"{self.url} does not look like a llama-server")
        return {"props": props, "adapters": adapters}

    # ----- lifecycle -----------------------------------------------------------------------------
    def load(self, model: str | os.PathLike[str] | None = None,
             anchors: Sequence[str | os.PathLike[str] | object] = (), *,
             allow_pickle: bool = False, progress: Progress | None = None) -> None:
        """Connect and map the server's adapters to anchors. ``anchors`` may name a subset
        (by name, or by local file whose stem or card names it); empty means all of them."""
        progress = progress or (lambda message, fraction: None)
        progress(f"connecting to {self.url}", 0.1)
        info = self.check_connection()
        self._props = info["props"]
        served = [RemoteAnchor(adapter_name(a.get("path", f"adapter{a['id']}")), int(a["id"]), a.get("path", ""))
                  for a in info["adapters"]]
        if anchors:
            by_name = {a.name: a for a in served}
            chosen = []
            for item in anchors:
                name = self._local_name(item)
                if name not in by_name:
                    raise AnchorError(f"the server at {self.url} has no adapter for anchor {name!r}; "
                                      f"it serves {sorted(by_name) or 'none'} (start it with --lora {name}.gguf)")
                chosen.append(by_name[name])
            served = chosen
        self._check_base(anchors)
        generation = self._props.get("default_generation_settings", {})
        self.n_ctx = int(generation.get("n_ctx") or self._props.get("n_ctx") or self.n_ctx)
        self.model_path = Path(str(self._props.get("model_path", self.url)))
        self.anchors = served  # type: ignore[assignment]
        self.point = None
        if served:
            self.set_weights([1.0 / len(served)] * len(served), normalize=True)
        progress("ready", 1.0)

    @staticmethod
    def _local_name(item: object) -> str:
        if isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if path.exists():
                from ..anchors import find_card

                card = find_card(path)
                return card.name if card else path.stem
            return str(item)
        return str(getattr(item, "name", item))

    def _check_base(self, anchors: Sequence[object]) -> None:
        """A local GGUF anchor must fit the server's model (embedding width)."""
        local = [Path(a) for a in anchors if isinstance(a, (str, os.PathLike)) and Path(a).is_file()]
        if not local:
            return
        try:
            meta = self._request("GET", "/v1/models")["data"][0].get("meta", {})  # type: ignore[index]
        except (ProsemixError, KeyError, IndexError, TypeError):
            return
        n_embd = meta.get("n_embd")
        from ..gguf_meta import read_header

        for path in local:
            header = read_header(path, error=AnchorError)
            widths = {t.shape[1] for n, t in header.tensors.items() if n.endswith(".lora_a")}
            if n_embd and widths and n_embd not in widths:
                raise AnchorError(f"{path} is an adapter for a model of width {sorted(widths)}, but the "
                                  f"server's model has width {n_embd}: it was trained for another base")

    def close(self) -> None:
        self.anchors, self.point = [], None

    def shutdown(self) -> None:
        self.close()
        self._client.close()

    def _load_model(self, path: Path, progress: Progress) -> None:  # pragma: no cover - load() overrides
        raise ProsemixError("the remote backend loads nothing locally")

    def _is_loaded(self) -> bool:
        return bool(self._props)

    def _close_model(self) -> None:
        self._props = {}

    def _attach_anchors(self) -> None:
        """Nothing to attach: the server holds the adapters."""

    def _apply_weights(self, values: tuple[float, ...]) -> None:
        self._values = values  # sent with each request

    def _tokenize(self, text: str) -> list[int]:
        out = self._request("POST", "/tokenize", json={"content": text, "add_special": True,
                                                        "parse_special": True})
        return list(out.get("tokens", [])) if isinstance(out, dict) else []

    def _chat_template(self) -> str | None:
        return self._props.get("chat_template")

    def _special(self, which: str) -> str:
        return str(self._props.get(f"{which}_token", ""))

    def _token_pieces(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int
                      ) -> Iterator[str]:
        import httpx

        body = {
            "prompt": tokens, "n_predict": max_tokens, "stream": True, "cache_prompt": False,
            "temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
            "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": sampling.repetition_penalty,
            "repeat_last_n": 64, "seed": sampling.seed,
            "lora": [{"id": a.id, "scale": w} for a, w in zip(self.anchors, self._values)],  # type: ignore[attr-defined]
        }
        try:
            with self._client.stream("POST", "/completion", json=body,
                                     headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check(response, "/completion")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    event = json.loads(payload)
                    if "error" in event:
                        raise ProsemixError(f"the server stopped with an error: {event['error']}")
                    if event.get("content"):
                        yield event["content"]
                    if event.get("stop"):
                        return
        except httpx.ConnectError as exc:
            raise ProsemixError(f"cannot reach the server at {self.url}: {exc}") from None
        except httpx.TimeoutException:
            raise ProsemixError(f"the server at {self.url} stopped answering mid-generation (timeout)") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise ProsemixError(f"the connection to {self.url} broke mid-stream: {exc}") from None
