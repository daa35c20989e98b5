"""Every stage's Prefect task and flow, derived from the step registry (``ctrl.registry``).

Reads: a step's config dict and the artifact keys of the steps it reads. Writes: the stage's
artifact (through the stage itself), Prefect artifacts (preview, summary) per step.

- ``TASKS[stage]``: the task the ``ctrl`` flow submits for each step of that stage; its task runs
  are named after the step (``eval-rollout``), and it returns a small JSON summary (table, key,
  rows, cached, metrics). Data never passes through Prefect: only keys and configs do.
- One flow per stage, ``ctrl-<stage>`` (module attribute ``<stage>``): what its GPU deployment
  ``ctrl-<stage>/gpu`` runs on the gpu work pool. Entry point ``flows/stage.py:<stage>``; the
  deployments in ``prefect.yaml`` are checked against the registry by ``tests/test_registry.py``.

Run one step alone (in-process): ``python -c "from flows.stage import rollout;
rollout(step='rollout', config={...}, keys={'problems': KEY})"``.

Caching is ours, not Prefect's: tasks use ``cache_policy=NONE`` and the stage itself returns a
cache hit when the artifact under its key is complete (``ctrl.stage``), which also holds after the
Prefect database is deleted. A killed run resumes from the finished shards.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from ctrl import registry
from ctrl.config import from_dict
from ctrl.pipeline import run_step
from flows.artifacts import publish_stage
from storage import Store

# Stage progress (ctrl.progress, ctrl.stage) is INFO; with PREFECT_LOGGING_EXTRA_LOGGERS=ctrl
# (set by scripts/demo.sh) those lines reach the run's logs in the Prefect UI.
logging.getLogger("ctrl").setLevel(logging.INFO)


def summary(result: Any) -> dict[str, Any]:
    return {"table": result.table, "key": result.key, "rows": int(result.rows),
            "cached": bool(result.cached), "metrics": dict(result.metrics or {})}


def run_stage(name: str, home: str | None, config: dict[str, Any],
              keys: dict[str, str]) -> dict[str, Any]:
    """Run pipeline step ``name`` with its config dict and the keys of the steps it reads.

    ``config`` may carry ``variant`` (another implementation, e.g. reference rollouts).
    """
    fields = dict(config)
    s = registry.step(name).variant(fields.pop("variant", None))
    store = Store(home)
    res = run_step(store, s, from_dict(s.stage.config, fields), keys)
    get_run_logger().info("%s: %s %s (%d rows) under %s", name,
                          "cache hit" if res.cached else "built", res.key, res.rows, store.root)
    publish_stage(store, name, res)
    return summary(res)


def gpu_deployment(stage: str) -> str:
    """The deployment that runs a GPU stage on the gpu work pool (see prefect.yaml)."""
    return f"ctrl-{stage}/gpu"


def _make_task(stage: registry.Stage):
    @task(name=stage.name, cache_policy=NONE, task_run_name="{step}")
    def _task(step: str, home: str | None, config: dict[str, Any], upstream: dict[str, Any],
              gpu_pool: str | None = None) -> dict[str, Any]:
        """``upstream``: step name -> that step's summary (Prefect resolves the futures)."""
        keys = {n: u["key"] for n, u in upstream.items()}
        if stage.gpu and gpu_pool:
            from prefect.deployments import run_deployment

            s = registry.step(step)
            get_run_logger().info("%s: running on work pool %r via %s", step, gpu_pool,
                                  gpu_deployment(stage.name))
            fr = run_deployment(gpu_deployment(stage.name), timeout=None, as_subflow=True,
                                parameters={"step": step, "home": home, "config": config,
                                            "keys": {d: keys[d] for d in s.deps}})
            if not fr.state or not fr.state.is_completed():
                raise RuntimeError(
                    f"stage {step}: GPU flow run {fr.name} ended {fr.state and fr.state.name}; "
                    "see its logs, then re-run this pipeline to resume from finished shards")
            # the GPU run committed the artifact: the local call below is a cache hit
        return run_stage(step, home, config, keys)

    return _task


def _make_flow(stage: registry.Stage, stage_task):
    @flow(name=f"ctrl-{stage.name}", validate_parameters=True)
    def _flow(step: str = registry.steps_of(stage)[0].name if registry.steps_of(stage) else stage.name,
              home: str | None = None, config: dict[str, Any] | None = None,
              keys: dict[str, str] | None = None) -> dict[str, Any]:
        upstream = {n: {"key": k} for n, k in (keys or {}).items()}
        return stage_task(step, home, config or {}, upstream)

    return _flow


TASKS = {s.name: _make_task(s) for s in registry.STAGES}
FLOWS = {s.name: _make_flow(s, TASKS[s.name]) for s in registry.STAGES}
globals().update(FLOWS)  # entry points flows/stage.py:<stage> for the GPU deployments

__all__ = ["TASKS", "FLOWS", "run_stage", "gpu_deployment", "summary", *FLOWS]
