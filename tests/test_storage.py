"""The artifact store: keys, atomic sharded writes, manifests, fsspec roots, empty and nested
tables, models, racing writers. Real Parquet files on real (local / memory) filesystems."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pyarrow as pa
import pytest

from storage import ArtifactNotFound, IncompleteArtifact, Store, artifact_key

ROLLOUT_SCHEMA = pa.schema([
    ("rollout_id", pa.string()),
    ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("code", pa.string()),
    ("n_tokens", pa.int64()),
])


def rows(start: int, n: int) -> list[dict]:
    return [{"rollout_id": f"r{i}", "n_tokens": i, "code": None if i % 3 else f"print({i})",
             "prompt": [{"role": "user", "content": f"q{i}"}] * (i % 3)}
            for i in range(start, start + n)]


def write(store: Store, key: str, shards: list[list[dict]], table: str = "rollouts",
          schema: pa.Schema | None = ROLLOUT_SCHEMA, config: dict | None = None) -> dict:
    w = store.open_writer(table, key, stage="rollout", config=config or {"t": 0.7},
                          inputs={"problems": "p" * 16}, code_version="1")
    for i, shard in enumerate(shards):
        w.write_shard(i, shard, schema=schema)
    return w.commit(schema=schema, extra={"metrics": {"n": 1}})


# ---- keys -------------------------------------------------------------------------------
def test_key_is_16_hex_and_stable_across_dict_order():
    a = artifact_key("rollout", "1", {"t": 0.7, "n": 4, "sub": {"x": 1, "y": [1, 2]}},
                     {"problems": "abc", "model": "def"})
    b = artifact_key("rollout", "1", {"sub": {"y": [1, 2], "x": 1}, "n": 4, "t": 0.7},
                     {"model": "def", "problems": "abc"})
    assert a == b and len(a) == 16 and int(a, 16) >= 0
    # tuples (frozen dataclass configs) and lists normalize alike
    assert artifact_key("s", "1", {"xs": (1, 2)}, {}) == artifact_key("s", "1", {"xs": [1, 2]}, {})


@pytest.mark.parametrize("change", [
    dict(stage="critique"), dict(version="2"), dict(config={"t": 0.8, "n": 4}),
    dict(inputs={"problems": "abd"}), dict(inputs={"problems": "abc", "extra": "x"}),
])
def test_key_changes_with_each_part(change):
    base = dict(stage="rollout", version="1", config={"t": 0.7, "n": 4}, inputs={"problems": "abc"})
    assert artifact_key(**base) != artifact_key(**{**base, **change})


# ---- write / read / manifest ---------------------------------------------------------------
def test_commit_writes_layout_and_manifest_last(store):
    m = write(store, "k1", [rows(0, 5), rows(5, 4)])
    d = os.path.join(store.root, "tables", "rollouts", "k1")
    assert sorted(os.listdir(d)) == ["_manifest.json", "part-00000.parquet", "part-00001.parquet"]
    on_disk = json.load(open(os.path.join(d, "_manifest.json")))
    assert on_disk == json.loads(json.dumps(m))
    assert m["rows"] == 9 and [s["rows"] for s in m["shards"]] == [5, 4]
    assert m["inputs"] == {"problems": "p" * 16} and m["config"] == {"t": 0.7}
    assert m["stage"] == "rollout" and m["code_version"] == "1" and m["metrics"] == {"n": 1}
    assert [c["name"] for c in m["schema"]] == ROLLOUT_SCHEMA.names
    t = store.read_table("rollouts", "k1")
    assert t.column("rollout_id").to_pylist() == [f"r{i}" for i in range(9)]
    assert t.column("prompt").to_pylist()[2] == [{"role": "user", "content": "q2"}] * 2
    assert store.read_table("rollouts", "k1", columns=["n_tokens"]).column_names == ["n_tokens"]
    assert store.latest_key("rollouts") == "k1" and store.latest_key("critiques") is None


def test_uncommitted_artifact_is_never_read(store):
    w = store.open_writer("rollouts", "k2", stage="rollout", config={}, inputs={}, code_version="1")
    w.write_shard(0, rows(0, 3), schema=ROLLOUT_SCHEMA)
    assert not store.has_table("rollouts", "k2")
    with pytest.raises(IncompleteArtifact, match="never committed"):
        store.read_table("rollouts", "k2")
    with pytest.raises(ArtifactNotFound):
        store.read_manifest("rollouts", "nokey")
    assert store.manifests() == [] and store.latest_key("rollouts") is None
    assert w.done_shards() == {0}
    w.commit(schema=ROLLOUT_SCHEMA)
    assert store.has_table("rollouts", "k2") and store.read_table("rollouts", "k2").num_rows == 3


def test_temp_files_are_not_shards_and_stale_ones_are_cleaned(store):
    d = os.path.join(store.root, "tables", "rollouts", "k3")
    os.makedirs(d)
    stale, live = (os.path.join(d, f".part-0000{i}.parquet.tmp-deadbeef") for i in (0, 1))
    for p in (stale, live):
        open(p, "wb").write(b"half a shard")
    os.utime(stale, (0, 0))  # left by a writer that died long ago
    w = store.open_writer("rollouts", "k3", stage="s", config={}, inputs={}, code_version="1")
    assert w.done_shards() == set()
    w.write_shard(0, rows(0, 2), schema=ROLLOUT_SCHEMA)
    assert w.commit()["rows"] == 2
    assert not os.path.exists(stale) and os.path.exists(live)  # a young one may be a live writer


def test_empty_output_commits_with_schema(store):
    m = write(store, "empty", [])
    assert m["rows"] == 0 and [c["name"] for c in m["schema"]] == ROLLOUT_SCHEMA.names
    t = store.read_table("rollouts", "empty")
    assert t.num_rows == 0 and t.schema == ROLLOUT_SCHEMA
    assert store.sql("SELECT count(*) AS n FROM rollouts").column("n").to_pylist() == [0]


def test_empty_output_without_schema_still_commits(store):
    m = write(store, "bare", [], schema=None)
    assert m["rows"] == 0 and store.read_table("rollouts", "bare").num_rows == 0


def test_arrow_table_rows_are_cast_to_schema(store):
    t = pa.table({"n_tokens": pa.array([1, 2], pa.int32()), "rollout_id": ["a", "b"],
                  "code": pa.array([None, None], pa.null()),
                  "prompt": pa.array([[], []], pa.list_(pa.null()))})
    m = write(store, "cast", [t])
    assert store.read_table("rollouts", "cast").schema == ROLLOUT_SCHEMA and m["rows"] == 2


def test_bad_rows_error_names_artifact_and_shard(store):
    w = store.open_writer("rollouts", "bad", stage="s", config={}, inputs={}, code_version="1")
    with pytest.raises(ValueError, match=r"rollouts/bad.*shard 3"):
        w.write_shard(3, [{"rollout_id": 1, "n_tokens": "x"}], schema=ROLLOUT_SCHEMA)
    assert w.done_shards() == set()


def test_fields_outside_the_schema_are_reported(store, caplog):
    w = store.open_writer("rollouts", "drop", stage="s", config={}, inputs={}, code_version="1")
    w.write_shard(0, [{"rollout_id": "a", "debug": 1}], schema=ROLLOUT_SCHEMA)
    assert "['debug'] are not in the table's schema" in caplog.text
    assert w.commit(schema=ROLLOUT_SCHEMA)["rows"] == 1


def test_extra_cannot_override_core_fields(store):
    w = store.open_writer("rollouts", "x", stage="s", config={}, inputs={}, code_version="1")
    with pytest.raises(ValueError, match="clash"):
        w.commit(schema=ROLLOUT_SCHEMA, extra={"rows": 5})


def test_invalid_names_are_rejected(store):
    with pytest.raises(ValueError, match="invalid table"):
        store.open_writer("roll/outs", "k", stage="s", config={}, inputs={}, code_version="1")
    with pytest.raises(ValueError, match="invalid key"):
        store.has_table("rollouts", "../etc")
    with pytest.raises(ValueError, match="reserved"):
        store.open_writer("runs", "k", stage="s", config={}, inputs={}, code_version="1")


# ---- fsspec roots -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["memory", "file"])
def test_fsspec_roots(kind, tmp_path):
    root = f"memory://ctrl-{uuid.uuid4().hex[:8]}" if kind == "memory" else f"file://{tmp_path}/r"
    store = Store(root)
    assert store.root == root
    write(store, "k1", [rows(0, 3), rows(3, 3)])
    assert not store.has_table("rollouts", "k2")
    w = store.open_writer("rollouts", "k2", stage="s", config={}, inputs={}, code_version="1")
    w.write_shard(1, rows(0, 1), schema=ROLLOUT_SCHEMA)
    assert Store(root).open_writer("rollouts", "k2", stage="s", config={}, inputs={},
                                   code_version="1").done_shards() == {1}
    assert store.read_table("rollouts", "k1").num_rows == 6
    res = store.sql("SELECT artifact, count(*) AS n, sum(n_tokens) AS s FROM rollouts GROUP BY ALL")
    assert res.to_pylist() == [{"artifact": "k1", "n": 6, "s": 15}]
    if kind == "file":  # a file:// root is local: DuckDB reads the absolute paths natively
        assert os.path.exists(tmp_path / "r" / "catalog.duckdb")
        assert store.sql("SELECT path FROM runs").column("path").to_pylist() == [
            str(tmp_path / "r" / "tables" / "rollouts" / "k1")]
    else:
        import fsspec

        assert fsspec.filesystem("memory").exists(root.split("://")[1] + "/catalog.duckdb")


# ---- models -------------------------------------------------------------------------------
def _save_model(d: str) -> None:
    os.makedirs(os.path.join(d, "sub"), exist_ok=True)
    open(os.path.join(d, "config.json"), "w").write('{"model_type": "tiny"}')
    open(os.path.join(d, "sub", "weights.bin"), "wb").write(os.urandom(1000))


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_models_commit_and_read(kind, store, tmp_path, monkeypatch):
    monkeypatch.setenv("CTRL_CACHE", str(tmp_path / "cache"))
    if kind == "memory":
        store = Store(f"memory://models-{uuid.uuid4().hex[:8]}")
    assert not store.has_model("m1")
    with pytest.raises(ArtifactNotFound):
        store.model_path("m1")
    d = store.model_dir("m1")
    _save_model(d)
    weights = open(os.path.join(d, "sub", "weights.bin"), "rb").read()
    m = store.commit_model("m1", d, stage="sft", config={"lr": 1e-5}, inputs={"critiques": "c"},
                           code_version="1", extra={"metrics": {"loss": 0.5}})
    assert store.has_model("m1") and m["bytes"] == 1000 + len('{"model_type": "tiny"}')
    assert sorted(f["path"] for f in m["files"]) == ["config.json", "sub/weights.bin"]
    p = store.model_path("m1")
    assert open(os.path.join(p, "sub", "weights.bin"), "rb").read() == weights
    assert json.load(open(os.path.join(p, "_manifest.json")))["key"] == "m1"
    assert store.sql("SELECT artifact, stage, files FROM models").to_pylist() == [
        {"artifact": "m1", "stage": "sft", "files": 2}]
    assert [x["key"] for x in store.manifests("model")] == ["m1"]


def test_model_without_manifest_is_incomplete(store, tmp_path):
    src = tmp_path / "elsewhere"
    _save_model(str(src))
    store.commit_model("m2", str(src), stage="sft", config={}, inputs={}, code_version="1")
    assert os.path.exists(src / "config.json")  # copied, not moved, from outside staging
    os.remove(os.path.join(store.root, "models", "m2", "_manifest.json"))
    assert not store.has_model("m2")
    with pytest.raises(IncompleteArtifact):
        store.model_path("m2")


# ---- racing writers -------------------------------------------------------------------------
RACE = """
import sys, pyarrow as pa
from storage import Store
store = Store(sys.argv[1], auto_catalog=True)
rows = [{"i": i, "msg": [{"role": "user", "content": "x" * 200}]} for i in range(20000)]
for attempt in range(3):
    w = store.open_writer("rollouts", "same", stage="s", config={}, inputs={}, code_version="1")
    for shard in range(4):
        w.write_shard(shard, rows[shard * 5000:(shard + 1) * 5000])
    w.commit()
"""


def test_two_processes_writing_the_same_key(store):
    procs = [subprocess.Popen([sys.executable, "-c", RACE, store.root], stderr=subprocess.PIPE)
             for _ in range(2)]
    errs = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    t = store.read_table("rollouts", "same")
    assert t.num_rows == 20000 and sorted(t.column("i").to_pylist()) == list(range(20000))
    assert store.read_manifest("rollouts", "same")["rows"] == 20000
    d = os.path.join(store.root, "tables", "rollouts", "same")
    assert sorted(os.listdir(d)) == ["_manifest.json"] + [f"part-0000{i}.parquet" for i in range(4)]
    assert store.sql("SELECT count(*) AS n FROM rollouts").column("n").to_pylist() == [20000]
