"""The pure pipeline (``ctrl run``, no Prefect): stages chained by keys, a re-run is all cache
hits, the report is written from the catalog, retraining resumes from the newest checkpoint."""

from __future__ import annotations

import pathlib

from ctrl import pipeline, report
from ctrl.cli import main as ctrl_main

# Reference rollouts (canonical + broken code, no model) keep this to a second or two.
FAST = {"rollout": {"variant": "reference"}}


def test_stages_chain_by_key_and_rerun_is_all_cache_hits(store):
    p = pipeline.plan("tiny", "rollout", FAST)
    first = pipeline.run(store, p)
    assert [r.cached for r in first.values()] == [False, False]
    assert first["ingest"].rows == 3 and first["rollout"].rows == 6  # canonical + 1 broken each
    assert store.read_manifest("rollouts", first["rollout"].key)["inputs"] == \
        {"problems": first["ingest"].key}
    again = pipeline.run(store, pipeline.plan("tiny", "rollout", FAST))
    assert all(r.cached for r in again.values())
    assert {n: r.key for n, r in again.items()} == {n: r.key for n, r in first.items()}


def test_other_parameters_give_other_keys(store):
    a = pipeline.run(store, pipeline.plan("tiny", "ingest"))
    b = pipeline.run(store, pipeline.plan("tiny", "ingest", {"ingest": {"limit": 2}}))
    assert a["ingest"].key != b["ingest"].key and b["ingest"].rows == 2


def test_report_is_written_from_the_catalog(store):
    p = pipeline.plan("tiny", "rollout", FAST)
    keys = {n: r.key for n, r in pipeline.run(store, p).items()}
    path = pathlib.Path(report.write(store, pipeline.run_key(p, keys), p, keys))
    assert path == pathlib.Path(store.root) / "reports" / pipeline.run_key(p, keys) / "report.md"
    text = path.read_text()
    assert f"| ingest | {keys['ingest']} | problems | 3 |" in text
    assert f"| rollout | {keys['rollout']} | rollouts | 6 |" in text


def test_ctrl_run_cli(store, capsys):
    rc = ctrl_main(["--home", store.root, "run", "--preset", "tiny", "--until", "rollout",
                    "--set", "rollout.variant=reference"])
    out = capsys.readouterr().out
    assert rc == 0 and "built" in out and "report: " in out
    rc = ctrl_main(["--home", store.root, "run", "--preset", "tiny", "--until", "rollout",
                    "--set", "rollout.variant=reference", "--no-report"])
    out = capsys.readouterr().out
    assert rc == 0 and out.count("cached") == 2 and "built" not in out
    assert ctrl_main(["--home", store.root, "run", "--preset", "nope"]) == 2
    assert "valid presets" in capsys.readouterr().err


def _model(store, tmp_path, name: str, critiques: str) -> str:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text("{}")
    key = f"{name}0000000000000"[:16]
    store.commit_model(key, str(d), stage="sft", config={}, inputs={"critiques": critiques},
                       code_version="1")
    return key


def test_retrain_resumes_from_the_newest_sft_checkpoint(store, tmp_path):
    assert pipeline.with_resume(store, None) == {}
    _model(store, tmp_path, "aaaa", "c1")
    newest = _model(store, tmp_path, "bbbb", "c2")
    assert pipeline.newest_model(store) == newest
    assert pipeline.with_resume(store, {"ingest": {"limit": 2}}) == \
        {"ingest": {"limit": 2}, "sft": {"resume_from": newest}}
    explicit = {"sft": {"resume_from": "aaaa000000000000"}}
    assert pipeline.with_resume(store, explicit) == explicit
    assert pipeline.retrain_needed(store, "c2") == (newest, False)  # nothing new: skip
    assert pipeline.retrain_needed(store, "c3") == (newest, True)
