"""Named presets: one name selects every stage's config for a whole pipeline run.

A preset is a mapping ``stage -> {config field: value}`` layered over each stage config's own
defaults, listing only what it changes (a step it omits runs with its config's defaults); ``overrides`` (from ``ctrl run --set stage.field=value`` or the flow parameter
``overrides``) are layered on top. Nothing here runs anything; ``ctrl.pipeline`` turns the
resolved dicts into the stages' frozen config dataclasses, which reject bad values.

Presets:
- ``tiny``: 3 problems, 1 sample, a few tokens; what the tests run (seconds per stage).
- ``default``: the embedded default model on CPU with small counts; the whole pipeline in minutes.
  Critiques come from the template synthesizer (hint-derived text): the embedded model is too
  small to write critiques that survive the synthesis filters.
- ``gpu-1.5b`` / ``gpu-7b`` / ``gpu-32b``: Qwen2.5-Coder-*-Instruct with the CTRL paper's
  settings (k=4 samples at temperature 0.7, top_p 0.8, repetition penalty 1.05, 1024 new tokens;
  SFT lr 2e-5, cosine, batch 256, max length 2048, 1 epoch, bf16) on the vllm backend.

Show them with ``ctrl run --list-presets``.
"""

from __future__ import annotations

import copy
from typing import Any

from ctrl.config import ConfigError

# The CTRL paper's Stage I settings (docs: /work/shared/reference/papers.md, "Stage I"),
# from ctrl.generation.PAPER_SAMPLING when it is importable.
PAPER_SAMPLING = {"samples": 4, "generation.temperature": 0.7, "generation.top_p": 0.8,
                  "generation.repetition_penalty": 1.05, "generation.max_new_tokens": 1024}
try:
    from ctrl.generation import PAPER_SAMPLING as _SP

    PAPER_SAMPLING = {"samples": _SP.n, "generation.temperature": _SP.temperature,
                      "generation.top_p": _SP.top_p,
                      "generation.repetition_penalty": _SP.repetition_penalty,
                      "generation.max_new_tokens": _SP.max_new_tokens}
except ImportError:
    pass
PAPER_SFT = {"learning_rate": 2e-5, "lr_scheduler": "cosine", "batch_size": 256,
             "max_length": 2048, "epochs": 1, "bf16": True}


def _qwen(size: str) -> str:
    """The hub id of a Qwen2.5-Coder instruct model (imported from ctrl.generation when set)."""
    try:  # the generation module names the models it supports; prefer its constants
        from ctrl import generation

        models = getattr(generation, "QWEN_CODER", None)
        if isinstance(models, dict) and size in models:
            return str(models[size])
    except ImportError:
        pass
    return f"Qwen/Qwen2.5-Coder-{size.upper()}-Instruct"


def _gpu(size: str) -> dict[str, dict[str, Any]]:
    model = _qwen(size)
    return {
        "ingest": {"source": "mbpp", "split": "train"},
        "rollout": {"generation.model": model, "generation.backend": "vllm", **PAPER_SAMPLING},
        "critique": {"generation.model": model, "generation.backend": "vllm"},
        "revise": {"generation.model": model, "generation.backend": "vllm"},
        "sft": {"model": model, **PAPER_SFT},
        "eval-ingest": {"source": "mbpp", "split": "test"},
        "eval-rollout": {"generation.model": model, "generation.backend": "vllm", **PAPER_SAMPLING},
        "base-eval": {"generation.model": model, "generation.backend": "vllm"},
        "sft-eval": {"generation.model": model, "generation.backend": "vllm"},
    }


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "ingest": {"source": "mbpp", "split": "train", "limit": 3},
        "rollout": {"samples": 1, "generation.max_new_tokens": 16},
        "critique": {"synthesizer": "template", "shard_size": 1},
        "revise": {"generation.max_new_tokens": 16},
        "sft": {"max_steps": 2},
        "eval-ingest": {"source": "mbpp", "split": "test", "limit": 3},
        "eval-rollout": {"samples": 1, "generation.max_new_tokens": 16},
        "base-eval": {"generation.max_new_tokens": 16, "n_resamples": 50},
        "sft-eval": {"generation.max_new_tokens": 16, "n_resamples": 50},
    },
    "default": {
        "ingest": {"source": "mbpp", "split": "train", "limit": 8},
        "rollout": {"samples": 2, "generation.max_new_tokens": 64},
        "critique": {"synthesizer": "template"},
        "revise": {"generation.max_new_tokens": 64},
        # A 4M-parameter model needs a large learning rate and some steps to pick up the
        # three-part critique format; 1024 tokens fit the longest prompt + critique here.
        "sft": {"max_steps": 40, "learning_rate": 1e-3, "batch_size": 4, "max_length": 1024},
        "eval-ingest": {"source": "mbpp", "split": "test", "limit": 6},
        "eval-rollout": {"samples": 1, "generation.max_new_tokens": 64},
        # template-style critiques run ~105-120 tokens: fewer never reach the judgment line
        "base-eval": {"generation.max_new_tokens": 160, "n_resamples": 200},
        "sft-eval": {"generation.max_new_tokens": 160, "n_resamples": 200},
    },
    "gpu-1.5b": _gpu("1.5b"),
    "gpu-7b": _gpu("7b"),
    "gpu-32b": _gpu("32b"),
}

DESCRIPTIONS = {
    "tiny": "3 problems, 1 sample, few tokens: for tests (seconds per stage)",
    "default": "embedded default model on CPU, small counts: the whole pipeline in minutes",
    "gpu-1.5b": "Qwen2.5-Coder-1.5B-Instruct with the CTRL paper's settings (vllm, 1 GPU)",
    "gpu-7b": "Qwen2.5-Coder-7B-Instruct with the CTRL paper's settings (vllm, 1 GPU)",
    "gpu-32b": "Qwen2.5-Coder-32B-Instruct with the CTRL paper's settings (vllm, multi-GPU)",
}


def names() -> list[str]:
    """The preset names, in the order they are documented."""
    return list(PRESETS)


def get(name: str) -> dict[str, dict[str, Any]]:
    """A deep copy of preset ``name``; an unknown name raises ConfigError listing valid ones."""
    if name not in PRESETS:
        raise ConfigError(
            f"unknown preset {name!r}; valid presets are {names()} "
            f"(see `ctrl run --list-presets`)"
        )
    return copy.deepcopy(PRESETS[name])


def merge(preset: dict[str, dict[str, Any]],
          overrides: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Layer ``overrides`` (stage -> fields) over ``preset``; unknown stages raise ConfigError.

    An override that picks another ``variant`` of a stage (e.g. reference rollouts) replaces
    that stage's preset fields instead of adding to them.
    """
    from ctrl.registry import STEP_NAMES

    out = copy.deepcopy(preset)
    for stage, fields in (overrides or {}).items():
        if stage not in STEP_NAMES:  # a preset lists only what it changes: any step is fine
            raise ConfigError(
                f"overrides name unknown stage {stage!r}; valid stages are {STEP_NAMES}"
            )
        out.setdefault(stage, {})
        if not isinstance(fields, dict):
            raise ConfigError(
                f"overrides[{stage!r}] must be a mapping of config field to value, "
                f"got {type(fields).__name__}: {fields!r}"
            )
        if fields.get("variant", out[stage].get("variant")) != out[stage].get("variant"):
            out[stage] = {}  # another implementation: the preset's fields are not its fields
        out[stage].update(fields)
    return out


def parse_set(items: list[str]) -> dict[str, dict[str, Any]]:
    """Parse ``stage.field=value`` strings (values as JSON when they parse, else strings)."""
    import json

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        stage, dot, field = name.partition(".")
        if not sep or not dot or not stage or not field:
            raise ConfigError(f"--set {item!r}: expected STAGE.FIELD=VALUE, e.g. rollout.samples=2")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(stage, {})[field] = value
    return out
