"""Remote backend: llama.cpp's llama-server, started by the user with
`--lora A.gguf --lora B.gguf ... --lora-init-without-apply`.

Each request carries its own adapter scales (`"lora": [{"id": i, "scale": w_i}]`), so a weight
change costs nothing and users with different weights share one server without disturbing
each other. Tokens arrive as server-sent events; closing the stream cancels the request.

Candidates (`stream_candidates`) are the base's: one request after another. Sent together,
llama-server decodes its busy slots in one batch, and a candidate's text was no longer the text
of a lone request with its seed (2 of 3 differed in a test against this machine's build); the
rule that a seed gives one text matters more than the speed.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from engine.anchors.diction import DICTION_FILE
from engine.anchors.loading import find_card
from engine.anchors.model import Anchor
from engine.errors import AnchorError, BackendUnavailable, ProsemixError
from engine.models.base import BaseInfo
from engine.models.gguf_meta import read_header
from engine.sampling import DEFAULT_N_CTX, SamplingConfig
from engine.backends.dry import BREAKERS, DRY_ALLOWED, DRY_BASE, DRY_LAST_N
from engine.backends.base import Backend, Piece, Progress

if TYPE_CHECKING:
    import httpx


def adapter_name(path: str) -> str:
    return PurePath(path.replace("\\", "/")).stem


class ServerClient:
    """HTTP to one llama-server, with every failure turned into an error that names it."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0):
        try:
            import httpx
        except ImportError:
            raise BackendUnavailable("the remote backend needs httpx, which is not installed") from None
        if not url.startswith(("http://", "https://")):
            raise ProsemixError(f"the server URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, headers=headers,
                                 timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ProsemixError(f"cannot reach the server at {self.url}: {exc}") from None
        except httpx.TimeoutException:
            raise ProsemixError(f"the server at {self.url} did not answer {path} in time") from None
        except httpx.HTTPError as exc:
            raise ProsemixError(f"talking to {self.url}{path} failed: {exc}") from None
        self.check(response, path)
        try:
            return response.json()
        except ValueError:
            raise ProsemixError(f"{self.url}{path} did not answer with JSON: is this a llama-server?") from None

    def check(self, response: "httpx.Response", path: str) -> None:
        status = response.status_code
        if status == 401:
            raise ProsemixError(f"the server at {self.url} refused the API key (HTTP 401)")
        if status == 404:
            raise ProsemixError(f"{self.url}{path} not found (HTTP 404): is this a llama-server?")
        if status >= 400:
            try:
                message = response.json().get("error", {}).get("message", "")
            except ValueError:
                message = response.text[:200]
            raise ProsemixError(f"the server answered {path} with HTTP {status}: {message}")

    def describe(self) -> dict:
        """What the server says about itself (model, context, slots) and its adapters."""
        props = self.request("GET", "/props")
        adapters = self.request("GET", "/lora-adapters")
        if not isinstance(props, dict) or not isinstance(adapters, list):
            raise ProsemixError(f"{self.url} does not look like a llama-server")
        return {"props": props, "adapters": adapters}

    def close(self) -> None:
        self.http.close()


def probe_server(url: str, api_key: str | None = None, timeout: float = 5.0) -> dict:
    """A quick look at a server (the model dialog's connection test): no backend is made."""
    client = ServerClient(url, api_key, timeout)
    try:
        return client.describe()
    finally:
        client.close()


class RemoteBackend(Backend):
    name = "remote"
    can_forbid = True
    can_top = True
    can_score = False  # llama-server does not return log-probabilities of a given text

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0,
                 n_ctx: int = DEFAULT_N_CTX) -> None:
        super().__init__(n_ctx)
        self._server = ServerClient(url, api_key, timeout)
        self.url = self._server.url
        self._props: dict = {}
        self._connected: dict = {}
        self._served: list[Anchor] = []
        self._values: tuple[float, ...] = ()
        self._ended = False  # the last completion ended at end-of-sequence or a stop word
        # a pinned slot (`pin`): its prompt cache is used only when its last request had the
        # same adapter scales, since llama.cpp reuses a slot's cache across scales (#26207)
        self.slot: int | None = None
        self._slot_scales: dict[int, tuple] = {}
        self.last_cached = 0  # prompt tokens the server took from its cache in the last request
        self.anchors_applied = "per request"
        self.anchors_reason = "the server applies each request's adapter scales"

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._server.request(method, path, **kwargs)

    def check_connection(self) -> dict:
        return self._server.describe()

    # ----- lifecycle -----------------------------------------------------------------------------
    def _open_model(self, model: str | os.PathLike[str] | None, progress: Progress
                    ) -> tuple[Path, BaseInfo | None]:
        """Connect: the model is whatever the server runs (``model`` is ignored)."""
        progress(f"connecting to {self.url}", 0.1)
        info = self.check_connection()
        self._connected = info["props"]  # becomes _props in _load_model, after close()
        self._served = [Anchor(adapter_name(a.get("path", f"adapter{a['id']}")),
                               Path(a.get("path", "")), 0.0, False, {}, server_id=int(a["id"]))
                        for a in info["adapters"]]
        generation = self._connected.get("default_generation_settings", {})
        self.n_ctx = int(generation.get("n_ctx") or self._connected.get("n_ctx") or self.n_ctx)
        return Path(str(self._connected.get("model_path", self.url))), None

    def _resolve_anchors(self, anchors: Sequence[str | os.PathLike[str] | Anchor],
                         info: BaseInfo | None, allow_pickle: bool) -> list[Anchor]:
        """Map the server's adapters to anchors. ``anchors`` may name a subset (by name, or
        by a local file whose stem or card names it); empty means all of them."""
        if not anchors:
            for a in self._served:
                self._refuse_diction(a.source, a.name)
            return list(self._served)
        by_name = {a.name: a for a in self._served}
        chosen = []
        for item in anchors:
            name = self._local_name(item)
            if isinstance(item, (str, os.PathLike)):
                self._refuse_diction(Path(item), name)
            if name not in by_name:
                raise AnchorError(f"the server at {self.url} has no adapter for anchor {name!r}; "
                                  f"it serves {sorted(by_name) or 'none'} (start it with --lora {name}.gguf)")
            chosen.append(by_name[name])
        self._check_base(anchors)
        return chosen

    @staticmethod
    def _refuse_diction(path: Path, name: str) -> None:
        """A voice with a diction (a bias on every token, engine.anchors.diction) is refused by
        name: this backend sends the server adapter scales only, so the voice would sound
        weaker than it does on the local backends."""
        if path != Path("") and ((path if path.is_dir() else path.parent) / DICTION_FILE).is_file():
            raise AnchorError(f"voice {name!r} has a diction (a bias on every token) that the llama-server "
                              "backend does not send with its requests; use it with the local backends "
                              "(llama or torch)")

    @staticmethod
    def _local_name(item: object) -> str:
        if isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if path.exists():
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
            meta = self._request("GET", "/v1/models")["data"][0].get("meta", {})
        except (ProsemixError, KeyError, IndexError, TypeError):
            return
        n_embd = meta.get("n_embd")
        for path in local:
            header = read_header(path, error=AnchorError)
            widths = {t.shape[1] for n, t in header.tensors.items() if n.endswith(".lora_a")}
            if n_embd and widths and n_embd not in widths:
                raise AnchorError(f"{path} is an adapter for a model of width {sorted(widths)}, but the "
                                  f"server's model has width {n_embd}: it was trained for another base")

    def shutdown(self) -> None:
        self.close()
        self._server.close()

    def _load_model(self, path: Path, progress: Progress) -> None:
        """Nothing to load here: the server holds the model."""
        self._props = self._connected

    def _is_loaded(self) -> bool:
        return bool(self._props)

    def _close_model(self) -> None:
        self._props = {}

    def _attach_anchors(self) -> None:
        """Nothing to attach: the server holds the adapters."""

    def _apply_weights(self, values: tuple[float, ...]) -> None:
        self._values = values  # sent with each request

    def pin(self, key: str | None) -> int | None:
        """Pin a slot for ``key`` (a document) so that its next requests can reuse what the slot
        already read; None unpins (every request reads its prompt afresh)."""
        if key is None:
            self.slot = None
            return None
        slots = int(self._props.get("total_slots") or 1)
        self.slot = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % max(1, slots)
        return self.slot

    def _scales(self) -> tuple:
        return tuple((a.server_id, round(w, 9)) for a, w in zip(self.anchors, self._values))

    def _tokenize(self, text: str) -> list[int]:
        out = self._request("POST", "/tokenize", json={"content": text, "add_special": True,
                                                        "parse_special": True})
        return list(out.get("tokens", [])) if isinstance(out, dict) else []

    def _chat_template(self) -> str | None:
        return self._props.get("chat_template")

    def _special(self, which: str) -> str:
        return str(self._props.get(f"{which}_token", ""))

    def _token_pieces(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                      logprobs: bool) -> Iterator[Piece]:
        step = self._take_step()
        forbid, top_k = step.forbid_first, step.top_k
        if not forbid:
            yield from self._completion(tokens, sampling, max_tokens, logprobs, top_k=top_k)
            return
        # llama-server's logit_bias holds for a whole request: the first token comes from a
        # one-token request that rules ``forbid`` out, the rest from a request that goes on
        first = list(self._completion(tokens, sampling, 1, logprobs,
                                      {"logit_bias": [[t, False] for t in sorted(forbid)]}, top_k))
        yield from first
        ids = [p.token for p in first if p.token is not None]
        if not first or max_tokens <= 1 or self._ended:
            return
        if not ids:  # a server that does not return token ids: the text's tokens
            ids = self._tokenize("".join(p.text for p in first))
        yield from self._completion(tokens + ids, sampling, max_tokens - 1, logprobs, top_k=top_k)

    def _completion(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                    logprobs: bool, extra: dict | None = None, top_k: int = 0) -> Iterator[Piece]:
        body = {
            "prompt": tokens, "n_predict": max_tokens, "stream": True, "cache_prompt": False,
            "temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
            "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": sampling.repetition_penalty,
            "repeat_last_n": 64, "seed": sampling.seed, "return_tokens": True,
            "lora": [{"id": a.server_id, "scale": w} for a, w in zip(self.anchors, self._values)],
            **(extra or {}),
        }
        if self.slot is not None:  # the cache only where the slot last ran these very scales
            body["id_slot"] = self.slot
            body["cache_prompt"] = self._slot_scales.get(self.slot) == self._scales()
            self._slot_scales[self.slot] = self._scales()
        else:  # the server picks a slot, maybe a pinned one: what any slot holds is unknown now
            self._slot_scales.clear()
        if sampling.dry:  # llama-server's own DRY sampler, with the local backends' settings
            body.update(dry_multiplier=sampling.dry, dry_base=DRY_BASE, dry_allowed_length=DRY_ALLOWED,
                        dry_penalty_last_n=DRY_LAST_N, dry_sequence_breakers=list(BREAKERS))
        if logprobs or top_k:
            body["n_probs"] = max(1, top_k)  # log p of each sampled token (and the top k), from the raw logits
        self._ended = False
        try:
            yield from self._stream_completion(body, logprobs, top_k)
        except Exception:
            if self.slot is not None:
                self._slot_scales.pop(self.slot, None)  # what the slot holds is not known now
            raise

    def _stream_completion(self, body: dict, logprobs: bool, top_k: int) -> Iterator[Piece]:
        import httpx

        try:
            with self._server.http.stream("POST", "/completion", json=body,
                                     headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    response.read()
                    self._server.check(response, "/completion")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    event = json.loads(payload)
                    if "error" in event:
                        raise ProsemixError(f"the server stopped with an error: {event['error']}")
                    if event.get("content") or ((logprobs or top_k) and _event_logprobs(event)):
                        for piece in _pieces_of(event, logprobs, top_k):
                            yield piece
                    if event.get("stop"):
                        self._ended = event.get("stop_type") in ("eos", "word")
                        timings = event.get("timings") or {}
                        self.last_cached = int(timings.get("cache_n", event.get("tokens_cached", 0)) or 0)
                        return
        except httpx.ConnectError as exc:
            raise ProsemixError(f"cannot reach the server at {self.url}: {exc}") from None
        except httpx.TimeoutException:
            raise ProsemixError(f"the server at {self.url} stopped answering mid-generation (timeout)") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise ProsemixError(f"the connection to {self.url} broke mid-stream: {exc}") from None


def _event_logprobs(event: dict) -> list[float]:
    """The sampled tokens' log-probabilities in one streamed event (llama-server puts them in
    completion_probabilities; older servers gave probabilities in "probs")."""
    out = []
    for item in event.get("completion_probabilities") or []:
        if "logprob" in item:
            out.append(float(item["logprob"]))
        elif item.get("probs"):
            import math

            out.append(math.log(max(float(item["probs"][0].get("prob", 0.0)), 1e-45)))
    return out


def _pieces_of(event: dict, logprobs: bool, top_k: int = 0) -> list[Piece]:
    """One Piece per token in the event: a streamed event usually holds one token; where it
    holds several, the text rides on the first and the others carry only their log p."""
    text = event.get("content", "")
    values = _event_logprobs(event) if logprobs else []
    tops = _event_tops(event, top_k) if top_k else []
    ids = [t for t in event.get("tokens") or [] if isinstance(t, int)]
    count = max(len(values), len(ids), len(tops), 1)
    return [Piece(text if i == 0 else "", values[i] if i < len(values) else None,
                  ids[i] if i < len(ids) else None, tops[i] if i < len(tops) else (() if top_k else None))
            for i in range(count)]


def _event_tops(event: dict, k: int) -> list[tuple[tuple[str, float], ...]]:
    """Each token's k most likely alternatives in one streamed event, as (text, log p):
    llama-server's top_logprobs (or an older server's probs)."""
    import math

    out = []
    for item in event.get("completion_probabilities") or []:
        if "top_logprobs" in item:
            out.append(tuple((str(t.get("token", "")), float(t.get("logprob", -math.inf)))
                             for t in item["top_logprobs"][:k]))
        else:
            out.append(tuple((str(t.get("tok_str", "")), math.log(max(float(t.get("prob", 0.0)), 1e-45)))
                             for t in (item.get("probs") or [])[:k]))
    return out
