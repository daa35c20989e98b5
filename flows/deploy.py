"""Register ctrl's work pools and deployments (from ``prefect.yaml``) on the current server.

Reads: ``prefect.yaml`` at the repository root (names, entrypoints, parameters, schedules).
Writes: Prefect work pools (type ``process``, created if missing) and deployments whose pull
step sets the working directory to ``--source`` (default: this checkout), so a process worker on
this machine — or on another machine with the code at the same path — runs the flows.

    python -m flows.deploy                         # pool "ctrl"; CPU deployments only
    python -m flows.deploy --gpu-pool gpu          # plus ctrl-<stage>/gpu on pool "gpu"
    prefect worker start --pool ctrl               # then: prefect deployment run ctrl/full-pipeline

The retraining deployment's cron schedule is registered inactive (paused); resume it with
``prefect deployment schedule resume ctrl-retrain/retrain <schedule id>``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import Any
from uuid import UUID

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO / "prefect.yaml"
DEFAULT_POOL = "ctrl"


def load_spec(path: pathlib.Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` list of prefect.yaml."""
    with open(path) as f:
        spec = yaml.safe_load(f) or {}
    deps = spec.get("deployments") or []
    if not deps:
        raise ValueError(f"{path}: no deployments listed; restore it from git")
    return deps


def is_gpu(d: dict[str, Any]) -> bool:
    return "gpu" in (d.get("tags") or [])


def ensure_pool(name: str, pool_type: str = "process") -> None:
    """Create work pool ``name`` (process type) unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(WorkPoolCreate(
                name=name, type=pool_type,
                base_job_template=ProcessWorker.get_default_base_job_template()))
        except ObjectAlreadyExists:  # created by a concurrent register(): fine
            pass


def _schedules(d: dict[str, Any]) -> list[Any] | None:
    from prefect.schedules import Cron

    out = [Cron(s["cron"], timezone=s.get("timezone"), active=bool(s.get("active", True)))
           for s in d.get("schedules") or []]
    return out or None


def register(work_pool: str = DEFAULT_POOL, gpu_pool: str | None = None,
             source: str | os.PathLike = REPO, spec: list[dict[str, Any]] | None = None
             ) -> dict[str, UUID]:
    """Create the work pools and apply every deployment; returns ``flow/deployment`` -> id.

    Args:
        work_pool: the pool for CPU deployments (``full-pipeline``, ``retrain``).
        gpu_pool: the pool for the ``ctrl-<stage>/gpu`` deployments; None skips them.
        source: the code location the workers load flows from (a local directory).
        spec: deployments as in prefect.yaml (default: read it).
    """
    from prefect import Flow

    ensure_pool(work_pool)
    if gpu_pool:
        ensure_pool(gpu_pool)
    out: dict[str, UUID] = {}
    for d in spec or load_spec():
        if is_gpu(d) and not gpu_pool:
            continue
        fl = Flow.from_source(source=str(source), entrypoint=d["entrypoint"])
        dep = fl.to_deployment(
            name=d["name"], work_pool_name=gpu_pool if is_gpu(d) else work_pool,
            parameters=d.get("parameters") or {}, schedules=_schedules(d),
            description=d.get("description"), tags=d.get("tags"))
        out[f"{fl.name}/{d['name']}"] = dep.apply()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", default=DEFAULT_POOL, help="work pool for CPU deployments")
    ap.add_argument("--gpu-pool", default=os.environ.get("CTRL_GPU_POOL"),
                    help="work pool for GPU stage deployments (default: $CTRL_GPU_POOL; none: skip)")
    ap.add_argument("--source", default=str(REPO), help="code directory workers load flows from")
    args = ap.parse_args(argv)
    for name, dep_id in register(args.pool, args.gpu_pool, args.source).items():
        print(f"deployment {name}  {dep_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
