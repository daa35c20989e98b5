"""Generation backends on the real embedded default model: transformers directly, openai through a
real `ctrl serve` subprocess, vllm where it is importable."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest

from ctrl.config import ConfigError
from ctrl.default_model import default_model_path
from ctrl.generation import (GPU_MODEL_PRESETS, GenerationError, SamplingParams, derive_seed,
                             load_backend, model_fingerprint, resolve_local)

PROMPTS = [
    [{"role": "user", "content": "Write a Python function `add(a, b)` that returns a + b."}],
    [{"role": "user", "content": "Implement `is_even(n)` in Python."}],
]


@pytest.fixture(scope="module")
def tf():
    return load_backend("default", "transformers")


def test_default_model_loads_with_auto_classes():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token is not None
    assert model.generation_config.eos_token_id is not None
    text = tok.apply_chat_template(PROMPTS[0], tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")
    n = sum(p.numel() for p in model.parameters())
    assert 1_000_000 < n < 20_000_000


def test_transformers_sampling_shapes_counts_and_determinism(tf):
    p = SamplingParams(n=3, temperature=0.8, max_new_tokens=24, seed=7)
    out = tf.generate(PROMPTS, p)
    assert [len(o) for o in out] == [3, 3]
    for comps in out:
        for c in comps:
            assert c.finish_reason in ("stop", "length")
            assert 0 < c.n_tokens <= 24 and c.prompt_tokens > 5
            if c.finish_reason == "length":
                assert c.n_tokens == 24
    assert len({c.text for c in out[0]}) > 1, "sampled completions should differ"
    # Same seed: same samples, also when the prompt is generated alone (batch independence).
    again = tf.generate(PROMPTS[1:], p)
    assert [c.text for c in again[0]] == [c.text for c in out[1]]
    other = tf.generate(PROMPTS[1:], SamplingParams(n=3, temperature=0.8, max_new_tokens=24,
                                                    seed=8))
    assert [c.text for c in other[0]] != [c.text for c in out[1]]


def test_transformers_greedy_copies_and_stop_strings(tf):
    greedy = tf.generate(PROMPTS[:1], SamplingParams(n=2, temperature=0, max_new_tokens=16))[0]
    assert greedy[0] == greedy[1]
    full = tf.generate(PROMPTS[:1], SamplingParams(n=1, temperature=0, max_new_tokens=40))[0][0]
    # Stop at a string that occurs in the greedy text: the text is cut before it.
    stop = next(ch for ch in full.text[3:] if not ch.isspace())
    cut = tf.generate(PROMPTS[:1], SamplingParams(n=1, temperature=0, max_new_tokens=40,
                                                  stop=(stop,)))[0][0]
    assert cut.finish_reason == "stop"
    assert stop not in cut.text and full.text.startswith(cut.text)
    assert cut.n_tokens <= full.n_tokens


def test_prompt_longer_than_context_is_reported_not_raised(tf):
    huge = [{"role": "user", "content": "def f(x):\n    return x\n" * 800}]
    out = tf.generate([huge, PROMPTS[0]], SamplingParams(n=2, max_new_tokens=8))
    assert [c.finish_reason for c in out[0]] == ["prompt_too_long"] * 2
    assert out[0][0].text == "" and out[0][0].prompt_tokens > tf.max_context
    assert out[1][0].finish_reason in ("stop", "length")


def test_sampling_params_reject_bad_values_naming_the_field():
    for kw, word in [({"n": 0}, "n="), ({"top_p": 0}, "top_p"), ({"temperature": -1}, "temp"),
                     ({"max_new_tokens": 0}, "max_new_tokens")]:
        with pytest.raises(ConfigError, match=word):
            SamplingParams(**kw)
    with pytest.raises(ConfigError, match="backend"):
        load_backend("default", "nope")


def test_offline_hub_name_fails_fast_with_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(GenerationError, match="not in the Hugging Face cache") as e:
        resolve_local("no-such-org/no-such-model-xyz")
    assert "\n" not in str(e.value)
    assert time.monotonic() - t0 < 60  # not a hang in download retries
    with pytest.raises(GenerationError, match="does not exist"):
        load_backend("/no/such/dir")


def test_fingerprint_and_presets():
    assert model_fingerprint("default").startswith("sha256:")
    assert model_fingerprint("default") == model_fingerprint(default_model_path())
    assert model_fingerprint("Qwen/Qwen2.5-Coder-7B-Instruct") == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert derive_seed(0, PROMPTS[0]) != derive_seed(0, PROMPTS[1])
    p = GPU_MODEL_PRESETS["qwen2.5-coder-7b"]
    assert p["model"] == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert p["sampling"]["top_p"] == 0.8 and p["sampling"]["n"] == 4


@pytest.fixture(scope="module")
def server():
    """A real `ctrl serve` subprocess on a free port, serving the default model."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctrl", "serve", "--model", "default", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        pytest.fail(f"ctrl serve did not start: {line!r}")
    yield line.split(" on ")[1].strip()
    proc.terminate()
    proc.wait(timeout=30)


def test_openai_backend_through_real_server(server, tf):
    be = load_backend("default", "openai", base_url=server, concurrency=2)
    assert be.max_context == tf.max_context
    p = SamplingParams(n=2, temperature=0.7, max_new_tokens=12, seed=3)
    out = be.generate(PROMPTS, p)
    assert [len(o) for o in out] == [2, 2]
    assert all(0 < c.n_tokens <= 12 and c.prompt_tokens > 5 for o in out for c in o)
    assert be.generate(PROMPTS, p) == out  # seeded: same request, same samples
    greedy = be.generate(PROMPTS[:1], SamplingParams(n=1, temperature=0, max_new_tokens=12))
    local = tf.generate(PROMPTS[:1], SamplingParams(n=1, temperature=0, max_new_tokens=12))
    assert greedy[0][0].text == local[0][0].text  # the server runs the same model
    huge = [{"role": "user", "content": "x = 1\n" * 3000}]
    assert be.generate([huge], p)[0][0].finish_reason == "prompt_too_long"


def test_openai_backend_clear_errors(server):
    with pytest.raises(GenerationError, match="does not serve model 'gpt-4o'.*default"):
        load_backend("gpt-4o", "openai", base_url=server)
    with pytest.raises(GenerationError, match="cannot reach"):
        load_backend("default", "openai", base_url="http://127.0.0.1:9/v1", retries=0)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                    reason="vLLM is not installed here (CPU-only machine; it needs a GPU and "
                           "the ctrl[gpu] extra)")
def test_vllm_backend_same_interface():
    be = load_backend("default", "vllm", gpu_memory_utilization=0.3)
    out = be.generate(PROMPTS, SamplingParams(n=2, max_new_tokens=16, seed=1))
    assert [len(o) for o in out] == [2, 2]
    assert all(c.finish_reason in ("stop", "length") and c.n_tokens > 0 for o in out for c in o)
    assert be.generate(PROMPTS, SamplingParams(n=2, max_new_tokens=16, seed=1)) == out


def test_batched_rows_keep_each_prompts_samples(tf):
    """All samples of many prompts share padded batches; a prompt's samples are the same as when
    it is generated alone, whatever the batch size."""
    prompts = PROMPTS + [[{"role": "user", "content": f"Write `f{i}(x)` returning x * {i}."}]
                         for i in range(5)]
    p = SamplingParams(n=3, temperature=0.9, top_p=0.95, repetition_penalty=1.1,
                       max_new_tokens=20, seed=11)
    together = tf.generate(prompts, p)
    size = tf.batch_size
    try:
        tf.batch_size = 4
        small = tf.generate(prompts, p)
    finally:
        tf.batch_size = size
    alone = [tf.generate([m], p)[0] for m in prompts[::3]]
    assert [[c.text for c in cs] for cs in small] == [[c.text for c in cs] for cs in together]
    assert [[c.text for c in cs] for cs in alone] == \
        [[c.text for c in cs] for cs in together[::3]]
    assert all(0 < c.n_tokens <= 20 for cs in together for c in cs)
