"""Presets: every preset resolves into each available stage's config; GPU presets carry the
CTRL paper's settings; bad names and fields fail with the valid choices. Pure, no Prefect."""

from __future__ import annotations

import pytest

from ctrl import pipeline, presets
from ctrl.config import ConfigError


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_resolves_into_stage_configs(name):
    p = pipeline.plan(name)
    assert [s.name for s, _ in p.steps] == pipeline.STEP_NAMES
    for s, cfg in p.steps:  # every preset field reached the config object
        for field, value in presets.get(name).get(s.name, {}).items():
            if field != "variant" and s.variant(presets.get(name)[s.name].get("variant")) == s:
                got = cfg
                for part in field.split("."):  # nested fields: generation.max_new_tokens
                    got = getattr(got, part)
                assert got == (tuple(value) if isinstance(value, list) else value), (s.name, field)


@pytest.mark.parametrize("size", ["1.5b", "7b", "32b"])
def test_gpu_presets_use_the_papers_settings(size):
    p = presets.get(f"gpu-{size}")
    cfg = pipeline.plan(f"gpu-{size}", "rollout").steps[-1][1]
    assert size.upper() in cfg.generation.model.upper() and "Coder" in cfg.generation.model
    g = cfg.generation
    assert (cfg.samples, g.temperature, g.top_p, g.repetition_penalty, g.max_new_tokens) == \
        (4, 0.7, 0.8, 1.05, 1024)
    assert p["sft"]["learning_rate"] == 2e-5 and p["sft"]["lr_scheduler"] == "cosine"
    assert p["sft"]["batch_size"] == 256 and p["sft"]["max_length"] == 2048
    assert p["sft"]["bf16"] is True and p["ingest"]["split"] == "train"


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        pipeline.plan("huge", "ingest")
    assert "'huge'" in str(e.value) and "default" in str(e.value) and "gpu-7b" in str(e.value)


def test_unknown_stage_and_field_are_rejected_with_choices():
    with pytest.raises(ConfigError, match="valid stages"):
        pipeline.plan("tiny", "ingest", {"ingset": {"limit": 2}})
    with pytest.raises(ConfigError, match="valid fields") as e:
        pipeline.plan("tiny", "ingest", {"ingest": {"limt": 2}})
    assert "limit" in str(e.value)
    with pytest.raises(ConfigError, match="valid stages"):
        pipeline.plan("tiny", "evaluate-all")


def test_overrides_layer_over_the_preset_and_variant_replaces_fields():
    merged = presets.merge(presets.get("tiny"), {"ingest": {"limit": 7},
                                                 "rollout": {"variant": "reference"}})
    assert merged["ingest"] == {**presets.get("tiny")["ingest"], "limit": 7}
    assert merged["rollout"] == {"variant": "reference"}
    assert presets.get("tiny")["ingest"]["limit"] == 3  # the preset itself is untouched


def test_parse_set():
    assert presets.parse_set(["rollout.samples=2", "ingest.split=test", "sft.bf16=true"]) == \
        {"rollout": {"samples": 2}, "ingest": {"split": "test"}, "sft": {"bf16": True}}
    with pytest.raises(ConfigError, match="STAGE.FIELD=VALUE"):
        presets.parse_set(["samples=2"])
