"""Critic SFT on the real default model with TRL's SFTTrainer: loss mask, training, resume."""

import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from ctrl.config import ConfigError
from ctrl.critique import CritiqueConfig
from ctrl.critique import run as synthesize
from ctrl.default_model import default_model_path
from ctrl.sft import SFTConfig, build_examples, run, trainer_for
from test_critique_data import stage1_inputs

TINY = dict(max_steps=3, save_steps=2, batch_size=1, max_length=512, learning_rate=1e-3)


def _inputs(store):
    keys = stage1_inputs(store)
    crit = synthesize(store, CritiqueConfig(synthesizer="template", balance_correct=0), **keys)
    return dict(critiques=crit.key, problems=keys["problems"], rollouts=keys["rollouts"])


def test_examples_are_hint_free_and_only_critique_tokens_carry_loss(store, tmp_path):
    keys = _inputs(store)
    ex = build_examples(store, **keys)
    rows = store.read_table("sft_examples", ex.key).to_pylist()
    assert ex.rows == 10 and len(rows) == 10
    for r in rows:
        assert "<information>" not in r["prompt"][-1]["content"]       # context distillation
        assert r["completion"][0]["content"].rstrip().endswith(("Correct", "Incorrect"))
    trainer = trainer_for(default_model_path(), rows[:3], SFTConfig(**TINY), str(tmp_path))
    tok = trainer.processing_class
    for r, ex_row in zip(rows[:3], trainer.train_dataset):
        ids, labels = ex_row["input_ids"], ex_row["labels"]
        first = next(i for i, lab in enumerate(labels) if lab != -100)
        assert all(lab == -100 for lab in labels[:first])             # the prompt: no loss
        assert all(lab == t for lab, t in zip(labels[first:], ids[first:]))
        learned = tok.decode(ids[first:])
        assert learned.startswith(r["completion"][0]["content"][:40])
        assert "# Problem" in tok.decode(ids[:first]) and "# Problem" not in learned


KILLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from transformers import TrainerCallback
from storage import Store
from ctrl.sft import SFTConfig, run

class KillAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        os.kill(os.getpid(), signal.SIGKILL)

run(Store({root!r}), SFTConfig(**{cfg!r}), callbacks=[KillAfterFirstCheckpoint()], **{keys!r})
"""


def test_sft_trains_and_resumes_after_sigkill(store, tmp_path):
    keys = _inputs(store)
    script = tmp_path / "kill.py"
    script.write_text(textwrap.dedent(KILLER.format(
        tests=os.path.dirname(__file__), root=store.root, cfg=TINY, keys=keys)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    staged = [d for d in os.listdir(os.path.join(store.root, "staging", "models"))]
    assert len(staged) == 1 and not store.has_model(staged[0])
    ckpts = os.listdir(os.path.join(store.root, "staging", "models", staged[0], "checkpoints"))
    assert [c for c in ckpts if c.startswith("checkpoint-")] == ["checkpoint-2"]

    res = run(store, SFTConfig(**TINY), **keys)
    m = res.manifest
    assert res.key == staged[0] and not res.cached
    assert m["resumed_from_step"] == 2 and m["global_step"] == 3
    assert [h["step"] for h in m["loss_history"]] == [1, 2, 3]     # history survives the kill
    assert all(math.isfinite(h["loss"]) for h in m["loss_history"])
    path = store.model_path(res.key)
    assert os.path.getsize(os.path.join(path, "loss.png")) > 1000
    assert not os.path.exists(os.path.join(path, "checkpoints"))
    base = load_file(os.path.join(default_model_path(), "model.safetensors"))
    tuned = load_file(os.path.join(path, "model.safetensors"))
    changed = [n for n in base if not torch.equal(base[n].float(), tuned[n].float())]
    assert len(changed) > len(base) // 2
    assert run(store, SFTConfig(**TINY), **keys).cached
    assert res.metrics["sft_examples"] == m["sft_examples"]
    assert m["critique_sources"] == {"template": 10}             # never passed off as a model's


def test_lora_run_merges_into_a_plain_model(store):
    keys = _inputs(store)
    res = run(store, SFTConfig(use_lora=True, lora_r=4, max_steps=1, batch_size=1,
                               max_length=512, learning_rate=1e-2, max_examples=2), **keys)
    files = {f["path"] for f in res.manifest["files"]}
    assert "model.safetensors" in files and "adapter_config.json" not in files
    assert math.isfinite(res.manifest["loss_history"][0]["loss"])
    base = load_file(os.path.join(default_model_path(), "model.safetensors"))
    tuned = load_file(os.path.join(store.model_path(res.key), "model.safetensors"))
    assert set(base) == set(tuned)
    assert any(not torch.equal(base[n].float(), tuned[n].float()) for n in base)


@pytest.mark.parametrize("bad, fix", [
    (dict(batch_size=3, micro_batch_size=2), "multiple of"),
    (dict(learning_rate=0), "2e-5"),
    (dict(use_lora=True, lora_r=0), "use_lora=false"),
])
def test_config_rejects_bad_values(bad, fix):
    with pytest.raises(ConfigError, match=fix):
        SFTConfig(**bad)
