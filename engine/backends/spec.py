"""What a user asked to open, checked when it is made: the one place a bad model option is
named. `engine.backends.open_backend` turns it into a loaded backend."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.backends.settings import EngineSettings
from engine.errors import ProsemixError
from engine.sampling import DEFAULT_N_CTX

BACKENDS = ("llama", "torch", "remote")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")
# the merged working copy's layouts for the matrices no anchor targets (engine.backends.llama_merge)
LAYOUTS = ("keep", "bf16", "f16", "f32", "q8_0")


@dataclass(frozen=True)
class BackendSpec:
    """What to open. ``model`` None is the embedded default; for the remote backend ``server``
    is the llama-server URL and anchors may be names the server holds. ``settings``: the
    engine's measuring knobs, read from the environment when the spec is made."""

    model: str | None = None
    backend: str = "auto"  # auto, llama, torch, remote
    device: str = "auto"  # torch: auto, cpu, cuda, mps
    dtype: str = "auto"  # torch: auto, float32, float16, bfloat16
    gpu_layers: int = 0  # llama.cpp: layers offloaded to the GPU (-1: all)
    working_copy: str = "auto"  # llama.cpp merged mode: auto (measured) or one of llama_merge.LAYOUTS
    n_ctx: int = DEFAULT_N_CTX
    server: str | None = None
    api_key: str | None = None
    allow_pickle: bool = False
    settings: EngineSettings = field(default_factory=EngineSettings.from_environment)

    def __post_init__(self) -> None:
        def bad(what: str, value: object, need: str) -> ProsemixError:
            return ProsemixError(f"{what} must be {need}, got {value!r}")

        if self.backend not in ("auto", *BACKENDS):
            raise bad("the backend", self.backend, "auto, " + ", ".join(BACKENDS))
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise bad("the device", self.device, ", ".join(DEVICES) + " or cuda:N")
        if self.dtype not in DTYPES:
            raise bad("the dtype", self.dtype, ", ".join(DTYPES))
        if self.working_copy not in ("auto", *LAYOUTS):
            raise bad("the working copy", self.working_copy, "auto, " + ", ".join(LAYOUTS))
        if isinstance(self.gpu_layers, bool) or not isinstance(self.gpu_layers, int) or self.gpu_layers < -1:
            raise bad("gpu_layers", self.gpu_layers, "-1 (all), 0 or a positive number of layers")
        if isinstance(self.n_ctx, bool) or not isinstance(self.n_ctx, int) or not 256 <= self.n_ctx <= 1 << 20:
            raise bad("n_ctx", self.n_ctx, "a number of tokens from 256 to 1048576")

    @property
    def remote(self) -> bool:
        return self.backend == "remote" or bool(self.server)
