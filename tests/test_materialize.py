"""The materialization API (ctrl.stage) on a real store: several tables committed as a group,
a training run with a per-step table and checkpoints, report files; kills are real SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pyarrow as pa
import pytest

from ctrl.stage import materialize_tables, training
from storage import Store, artifact_key

HERE = os.path.dirname(os.path.abspath(__file__))
SQUARES = pa.schema([("n", pa.int64()), ("sq", pa.int64())])
ODDS = pa.schema([("n", pa.int64()), ("reason", pa.string())])
TABLES = {"squares": SQUARES, "odds": ODDS}  # squares is the primary: committed last
INPUTS = {"numbers": "n" * 16}
STEPS = pa.schema([("step", pa.int64()), ("w", pa.float64())])
N_STEPS = 6


def split(chunk):
    return {"squares": [{"n": x, "sq": x * x} for x in chunk],
            "odds": [{"n": x, "reason": "odd"} for x in chunk if x % 2]}


def group(store, process=split):
    def extra(out):
        total = sum(out.column("squares", "sq"))
        return {"squares": {"metrics": {"total": total}},
                "odds": {"metrics": {"odd": len(out.column("odds", "n"))}}}

    return materialize_tables(store, stage="split", version="1", config={"p": 2}, inputs=INPUTS,
                              tables=TABLES, items=list(range(20)), process=process,
                              shard_size=5, extra=extra)


def toy_train(store, die=None, log=None):
    """A deterministic 'trainer': w grows each step; a checkpoint holds w."""
    with training(store, stage="toy_grpo", version="1", config={"lr": 0.1}, inputs=INPUTS,
                  table="toy_steps", schema=STEPS) as run:
        if run.cached:
            return run.result
        start = run.resume_step()
        ckpt = run.latest_checkpoint()
        w = json.load(open(os.path.join(ckpt, "w.json")))["w"] if ckpt else 0.0
        for step in range(start, N_STEPS):
            if log is not None:
                log.append(step)
            w = round(w + 0.1 * (step + 1), 6)
            run.write_step(step, [{"step": step, "w": w}, {"step": step, "w": -w}])
            with open(os.path.join(run.checkpoint_dir(step), "w.json"), "w") as f:
                json.dump({"w": w}, f)
            if die == step:  # shard and checkpoint files written, marker not yet
                os.kill(os.getpid(), signal.SIGKILL)
            run.save_checkpoint(step)
        with open(os.path.join(run.model_dir, "model.json"), "w") as f:
            json.dump({"w": w}, f)
        return run.commit_model(extra={"metrics": {"w": w}})


KILL_GROUP = """
import os, signal, sys
sys.path.insert(0, sys.argv[2])
from test_materialize import group, split
from storage import Store

def dies(chunk):
    if chunk[0] == 10:
        os.kill(os.getpid(), signal.SIGKILL)
    return split(chunk)

group(Store(sys.argv[1]), process=dies)
"""

KILL_BETWEEN_MANIFESTS = """
import os, signal, sys
sys.path.insert(0, sys.argv[2])
from test_materialize import group
from storage import Store
from storage.writer import TableWriter

real = TableWriter.commit
def commit(self, **kw):
    if self.table == "squares":  # odds is committed, squares (the primary) not yet
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, **kw)
TableWriter.commit = commit
group(Store(sys.argv[1]))
"""

KILL_TRAINING = """
import sys
sys.path.insert(0, sys.argv[2])
from test_materialize import toy_train
from storage import Store
toy_train(Store(sys.argv[1]), die=int(sys.argv[3]))
"""


def killed(script, store, *args):
    p = subprocess.run([sys.executable, "-c", script, store.root, HERE, *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == -signal.SIGKILL, p.stderr


def shard_mtimes(store, table, key):
    d = store.file_uri(table, key)
    return {f: os.stat(os.path.join(d, f)).st_mtime_ns for f in os.listdir(d)
            if f.startswith("part-")}


def tables_of(store, results):
    return {t: store.read_table(t, r.key).to_pylist() for t, r in results.items()}


@pytest.fixture
def reference(tmp_path):
    """An uninterrupted run's outputs, in a store of its own."""
    ref = Store(str(tmp_path / "reference"))
    return ref, group(ref), toy_train(ref)


def test_group_commit_then_cache_hit_needs_every_table(store, reference):
    ref, ref_group, _ = reference
    res = group(store)
    assert list(res) == ["squares", "odds"] and not any(r.cached for r in res.values())
    assert res["squares"].key == res["odds"].key == artifact_key("split", "1", {"p": 2}, INPUTS)
    assert res["squares"].metrics == {"total": sum(x * x for x in range(20))}
    assert res["odds"].rows == 10 and res["odds"].metrics == {"odd": 10}
    assert tables_of(store, res) == tables_of(ref, ref_group)
    assert all(r.cached for r in group(store).values())
    assert store.sql("SELECT count(*) AS n FROM odds").to_pylist() == [{"n": 10}]


def test_group_killed_mid_shards_resumes_without_recomputing(store, reference):
    ref, ref_group, _ = reference
    killed(KILL_GROUP, store)
    key = artifact_key("split", "1", {"p": 2}, INPUTS)
    assert not store.has_table("squares", key) and not store.has_table("odds", key)
    before = {t: shard_mtimes(store, t, key) for t in TABLES}
    assert all(sorted(b) == ["part-00000.parquet", "part-00001.parquet"] for b in before.values())
    processed = []
    res = group(store, process=lambda c: (processed.append(c[0]), split(c))[1])
    assert processed == [10, 15]
    for t in TABLES:
        now = shard_mtimes(store, t, key)
        assert {f: now[f] for f in before[t]} == before[t]  # finished shards kept as they were
    assert tables_of(store, res) == tables_of(ref, ref_group)
    assert res["squares"].metrics == ref_group["squares"].metrics  # from all shards, not 2


def test_group_killed_between_manifests_is_not_a_cache_hit(store, reference):
    ref, ref_group, _ = reference
    killed(KILL_BETWEEN_MANIFESTS, store)
    key = artifact_key("split", "1", {"p": 2}, INPUTS)
    assert store.has_table("odds", key) and not store.has_table("squares", key)
    processed = []
    res = group(store, process=lambda c: (processed.append(c[0]), split(c))[1])
    assert processed == [] and not res["squares"].cached
    assert tables_of(store, res) == tables_of(ref, ref_group)
    assert all(r.cached for r in group(store).values())


def test_training_commits_steps_then_model(store, reference):
    ref_train = reference[2]
    res = toy_train(store)
    assert not res.cached and res.table == "models" and res.rows == 2 * N_STEPS
    assert store.has_model(res.key) and store.has_table("toy_steps", res.key)
    assert store.read_model_manifest(res.key)["steps_table"] == "toy_steps"
    assert json.load(open(os.path.join(store.model_path(res.key), "model.json"))) == \
        {"w": res.metrics["w"]}
    assert store.checkpoints(res.key) == []  # dropped once the model is committed
    assert store.read_table("toy_steps", res.key).to_pylist() == \
        reference[0].read_table("toy_steps", ref_train.key).to_pylist()
    log = []
    assert toy_train(store, log=log).cached and log == []


def test_training_killed_between_steps_resumes_from_last_complete_step(store, reference):
    ref, _, ref_train = reference
    killed(KILL_TRAINING, store, "3")
    key = ref_train.key
    assert not store.has_model(key) and not store.has_table("toy_steps", key)
    assert store.checkpoints(key) == [0, 1, 2]  # step 3's checkpoint has no marker
    before = shard_mtimes(store, "toy_steps", key)
    assert len(before) == 4  # step 3's shard was written, its checkpoint was not
    log = []
    res = toy_train(store, log=log)
    assert log == [3, 4, 5]
    now = shard_mtimes(store, "toy_steps", key)
    assert all(now[f] == before[f] for f in sorted(before)[:3])
    assert store.read_table("toy_steps", key).to_pylist() == \
        ref.read_table("toy_steps", key).to_pylist()
    assert res.metrics == ref_train.metrics


def test_report_files_through_the_store(store):
    def extra(out):
        uri = out.write_file("squares", "report/report.md", b"# squares\n")
        return {"squares": {"report": {"markdown": uri}}}

    res = materialize_tables(store, stage="rep", version="1", config={}, inputs={},
                             tables={"squares": SQUARES}, items=[1, 2],
                             process=lambda c: {"squares": [{"n": x, "sq": x * x} for x in c]},
                             shard_size=1, extra=extra)["squares"]
    assert store.read_file("squares", res.key, "report/report.md") == b"# squares\n"
    assert res.manifest["report"]["markdown"] == store.file_uri("squares", res.key,
                                                                "report/report.md")
    assert os.path.isfile(res.manifest["report"]["markdown"])
    assert store.read_table("squares", res.key).num_rows == 2  # a file is not a shard
    store.write_file("model", "m1", "notes/a.txt", b"x")
    assert store.read_file("model", "m1", "notes/a.txt") == b"x"
    for bad in ("../x", "/abs", "_manifest.json", "part-00009.parquet", "a//b", ""):
        with pytest.raises(ValueError, match="invalid file name"):
            store.write_file("squares", res.key, bad, b"x")


def test_storage_layers_point_one_way():
    src = open(os.path.join(HERE, "..", "storage", "models.py")).read()
    assert "storage.store" not in src
