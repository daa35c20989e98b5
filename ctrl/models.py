"""The model layer: one resolver, explicit handles, one batched "generate for these prompts".

    pool = ModelPool(store)                       # the caller owns it; nothing is module-global
    policy = pool.get("default")                  # a store model key, a path, a hub id, 'default'
    frozen = pool.get(store_key)                  # a second model, loaded at the same time
    texts = generate_texts(frozen, prompts, SamplingParams(n=4, temperature=0.7))

``resolve(store, model)`` is the only place that maps a model id to what a backend loads:
- a store model key (16 hex digits with a complete model artifact) -> its local directory;
- ``default`` -> the embedded default model's directory (``ctrl.default_model``);
- an existing directory -> itself;
- anything else (a hub id, or a served model name for the openai backend) -> itself; with
  ``local=True`` the offline-safe Hugging Face cache lookup of ``ctrl.generation.resolve_local``.

A ``Handle`` loads its backend on first use, so a stage whose work is all cached or reused never
loads a model. A ``ModelPool`` keeps every handle it made until ``release``: one process can hold a
trainable policy and a frozen generator at once; callers that want one model in memory release the
other first.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Sequence

from ctrl.generation import Backend, Completion, Messages, SamplingParams

_KEY = re.compile(r"[0-9a-f]{16}")

# Held while a model is loaded (imports + from_pretrained): transformers' lazy imports are not
# thread-safe, and the pipeline runs independent steps (e.g. sft beside evaluation) in threads.
LOAD_LOCK = threading.RLock()


def resolve(store: Any, model: str, *, local: bool = False) -> str:
    """A model id ``load_backend`` accepts, from a store key, 'default', a path or a hub id.

    Args:
        store: the artifact store holding model artifacts (None: store keys are not looked up).
        model: the id as the user gave it.
        local: also turn a hub id into its local cache directory (offline-safe; raises
            ``GenerationError`` with the fix when it is not available).
    """
    from ctrl.default_model import resolve_model as _alias

    if store is not None and _KEY.fullmatch(model or "") and store.has_model(model):
        return store.model_path(model)
    model = _alias(model)
    if local and not os.path.isdir(model):
        from ctrl.generation import resolve_local

        return resolve_local(model)
    return model


def fingerprint(store: Any, model: str) -> str:
    """The weights' fingerprint of ``model`` (resolved first) for artifact keys."""
    from ctrl.generation import model_fingerprint

    return model_fingerprint(resolve(store, model))


class Handle:
    """One model on one backend; loads on first use.

    Attributes:
        name: the model id as given (what tables record in their ``model`` columns).
        path: the resolved id the backend loads.
    """

    def __init__(self, name: str, path: str, backend: str = "transformers",
                 **options: Any) -> None:
        self.name, self.path, self.backend_name, self.options = name, path, backend, options
        self._backend: Backend | None = None

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from ctrl.generation import load_backend

            with LOAD_LOCK:
                self._backend = load_backend(self.path, self.backend_name, **self.options)
        return self._backend

    def generate(self, prompts: Sequence[Messages], params: SamplingParams
                 ) -> list[list[Completion]]:
        """All ``params.n`` samples of every prompt, batched by the backend."""
        return generate(self, prompts, params)

    def unload(self) -> None:
        self._backend = None


class ModelPool:
    """The handles of one caller, by (model, backend, options); several stay loaded at once."""

    def __init__(self, store: Any = None) -> None:
        self.store = store
        self._handles: dict[tuple, Handle] = {}

    def get(self, model: str, backend: str = "transformers", **options: Any) -> Handle:
        """The handle of ``model`` (resolved with ``resolve``), made once per pool."""
        key = (model, backend, tuple(sorted(options.items())))
        if key not in self._handles:
            # an openai endpoint serves models by name; everything else loads a resolved id
            path = model if backend == "openai" else resolve(self.store, model)
            self._handles[key] = Handle(model, path, backend, **options)
        return self._handles[key]

    def release(self, handle: Handle) -> None:
        """Forget ``handle`` and free its weights."""
        handle.unload()
        self._handles = {k: h for k, h in self._handles.items() if h is not handle}

    def loaded(self) -> list[Handle]:
        return [h for h in self._handles.values() if h.loaded]


def generate(handle: Handle, prompts: Sequence[Messages], params: SamplingParams
             ) -> list[list[Completion]]:
    """Generate ``params.n`` samples for every prompt in one backend call (batched across prompts
    and samples); an empty request loads nothing."""
    if not prompts:
        return []
    return handle.backend.generate(list(prompts), params)


def generate_texts(handle: Handle, prompts: Sequence[Messages], params: SamplingParams
                   ) -> list[list[str]]:
    """The texts of ``generate``: one list of ``params.n`` strings per prompt."""
    return [[c.text for c in cs] for cs in generate(handle, prompts, params)]
