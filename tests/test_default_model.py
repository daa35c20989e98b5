"""The default-model build: reproducible bit for bit, loadable with the Auto classes, chat-ready;
and the shipped asset is what the README says."""

from __future__ import annotations

import json
import pathlib

from ctrl.default_model import BuildConfig, build, default_model_path, resolve_model

SMALL = BuildConfig(source_dir="/usr/lib/python3.11/json", vocab_size=600, hidden_size=64,
                    layers=1, heads=2, intermediate_size=128, seq_len=64, batch_size=4, steps=3)


def test_build_is_reproducible_and_loadable(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    a, b = tmp_path / "a", tmp_path / "b"
    info = build(str(a), SMALL)
    build(str(b), SMALL)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert info["steps_done"] == 3 and info["train_tokens"] == 3 * 4 * 64
    tok = AutoTokenizer.from_pretrained(a)
    model = AutoModelForCausalLM.from_pretrained(a)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.convert_tokens_to_ids("<|im_start|>") != tok.unk_token_id
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "def f(): pass"}]
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(masked) == "def f(): pass<|im_end|>"  # TRL assistant-only loss works
    assert tok.eos_token_id in model.generation_config.eos_token_id
    assert json.loads((a / "build_info.json").read_text())["config"]["seed"] == SMALL.seed
    assert "PSF" in (a / "README.md").read_text()


def test_shipped_default_model_matches_its_readme():
    path = pathlib.Path(default_model_path())
    assert resolve_model("default") == str(path)
    info = json.loads((path / "build_info.json").read_text())
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 15 * 2**20
    assert f"{info['parameters']:,} parameters" in (path / "README.md").read_text()
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["architectures"] == ["Qwen2ForCausalLM"] and cfg["dtype"] == "bfloat16"
