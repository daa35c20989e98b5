"""The model layer: one resolver (default | path | hub id | store key), explicit handles (two
models loaded at once), and a rollout from a model committed to a real store; default model."""

from __future__ import annotations

import shutil

import pytest

from ctrl.config import from_dict
from ctrl.default_model import default_model_path
from ctrl.generation import GenerationError, SamplingParams, model_fingerprint
from ctrl.models import ModelPool, fingerprint, generate_texts, resolve

PROMPT = [[{"role": "user", "content": "Write a Python function `add(a, b)`."}]]


@pytest.fixture
def model_key(store, tmp_path):
    """A copy of the default model committed as an sft-like model artifact."""
    src = tmp_path / "copy"
    shutil.copytree(default_model_path(), src)
    key = "5eed5eed5eed0001"
    store.commit_model(key, str(src), stage="sft", config={}, inputs={}, code_version="test")
    return key


def test_resolve_every_kind_of_id(store, model_key, tmp_path):
    assert resolve(store, "default") == default_model_path()
    assert resolve(store, model_key) == store.model_path(model_key)
    assert resolve(store, str(tmp_path)) == str(tmp_path)               # a directory
    assert resolve(store, "Qwen/Qwen2.5-Coder-7B-Instruct") == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert resolve(store, "0123456789abcdef") == "0123456789abcdef"    # not in the store
    assert resolve(None, model_key) == model_key                        # no store, no lookup
    with pytest.raises(GenerationError, match="offline|not a local directory"):
        resolve(store, "no-such-org/no-such-model-xyz", local=True)
    assert fingerprint(store, model_key) == model_fingerprint(default_model_path())


def test_two_handles_loaded_at_once_both_generate(store, model_key):
    pool = ModelPool(store)
    policy, frozen = pool.get("default"), pool.get(model_key)
    assert pool.get("default") is policy and not policy.loaded        # lazy, made once
    p = SamplingParams(n=2, temperature=0.8, max_new_tokens=8, seed=3)
    a, b = generate_texts(policy, PROMPT, p), generate_texts(frozen, PROMPT, p)
    assert policy.loaded and frozen.loaded and len(pool.loaded()) == 2
    assert policy.backend is not frozen.backend
    assert policy.backend.model is not frozen.backend.model
    assert a == b and len(a[0]) == 2        # same weights, same seeds: the same samples
    pool.release(policy)
    assert not policy.loaded and pool.loaded() == [frozen]
    assert generate_texts(frozen, [], p) == []


def test_rollout_from_a_store_model_key(store, model_key):
    from test_rollout import _problems, _write_problems

    from ctrl.rollout import RolloutConfig, rollout_id, run

    key = _write_problems(store, _problems()[:2])
    res = run(store, from_dict(RolloutConfig, {"generation.model": model_key, "samples": 2, "generation.max_new_tokens": 8}), problems=key)
    rows = store.read_table("rollouts", res.key).to_pylist()
    assert len(rows) == 4 and {r["model"] for r in rows} == {model_key}
    assert all(r["rollout_id"] == rollout_id(r["problem_id"], model_key, 0, r["sample_idx"], 0)
               for r in rows)
    manifest = store.read_manifest("rollouts", res.key)
    assert manifest["inputs"]["model"] == model_fingerprint(store.model_path(model_key))
    assert all(r["n_tokens"] > 0 for r in rows)
