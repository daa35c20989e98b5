"""The transformers backend: chat-templated generation with ``model.generate`` on CPU or GPU.

Each prompt is generated on its own, its n samples in one batch, after seeding torch with the
prompt's derived seed: a prompt's samples are then the same whatever else is in the request,
which the rollout stage needs for exact resume. For throughput on GPUs use the vllm backend.
"""

from __future__ import annotations

import logging
from typing import Any

from ctrl.generation import (Completion, GenerationError, Messages, SamplingParams, apply_stop,
                             derive_seed, resolve_local)

log = logging.getLogger("ctrl.backends.transformers")


class TransformersBackend:
    """``load_backend(model, "transformers", device="auto", dtype="auto")``.

    Args:
        model: directory, cached hub name, or ``default``.
        device: ``auto`` (cuda when available), ``cpu``, ``cuda``, ``cuda:1`` ...
        dtype: ``auto`` (bf16 on GPU, fp32 on CPU), ``float32``, ``bfloat16``, ``float16``.
    """

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model
        path = resolve_local(model)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        except (OSError, ValueError) as e:
            raise GenerationError(f"could not load model {model!r} from {path}: {e}") from e
        if self.tokenizer.chat_template is None:
            raise GenerationError(f"model {model!r} has no chat template; use an instruct/chat "
                                  "model or add a chat_template to its tokenizer_config.json")
        self.model.to(device).eval()
        self.device = device
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 0)) or None
        self._eos = self._eos_ids()
        self._pad = self.tokenizer.pad_token_id
        if self._pad is None:
            self._pad = self._eos[0]

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        if not ids:
            raise GenerationError(f"model {self.model_name!r} defines no eos token")
        return ids

    def prompt_ids(self, messages: Messages) -> list[int]:
        """The token ids of a chat prompt, generation prompt included."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        return [self._one(m, params) for m in prompts]

    def _one(self, messages: Messages, params: SamplingParams) -> list[Completion]:
        import torch

        ids = self.prompt_ids(messages)
        room = params.max_new_tokens
        if self.max_context:
            room = min(room, self.max_context - len(ids))
            if room <= 0:
                return [Completion("", "prompt_too_long", 0, len(ids))] * params.n
        greedy = params.temperature == 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=room, do_sample=not greedy,
            num_return_sequences=1 if greedy else params.n,
            repetition_penalty=params.repetition_penalty,
            eos_token_id=self._eos, pad_token_id=self._pad,
        )
        if not greedy:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        torch.manual_seed(derive_seed(params.seed, messages))
        inp = torch.tensor([ids], device=self.device)
        with torch.inference_mode():
            out = self.model.generate(input_ids=inp, attention_mask=torch.ones_like(inp),
                                      **kwargs)
        comps = [self._decode(row[len(ids):].tolist(), len(ids), params, room)
                 for row in out]
        return comps * params.n if greedy else comps

    def _decode(self, gen: list[int], n_prompt: int, params: SamplingParams,
                room: int) -> Completion:
        end = next((i for i, t in enumerate(gen) if t in self._eos), None)
        toks = gen if end is None else gen[:end]
        text = self.tokenizer.decode(toks, skip_special_tokens=True)
        text, stopped = apply_stop(text, params.stop)
        n_tokens = len(gen) if end is None else end + 1
        while end is None and n_tokens and gen[n_tokens - 1] == self._pad:
            n_tokens -= 1  # padding after a stop string ended this row early
        reason = "stop" if end is not None or stopped else "length"
        return Completion(text, reason, n_tokens, n_prompt)
