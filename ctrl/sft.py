"""Critic SFT (CTRL stage I, step 4): context distillation of synthesized critiques.

Reads ``critiques`` (kept, synthesized rows), ``problems`` and ``rollouts``. Writes the table
``sft_examples`` (the hint-FREE critique prompt -> the critique written with the hint) and a model
artifact ``models/<key>/`` (Hugging Face format; LoRA runs are merged into a full model) with
``loss.png`` and a manifest whose ``loss_history``, ``global_step`` and ``resumed_from_step`` tell
how training went.

Training is TRL's ``SFTTrainer`` on a conversational prompt-completion dataset with
``completion_only_loss=True``: only the critique's tokens carry loss. Checkpoints go to
``<staging>/checkpoints`` (the store's staging dir of the model key); a run killed at any point
and started again with the same inputs continues from the newest checkpoint
(``resume_from_checkpoint``) and the checkpoints are deleted once the model is committed.

``resume_from`` (set by the scheduled retraining flow) starts from an earlier critic's weights
(a store model key) instead of ``model``: new data, old knowledge.

Run: ``ctrl sft --set max_steps=20`` (inputs default to the newest artifacts).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any, Sequence

import pyarrow as pa

from ctrl.fingerprint import code_version
from ctrl import cli_args
from ctrl.config import ConfigError, doc, to_dict
from ctrl.critic_prompts import critique_messages
from ctrl.models import fingerprint as model_weights, resolve as resolve_model
from ctrl.stage import StageResult, materialize, training

log = logging.getLogger("ctrl.sft")
VERSION = code_version("1", __name__, "ctrl.critic_prompts")
EXAMPLES_VERSION = VERSION

_MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
EXAMPLES_SCHEMA = pa.schema([
    ("example_id", pa.string()), ("critique_id", pa.string()), ("rollout_id", pa.string()),
    ("problem_id", pa.string()), ("prompt", _MSG), ("completion", _MSG),
    ("judgment", pa.string()), ("hint_kind", pa.string()), ("source_model", pa.string()),
])


@dataclass(frozen=True)
class SFTConfig:
    """Critic SFT; the paper's settings are ``PAPER`` (lr 2e-5, cosine, batch 256, 2048, bf16)."""

    model: str = doc("base model to fine-tune: hub id, local path, store model key or 'default'",
                     "default")
    resume_from: str = doc("store model key of an earlier critic to start from instead of "
                           "`model` (scheduled retraining); '' = start from `model`", "")
    use_lora: bool = doc("train LoRA adapters (peft) instead of all weights; merged at the end",
                         False)
    lora_r: int = doc("LoRA rank", 16)
    lora_alpha: int = doc("LoRA alpha", 32)
    learning_rate: float = doc("peak learning rate", 2e-5)
    lr_scheduler: str = doc("transformers scheduler name: cosine, linear, constant, ...", "cosine")
    warmup_ratio: float = doc("share of steps for linear warm-up", 0.0)
    epochs: float = doc("passes over the examples (ignored when max_steps > 0)", 1.0)
    max_steps: int = doc("optimizer steps; 0 = as many as `epochs` needs", 0)
    batch_size: int = doc("examples per optimizer step (micro_batch_size x accumulation)", 8)
    micro_batch_size: int = doc("examples per forward pass", 1)
    max_length: int = doc("tokens per example (prompt + critique), truncated beyond", 512)
    bf16: bool = doc("bfloat16 mixed precision (GPU)", False)
    gradient_checkpointing: bool = doc("trade compute for memory (large models)", False)
    save_steps: int = doc("checkpoint every N optimizer steps (the unit of resume)", 10)
    save_total_limit: int = doc("checkpoints kept on disk", 2)
    max_examples: int = doc("cap on training examples (0 = all), for smoke runs", 0)
    seed: int = doc("seed for data order and initialisation of adapters", 0)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size:
            raise ConfigError(f"batch_size={self.batch_size} must be a positive multiple of "
                              f"micro_batch_size={self.micro_batch_size}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate={self.learning_rate}: must be > 0 (paper: 2e-5)")
        if self.max_steps < 0 or (self.max_steps == 0 and self.epochs <= 0):
            raise ConfigError("set max_steps > 0 or epochs > 0")
        if self.use_lora and self.lora_r < 1:
            raise ConfigError(f"lora_r={self.lora_r}: use a rank >= 1, or use_lora=false")
        if self.save_steps < 1 or self.max_length < 16:
            raise ConfigError("save_steps must be >= 1 and max_length >= 16")


PAPER = dict(learning_rate=2e-5, lr_scheduler="cosine", batch_size=256, max_length=2048,
             epochs=1.0, bf16=True)


# ------------------------------------------------------------------ examples


def example_rows(critiques: Sequence[dict], problems: dict, rollouts: dict) -> list[dict]:
    """SFT examples from kept synthesized critiques: hint-free prompt -> critique."""
    out = []
    for c in critiques:
        if c["dropped"] or c["origin"] != "synthesized" or not c["critique"]:
            continue
        r = rollouts[c["rollout_id"]]
        out.append(dict(example_id=c["critique_id"], critique_id=c["critique_id"],
                        rollout_id=c["rollout_id"], problem_id=c["problem_id"],
                        prompt=critique_messages(problems[c["problem_id"]], r),
                        completion=[{"role": "assistant", "content": c["critique"]}],
                        judgment=c["judgment"], hint_kind=c["hint_kind"],
                        source_model=c["critic_model"]))
    return out


def build_examples(store: Any, *, critiques: str, problems: str, rollouts: str,
                   max_examples: int = 0) -> StageResult:
    """Materialize ``sft_examples`` from a critiques artifact."""
    def items() -> list[dict]:
        crit = sorted(store.read_table("critiques", critiques).to_pylist(),
                      key=lambda c: c["critique_id"])
        crit = [c for c in crit if not c["dropped"] and c["origin"] == "synthesized"]
        return crit[:max_examples] if max_examples else crit

    def process(chunk: list[dict]) -> list[dict]:
        probs = {p["problem_id"]: p for p in store.read_table("problems", problems).to_pylist()}
        rolls = {r["rollout_id"]: r for r in store.read_table("rollouts", rollouts).to_pylist()}
        return example_rows(chunk, probs, rolls)

    return materialize(store, stage="sft_examples", table="sft_examples",
                       version=EXAMPLES_VERSION, config={"max_examples": max_examples},
                       inputs={"critiques": critiques, "problems": problems,
                               "rollouts": rollouts},
                       items=items, process=process, shard_size=100_000, schema=EXAMPLES_SCHEMA,
                       desc="sft_examples")


# ------------------------------------------------------------------ training


def trainer_for(model_path: str, rows: list[dict], cfg: SFTConfig, out_dir: str,
                callbacks: Sequence[Any] = ()) -> Any:
    """A TRL SFTTrainer over ``rows`` (prompt/completion messages), checkpointing in ``out_dir``."""
    from ctrl.models import LOAD_LOCK

    with LOAD_LOCK:  # transformers' lazy imports race when pipeline steps run in threads
        return _trainer_for(model_path, rows, cfg, out_dir, callbacks)


def _trainer_for(model_path: str, rows: list[dict], cfg: SFTConfig, out_dir: str,
                 callbacks: Sequence[Any] = ()) -> Any:
    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    dtype = torch.bfloat16 if cfg.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                              for r in rows])
    args = trl.SFTConfig(
        output_dir=out_dir, completion_only_loss=True, max_length=cfg.max_length,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio, num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1, per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.batch_size // cfg.micro_batch_size, bf16=cfg.bf16,
        activation_checkpointing=cfg.gradient_checkpointing, save_strategy="steps",
        save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit, logging_steps=1,
        seed=cfg.seed, data_seed=cfg.seed, report_to=[], dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(), disable_tqdm=True,
    )
    peft_config = None
    if cfg.use_lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, task_type="CAUSAL_LM",
                                 target_modules="all-linear")
    return trl.SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                          peft_config=peft_config, callbacks=list(callbacks))


def last_checkpoint(ckpt_dir: str) -> str | None:
    """The newest complete ``checkpoint-N`` directory under ``ckpt_dir``, or None."""
    if not os.path.isdir(ckpt_dir):
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(ckpt_dir)


def plot_loss(history: list[dict], path: str, title: str) -> None:
    """Training loss per optimizer step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], marker=".")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (critique tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(model_path: str, rows: list[dict], cfg: SFTConfig, staging: str,
          callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train (resuming from the newest checkpoint in ``staging``), save the model into
    ``staging`` with ``loss.png``; returns what goes into the manifest."""
    if not rows:
        raise ConfigError("no SFT examples: every synthesized critique was dropped. Inspect "
                             "`ctrl sql \"SELECT drop_reason, count(*) FROM critiques GROUP BY ALL\"`; "
                             "use a stronger synthesizer, or synthesizer=template for smoke runs")
    ckpt_dir = os.path.join(staging, "checkpoints")
    resume = last_checkpoint(ckpt_dir)
    trainer = trainer_for(model_path, rows, cfg, ckpt_dir, callbacks)
    kept = len(trainer.train_dataset)
    if kept < len(rows):
        log.warning("sft: %d of %d examples have no critique token left within max_length=%d "
                    "and are skipped", len(rows) - kept, len(rows), cfg.max_length)
    if not kept:
        raise ConfigError(f"every SFT example's prompt fills max_length={cfg.max_length} tokens, "
                             "so no critique token is left to learn; raise max_length")
    resumed_step = int(resume.rsplit("-", 1)[1]) if resume else None
    if resume:
        log.info("sft: resuming from %s (step %d)", resume, resumed_step)
    trainer.train(resume_from_checkpoint=resume)
    model = trainer.model
    if cfg.use_lora:
        model = model.merge_and_unload()
    model.save_pretrained(staging)
    trainer.processing_class.save_pretrained(staging)
    history = [{"step": h["step"], "loss": float(h["loss"])}
               for h in trainer.state.log_history if "loss" in h]
    plot_loss(history, os.path.join(staging, "loss.png"),
              f"critic SFT ({len(rows)} examples, {trainer.state.global_step} steps)")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return {"loss_history": history, "global_step": trainer.state.global_step,
            "resumed_from_step": resumed_step, "n_examples": len(rows)}


def run(store: Any, cfg: SFTConfig, *, critiques: str, problems: str, rollouts: str,
        callbacks: Sequence[Any] = ()) -> StageResult:
    """Build ``sft_examples`` and train the critic; ``result.key`` is the model key.

    Args:
        callbacks: extra ``transformers.TrainerCallback`` objects (monitoring, tests).

    Returns:
        StageResult with ``table="models"``, ``rows`` = examples, ``metrics`` holding the
        ``sft_examples`` key, final loss and steps.
    """
    ex = build_examples(store, critiques=critiques, problems=problems, rollouts=rollouts,
                        max_examples=cfg.max_examples)
    inputs = {"sft_examples": ex.key}
    if cfg.resume_from:
        inputs["resume_from"] = cfg.resume_from
    else:
        inputs["base_model"] = model_weights(store, cfg.model)
    # critiques: lineage only (sft_examples, a keyed input, already depends on them)
    with training(store, stage="sft", version=VERSION, config=to_dict(cfg), inputs=inputs,
                  lineage={"critiques": critiques}) as run:
        if run.cached:
            m = run.result.manifest
            return StageResult("models", run.key, ex.rows, True, m, _metrics(m, ex.key))
        base = resolve_model(store, cfg.resume_from or cfg.model)
        if cfg.resume_from and not store.has_model(cfg.resume_from):
            raise ConfigError(f"resume_from={cfg.resume_from!r} is not a complete model in "
                              f"{store.root}; list them with `ctrl runs --table model`")
        rows = store.read_table("sft_examples", ex.key).to_pylist()
        info = train(base, rows, cfg, run.model_dir, callbacks)
        # where the training critiques came from ("template" critiques are not model-written)
        info["critique_sources"] = {src: sum(r["source_model"] == src for r in rows)
                                    for src in sorted({r["source_model"] for r in rows})}
        m = run.commit_model(extra=info | {"base_model": cfg.resume_from or cfg.model,
                                           "sft_examples": ex.key}).manifest
    return StageResult("models", run.key, ex.rows, False, m, _metrics(m, ex.key))


def _metrics(m: dict, examples_key: str) -> dict[str, Any]:
    hist = m.get("loss_history") or []
    return {"sft_examples": examples_key, "global_step": m.get("global_step"),
            "first_loss": hist[0]["loss"] if hist else None,
            "final_loss": hist[-1]["loss"] if hist else None}


def add_parser(subparsers: Any) -> None:
    """``ctrl sft``: train the critic on synthesized critiques."""
    p = subparsers.add_parser("sft", help="critic SFT on synthesized critiques (CTRL I)",
                              description=__doc__,
                              formatter_class=cli_args.RAW)
    cli_args.add_inputs(p, "critiques", "problems", "rollouts")
    cli_args.add_config(p, SFTConfig)
    p.set_defaults(func=lambda a: cli_args.run_stage(a, run, SFTConfig,
                                                     ["critiques", "problems", "rollouts"]))
