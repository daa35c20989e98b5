"""The ``ctrl`` pipeline flow (deployment ``ctrl/full-pipeline``) and the retraining flow.

Reads: the preset and overrides (parameters); every stage reads its inputs from the artifact
store by key. Writes: one artifact per stage (through the stage), Prefect artifacts per stage, and
the final report under ``<root>/reports/<run key>/`` (also a Prefect markdown artifact).

    prefect deployment run ctrl/full-pipeline --param preset=tiny --param until=execute --watch
    prefect deployment run ctrl/full-pipeline --param preset=default \
        --param overrides='{"rollout": {"samples": 4}}'
    prefect deployment run ctrl-retrain/retrain      # what the paused weekly schedule runs

Steps (``ctrl.pipeline.STEPS``): ingest, rollout, execute, critique, revise, sft on the training
split; eval-ingest, eval-rollout, eval-execute, base-eval (untrained critic), sft-eval on a
held-out split. The flow only sequences: a step is a task of its stage module
(``flows/<stage>.py``), or — for GPU steps when ``gpu_pool`` is given — a run of deployment
``ctrl-<stage>/gpu`` on that pool, after which the local task call is a cache hit that reads
the manifest. Parameters are typed (an unknown preset
or stage is rejected by the server before a run is created) and then validated by
``ctrl.pipeline.plan`` (unknown config fields or bad values fail the run with the valid choices).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.deployments import run_deployment

from ctrl import pipeline
from ctrl.config import ConfigError
from ctrl.presets import names
from flows.artifacts import publish_report
from flows.critique import critique_task
from flows.evaluate import evaluate_task
from flows.execute import execute_task
from flows.ingest import ingest_task
from flows.revise import revise_task
from flows.rollout import rollout_task
from flows.sft import sft_task
from storage import Store

PresetName = Literal[tuple(names())]  # type: ignore[valid-type]
StageName = Literal[tuple(pipeline.STEP_NAMES)]  # type: ignore[valid-type]
TASKS = {"ingest": ingest_task, "rollout": rollout_task, "execute": execute_task,
         "critique": critique_task, "revise": revise_task, "sft": sft_task,
         "evaluate": evaluate_task}  # by Step.stage


def gpu_deployment(stage: str) -> str:
    """The deployment that runs a GPU stage on the gpu work pool (see flows/deploy.py)."""
    return f"ctrl-{stage}/gpu"


@task(name="report", cache_policy=NONE)
def report_task(home: Optional[str], p: pipeline.Plan, keys: dict[str, str]) -> str:
    from ctrl import report

    store = Store(home)
    run_key = pipeline.run_key(p, keys)
    path = report.write(store, run_key, p, keys)
    publish_report(report.read(store, path), run_key)
    return path


def run_stages(p: pipeline.Plan, home: Optional[str], gpu_pool: Optional[str]) -> dict[str, Any]:
    """Run the plan's stages in order; returns stage -> summary (table, key, rows, cached)."""
    log = get_run_logger()
    keys: dict[str, str] = {}
    out: dict[str, Any] = {}
    configs = p.configs()
    for s, _ in p.steps:
        config = configs[s.name]
        inputs = {d: keys[d] for d in s.inputs.values() if not d.startswith("=")}
        if s.gpu and gpu_pool:
            log.info("%s: running on work pool %r via %s", s.name, gpu_pool,
                     gpu_deployment(s.stage))
            fr = run_deployment(gpu_deployment(s.stage), timeout=None, as_subflow=True,
                                parameters={"step": s.name, "home": home, "config": config,
                                            "keys": inputs})
            if not fr.state or not fr.state.is_completed():
                raise RuntimeError(
                    f"stage {s.name}: GPU flow run {fr.name} ended {fr.state and fr.state.name}; "
                    f"see its logs, then re-run this pipeline to resume from finished shards")
        out[s.name] = TASKS[s.stage](s.name, home, config, inputs)
        keys[s.name] = out[s.name]["key"]
    return out


def _plan(preset: str, until: str, overrides: Optional[dict[str, dict[str, Any]]]
          ) -> pipeline.Plan:
    try:
        return pipeline.plan(preset, until, overrides)
    except ConfigError as e:
        raise ConfigError(f"invalid parameters for flow ctrl: {e}") from None


@flow(name="ctrl", validate_parameters=True)
def ctrl(preset: PresetName = "default", until: StageName = pipeline.STEPS[-1].name,
         overrides: Optional[dict[str, dict[str, Any]]] = None, home: Optional[str] = None,
         gpu_pool: Optional[str] = None, report: bool = True) -> dict[str, Any]:
    """Run the pipeline up to ``until`` with ``preset`` and per-stage ``overrides``.

    Args:
        preset: a preset name from ctrl.presets (``tiny``, ``default``, ``gpu-7b``, ...).
        until: the last stage to run.
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
            until: StageName = pipeline.STEPS[-1].name) -> dict[str, Any]:
    """Retrain the critic on new data, continuing from the newest SFT checkpoint.

    Ingest re-reads the sources (new or changed data gives new keys; unchanged data is a cache
    hit down to the critiques). When the newest sft model was trained on exactly these
    critiques there is nothing new and the run stops there; otherwise the whole pipeline runs
    with ``sft.resume_from`` = that model, so training continues instead of starting over.
    Every run's artifacts are rows of the ``runs`` view (compare them in SQL).
    """
    log = get_run_logger()
    if pipeline.STEP_NAMES.index(until) < pipeline.STEP_NAMES.index("sft"):
        raise ConfigError(f"retrain: until={until!r} stops before sft; use sft or a later stage "
                          f"of {pipeline.STEP_NAMES}")
    data = run_stages(_plan(preset, "critique", overrides), home, gpu_pool)
    newest, needed = pipeline.retrain_needed(Store(home), data["critique"]["key"])
    if not needed:
        log.info("retrain: no new problems or rollouts since model %s (critiques %s); "
                 "nothing to train", newest, data["critique"]["key"])
        return {**data, "retrained": False, "resume_from": newest}
    log.info("retrain: sft resumes from %s", newest or "the base model (no checkpoint yet)")
    out = ctrl(preset=preset, until=until, overrides=pipeline.with_resume(Store(home), overrides),
               home=home, gpu_pool=gpu_pool)
    return {**out, "retrained": True, "resume_from": newest}
