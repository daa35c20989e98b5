"""The vllm backend: the generation interface on ``vllm.LLM`` (GPU workers; extra ``ctrl[gpu]``).

vLLM is imported only when this backend is constructed, never at module import. Sampling
semantics match the transformers backend: chat template applied by the tokenizer, per-prompt seed
``derive_seed(seed, messages)``, top-k off, ``temperature=0`` greedy with copied samples, stop
strings excluded from the text, prompts that fill the context returned as ``prompt_too_long``.
"""

from __future__ import annotations

from typing import Any

from ctrl.generation import (Completion, GenerationError, Messages, SamplingParams, apply_stop,
                             derive_seed, resolve_local)


class VLLMBackend:
    """``load_backend(model, "vllm", gpu_memory_utilization=0.85, max_model_len=None, ...)``;
    extra options go to ``vllm.LLM``."""

    def __init__(self, model: str, gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None, **llm_options: Any) -> None:
        try:
            import vllm
        except ImportError as e:
            raise GenerationError("the vllm backend needs vLLM on a GPU machine: pip install "
                                  "'ctrl[gpu]' (or use --backend transformers)") from e
        self.model_name = model
        path = resolve_local(model)
        self._vllm = vllm
        self.llm = vllm.LLM(model=path, gpu_memory_utilization=gpu_memory_utilization,
                            max_model_len=max_model_len, **llm_options)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_context = int(self.llm.llm_engine.model_config.max_model_len)

    def prompt_ids(self, messages: Messages) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        greedy = params.temperature == 0
        ids = [self.prompt_ids(m) for m in prompts]
        ok = [i for i, x in enumerate(ids) if len(x) < self.max_context]
        reqs, sps = [], []
        for i in ok:
            reqs.append({"prompt_token_ids": ids[i]})
            sps.append(self._vllm.SamplingParams(
                n=1 if greedy else params.n, temperature=params.temperature,
                top_p=params.top_p, top_k=-1,
                max_tokens=min(params.max_new_tokens, self.max_context - len(ids[i])),
                seed=derive_seed(params.seed, prompts[i]), stop=list(params.stop) or None,
                repetition_penalty=params.repetition_penalty))
        outs = self.llm.generate(reqs, sps, use_tqdm=False) if reqs else []
        result: list[list[Completion]] = [
            [Completion("", "prompt_too_long", 0, len(x))] * params.n for x in ids]
        for i, out in zip(ok, outs):
            comps = []
            for o in out.outputs:
                text, stopped = apply_stop(o.text, params.stop)
                reason = "stop" if stopped or o.finish_reason == "stop" else "length"
                comps.append(Completion(text, reason, len(o.token_ids), len(ids[i])))
            result[i] = comps * params.n if greedy else comps
        return result
