"""Prefect flows on the session's real test server: deployments and schedules, parameter
validation, per-stage artifacts, caching by our artifact keys (also without Prefect)."""

from __future__ import annotations

import uuid

import pytest
from prefect.client.orchestration import get_client

from ctrl import pipeline, presets

pytestmark = pytest.mark.prefect
FAST = {"rollout": {"variant": "reference"}}


@pytest.fixture(scope="module")
def registered(prefect_server):
    """Deployments registered on fresh pools (one CPU pool, one GPU pool)."""
    from flows.deploy import register

    suffix = uuid.uuid4().hex[:6]
    pools = {"cpu": f"ctrl-{suffix}", "gpu": f"gpu-{suffix}"}
    ids = register(work_pool=pools["cpu"], gpu_pool=pools["gpu"])
    return pools, ids


def test_deployments_pools_and_paused_schedule(registered):
    from flows.deploy import REPO

    pools, ids = registered
    assert {"ctrl/full-pipeline", "ctrl-retrain/retrain", "ctrl-rollout/gpu", "ctrl-sft/gpu",
            "ctrl-evaluate/gpu"} <= set(ids)
    with get_client(sync_client=True) as client:
        full = client.read_deployment_by_name("ctrl/full-pipeline")
        assert full.work_pool_name == pools["cpu"]
        assert full.entrypoint == "flows/pipeline.py:ctrl"
        assert full.pull_steps == [{"prefect.deployments.steps.set_working_directory":
                                    {"directory": str(REPO)}}]
        schema = full.parameter_openapi_schema
        assert all(f"'{n}'" in str(schema) for n in presets.names())  # an enum
        assert full.schedules == []
        retrain = client.read_deployment_by_name("ctrl-retrain/retrain")
        assert retrain.work_pool_name == pools["cpu"]
        [sched] = retrain.schedules
        assert sched.active is False and sched.schedule.cron == "0 4 * * 1"
        gpu = client.read_deployment_by_name("ctrl-sft/gpu")
        assert gpu.work_pool_name == pools["gpu"]
        assert client.read_work_pool(pools["gpu"]).type == "process"


def test_unknown_preset_is_rejected_before_a_run_exists(registered):
    from prefect.deployments import run_deployment

    with pytest.raises(Exception) as e:
        run_deployment("ctrl/full-pipeline", parameters={"preset": "huge"}, timeout=0)
    msg = str(e.value)
    assert "preset" in msg and "'huge' is not one of" in msg and "'gpu-7b'" in msg


def test_bad_override_fails_the_run_naming_valid_fields(prefect_server, tmp_path):
    from flows.pipeline import ctrl

    state = ctrl(preset="tiny", until="ingest", overrides={"ingest": {"limt": 2}},
                 home=str(tmp_path), report=False, return_state=True)
    assert state.is_failed()
    msg = str(state.result(raise_on_failure=False))
    assert "invalid parameters for flow ctrl" in msg and "'limit'" in msg and "limt" in msg


def test_second_run_is_all_cache_hits_also_without_prefect(prefect_server, tmp_path):
    from flows.pipeline import ctrl
    from storage import Store

    home = str(tmp_path / "root")
    first = ctrl(preset="tiny", until="rollout", overrides=FAST, home=home)
    assert not first["ingest"]["cached"] and not first["rollout"]["cached"]
    second = ctrl(preset="tiny", until="rollout", overrides=FAST, home=home)
    assert second["ingest"]["cached"] and second["rollout"]["cached"]
    assert second["run"] == first["run"]
    # No Prefect at all (as after deleting its database): the same keys, all cache hits.
    plain = pipeline.run(Store(home), pipeline.plan("tiny", "rollout", FAST))
    assert all(r.cached for r in plain.values())
    assert {n: r.key for n, r in plain.items()} == {n: first[n]["key"] for n in plain}
    text = open(second["report"]).read()
    assert first["ingest"]["key"] in text and first["rollout"]["key"] in text


def latest_artifact(key: str) -> dict:
    """The newest artifact under ``key``, straight from the REST API (prefect 3.8.8's client
    sends null paging fields that this server's validation rejects)."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    body = {"artifacts": {"key": {"any_": [key]}}, "flow_runs": {}, "task_runs": {},
            "sort": "CREATED_DESC", "limit": 1, "offset": 0}
    r = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body, timeout=30)
    r.raise_for_status()
    [art] = r.json()
    return art


def test_each_stage_publishes_prefect_artifacts(prefect_server, tmp_path):
    from flows.pipeline import ctrl

    out = ctrl(preset="tiny", until="rollout", overrides=FAST, home=str(tmp_path))
    summary = latest_artifact("rollout-summary")
    assert out["rollout"]["key"] in summary["data"] and "rows: 6" in summary["data"]
    preview = latest_artifact("ingest-preview")
    assert preview["type"] == "table" and "problem_id" in str(preview["data"])
    report = latest_artifact("ctrl-report")
    assert out["run"] in report["description"] and out["ingest"]["key"] in report["data"]


@pytest.mark.slow
def test_retrain_continues_from_the_newest_checkpoint_and_skips_without_new_data(
        prefect_server, tmp_path):
    from flows.pipeline import retrain
    from storage import Store

    home = str(tmp_path / "root")
    small = {**FAST, "ingest": {"limit": 2}}
    first = retrain(preset="tiny", overrides=small, home=home, until="sft")
    assert first["retrained"] and first["resume_from"] is None
    again = retrain(preset="tiny", overrides=small, home=home, until="sft")
    assert not again["retrained"] and again["resume_from"] == first["sft"]["key"]
    grown = retrain(preset="tiny", overrides={**FAST, "ingest": {"limit": 3}}, home=home,
                    until="sft")
    assert grown["retrained"] and grown["resume_from"] == first["sft"]["key"]
    m = Store(home).read_model_manifest(grown["sft"]["key"])
    assert m["inputs"]["resume_from"] == first["sft"]["key"]
    assert m["config"]["resume_from"] == first["sft"]["key"]
    runs = Store(home).sql("SELECT artifact FROM models ORDER BY created_at").column(0).to_pylist()
    assert runs == [first["sft"]["key"], grown["sft"]["key"]]  # both comparable in SQL


def test_independent_branches_do_not_wait_on_each_other_in_the_flow(prefect_server, tmp_path):
    """The evaluation branch depends on nothing of the training branch: its task runs have no
    upstream edge into it (Prefect starts them at once), while each step waits on its inputs;
    task runs are named after their steps."""
    from prefect import flow

    from flows.pipeline import run_stages

    fast = {"rollout": {"variant": "reference"}, "eval-rollout": {"variant": "reference"}}
    full = pipeline.plan("tiny", None, fast)
    keep = {"ingest", "rollout", "eval-ingest", "eval-rollout"}
    p = pipeline.Plan("tiny", "custom", [(s, c) for s, c in full.steps if s.name in keep],
                      full.sources)

    @flow(name="ctrl-branches-test")
    def two_branches():
        from prefect.runtime import flow_run

        return run_stages(p, str(tmp_path / "root"), None), flow_run.id

    out, run_id = two_branches()
    assert set(out) == keep
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    by_name = {r.name: r for r in runs}
    assert keep <= set(by_name), sorted(by_name)

    def upstream(name):
        return {by_name[n].id for n in by_name for inp in by_name[name].task_inputs.values()
                for ref in inp if getattr(ref, "id", None) == by_name[n].id}

    assert upstream("rollout") == {by_name["ingest"].id}
    assert upstream("eval-rollout") == {by_name["eval-ingest"].id}
    assert upstream("eval-ingest") == set()  # never waits for the training side
