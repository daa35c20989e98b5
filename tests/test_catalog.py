"""The DuckDB catalog and the `ctrl sql` / `ctrl runs` commands, over real stores on disk."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from storage import QueryError, Store

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commit(store: Store, table: str, key: str, rows: list[dict], schema=None, **cfg) -> dict:
    w = store.open_writer(table, key, stage=table.rstrip("s"), config=cfg or {"k": key},
                          inputs={"problems": "pk"}, code_version="1")
    for i in range(0, len(rows), 2):
        w.write_shard(i // 2, rows[i:i + 2], schema=schema)
    return w.commit(schema=schema)


@pytest.fixture
def two(store):
    commit(store, "rollouts", "aaaa", [{"problem_id": f"p{i}", "n_tokens": i} for i in range(3)])
    commit(store, "rollouts", "bbbb", [{"problem_id": f"p{i}", "n_tokens": 10 * i, "new": "x"}
                                       for i in range(5)])
    return store


def test_views_union_artifacts_with_artifact_column(two):
    got = two.sql("SELECT artifact, count(*) AS n, sum(n_tokens) AS s, count(new) AS c "
                  "FROM rollouts GROUP BY ALL ORDER BY 1").to_pylist()
    assert got == [{"artifact": "aaaa", "n": 3, "s": 3, "c": 0},
                   {"artifact": "bbbb", "n": 5, "s": 100, "c": 5}]
    runs = two.sql('SELECT artifact, "table", stage, rows, shards, config->>\'k\' AS k, '
                   "inputs->>'problems' AS p FROM runs ORDER BY 1").to_pylist()
    assert runs == [
        {"artifact": "aaaa", "table": "rollouts", "stage": "rollout", "rows": 3, "shards": 2,
         "k": "aaaa", "p": "pk"},
        {"artifact": "bbbb", "table": "rollouts", "stage": "rollout", "rows": 5, "shards": 3,
         "k": "bbbb", "p": "pk"}]


def test_incomplete_artifacts_stay_out_of_the_catalog(two):
    w = two.open_writer("rollouts", "cccc", stage="s", config={}, inputs={}, code_version="1")
    w.write_shard(0, [{"problem_id": "zz", "n_tokens": 99}])
    two.refresh_catalog()
    assert two.sql("SELECT count(*) AS n FROM rollouts WHERE problem_id = 'zz'").to_pylist() == [{"n": 0}]
    assert "cccc" not in two.sql("SELECT artifact FROM runs").column("artifact").to_pylist()


def test_catalog_holds_only_views_and_opens_by_hand(two):
    path = os.path.join(two.root, "catalog.duckdb")
    code = ("import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(json.dumps([c.execute('SELECT count(*) FROM duckdb_tables()').fetchone()[0], "
            "[r[0] for r in c.execute('SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "ORDER BY 1').fetchall()], c.execute('SELECT count(*) FROM rollouts').fetchone()[0]]))")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         cwd="/", check=True).stdout
    assert json.loads(out) == [0, ["models", "rollouts", "runs"], 8]


def test_duckdb_shell_opens_the_catalog(two):
    """`duckdb .ctrl/catalog.duckdb` by hand: the shell (duckdb-cli) may be older than the Python
    package that wrote the file, so the catalog is written in an old storage format."""
    shell = os.path.join(os.path.dirname(sys.executable), "duckdb")
    query = "SELECT artifact, count(*) AS n FROM rollouts GROUP BY ALL ORDER BY 1"
    out = subprocess.run([shell, "-readonly", "-csv", os.path.join(two.root, "catalog.duckdb"),
                          "-c", query], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["artifact,n", "aaaa,3", "bbbb,5"]


def test_catalog_rebuilt_after_deletion_and_when_stale(two):
    os.remove(os.path.join(two.root, "catalog.duckdb"))
    assert two.sql("SELECT count(*) AS n FROM rollouts").to_pylist() == [{"n": 8}]
    assert os.path.exists(os.path.join(two.root, "catalog.duckdb"))
    other = Store(two.root, auto_catalog=False)  # commits without refreshing the file
    commit(other, "critiques", "cccc", [{"critique_id": "c1"}])
    assert two.sql("SELECT critique_id, artifact FROM critiques").to_pylist() == [
        {"critique_id": "c1", "artifact": "cccc"}]
    # an artifact deleted by hand disappears from the views on the next query
    import shutil

    shutil.rmtree(os.path.join(two.root, "tables", "rollouts", "aaaa"))
    assert two.sql("SELECT DISTINCT artifact FROM rollouts").to_pylist() == [{"artifact": "bbbb"}]


def test_missing_view_and_bad_sql_errors(two):
    import ctrl.registry  # noqa: F401 - registers which ctrl command creates each table

    with pytest.raises(QueryError, match=r"no artifacts of table executions yet — run `ctrl execute`"):
        two.sql("SELECT * FROM executions")
    with pytest.raises(QueryError, match="did you mean rollouts"):
        two.sql("SELECT * FROM rollout")
    with pytest.raises(QueryError, match="syntax error") as e:
        two.sql("SELEC 1")
    assert "\n" not in str(e.value)


def test_row_column_named_artifact_is_kept_as_row_artifact(store):
    commit(store, "eval_results", "eeee", [{"artifact": "gen-key", "metric": "pass@1", "value": 0.5}])
    assert store.sql("SELECT artifact, row_artifact, metric FROM eval_results").to_pylist() == [
        {"artifact": "eeee", "row_artifact": "gen-key", "metric": "pass@1"}]


def test_empty_artifact_gives_an_empty_typed_view(store):
    commit(store, "executions", "e0", [], schema=pa.schema([("rollout_id", pa.string()),
                                                          ("passed", pa.bool_())]))
    res = store.sql("SELECT * FROM executions")
    assert res.num_rows == 0 and res.column_names == ["rollout_id", "passed", "artifact"]


REFRESH = """
import sys
from storage import Store
s = Store(sys.argv[1])
for _ in range(15):
    s.refresh_catalog()
    assert s.sql("SELECT count(*) AS n FROM rollouts").column("n").to_pylist() == [8]
"""


def test_two_processes_refreshing_concurrently(two):
    procs = [subprocess.Popen([sys.executable, "-c", REFRESH, two.root], stderr=subprocess.PIPE)
             for _ in range(2)]
    errs = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    leftovers = [f for f in os.listdir(two.root) if f.startswith(".") or f.endswith(".wal")]
    assert leftovers == []
    assert two.sql("SELECT count(*) AS n FROM rollouts").to_pylist() == [{"n": 8}]


# ---- the CLI ------------------------------------------------------------------------------
def ctrl(*args: str, home: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctrl", "--home", home, *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_ctrl_sql_formats_via_real_cli(two):
    q = "SELECT artifact, count(*) AS n FROM rollouts GROUP BY ALL ORDER BY 1"
    res = ctrl("sql", q, "--format", "json", home=two.root)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [{"artifact": "aaaa", "n": 3}, {"artifact": "bbbb", "n": 5}]
    res = ctrl("sql", q, "--format", "csv", home=two.root)
    assert list(csv.reader(io.StringIO(res.stdout))) == [["artifact", "n"], ["aaaa", "3"],
                                                        ["bbbb", "5"]]
    res = ctrl("sql", q, home=two.root)
    lines = [ln for ln in res.stdout.splitlines() if "aaaa" in ln or "bbbb" in ln]
    assert len(lines) == 2 and "3" in lines[0] and "5" in lines[1] and "2 rows" in res.stdout


def test_ctrl_sql_bad_query_is_one_error_line(two, capsys):
    from ctrl.cli import main

    assert main(["--home", two.root, "sql", "SELEC nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ctrl sql: error:") and "syntax error" in err and "\n" not in err
    assert main(["--home", two.root, "sql", "SELECT * FROM critiques"]) == 2
    assert "no artifacts of table critiques yet" in capsys.readouterr().err


def test_ctrl_sql_nested_values(store, capsys):
    from ctrl.cli import main

    commit(store, "rollouts", "nest", [{"prompt": [{"role": "user", "content": "hi, \"you\""}]}])
    assert main(["--home", store.root, "sql", "SELECT prompt FROM rollouts", "--format", "csv"]) == 0
    out = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert json.loads(out[1][0]) == [{"role": "user", "content": 'hi, "you"'}]


def test_ctrl_runs_lists_artifacts(two, capsys):
    from ctrl.cli import main

    commit(two, "problems", "pppp", [{"problem_id": "p0"}])
    assert main(["--home", two.root, "runs", "--table", "rollouts", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [(r["artifact"], r["rows"], r["inputs"], r["config"]) for r in got] == [
        ("aaaa", 3, {"problems": "pk"}, {"k": "aaaa"}), ("bbbb", 5, {"problems": "pk"}, {"k": "bbbb"})]
    assert main(["--home", two.root, "runs"]) == 0
    out = capsys.readouterr().out
    assert "pppp" in out and "aaaa" in out and "3 rows" in out


def test_empty_store_queries(tmp_path, monkeypatch, capsys):
    from ctrl.cli import main

    monkeypatch.delenv("CTRL_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    store = Store()  # default root ./.ctrl
    assert store.root == str(tmp_path / ".ctrl")
    assert store.sql("SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 0}]
    assert main(["sql", "SELECT * FROM problems"]) == 2
    assert "no artifacts of table problems yet — run `ctrl ingest`" in capsys.readouterr().err


def test_memory_root_catalog_with_two_artifacts():
    import uuid

    store = Store(f"memory://cat-{uuid.uuid4().hex[:8]}")
    commit(store, "critiques", "c1", [{"critique_id": "a"}, {"critique_id": "b"}])
    commit(store, "critiques", "c2", [{"critique_id": "c"}])
    assert store.sql("SELECT artifact, count(*) AS n FROM critiques GROUP BY 1 ORDER BY 1"
                     ).to_pylist() == [{"artifact": "c1", "n": 2}, {"artifact": "c2", "n": 1}]
    with pytest.raises(QueryError, match="no artifacts of table revisions yet"):
        store.sql("SELECT * FROM revisions")
