"""The ``ctrl`` pipeline flow (deployment ``ctrl/full-pipeline``) and the retraining flow.

Reads: the preset and overrides (parameters); every stage reads its inputs from the artifact
store by key. Writes: one artifact per stage (through the stage), Prefect artifacts per stage, and
the final report under ``<root>/reports/<run key>/`` (also a Prefect markdown artifact).

    prefect deployment run ctrl/full-pipeline --param preset=tiny --param until=execute --watch
    prefect deployment run ctrl/full-pipeline --param preset=default \
        --param overrides='{"rollout": {"samples": 4}}'
    prefect deployment run ctrl-retrain/retrain      # what the paused weekly schedule runs

Steps (``ctrl.registry.STEPS``, a DAG): ingest, rollout, execute, critique, revise, sft on the
training split; eval-ingest, eval-rollout, eval-execute, base-eval (untrained critic), sft-eval
on a held-out split. ``until`` runs that step and its ancestors only; independent branches run
at the same time. The flow only sequences: a step is a task of its stage (``flows/stage.py``),
or — for GPU steps when ``gpu_pool`` is given — a run of deployment ``ctrl-<stage>/gpu`` on that
pool, after which the local task call is a cache hit that reads the manifest. Parameters are typed (an unknown preset
or stage is rejected by the server before a run is created) and then validated by
``ctrl.pipeline.plan`` (unknown config fields or bad values fail the run with the valid choices).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from ctrl import pipeline, registry
from ctrl.config import ConfigError
from ctrl.presets import names
from flows.artifacts import publish_report
from flows.stage import TASKS
from storage import Store

PresetName = Literal[tuple(names())]  # type: ignore[valid-type]
StageName = Literal[tuple(registry.STEP_NAMES)]  # type: ignore[valid-type]


@task(name="report", cache_policy=NONE, task_run_name="report")
def report_task(home: Optional[str], p: pipeline.Plan, keys: dict[str, str]) -> str:
    from ctrl import report

    store = Store(home)
    run_key = pipeline.run_key(p, keys)
    path = report.write(store, run_key, p, keys)
    publish_report(report.read(store, run_key), run_key)
    return path


def run_stages(p: pipeline.Plan, home: Optional[str], gpu_pool: Optional[str]) -> dict[str, Any]:
    """Submit every step of the plan as a task once the steps it reads are submitted; Prefect
    starts each when its inputs are done, so independent branches (the evaluation side beside
    training) run at the same time. Returns step -> summary (table, key, rows, cached)."""
    configs = p.configs()
    futures: dict[str, Any] = {n: {"key": k} for n, k in p.given.items()}
    for s, _ in p.steps:  # plan order is topological
        upstream = {d: futures[d] for d in s.deps}
        futures[s.name] = TASKS[s.stage.name].submit(s.name, home, configs[s.name], upstream,
                                                      gpu_pool)
    return {s.name: futures[s.name].result() for s, _ in p.steps}


def _plan(preset: str, until: str, overrides: Optional[dict[str, dict[str, Any]]]
          ) -> pipeline.Plan:
    try:
        return pipeline.plan(preset, until, overrides)
    except ConfigError as e:
        raise ConfigError(f"invalid parameters for flow ctrl: {e}") from None


@flow(name="ctrl", validate_parameters=True)
def ctrl(preset: PresetName = "default", until: Optional[StageName] = None,
         overrides: Optional[dict[str, dict[str, Any]]] = None, home: Optional[str] = None,
         gpu_pool: Optional[str] = None, report: bool = True) -> dict[str, Any]:
    """Run the pipeline up to ``until`` with ``preset`` and per-stage ``overrides``.

    Args:
        preset: a preset name from ctrl.presets (``tiny``, ``default``, ``gpu-7b``, ...).
        until: run this step and the steps it depends on only (default: every step).
        overrides: stage -> {config field: value}, layered over the preset.
        home: the artifact root (local path or fsspec URL); default $CTRL_HOME or ./.ctrl.
        gpu_pool: a work pool for GPU stages; none runs them in this flow's process.
        report: write the markdown report at the end.

    Returns:
        stage -> {table, key, rows, cached, metrics}, plus ``report`` (its path) and ``run``.
    """
    p = _plan(preset, until, overrides)
    out = run_stages(p, home, gpu_pool)
    keys = {n: r["key"] for n, r in out.items()}
    out["run"] = pipeline.run_key(p, keys)
    if report:
        out["report"] = report_task(home, p, keys)
    return out


@flow(name="ctrl-retrain", validate_parameters=True)
def retrain(preset: PresetName = "default", overrides: Optional[dict[str, dict[str, Any]]] = None,
            home: Optional[str] = None, gpu_pool: Optional[str] = None,
            until: StageName = registry.STEP_NAMES[-1]) -> dict[str, Any]:
    """Retrain the critic on new data, continuing from the newest SFT checkpoint.

    Ingest re-reads the sources (new or changed data gives new keys; unchanged data is a cache
    hit down to the critiques). When the newest sft model was trained on exactly these
    critiques there is nothing new and the run stops there; otherwise the whole pipeline runs
    with ``sft.resume_from`` = that model, so training continues instead of starting over.
    Every run's artifacts are rows of the ``runs`` view (compare them in SQL).
    """
    log = get_run_logger()
    train = registry.step(registry.TRAIN_STEP)
    if until != train.name and train.name not in registry.ancestors(until):
        raise ConfigError(f"retrain: until={until!r} does not train ({train.name}); use "
                          f"{train.name} or a step after it")
    data_step = train.inputs["critiques"]  # what the critic learns from
    data = run_stages(_plan(preset, data_step, overrides), home, gpu_pool)
    newest, needed = pipeline.retrain_needed(Store(home), data[data_step]["key"])
    if not needed:
        log.info("retrain: no new problems or rollouts since model %s (critiques %s); "
                 "nothing to train", newest, data[data_step]["key"])
        return {**data, "retrained": False, "resume_from": newest}
    log.info("retrain: sft resumes from %s", newest or "the base model (no checkpoint yet)")
    out = ctrl(preset=preset, until=until, overrides=pipeline.with_resume(Store(home), overrides),
               home=home, gpu_pool=gpu_pool)
    return {**out, "retrained": True, "resume_from": newest}
