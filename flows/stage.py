"""The one Prefect task and flow shape every stage uses; ``flows/<stage>.py`` instantiate it.

A stage task calls ``ctrl.pipeline.run_step`` (the stage's ``run(store, config, **keys)``),
publishes its Prefect artifacts and returns a small JSON summary (table, key, rows, cached,
metrics). Data never passes through Prefect: only artifact keys and configs do.

Caching is ours, not Prefect's: tasks use ``cache_policy=NONE`` and the stage itself returns a
cache hit when the artifact under its key is complete (``ctrl.stage.materialize``), which also
holds after the Prefect database is deleted. A killed run resumes from the finished shards.

The stage flow (``<stage>`` in each module) wraps the task so a GPU stage can be its own
deployment on a ``gpu`` work pool (``flows/deploy.py``); it takes the same parameters.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from ctrl.config import from_dict
from ctrl.pipeline import run_step, step
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
    s = step(name).variant(fields.pop("variant", None))
    _, cls = s.load()
    store = Store(home)
    res = run_step(store, s, from_dict(cls, fields), keys)
    get_run_logger().info("%s: %s %s (%d rows) under %s", name,
                          "cache hit" if res.cached else "built", res.key, res.rows, store.root)
    publish_stage(store, name, res)
    return summary(res)


def stage_task(stage: str):
    """The Prefect task for the steps of ``flows/<stage>.py`` (no Prefect caching: our keys
    decide). ``step`` names the pipeline step, e.g. ``eval-rollout`` for the rollout stage."""

    @task(name=stage, cache_policy=NONE, task_run_name="{step}")
    def _task(step: str, home: str | None, config: dict[str, Any],
              keys: dict[str, str]) -> dict[str, Any]:
        return run_stage(step, home, config, keys)

    return _task


def stage_flow(stage: str, stage_task_fn):
    """A flow around one stage task: what a stage deployment (``ctrl-<stage>/gpu``) runs."""

    @flow(name=f"ctrl-{stage}", validate_parameters=True)
    def _flow(step: str = stage, home: str | None = None, config: dict[str, Any] | None = None,
              keys: dict[str, str] | None = None) -> dict[str, Any]:
        return stage_task_fn(step, home, config or {}, keys or {})

    return _flow
