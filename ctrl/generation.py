"""One generation interface, three backends: transformers (default), vllm, openai.

    backend = load_backend("default")                       # the embedded model, transformers
    out = backend.generate([[{"role": "user", "content": "..."}]], SamplingParams(n=4))
    out[0][0].text, out[0][0].finish_reason, out[0][0].n_tokens

Sampling semantics are the same on every backend: ``temperature=0`` is greedy (the n samples are
copies), top-k is never applied, ``stop`` strings end a completion and are not included in it,
the seed of prompt i is ``derive_seed(params.seed, messages_i)`` so a prompt's samples do not
depend on which other prompts share its batch (exact resume after a crash needs that); the
transformers backend seeds sample j of prompt i from that seed and j, one generator per row, and
batches all samples of all prompts (``ctrl/backends/transformers.py``).
Model ids are resolved in one place, ``ctrl.models.resolve`` (store keys, ``default``, paths, hub
ids); ``resolve_local`` below is its offline-safe hub-cache lookup.
``finish_reason`` is ``stop`` (end of turn or stop string), ``length`` (max_new_tokens or the end
of the context) or ``prompt_too_long`` (the prompt alone fills the context; text is empty).

``vllm`` is imported only when that backend is loaded (install the ``ctrl[gpu]`` extra).
``GPU_MODEL_PRESETS`` name the real models and the papers' sampling settings for GPU runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import socket
from typing import Any, Protocol

from ctrl.config import ConfigError, doc
from ctrl.errors import UserError

Messages = list[dict[str, str]]

FINISH_REASONS = ("stop", "length", "prompt_too_long")


class GenerationError(UserError, RuntimeError):
    """A backend could not load a model or reach an endpoint; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """Sampling settings shared by all backends."""

    n: int = doc("samples per prompt", 1)
    temperature: float = doc("softmax temperature; 0 means greedy", 0.7)
    top_p: float = doc("nucleus sampling mass, in (0, 1]", 1.0)
    max_new_tokens: int = doc("most tokens generated per sample", 256)
    seed: int = doc("base seed; each prompt's seed is derived from it and the prompt", 0)
    stop: tuple[str, ...] = doc("strings that end a completion (not included in the text)", ())
    repetition_penalty: float = doc("HF/vLLM-style repetition penalty; 1.0 disables it", 1.0)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n={self.n}: ask for at least one sample (n >= 1)")
        if self.temperature < 0:
            raise ConfigError(f"temperature={self.temperature}: use 0 for greedy or a value > 0")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p={self.top_p}: must lie in (0, 1]; use 1.0 to disable it")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens={self.max_new_tokens}: must be >= 1")
        if self.repetition_penalty <= 0:
            raise ConfigError(f"repetition_penalty={self.repetition_penalty}: must be > 0 "
                              "(1.0 disables it)")
        if isinstance(self.stop, (str, list)):
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str)
                               else tuple(self.stop))


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Which model generates and how it samples: one nested config shared by every generating
    stage (their ``generation`` field), instead of the same fields copied into each.

    On the command line: ``--generation.temperature 0.2`` or, where unambiguous, ``--temperature
    0.2``; in presets and ``--set``: ``generation.temperature``. The number of samples stays a
    field of the stage (``rollout.samples``), since only some stages sample several.
    """

    model: str = doc("model: 'default', a local directory, a Hugging Face id or a store model key",
                     "default")
    backend: str = doc("transformers | vllm | openai", "transformers")
    base_url: str = doc("openai backend: endpoint, e.g. http://localhost:8000/v1", "")
    temperature: float = doc("sampling temperature; 0 = greedy", 0.7)
    top_p: float = doc("nucleus sampling mass, in (0, 1]", 1.0)
    repetition_penalty: float = doc("repetition penalty; 1.0 disables it", 1.0)
    max_new_tokens: int = doc("most new tokens per sample", 256)
    seed: int = doc("base seed; each prompt's seed is derived from it and the prompt", 0)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r}: use one of {sorted(BACKENDS)}")
        if self.backend == "openai" and not self.base_url:
            raise ConfigError("backend='openai' needs base_url (e.g. --base-url "
                              "http://localhost:8000/v1; start one with `ctrl serve`)")
        if self.backend != "openai" and self.base_url:
            raise ConfigError(f"base_url is only used by backend='openai' (got backend="
                              f"{self.backend!r}); drop --base-url or pass --backend openai")
        self.sampling()  # validates the sampling fields, naming the bad one

    def sampling(self, n: int = 1, stop: tuple[str, ...] = ()) -> "SamplingParams":
        """These settings as SamplingParams for ``n`` samples per prompt."""
        return SamplingParams(n=n, temperature=self.temperature, top_p=self.top_p,
                              max_new_tokens=self.max_new_tokens, seed=self.seed, stop=stop,
                              repetition_penalty=self.repetition_penalty)

    def options(self) -> dict[str, Any]:
        """Backend options (``base_url`` for openai)."""
        return {"base_url": self.base_url} if self.backend == "openai" else {}


def generation(help: str = "the model and its sampling settings", **defaults: Any) -> Any:
    """A stage config's ``generation`` field with stage-specific defaults."""
    return doc(help, GenerationConfig(**defaults))


@dataclasses.dataclass(frozen=True)
class Completion:
    """One sample: its text, why it ended, generated tokens, and the prompt's token count."""

    text: str
    finish_reason: str
    n_tokens: int
    prompt_tokens: int


class Backend(Protocol):
    """What every backend provides."""

    model_name: str
    max_context: int | None

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        ...


# The papers' sampling for solutions (CTRL Stage I; RLEF uses temperature 1.0 for training).
PAPER_SAMPLING = SamplingParams(n=4, temperature=0.7, top_p=0.8, max_new_tokens=1024,
                                repetition_penalty=1.05)

# Real models for GPU runs; ctrl/presets.py builds run presets from these.
GPU_MODEL_PRESETS: dict[str, dict[str, Any]] = {
    name: {
        "model": hub_id,
        "backend": "vllm",
        "sampling": dataclasses.asdict(PAPER_SAMPLING),
        "min_gpu_gib": gib,
    }
    for name, hub_id, gib in [
        ("qwen2.5-coder-1.5b", "Qwen/Qwen2.5-Coder-1.5B-Instruct", 8),
        ("qwen2.5-coder-7b", "Qwen/Qwen2.5-Coder-7B-Instruct", 24),
        ("qwen2.5-coder-32b", "Qwen/Qwen2.5-Coder-32B-Instruct", 80),
    ]
}

BACKENDS = {
    "transformers": "ctrl.backends.transformers:TransformersBackend",
    "vllm": "ctrl.backends.vllm:VLLMBackend",
    "openai": "ctrl.backends.openai:OpenAIBackend",
}


def derive_seed(seed: int, messages: Messages) -> int:
    """The per-prompt seed: a hash of the base seed and the prompt (31 bits, for every backend)."""
    blob = json.dumps([seed, messages], sort_keys=True, ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def apply_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string; returns (text, whether one was found)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_local(model: str) -> str:
    """A local directory for ``model``: the alias ``default``, a path, or a cached hub name.

    Offline (``HF_HUB_OFFLINE=1`` or huggingface.co unreachable) a hub name that is not in the
    cache fails at once with a GenerationError instead of hanging in retries.
    """
    from ctrl.default_model import resolve_model

    model = resolve_model(model)
    if os.path.isdir(model):
        return model
    if model.startswith((".", "/", "~")):
        raise GenerationError(f"model directory {model!r} does not exist; pass an existing "
                              "directory, a Hugging Face name, or 'default'")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - any cache miss means "not available offline"
        cache_miss = e
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not _hub_reachable():
        raise GenerationError(
            f"model {model!r} is not a local directory and not in the Hugging Face cache, and "
            "the hub is offline; download it on a connected machine (huggingface-cli download "
            f"{model}) or pass a local directory or 'default'") from cache_miss
    try:
        return snapshot_download(model)
    except Exception as e:  # noqa: BLE001 - re-raised with the fix
        raise GenerationError(f"could not download model {model!r} from the hub: {e}; check "
                              "the name (e.g. Qwen/Qwen2.5-Coder-7B-Instruct)") from e


def load_backend(model: str, backend: str = "transformers", **options: Any) -> Backend:
    """Load ``model`` (a directory, a hub name, or ``default``) on ``backend``.

    Args:
        model: model id; for ``openai`` the served model name (``default`` is allowed when the
            server serves the default model).
        backend: ``transformers``, ``vllm`` or ``openai``.
        **options: backend-specific options (e.g. ``device``, ``dtype``; ``base_url`` for openai).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    module, cls = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), cls)(model, **options)


# Hub ids by size, for ctrl/presets.py.
QWEN_CODER = {name.rsplit("-", 1)[-1]: p["model"] for name, p in GPU_MODEL_PRESETS.items()}


def model_fingerprint(model: str) -> str:
    """A short id of a model's weights, for cache keys: a local directory's content changes the
    fingerprint (config, file sizes, the first and last MiB of every weight file); a hub name or
    served name is its own fingerprint."""
    from ctrl.default_model import resolve_model

    path = resolve_model(model)
    if not os.path.isdir(path):
        return model
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if not os.path.isfile(full) or name.startswith(("README", "_manifest")):
            continue
        size = os.path.getsize(full)
        h.update(f"{name}:{size}\n".encode())
        with open(full, "rb") as f:
            if name.endswith((".json", ".jinja", ".txt", ".model")):
                h.update(f.read())
            else:
                h.update(f.read(1 << 20))
                f.seek(max(0, size - (1 << 20)))
                h.update(f.read())
    return "sha256:" + h.hexdigest()[:16]
