"""The transformers backend: chat-templated generation with ``model.generate`` on CPU or GPU.

All samples of all prompts are decoded together: rows (prompt x sample) are sorted by prompt
length and decoded with a KV cache, at most ``batch_size`` at a time; a finished row leaves the
batch at once, and when half the batch has left, waiting rows are prefilled and merged in
(continuous batching, left padding). Each row draws from its own ``torch.Generator`` seeded from the
prompt's derived seed and the sample index, so a prompt's samples do not depend on which other
prompts share the request (exactly, up to the float rounding of batched kernels, which can flip a
near-tie between two tokens; resume is exact because a shard's batches are the same on re-run).
For throughput on GPUs use the vllm backend.
"""

from __future__ import annotations

import logging

from ctrl.generation import (Completion, GenerationError, Messages, SamplingParams, apply_stop,
                             derive_seed, resolve_local)

log = logging.getLogger("ctrl.backends.transformers")


class TransformersBackend:
    """``load_backend(model, "transformers", device="auto", dtype="auto")``.

    Args:
        model: directory, cached hub name, or ``default``.
        device: ``auto`` (cuda when available), ``cpu``, ``cuda``, ``cuda:1`` ...
        dtype: ``auto`` (bf16 on GPU, fp32 on CPU), ``float32``, ``bfloat16``, ``float16``.
        batch_size: rows (prompt x sample) decoded together.
    """

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model
        self.batch_size = max(1, int(batch_size))
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
        """All samples of all prompts in one continuously refilled batch (see module docstring)."""
        out: list[list[Completion | None]] = [[None] * params.n for _ in prompts]
        greedy = params.temperature == 0
        rows: list[tuple[int, int, list[int], int, int]] = []  # (prompt, sample, ids, room, seed)
        for i, messages in enumerate(prompts):
            ids = self.prompt_ids(messages)
            room = params.max_new_tokens
            if self.max_context:
                room = min(room, self.max_context - len(ids))
            if room <= 0:
                out[i] = [Completion("", "prompt_too_long", 0, len(ids))] * params.n
                continue
            base = derive_seed(params.seed, messages)
            for j in range(1 if greedy else params.n):
                rows.append((i, j, ids, room, base * 1000 + j))
        rows.sort(key=lambda r: (len(r[2]), r[0], r[1]))
        for (i, j, _, _, _), comp in zip(rows, self._decode_rows(rows, params)):
            if greedy:
                out[i] = [comp] * params.n
            else:
                out[i][j] = comp
        return out  # type: ignore[return-value]

    def _decode_rows(self, rows: list[tuple[int, int, list[int], int, int]],
                     params: SamplingParams) -> list[Completion]:
        """Decode ``rows`` with a KV cache, at most ``batch_size`` at a time: a finished row leaves
        the batch at once, and when half the batch has left, waiting rows are prefilled and merged
        in (left-padded), so long generations never run in a nearly empty batch.

        Each row samples from its own ``torch.Generator`` seeded from (prompt seed, sample index),
        so its tokens do not depend on its batch mates (up to the float rounding of batched
        kernels, which can flip a near-tie).
        """
        import torch

        done: list[Completion | None] = [None] * len(rows)
        gen_toks: list[list[int]] = [[] for _ in rows]
        stop_span = max((len(s) for s in params.stop), default=0) + 2
        state: dict | None = None  # the live batch: cache, mask, inp, pos, seq, gens, live
        nxt_row = 0
        with torch.inference_mode():
            while True:
                live_n = len(state["live"]) if state else 0
                if nxt_row < len(rows) and live_n <= self.batch_size // 2:
                    take = list(range(nxt_row, min(len(rows), nxt_row + self.batch_size - live_n)))
                    nxt_row = take[-1] + 1
                    new = self._prefill(rows, take, params, gen_toks, done, stop_span)
                    state = new if state is None else _merge(state, new) if new else state
                    if state is None or not state["live"]:
                        state = None
                        continue
                if state is None:
                    break
                mask = torch.cat([state["mask"], torch.ones_like(state["inp"])], dim=1)
                res = self.model(input_ids=state["inp"], attention_mask=mask,
                                 position_ids=state["pos"], cache=state["cache"],
                                 use_cache=True, logits_to_keep=1)
                state.update(mask=mask, cache=res.cache)
                state = self._advance(state, res.logits[:, -1, :].float(), rows, params,
                                      gen_toks, done, stop_span)
                if state is None and nxt_row >= len(rows):
                    break
        return done  # type: ignore[return-value]

    def _prefill(self, rows, take: list[int], params: SamplingParams, gen_toks, done,
                 stop_span: int) -> dict | None:
        """Prefill rows ``take`` (left-padded) and pick their first tokens; the new live batch."""
        import torch

        dev = self.device
        width = max(len(rows[r][2]) for r in take)
        ids = torch.tensor([[rows[r][2][0]] * (width - len(rows[r][2])) + rows[r][2]
                            for r in take], device=dev)
        mask = torch.tensor([[0] * (width - len(rows[r][2])) + [1] * len(rows[r][2])
                             for r in take], device=dev)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        res = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                         logits_to_keep=1)
        state = dict(cache=res.cache, mask=mask, pos=pos[:, -1:], seq=ids, live=list(take),
                     gens=[torch.Generator(device=dev).manual_seed(rows[r][4]) for r in take])
        return self._advance(state, res.logits[:, -1, :].float(), rows, params, gen_toks, done,
                             stop_span)

    def _advance(self, state: dict, logits, rows, params: SamplingParams, gen_toks, done,
                 stop_span: int) -> dict | None:
        """Pick each live row's next token, finish rows (eos, stop string, room), drop them."""
        import torch

        nxt = self._pick(logits, state["seq"], state["gens"], params)
        keep = []
        for b, (r, t) in enumerate(zip(state["live"], nxt.tolist())):
            toks = gen_toks[r]
            toks.append(t)
            if t in self._eos or len(toks) >= rows[r][3] or (params.stop and any(
                    s in self.tokenizer.decode(toks[-stop_span:]) for s in params.stop if s)):
                done[r] = self._decode(toks, len(rows[r][2]), params)
            else:
                keep.append(b)
        if not keep:
            return None
        col = nxt[:, None]
        state.update(inp=col, seq=torch.cat([state["seq"], col], dim=1), pos=state["pos"] + 1)
        if len(keep) < len(state["live"]):
            idx = torch.tensor(keep, device=col.device)
            state["cache"].batch_select_indices(idx)
            for k in ("mask", "inp", "pos", "seq"):
                state[k] = state[k][idx]
            state["gens"] = [state["gens"][b] for b in keep]
            state["live"] = [state["live"][b] for b in keep]
        return state

    def _pick(self, logits, seq, gens, params: SamplingParams):
        """The next token of each row: HF-style repetition penalty, temperature, top-p, then a
        draw from the row's own generator (argmax when greedy)."""
        import torch

        if params.repetition_penalty != 1.0:
            score = logits.gather(1, seq)
            p = params.repetition_penalty
            logits = logits.scatter(1, seq, torch.where(score < 0, score * p, score / p))
        if params.temperature == 0:
            return logits.argmax(-1)
        logits = logits / params.temperature
        if params.top_p < 1.0:
            srt, order = torch.sort(logits, descending=False)
            cum = srt.softmax(-1).cumsum(-1)
            drop = cum <= (1 - params.top_p)
            drop[:, -1] = False
            logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
        cdf = logits.softmax(-1).cumsum(-1)
        # inverse-CDF draw, one uniform per row from that row's generator
        u = torch.cat([torch.rand(1, generator=g, device=cdf.device) for g in gens])
        u = u[:, None] * cdf[:, -1:]
        return torch.searchsorted(cdf, u, right=True).clamp(max=cdf.shape[-1] - 1)[:, 0]

    def _decode(self, gen: list[int], n_prompt: int, params: SamplingParams) -> Completion:
        end = next((i for i, t in enumerate(gen) if t in self._eos), None)
        toks = gen if end is None else gen[:end]
        text = self.tokenizer.decode(toks, skip_special_tokens=True)
        text, stopped = apply_stop(text, params.stop)
        reason = "stop" if end is not None or stopped else "length"
        return Completion(text, reason, len(gen), n_prompt)


def _merge(a: dict, b: dict) -> dict:
    """One live batch from two: masks, tokens seen and KV caches left-padded to one length."""
    import torch
    import torch.nn.functional as F

    ta, tb = a["mask"].shape[1], b["mask"].shape[1]
    t = max(ta, tb)
    for la, lb in zip(a["cache"].layers, b["cache"].layers):
        la.keys = torch.cat([F.pad(la.keys, (0, 0, t - ta, 0)), F.pad(lb.keys, (0, 0, t - tb, 0))])
        la.values = torch.cat([F.pad(la.values, (0, 0, t - ta, 0)),
                               F.pad(lb.values, (0, 0, t - tb, 0))])
    sa, sb = a["seq"], b["seq"]
    s = max(sa.shape[1], sb.shape[1])
    # the repetition penalty sees tokens as a set: pad with each row's own first token
    seq = torch.cat([torch.cat([x[:, :1].expand(-1, s - x.shape[1]), x], dim=1)
                     for x in (sa, sb)])
    return dict(cache=a["cache"], seq=seq, live=a["live"] + b["live"], gens=a["gens"] + b["gens"],
                mask=torch.cat([F.pad(a["mask"], (t - ta, 0)), F.pad(b["mask"], (t - tb, 0))]),
                inp=torch.cat([a["inp"], b["inp"]]), pos=torch.cat([a["pos"], b["pos"]]))
