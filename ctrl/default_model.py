"""The embedded default model: a tiny Qwen2-shaped code LM the project builds itself, offline.

Reads: the CPython standard library sources on this machine (``/usr/lib/python3.11`` by default,
PSF licence; never any evaluation problem set). Writes: a Hugging Face model directory
(``config.json``, ``model.safetensors`` in bf16, tokenizer files with a Qwen-style chat template,
``generation_config.json``, ``README.md``, ``build_info.json``).

Run: ``ctrl build-model --minutes 15 --out ctrl/assets/default-model`` (time-capped; the number of
steps done is recorded in ``build_info.json``) or ``ctrl build-model --steps N`` (bit-reproducible
on the same torch build: seeded data order, initialisation and sampling).

The model solves nothing. Its job is to exercise every code path offline: the chat template, the
generation backends, TRL's SFTTrainer, generation configs. ``default_model_path()`` returns the
shipped directory; ``resolve_model("default")`` maps the alias everywhere a model id is accepted.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import pathlib
import random
import time
from dataclasses import dataclass

from ctrl.config import doc

log = logging.getLogger("ctrl.default_model")

ASSET_DIR = pathlib.Path(__file__).resolve().parent / "assets" / "default-model"
DEFAULT_ALIAS = "default"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Qwen-style ChatML. {% generation %} marks assistant tokens so TRL's assistant_only_loss works.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def default_model_path() -> str:
    """The local directory of the shipped default model.

    Raises:
        FileNotFoundError: when the asset is missing (rebuild it with ``ctrl build-model``).
    """
    if not (ASSET_DIR / "config.json").exists():
        raise FileNotFoundError(
            f"the default model is missing at {ASSET_DIR}; rebuild it with "
            f"`ctrl build-model --minutes 15 --out {ASSET_DIR}`"
        )
    return str(ASSET_DIR)


def resolve_model(model: str) -> str:
    """Map the alias ``default`` to the shipped model directory; other ids pass through.

    The alias step of ``ctrl.models.resolve``, the resolver every stage uses (store keys, paths,
    hub ids); call that one unless only the alias matters."""
    return default_model_path() if model == DEFAULT_ALIAS else model


@dataclass(frozen=True)
class BuildConfig:
    """How the default model is built; the resolved dict is stored in build_info.json."""

    source_dir: str = doc("directory of Python sources to train on (CPython stdlib, PSF)",
                          "/usr/lib/python3.11")
    vocab_size: int = doc("byte-level BPE vocabulary size, special tokens included", 4096)
    hidden_size: int = doc("transformer width", 256)
    layers: int = doc("decoder layers", 4)
    heads: int = doc("attention heads (2 key/value heads, grouped-query)", 4)
    intermediate_size: int = doc("MLP width", 704)
    seq_len: int = doc("training sequence length in tokens", 256)
    batch_size: int = doc("sequences per optimizer step", 16)
    lr: float = doc("peak learning rate (AdamW, warm-up then cosine to 10%)", 3e-3)
    steps: int = doc("optimizer steps (upper bound when minutes is set)", 2000)
    minutes: float = doc("wall-clock cap on training; 0 = no cap (exact reproducibility)", 0.0)
    chat_fraction: float = doc("share of training documents that are chat samples", 0.5)
    seed: int = doc("seed for data order, initialisation and batches", 1234)


def _source_files(root: str) -> list[pathlib.Path]:
    skip = ("test", "tests", "site-packages", "dist-packages", "idlelib", "__pycache__")
    files = [p for p in sorted(pathlib.Path(root).rglob("*.py"))
             if not any(part in skip for part in p.relative_to(root).parts)]
    if not files:
        raise FileNotFoundError(f"no Python sources under {root}; pass --source-dir DIR")
    return files


def _chat_samples(tree: ast.AST, text: str, rng: random.Random) -> list[list[dict]]:
    """docstring -> function chat pairs, answered in a ```python fence (or bare, sometimes)."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        docstring = ast.get_docstring(node)
        src = ast.get_source_segment(text, node)
        if not docstring or not src or len(src) > 1500 or len(docstring) < 20:
            continue
        sig = f"{node.name}({ast.unparse(node.args)})"
        user = rng.choice([
            f"Write a Python function `{sig}`.\n\n{docstring}",
            f"{docstring}\n\nImplement it as `def {sig}` in Python.",
            f"Implement `{node.name}` in Python: {docstring.splitlines()[0]}",
        ])
        code = "\n".join(line[node.col_offset:] for line in src.splitlines())
        answer = f"```python\n{code}\n```" if rng.random() < 0.8 else code
        out.append([{"role": "user", "content": user}, {"role": "assistant", "content": answer}])
    return out


def _raw_chunks(text: str, max_chars: int = 3000) -> list[str]:
    """Split a source file at blank lines into chunks of at most ``max_chars``."""
    chunks, cur = [], ""
    for block in text.split("\n\n"):
        if cur and len(cur) + len(block) > max_chars:
            chunks.append(cur)
            cur = ""
        cur = f"{cur}\n\n{block}" if cur else block
    if cur:
        chunks.append(cur)
    return [c[:max_chars] for c in chunks]


def build_tokenizer(files: list[pathlib.Path], vocab_size: int):
    """Train a byte-level BPE on the sources and wrap it as a chat-ready fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator((f.read_text(errors="replace") for f in files), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        bos_token=None, unk_token=None, model_max_length=1024, padding_side="left",
    )
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _documents(files: list[pathlib.Path], cfg: BuildConfig, tokenizer) -> list[str]:
    rng = random.Random(cfg.seed)
    raw, chats = [], []
    for f in files:
        text = f.read_text(errors="replace")
        raw.extend(_raw_chunks(text))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        chats.extend(_chat_samples(tree, text, rng))
    n_chat = int(len(raw) * cfg.chat_fraction / max(1e-9, 1 - cfg.chat_fraction))
    rng.shuffle(chats)
    chat_docs = [tokenizer.apply_chat_template(c, tokenize=False) for c in chats[:n_chat]]
    docs = [r + "<|endoftext|>" for r in raw] + chat_docs
    rng.shuffle(docs)
    log.info("corpus: %d raw chunks, %d chat samples (%d available)", len(raw), len(chat_docs),
             len(chats))
    return docs


def _model(cfg: BuildConfig, tokenizer):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    mcfg = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, num_key_value_heads=2,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=1024,
        tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(cfg.seed)
    return Qwen2ForCausalLM(mcfg)


def _train(model, ids, cfg: BuildConfig) -> tuple[int, float, float]:
    """Train on random windows of the token stream; returns (steps, last loss, seconds)."""
    import torch

    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.1, betas=(0.9, 0.95))
    warm = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / cfg.steps)))))
    model.train()
    t0, loss_v, step = time.monotonic(), float("nan"), 0
    for step in range(1, cfg.steps + 1):
        starts = torch.randint(0, len(ids) - cfg.seq_len - 1, (cfg.batch_size,), generator=gen)
        batch = torch.stack([ids[s : s + cfg.seq_len] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_v = loss.item()
        elapsed = time.monotonic() - t0
        if step % 25 == 0 or step == 1:
            log.info("step %d/%d loss %.3f (%.0f s)", step, cfg.steps, loss_v, elapsed)
        if cfg.minutes and elapsed > cfg.minutes * 60:
            log.info("time cap of %.1f min reached at step %d", cfg.minutes, step)
            break
    return step, loss_v, time.monotonic() - t0


def build(out: str, cfg: BuildConfig) -> dict:
    """Build the tokenizer and model from scratch and save them to ``out``; returns build info."""
    import torch
    from transformers import GenerationConfig

    t0 = time.monotonic()
    random.seed(cfg.seed)
    files = _source_files(cfg.source_dir)
    tokenizer = build_tokenizer(files, cfg.vocab_size)
    docs = _documents(files, cfg, tokenizer)
    enc = tokenizer(docs, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([t for d in enc for t in d], dtype=torch.long)
    log.info("training stream: %d tokens", len(ids))
    model = _model(cfg, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    steps, loss, train_s = _train(model, ids, cfg)
    model.eval()
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=0.7, top_p=0.8, repetition_penalty=1.05, max_new_tokens=256,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    os.makedirs(out, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    info = {"parameters": n_params, "steps_done": steps, "final_loss": round(loss, 4),
            "train_seconds": round(train_s, 1), "total_seconds": round(time.monotonic() - t0, 1),
            "train_tokens": steps * cfg.batch_size * cfg.seq_len, "stream_tokens": len(ids),
            "source_files": len(files), "torch": torch.__version__,
            "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}}
    pathlib.Path(out, "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    pathlib.Path(out, "README.md").write_text(_readme(info))
    return info


def _readme(info: dict) -> str:
    c = info["config"]
    return f"""# ctrl default model

A tiny causal LM (Qwen2ForCausalLM, {info['parameters']:,} parameters, bf16 safetensors) with its
own byte-level BPE tokenizer ({c['vocab_size']} tokens) and a Qwen-style `<|im_start|>` chat
template. It was trained from scratch on CPU for {info['steps_done']} steps
({info['train_seconds']:.0f} s, {info['train_tokens']:,} tokens, final loss {info['final_loss']})
on the CPython standard library sources in `{c['source_dir']}` ({info['source_files']} files,
test suites excluded), half raw source, half chat samples (docstring -> function in a ```python
fence). No evaluation data (MBPP, HumanEval, APPS, ...) was used.

It writes Python-looking text and solves essentially nothing. It exists so every code path of
ctrl (chat template, generation backends, TRL SFT, RL loops) runs offline on a laptop CPU.

Rebuild exactly: `ctrl build-model --steps {info['steps_done']} --out DIR` (seed {c['seed']},
torch {info['torch']}). Time-capped build: `ctrl build-model --minutes M --out DIR`.

Training-data licence: the CPython sources are under the Python Software Foundation License
(PSF-2.0); the model weights are released with ctrl under Apache-2.0.
"""


def add_parser(subparsers) -> None:
    """``ctrl build-model``: rebuild the embedded default model."""
    p = subparsers.add_parser("build-model", help="build the embedded default model (CPU, offline)")
    p.add_argument("--out", default=str(ASSET_DIR), help=f"output directory (default {ASSET_DIR})")
    p.add_argument("--minutes", type=float, default=0.0, help="wall-clock cap on training")
    p.add_argument("--steps", type=int, default=BuildConfig.steps, help="optimizer steps")
    p.add_argument("--source-dir", default=BuildConfig.source_dir, help="Python sources to train on")
    p.add_argument("--seed", type=int, default=BuildConfig.seed)

    def func(args) -> int:
        cfg = BuildConfig(source_dir=args.source_dir, steps=args.steps, minutes=args.minutes,
                          seed=args.seed)
        info = build(args.out, cfg)
        print(json.dumps({k: v for k, v in info.items() if k != "config"}, indent=2))
        return 0

    p.set_defaults(func=func)
