"""Real process workers on the session's test server: SIGKILL a worker (and its flow run) in
the middle of a stage, then a new worker and a new run finish with exactly the rows of an
uninterrupted run; two workers on one pool run two different pipelines on one root at once."""

from __future__ import annotations

import glob
import os
import pathlib
import signal
import subprocess
import time
import uuid

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from ctrl import pipeline
from storage import Store

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
REPO = pathlib.Path(__file__).resolve().parent.parent
PREFECT = REPO / ".venv" / "bin" / "prefect"
RUN_TIMEOUT_S = 300


class Worker:
    """``prefect worker start`` in its own process group, logging to a file."""

    def __init__(self, pool: str, log: pathlib.Path, env: dict[str, str]) -> None:
        self.log = log
        exe = str(PREFECT) if PREFECT.exists() else "prefect"
        self.proc = subprocess.Popen(
            [exe, "worker", "start", "--pool", pool, "--type", "process"],
            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def descendants(self) -> list[int]:
        """Every process below the worker (flow runs start their own sessions)."""
        children: dict[int, list[int]] = {}
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = open(stat).read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo += children.get(pid, [])
        return out

    def kill(self) -> None:
        """SIGKILL the worker, its flow-run processes and their process groups."""
        pids = self.descendants()
        groups = set()
        for pid in pids:
            try:
                groups.add(os.getpgid(pid))
            except ProcessLookupError:
                pass
        for g in groups:
            try:
                os.killpg(g, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@pytest.fixture
def worker_env(prefect_server):
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(),
               PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("CTRL_HOME", None)  # every run passes its root as a parameter
    return env


@pytest.fixture
def pool(prefect_server):
    from flows.deploy import register

    name = f"ctrl-{uuid.uuid4().hex[:6]}"
    register(work_pool=name)
    return name


def wait_final(flow_run_id, timeout: float = RUN_TIMEOUT_S):
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fr = client.read_flow_run(flow_run_id)
            if fr.state and fr.state.is_final():
                return fr
            time.sleep(0.5)
    raise AssertionError(f"flow run {flow_run_id} not finished after {timeout} s")


def submit(params: dict) -> str:
    return run_deployment("ctrl/full-pipeline", parameters=params, timeout=0).id


def table_content(store: Store, table: str, key: str) -> list[str]:
    """Rows as sorted reprs, minus wall-clock measurements: ``time_ms``, and the message of a
    timed-out case (which says whether the CPU or the wall-clock limit struck first)."""
    rows = store.read_table(table, key).to_pylist()
    for r in rows:
        for c in r.get("cases") or []:
            c.pop("time_ms", None)
            if c.get("status") == "timeout":
                c.pop("stderr", None)
                c.pop("stdout", None)
    return sorted(repr(sorted(r.items())) for r in rows)


# Execute one broken rollout per problem that loops forever: each shard of one rollout takes
# about a second of sandbox time, so a kill after the first shard lands mid-stage.
KILL_PARAMS = {
    "preset": "tiny", "until": "execute", "report": False,
    "overrides": {"ingest": {"limit": 4},
                  "rollout": {"variant": "reference", "mutations": ["infinite_loop"]},
                  "execute": {"shard_size": 1, "time_limit_s": 1.0, "test_sets": ["public"]}},
}


def test_sigkill_worker_mid_stage_then_resume_gives_identical_tables(pool, worker_env,
                                                                     tmp_path, cpu_hog):
    reference = Store(str(tmp_path / "uninterrupted"))
    p = pipeline.plan(KILL_PARAMS["preset"], KILL_PARAMS["until"], KILL_PARAMS["overrides"])
    expected = pipeline.run(reference, p)
    root = tmp_path / "killed"
    params = {**KILL_PARAMS, "home": str(root)}
    stage_dir = root / "tables" / "executions" / expected["execute"].key

    w1 = Worker(pool, tmp_path / "worker1.log", worker_env)
    try:
        first = submit(params)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not list(stage_dir.glob("part-*.parquet")):
            assert time.monotonic() < deadline, (tmp_path / "worker1.log").read_text()[-3000:]
            assert w1.proc.poll() is None, (tmp_path / "worker1.log").read_text()[-3000:]
            time.sleep(0.05)
        w1.kill()
    finally:
        w1.stop()
    assert not (stage_dir / "_manifest.json").exists(), "the stage finished before the kill"
    at_kill = {f.name: f.stat().st_ino for f in stage_dir.glob("part-*.parquet")}
    shards_at_kill = len(at_kill)
    assert 1 <= shards_at_kill < len(expected["execute"].manifest["shards"])

    w2 = Worker(pool, tmp_path / "worker2.log", worker_env)
    try:
        fr = wait_final(submit(params))
    finally:
        w2.stop()
    assert fr.state.is_completed(), (tmp_path / "worker2.log").read_text()[-3000:]
    store = Store(str(root))
    for name, res in expected.items():
        assert store.has_table(res.table, res.key), name
        got, want = table_content(store, res.table, res.key), table_content(reference, res.table,
                                                                            res.key)
        assert len(got) == len(want), name
        diff = [(a, b) for a, b in zip(got, want) if a != b]
        assert not diff, f"{name}: first differing row:\n{diff[0][0]}\n!=\n{diff[0][1]}"
    ids = store.read_table("executions", expected["execute"].key).column("rollout_id").to_pylist()
    assert len(ids) == len(set(ids)) == expected["execute"].rows  # one test set: one row each
    # the shards finished before the kill were reused, not recomputed and rewritten
    assert {n: (stage_dir / n).stat().st_ino for n in at_kill} == at_kill
    with get_client(sync_client=True) as client:  # the killed run is not reported as a success
        assert not client.read_flow_run(first).state.is_completed()


def test_two_workers_one_pool_two_concurrent_runs_one_root(pool, worker_env, tmp_path):
    root = str(tmp_path / "shared-root")
    base = {"preset": "tiny", "until": "rollout", "home": root}
    runs = [{**base, "overrides": {"ingest": {"limit": n}, "rollout": {"variant": "reference"}}}
            for n in (2, 3)]
    workers = [Worker(pool, tmp_path / f"w{i}.log", worker_env) for i in range(2)]
    try:
        ids = [submit(r) for r in runs]
        finals = [wait_final(i) for i in ids]
    finally:
        for w in workers:
            w.stop()
    logs = [w.log.read_text() for w in workers]
    for fr in finals:
        assert fr.state.is_completed(), "\n".join(x[-2000:] for x in logs)
        # each flow run was executed by exactly one of the two workers (both may race to
        # submit it; the server lets one win)
        assert sum(x.count(f"Beginning flow run '{fr.name}'") for x in logs) == 1
    store = Store(root)
    counts = store.sql("SELECT artifact, count(*) AS n FROM problems GROUP BY artifact "
                       "ORDER BY n").column("n").to_pylist()
    assert counts == [2, 3]
    assert store.sql("SELECT count(DISTINCT artifact) AS n FROM rollouts").column("n")[0].as_py() == 2


def test_gpu_stage_runs_as_its_own_deployment_on_the_gpu_pool(prefect_server, worker_env,
                                                               tmp_path):
    from flows.deploy import register
    from flows.pipeline import ctrl

    gpu_pool = f"gpu-{uuid.uuid4().hex[:6]}"
    register(work_pool=f"ctrl-{uuid.uuid4().hex[:6]}", gpu_pool=gpu_pool)
    home = str(tmp_path / "root")
    w = Worker(gpu_pool, tmp_path / "gpu-worker.log", worker_env)
    try:  # the pipeline runs here; its rollout stage (the model) runs on the gpu pool's worker
        out = ctrl(preset="tiny", until="rollout", home=home, gpu_pool=gpu_pool, report=False)
    finally:
        w.stop()
    log = w.log.read_text()
    assert "rollout: built" in log, log[-3000:]  # computed in the worker's flow run ...
    assert out["rollout"]["cached"] and not out["ingest"]["cached"]  # ... read back by key here
    assert Store(home).read_table("rollouts", out["rollout"]["key"]).num_rows == 3
