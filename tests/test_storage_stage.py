"""ctrl.stage.materialize, the resume path every stage uses: crash after some shards (an
exception, and a real SIGKILLed process), then resume reusing the finished shards exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pyarrow as pa
import pytest

from ctrl.stage import materialize
from storage import Store, artifact_key

SCHEMA = pa.schema([("item", pa.int64()), ("square", pa.int64()),
                    ("msgs", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))])
ITEMS = list(range(23))  # 5 shards of 5, the last one short


def square(chunk: list[int]) -> list[dict]:
    return [{"item": i, "square": i * i, "msgs": [{"role": "user", "content": str(i)}]}
            for i in chunk]


def run(store: Store, process=square, items=ITEMS, **kw):
    args = dict(stage="square", table="squares", version="1", config={"p": 2},
                inputs={"numbers": "n" * 16}, items=items, process=process, shard_size=5,
                schema=SCHEMA)
    return materialize(store, **{**args, **kw})


def shard_stats(store: Store, key: str) -> dict[str, tuple[int, int]]:
    d = os.path.join(store.root, "tables", "squares", key)
    return {f: (os.stat(os.path.join(d, f)).st_ino, os.stat(os.path.join(d, f)).st_mtime_ns)
            for f in os.listdir(d) if f.startswith("part-")}


def check_complete(store: Store, res) -> None:
    t = store.read_table("squares", res.key)
    assert t.column("item").to_pylist() == ITEMS  # every item once, in order
    assert t.column("square").to_pylist() == [i * i for i in ITEMS]
    assert res.rows == 23 and not res.cached


def test_first_run_then_cache_hit(store):
    res = run(store, extra=lambda: {"metrics": {"mean": 1.5}})
    assert res.key == artifact_key("square", "1", {"p": 2}, {"numbers": "n" * 16})
    check_complete(store, res)
    assert res.metrics == {"mean": 1.5} and res.manifest["metrics"] == {"mean": 1.5}

    def boom(_):
        raise AssertionError("a cache hit must not process anything")

    def no_items():
        raise AssertionError("a cache hit must not build its work items")

    hit = run(store, process=boom, items=no_items)
    assert hit.cached and hit.key == res.key and hit.rows == 23 and hit.metrics == {"mean": 1.5}
    other = run(store, config={"p": 3})
    assert other.key != res.key and not other.cached


def test_exception_mid_stage_then_resume_reuses_shards(store):
    calls: list[int] = []

    def flaky(chunk):
        calls.append(chunk[0])
        if chunk[0] == 15:
            raise RuntimeError("worker died")
        return square(chunk)

    with pytest.raises(RuntimeError, match="worker died"):
        run(store, process=flaky)
    key = artifact_key("square", "1", {"p": 2}, {"numbers": "n" * 16})
    assert not store.has_table("squares", key)
    before = shard_stats(store, key)
    assert sorted(before) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]

    calls.clear()
    res = run(store, process=lambda c: (calls.append(c[0]), square(c))[1])
    assert calls == [15, 20]  # only the unfinished shards were processed
    after = shard_stats(store, key)
    assert {f: after[f] for f in before} == before  # same files: not rewritten
    check_complete(store, res)
    assert store.sql("SELECT count(*) AS n, count(DISTINCT item) AS d FROM squares").to_pylist() == [
        {"n": 23, "d": 23}]


KILLED = """
import os, signal, sys
from storage import Store
sys.path.insert(0, sys.argv[2])
from test_storage_stage import run, square

def dies(chunk):
    if chunk[0] == 10:
        os.kill(os.getpid(), signal.SIGKILL)
    return square(chunk)

run(Store(sys.argv[1]), process=dies)
"""


def test_killed_process_then_resume(store):
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.run([sys.executable, "-c", KILLED, store.root, here], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    key = artifact_key("square", "1", {"p": 2}, {"numbers": "n" * 16})
    assert not store.has_table("squares", key)
    with pytest.raises(Exception, match="no artifacts of table squares yet|no table or view"):
        store.sql("SELECT * FROM squares")
    before = shard_stats(store, key)
    assert sorted(before) == ["part-00000.parquet", "part-00001.parquet"]
    processed: list[int] = []
    res = run(store, process=lambda c: (processed.append(c[0]), square(c))[1])
    assert processed == [10, 15, 20]
    assert {f: shard_stats(store, key)[f] for f in before} == before
    check_complete(store, res)


def test_empty_work_commits_an_empty_table(store):
    res = run(store, items=[])
    assert res.rows == 0 and not res.cached
    t = store.read_table("squares", res.key)
    assert t.num_rows == 0 and t.schema == SCHEMA
    assert run(store, items=[]).cached
