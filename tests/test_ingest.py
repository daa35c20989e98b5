"""The ingest stage through the real artifact store and the real `ctrl` CLI: caching by key,
quarantine and exit codes, decontamination, one-line errors."""

from __future__ import annotations

import glob
import json
import os
import shutil

import pytest

from conftest import FIXTURES
from ctrl.cli import main as ctrl_main
from ctrl.config import ConfigError
from ctrl.ingest import IngestConfig, run

DATA = FIXTURES / "datasets"


@pytest.fixture
def restore_offline_flags(monkeypatch):
    """Ingest flips the hub offline flags process-wide when the hub is unreachable; undo it."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", datasets.config.HF_HUB_OFFLINE)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE",
                        huggingface_hub.constants.HF_HUB_OFFLINE)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # "0" reads as unset
        monkeypatch.setenv(var, os.environ.get(var, "0"))


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = ctrl_main(["ingest", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_mbpp_and_humaneval_land_in_problems_view(store, capsys):
    rc, out, _ = cli(capsys, "--source", "mbpp")
    assert rc == 0 and "written" in out and "test" in out and "500" in out
    rc, _, _ = cli(capsys, "--source", "humaneval")
    assert rc == 0
    counts = store.sql("SELECT source, split, count(*) AS n FROM problems GROUP BY ALL "
                       "ORDER BY ALL").to_pylist()
    assert counts == [
        {"source": "humaneval", "split": "test", "n": 164},
        {"source": "mbpp", "split": "prompt", "n": 10},
        {"source": "mbpp", "split": "test", "n": 500},
        {"source": "mbpp", "split": "train", "n": 374},
        {"source": "mbpp", "split": "validation", "n": 90},
    ]
    row = store.sql("SELECT * FROM problems WHERE problem_id = 'mbpp/2'").to_pylist()[0]
    assert json.loads(row["private_tests"])["kind"] == "assert" and row["artifact"]


def test_rerun_is_cache_hit_and_parameter_change_gives_new_key(store, capsys):
    first = run(store, IngestConfig(source="mbpp", split="test", limit=20))
    assert not first.cached and first.rows == 20
    part = os.path.join(store.table_dir("problems", first.key), "part-00000.parquet")
    mtime = os.stat(part).st_mtime_ns
    again = run(store, IngestConfig(source="mbpp", split="test", limit=20))
    assert again.cached and again.key == first.key and again.rows == 20
    assert os.stat(part).st_mtime_ns == mtime  # nothing rewritten
    rc, out, _ = cli(capsys, "--source", "mbpp", "--split", "test", "--limit", "20")
    assert rc == 0 and "cache hit" in out and first.key in out
    other = run(store, IngestConfig(source="mbpp", split="test", limit=5))
    assert other.key != first.key and not other.cached
    both = store.sql("SELECT artifact, count(*) AS n FROM problems GROUP BY artifact "
                     "ORDER BY n").to_pylist()
    assert both == [{"artifact": other.key, "n": 5}, {"artifact": first.key, "n": 20}]
    # --limit takes the first N in task_id order
    ids = store.sql(f"SELECT problem_id FROM problems WHERE artifact = '{other.key}' "
                    "ORDER BY problem_id").to_pylist()
    assert [r["problem_id"] for r in ids] == [f"mbpp/{i}" for i in range(11, 16)]


def test_changed_input_data_gives_new_key(store, tmp_path):
    path = tmp_path / "apps-test.jsonl"
    shutil.copy(DATA / "apps" / "test.jsonl", path)
    a = run(store, IngestConfig(source=str(path), format="apps"))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3]) + "\n")
    b = run(store, IngestConfig(source=str(path), format="apps"))
    assert a.key != b.key and not b.cached
    assert (a.rows, b.rows) == (4, 3)


@pytest.mark.parametrize("source,fmt,split,n_good,n_bad", [
    ("apps/test.jsonl", "apps", "test", 4, 2),
    ("taco", "taco", "train", 3, 2),
    ("code_contests-test.parquet", "codecontests", "test", 3, 2),
    ("livecodebench/test.jsonl", "livecodebench", "test", 2, 2),
])
def test_malformed_rows_are_quarantined_not_fatal(store, capsys, source, fmt, split, n_good,
                                                  n_bad):
    rc, out, _ = cli(capsys, "--source", str(DATA / source), "--format", fmt)
    assert rc == 0
    assert f"quarantined  {n_bad:>7}" in out
    key = out.split("key ")[1].split()[0]
    probs = store.sql(f"SELECT split, count(*) AS n FROM problems WHERE artifact='{key}' "
                      "GROUP BY split").to_pylist()
    assert probs == [{"split": split, "n": n_good}]
    q = store.sql(f"SELECT * FROM quarantine WHERE artifact='{key}'").to_pylist()
    assert len(q) == n_bad and all(r["kind"] == "malformed" and r["reason"] for r in q)
    assert all(r["source"] == fmt and r["raw"].startswith("{") for r in q)
    assert all(isinstance(r["row_index"], int) and r["native_id"] for r in q)


def test_all_rows_bad_exits_nonzero_and_records_them(store, capsys):
    rc, out, err = cli(capsys, "--source", str(DATA / "apps" / "all_bad.jsonl"),
                       "--format", "apps")
    assert rc == 2 and "none of the 2 rows" in err
    reasons = store.sql("SELECT reason FROM quarantine ORDER BY row_index").to_pylist()
    assert [r["reason"].split(":")[0] for r in reasons] == [
        "field 'input_output' is not valid JSON", "field 'input_output' is missing or empty (no "
        "tests)"]


def test_decontamination_drops_planted_problem_with_reason(store, capsys):
    rc, out, _ = cli(capsys, "--source", str(DATA / "taco"), "--format", "taco",
                     "--decontaminate-against", "humaneval,mbpp:test")
    assert rc == 0 and "contaminated       1" in out
    kept = {r["problem_id"] for r in store.sql("SELECT problem_id FROM problems").to_pylist()}
    assert kept == {"taco/train/0", "taco/train/1"}
    dropped = store.sql("SELECT * FROM quarantine WHERE kind = 'contaminated'").to_pylist()
    assert len(dropped) == 1
    d = dropped[0]
    assert d["native_id"] == "train/2" and d["matched_problem_id"] == "humaneval/0"
    assert 0.5 < d["overlap"] <= 1.0 and "humaneval/0" in d["reason"]
    # the eval sets' fingerprints are part of the key: without them it is another artifact
    plain = run(store, IngestConfig(source=str(DATA / "taco"), format="taco"))
    assert plain.rows == 3 and not plain.cached


def test_decontaminate_against_a_stored_problems_artifact(store):
    evalset = run(store, IngestConfig(source="humaneval", limit=3))
    res = run(store, IngestConfig(source=str(DATA / "taco"), format="taco",
                                  decontaminate_against=(evalset.key,)))
    assert res.rows == 2 and res.metrics["contaminated"] == 1
    assert res.manifest["inputs"][f"decontaminate:{evalset.key}"] == evalset.key


@pytest.mark.parametrize("argv,needle", [
    (["--source", "/nonexistent/train.jsonl", "--format", "apps"], "no such file"),
    (["--source", str(DATA / "apps" / "test.jsonl"), "--format", "parquetz"], "unknown format"),
    (["--source", str(DATA / "apps" / "test.jsonl")], "needs --format"),
    (["--source", "nobody/no-such-dataset", "--format", "taco"], "not in the local cache"),
    (["--source", "mbpp", "--split", "dev"], "MBPP has splits"),
    (["--source", "mbpp", "--decontaminate-against", "gsm8k"], "decontamination set"),
])
def test_unusable_source_is_one_clear_line(store, capsys, monkeypatch, restore_offline_flags,
                                          argv, needle):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc, out, err = cli(capsys, *argv)
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and not store.manifests()


def test_unreadable_file_is_one_clear_line(store, capsys, tmp_path):
    bad = tmp_path / "train.jsonl"
    bad.write_text("this is not json\n")
    rc, _, err = cli(capsys, "--source", str(bad), "--format", "taco")
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert str(bad) in lines[0] and "could not be read as a dataset" in lines[0]


def test_config_rejects_bad_combinations():
    with pytest.raises(ConfigError, match="drop --format"):
        IngestConfig(source="mbpp", format="apps")
    with pytest.raises(ConfigError, match="overlap_threshold"):
        IngestConfig(source="mbpp", overlap_threshold=0.0)
    with pytest.raises(ConfigError, match="limit"):
        IngestConfig(source="mbpp", limit=0)


def test_killed_run_resumes_from_finished_shards(store, monkeypatch):
    import ctrl.ingest as ingest

    monkeypatch.setattr(ingest, "SHARD_SIZE", 100)
    real_build, calls = ingest.build_rows, []

    def crash_on_third_shard(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated kill")
        return real_build(*a, **kw)

    monkeypatch.setattr(ingest, "build_rows", crash_on_third_shard)
    cfg = IngestConfig(source="mbpp", split="test")
    with pytest.raises(KeyboardInterrupt):
        run(store, cfg)
    (pdir,) = glob.glob(os.path.join(store.root, "tables", "problems", "*"))
    assert sorted(os.listdir(pdir)) == ["part-00000.parquet", "part-00001.parquet"]
    shard0 = os.path.join(pdir, "part-00000.parquet")
    mtime = os.stat(shard0).st_mtime_ns
    monkeypatch.setattr(ingest, "build_rows", real_build)
    calls.clear()
    res = run(store, cfg)
    assert res.rows == 500 and res.metrics["rows_per_split"] == {"test": 500}
    assert os.stat(shard0).st_mtime_ns == mtime  # finished shards were not redone
    n = store.sql("SELECT count(DISTINCT problem_id) AS n FROM problems").to_pylist()[0]["n"]
    assert n == 500


def test_duplicate_native_ids_are_quarantined(store, tmp_path):
    lines = (DATA / "apps" / "test.jsonl").read_text().splitlines()
    path = tmp_path / "test.jsonl"
    path.write_text("\n".join(lines[:2] + lines[:1]) + "\n")
    res = run(store, IngestConfig(source=str(path), format="apps"))
    assert res.rows == 2 and res.metrics["quarantined"] == 1
    (q,) = store.sql("SELECT native_id, row_index, reason FROM quarantine").to_pylist()
    assert q["native_id"] == "test/4001" and q["row_index"] == 2
    assert "duplicate of test row 0" in q["reason"]


def test_date_window_keeps_only_problems_in_range(store):
    lcb = str(DATA / "livecodebench" / "test.jsonl")
    res = run(store, IngestConfig(source=lcb, format="livecodebench", date_from="2024-08-01",
                                  date_to="2024-11-01"))
    ids = {r["problem_id"] for r in store.sql("SELECT problem_id FROM problems").to_pylist()}
    assert ids == {"livecodebench/abc001_a"} and res.metrics["native_rows"] == 3
    with pytest.raises(ConfigError, match="apply to formats"):
        IngestConfig(source="mbpp", date_from="2024-08-01")
    with pytest.raises(ConfigError, match="ISO date"):
        IngestConfig(source=lcb, format="livecodebench", date_to="Nov 2024")


def test_unreachable_hub_fails_fast_and_switches_datasets_offline(store, capsys, monkeypatch,
                                                                  restore_offline_flags):
    import time

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "0")  # not requested: the connectivity probe must decide
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    t0 = time.monotonic()
    rc, _, err = cli(capsys, "--source", "someone/some-dataset", "--format", "codecontests")
    assert rc == 2 and time.monotonic() - t0 < 15
    assert len(err.strip().splitlines()) == 1 and "hub is unreachable" in err
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"
