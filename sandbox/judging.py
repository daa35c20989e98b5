"""`judge(items)`: run items through a pool of warm jails and turn what they report into verdicts.

A process keeps one pool of slots per isolation mode, started on first use and reused by later
calls (a jail start costs ~0.2 s; a sample then costs a fork). Slot users are machine-wide: each
process claims free slots with a lock file (`jail.claim`), so concurrent judging processes on one
host share the 8 slots and wait when all are taken; slots idle for CTRL_SANDBOX_IDLE_S (60 s) are
released. The first use in a process runs the isolation self-test (selftest.py) and refuses to run
anything if it fails.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time

from sandbox import codec, compare, jail, selftest
from sandbox.plan import TRUNC, BadItem, Plan, plan, show, trunc

log = logging.getLogger("sandbox")

STATUSES = ("pass", "wrong_answer", "runtime_error", "timeout", "memory_limit", "output_limit",
            "syntax_error", "sandbox_error")
NO_CASES_RULE = "no test cases: nothing was run and passed is false"
_POOL: dict[str, list[jail.Slot]] = {}
_PROVEN: dict[str, list] = {}
_LOCK = threading.RLock()


def resolve_isolation(isolation: str) -> str:
    """'firejail' when the host can isolate, 'none' only when asked for; otherwise raise."""
    if isolation == "none":
        log.warning("SANDBOX ISOLATION IS OFF (isolation='none'): untrusted code runs as uid %d with "
                    "rlimits only; it can read your files and use the network", os.getuid())
        return "none"
    if isolation not in ("auto", "firejail"):
        raise ValueError(f"isolation must be 'auto', 'firejail' or 'none', got {isolation!r}")
    problems = selftest.host_problems()
    if problems:
        raise jail.SandboxUnavailable(
            "cannot isolate untrusted code: " + "; ".join(problems)
            + ". Fix that (sudo sh sandbox/setup_host.sh), or pass isolation='none' / --isolation none "
            "to run it unisolated at your own risk")
    return "firejail"


def _start(slot: jail.Slot) -> None:
    hello = slot.start()
    if slot.isolation == "firejail":
        problems = selftest.check_hello(hello, slot.uid)
        if problems:
            slot.stop()
            raise jail.SandboxUnavailable(f"jail {slot.index} is not confined: {'; '.join(problems)}. "
                                          "Refusing to run untrusted code; see `python -m sandbox doctor`")


def prove(mode: str, force: bool = False) -> list:
    """Run the isolation self-test once per process (again with force); raise when it fails.

    A passing proof is also kept, root-only, for this boot, host setup and sandbox version
    (selftest.cached_proof): a fresh process (`python -m sandbox judge`) then skips the ~0.4 s
    probe. Every jail start still re-checks its hello (uid, seccomp, caps, no_new_privs, fence,
    network interfaces), so a jail that is not confined is refused either way."""
    with _LOCK:
        if mode == "firejail" and (force or mode not in _PROVEN):
            cached = None if force else selftest.cached_proof()
            if cached is not None:
                _PROVEN[mode] = cached
                return cached
            pool = _pool(1, mode)
            checks = selftest.prove(pool[0])
            _PROVEN[mode] = checks
            failed = [f"{name} ({detail})" for name, ok, detail in checks if not ok]
            if failed:
                _PROVEN.pop(mode)
                selftest.forget_proof()
                raise jail.SandboxUnavailable("isolation self-test failed: " + "; ".join(failed)
                                              + ". Refusing to run untrusted code; see `python -m sandbox doctor`")
            selftest.keep_proof(checks)
        return _PROVEN.get(mode, [])


def _pool(n: int, mode: str, wait_s: float = 600) -> list[jail.Slot]:
    """Up to n slots of this process (claiming free ones); waits while other processes hold all."""
    pool = _POOL.setdefault(mode, [])
    deadline, warned = time.monotonic() + wait_s, False
    while len(pool) < n:
        slot = jail.claim(mode, {s.index for s in pool})
        if slot is not None:
            pool.append(slot)
        elif pool:
            break  # run with fewer jails rather than wait
        elif time.monotonic() > deadline:
            raise jail.SandboxUnavailable(f"all {jail.MAX_SLOTS} sandbox slots stayed taken by other processes "
                                          f"for {wait_s:.0f} s (lock files in {jail.BASE}); stop one of them")
        else:
            if not warned:
                log.warning("all sandbox slots are taken by other processes; waiting for one")
                warned = True
            time.sleep(0.2)
    return pool[:n]


def _release_slots() -> None:
    with _LOCK:
        for slots in _POOL.values():
            for s in slots:
                s.release()
        _POOL.clear()


def shutdown() -> None:
    """Stop every jail of this process and release its slots (also run at exit)."""
    with _LOCK:
        if _IDLE["timer"] is not None:
            _IDLE["timer"].cancel()
        _release_slots()
        _PROVEN.clear()


# Slots idle this long go back to other processes on the host (a training loop calling judge()
# again and again keeps its jails warm).
IDLE_RELEASE_S = float(os.environ.get("CTRL_SANDBOX_IDLE_S", "60"))
_IDLE: dict = {"timer": None}


def _arm_idle_release() -> None:
    if _IDLE["timer"] is not None:
        _IDLE["timer"].cancel()
    _IDLE["timer"] = threading.Timer(IDLE_RELEASE_S, _release_slots)
    _IDLE["timer"].daemon = True
    _IDLE["timer"].start()


atexit.register(shutdown)


def default_workers() -> int:
    """Two jails per CPU (a jail waits on the supervisor half the time), at most MAX_SLOTS."""
    return max(1, min(2 * (os.cpu_count() or 1), jail.MAX_SLOTS))


def judge(items: list[dict], *, workers: int | None = None, isolation: str = "auto") -> list[dict]:
    """Judge candidate programs against their tests, isolated.

    Args:
        items: dicts `{"id", "code", "tests", "time_limit_s", "memory_mb"}` (see sandbox/__init__.py).
        workers: jails run in parallel (default: 2 per CPU, at most 8).
        isolation: "auto"/"firejail" (refuse unless isolation is proven) or "none" (rlimits only).
    Returns:
        One result dict per item, in order: `{"id", "passed", "n_cases", "n_passed", "cases",
        "isolation", "judge_rule"}`.
    """
    mode = resolve_isolation(isolation)
    plans: list = []
    for it in items:
        try:
            plans.append(plan(it))
        except BadItem as e:
            plans.append(e)
    results: list = [None] * len(items)
    todo = []
    for k, p in enumerate(plans):
        if isinstance(p, BadItem):
            results[k] = _bad(items[k], str(p), mode)
        elif p.verdict or not p.checks:  # decided without running (no cases: nothing to run)
            results[k] = _result(items[k], p, {k2: {"st": "fixed"} for k2 in range(len(p.checks))}, mode)
        else:
            todo.append(k)
    if todo:
        with _LOCK:
            if _IDLE["timer"] is not None:
                _IDLE["timer"].cancel()
            prove(mode)
            slots = _pool(max(1, min(workers or default_workers(), jail.MAX_SLOTS, len(todo))), mode)
            queue, qlock = list(reversed(todo)), threading.Lock()

            def drive(slot):
                while True:
                    with qlock:
                        if not queue:
                            return
                        k = queue.pop()
                    results[k] = _run_item(slot, items[k], plans[k], mode)

            threads = [threading.Thread(target=drive, args=(s,), daemon=True) for s in slots[1:]]
            for t in threads:
                t.start()
            drive(slots[0])
            for t in threads:
                t.join()
            _arm_idle_release()
    return results


def _run_item(slot: jail.Slot, item: dict, p: Plan, mode: str) -> dict:
    """Judge one item on a slot. What the sample can cause is its verdict; a failure of the judge
    (a worker that dies or stalls, a kill from outside the sample) is retried once on a fresh jail
    and, failing again, is `sandbox_error` (never a verdict, never cached as one)."""
    reward = bool(p.job.get("reward"))
    keep_value = bool(item.get("return_values"))

    def judge_now(frame):
        """Judge a frame as it arrives and keep only the verdict: an item's cases may each carry
        up to 16 MB of returned value. True stops the job (reward mode, first failing case)."""
        k = frame["i"]
        status, shown, msg = verdict(p.checks[k], frame, p.verdict)
        kept = {"st": "judged", "status": status, "out": shown, "msg": msg, "err": frame.get("err"),
                "ms": frame.get("ms"), "was": frame.get("st")}
        if keep_value and frame.get("st") == "ok" and "v" in frame:
            kept["v"] = frame["v"]
        frame.clear()
        frame.update(kept)
        return reward and status != "pass"

    frames: dict[int, dict] = {}
    stopped = False
    for attempt in (1, 2):
        try:
            if not slot.alive:
                _start(slot)
            frames, end = slot.run(p.job, p.job["wall_s"], judge_now)
            stopped = bool(end.get("stopped"))
        except jail.SandboxUnavailable as e:
            frames = {k: {"st": "sandbox", "msg": str(e)} for k in range(len(p.checks))}
            break
        except jail.SlotFailure as e:
            log.warning("item %r: %s (attempt %d of 2)", item.get("id"), e, attempt)
            frames = {k: {"st": "sandbox", "msg": str(e)} for k in range(len(p.checks))}
            continue
        if not any(f.get("st") == "sandbox" or f.get("status") == "sandbox_error" for f in frames.values()):
            break
        log.warning("item %r: killed from outside the sample (attempt %d of 2); judging it again",
                    item.get("id"), attempt)
    return _result(item, p, frames, mode, stopped)


def _bad(item, msg: str, mode: str) -> dict:
    return {"id": item.get("id") if isinstance(item, dict) else None, "passed": False, "n_cases": 1,
            "n_passed": 0, "cases": [{"status": "sandbox_error", "time_ms": 0.0, "stdout": "",
                                      "stderr": f"[judge] bad item: {msg}", "input": "", "expected": "",
                                      "rule": "not judged"}],
            "isolation": mode, "judge_rule": "not judged: malformed item", "mode": "full", "n_run": 0}


def _result(item: dict, p: Plan, frames: dict[int, dict], mode: str, stopped: bool = False) -> dict:
    cases = []
    reward = bool(p.job.get("reward"))
    for k, check in enumerate(p.checks):
        f = frames.get(k)
        if f is None and reward and (stopped or any(c["status"] != "pass" for c in cases)):
            break  # reward mode: the cases after the first failing one were not run
        f = f or {"st": "sandbox", "msg": "the worker sent no result for this case"}
        status, stdout, msg = verdict(check, f, p.verdict)
        err = (f.get("err") if isinstance(f.get("err"), str) else "") + (f"\n[judge] {msg}" if msg else "")
        ms = f.get("ms")
        case = {"status": status, "time_ms": round(float(ms), 3) if isinstance(ms, (int, float)) and
                math.isfinite(ms) else 0.0,
                "stdout": trunc(stdout), "stderr": trunc(err.strip("\n"), TRUNC),
                "input": trunc(check["show_in"]), "expected": trunc(check["show_exp"]),
                "rule": check.get("rule", p.rule)}
        if item.get("return_values") and f.get("was", f.get("st")) == "ok" and "v" in f:
            case["value"] = f["v"]  # the returned value as tagged JSON (codec.py), e.g. to record outputs
        cases.append(case)
        if reward and status != "pass":
            break
    n_passed = sum(c["status"] == "pass" for c in cases)
    n = len(p.checks)
    rule = p.rule if n else p.rule + "; " + NO_CASES_RULE
    # No cases: nothing was verified, so the item does not pass (a reward must not come for free)
    return {"id": item.get("id"), "passed": bool(n) and n_passed == n, "n_cases": n, "n_passed": n_passed,
            "n_run": len(cases), "cases": cases, "isolation": mode, "judge_rule": rule,
            "mode": "reward" if reward else "full"}


_SIMPLE = {"syntax": "syntax_error", "missing": "runtime_error", "timeout": "timeout",
           "memory": "memory_limit", "output": "output_limit", "signal": "runtime_error",
           "exit": "runtime_error", "sandbox": "sandbox_error"}


def verdict(check: dict, f: dict, fixed=None) -> tuple[str, str, str]:
    """(status, stdout shown, judge message) for one case from the frame the worker sent. Total:
    whatever the frame holds, a candidate's value that cannot be decoded or compared fails its case."""
    try:
        return _verdict(check, f, fixed)
    except Exception as e:  # noqa: BLE001 - the judge must not crash on what a candidate produced
        return "wrong_answer", "", f"returned value could not be judged ({type(e).__name__})"


def _verdict(check: dict, f: dict, fixed) -> tuple[str, str, str]:
    st = f.get("st")
    out = f.get("out") if isinstance(f.get("out"), str) else ""
    msg = f.get("msg") if isinstance(f.get("msg"), str) else ""
    if st == "judged":  # judged as it arrived (judging._run_item)
        return f["status"], out, msg
    if st == "fixed":
        return fixed[0], "", fixed[1]
    if st in _SIMPLE:
        return _SIMPLE[st], out, msg
    if st == "exc":
        exc = str(f.get("exc")) or "Exception"
        if exc == "MemoryError":
            return "memory_limit", out, "MemoryError"
        if exc == "AssertionError" and check["how"] == "jail":
            return "wrong_answer", out, "assertion failed"
        if exc == "AssertionError" and check["how"] in ("truthy", "falsy", "eq") and f.get("setup"):
            return "runtime_error", out, "the test setup failed"
        return "runtime_error", out, msg or f"raised {exc}"
    if st != "ok":
        return "sandbox_error", out, f"unknown report {st!r:.40} from the worker"
    how = check["how"]
    if how == "stdin":
        if f.get("more"):
            return "wrong_answer", out, f"printed {f['more']} bytes more than could match the expected output"
        ok = compare.stdin_equal(out, check["expected"], check["atol"], check["rtol"])
        return ("pass" if ok else "wrong_answer"), out, ""
    if how == "jail":
        return "pass", out, ""
    try:
        got = codec.decode(f.get("v"))
    except (codec.DecodeError, ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError) as e:
        return "wrong_answer", out, f"returned value could not be decoded ({type(e).__name__})"
    shown = show(got)
    if how == "call":
        mode = check["compare"]
        if mode == "evalplus":
            ok = compare.evalplus_equal(got, check["expected"], check["args"], check["atol"], check["oracle"])
        else:
            ok = compare.python_equal(got, check["expected"], check["atol"], compare.CALL_RTOL, mode == "json")
    elif how == "eq":
        ok = compare.python_equal(got, check["expected"], 0.0, 0.0)
    else:
        t = compare.truth(got)
        if t is None:
            return "wrong_answer", shown, "the value has no truth value the judge can take (not plain data)"
        ok = t == (how == "truthy")
    return ("pass" if ok else "wrong_answer"), shown, ""
