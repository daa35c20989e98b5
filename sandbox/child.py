"""The child: one forked process per run, inside the jail, that executes the candidate's code.

It sets its rlimits, rebinds fds 0-2 to the run's input/output files and reports one JSON line per
case on fd 3 (the worker turns those into frames for the supervisor). Value cases whose verdict is
decided outside report the value; cases decided in here use the two-process mode of guard.py, so
this reporting process never runs candidate code there. Runs only inside the jail (its source is
concatenated after codec.py and guard.py, before worker.py); it imports nothing of ours.
"""

import builtins
import io
import json
import math
import os
import resource
import sys
import time
import traceback

if "encode" not in globals():  # run as a module (tests); in the jail the sources are concatenated
    from sandbox.codec import TooBig, decode, encode, sanitized  # noqa: F401
    from sandbox.guard import _send, connect, serve  # noqa: F401

_PRISTINE = dict(builtins.__dict__)  # builtins as they were before any candidate ran
# Captured before any candidate runs: a candidate that patches builtins/os/json can't reach these.
_type, _len, _range, _dumps, _loads, _write = type, len, range, json.dumps, json.loads, os.write
_compile, _exec, _eval, _exit, _perf = compile, exec, eval, os._exit, time.perf_counter
dict, isinstance, getattr, callable, str, int, float = dict, isinstance, getattr, callable, str, int, float
enumerate, max, min, BaseException, SystemExit = enumerate, max, min, BaseException, SystemExit
OUT_LIMIT = 8 << 20  # bytes of stdout/stderr before a case is an output_limit (also RLIMIT_FSIZE)
MAX_FRAME = 16 << 20  # bytes of one serialized return value


# Test code (never candidate code) compiled by the worker before it forks, keyed by (source, filename,
# mode): GRPO judges many samples against the same tests, so each is compiled once per jail, not per case.
_TEST_CODE = {}


def _test_code(src, name, mode):
    code = _TEST_CODE.get((src, name, mode))
    return code if code is not None else _compile(src, name, mode)  # not cached: compile errors land here


def stdio():
    """Text streams on fds 0-2, buffered like a normal interpreter's (fast-IO idioms such as
    sys.stdin.buffer.readline stay fast). They hold only the fd numbers and empty buffers, so the
    worker builds them once and never uses them, and each forked run takes its own copy: building
    them in every run cost ~0.15 ms and ~40 page copies per fork."""
    streams = [io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8",
                                errors="replace")]
    for fd in (1, 2):
        streams.append(io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8",
                                        errors="backslashreplace", line_buffering=fd == 2))
    return streams


_STDIO = []  # stdio() as the worker built it before forking; empty when run outside a worker


def _report(frame):
    try:  # where this case's output ends, so the worker can slice stdout/stderr per case
        frame["off"] = [os.lseek(1, 0, os.SEEK_CUR), os.lseek(2, 0, os.SEEK_CUR)]
    except OSError:  # the candidate closed or replaced fd 1/2; the worker then takes all it finds
        pass
    data = (_dumps(frame) + "\n").encode()
    if _len(data) > MAX_FRAME:
        data = (_dumps({"i": frame.get("i"), "too_big": True}) + "\n").encode()
    _write(3, data)


def _flush():
    for f in (sys.__stdout__, sys.__stderr__):
        try:
            f.flush()
        except BaseException:  # a closed or broken stream is the candidate's doing; output is on disk
            pass


def _limit(job, n_cases):
    mem = int(job["memory_mb"]) << 20
    cpu = int(math.ceil(float(job["time_limit_s"]) * n_cases)) + 1
    for res, val in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu),
                     (resource.RLIMIT_FSIZE, OUT_LIMIT), (resource.RLIMIT_NOFILE, 64),
                     (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (val, val))


def _entry(ns, name):
    head, _, method = name.partition(".")
    obj = ns.get(head)
    if obj is None or (method and not isinstance(obj, type)):
        return None
    if method:  # "Solution.method": LeetCode style, instantiate once
        obj = getattr(obj(), method, None)
    return obj if callable(obj) else None


def _test_namespace(job, cand_ns, fn):
    """Namespace for test code: pristine builtins, candidate names wrapped so results are plain data."""
    ns = {"__name__": "__test__", "__builtins__": dict(_PRISTINE)}
    if job.get("setup_scope") == "candidate":
        for k, v in cand_ns.items():
            if k != "__builtins__":
                ns[k] = sanitized(v) if _type(v).__name__ == "function" else v
    if job.get("setup"):
        _exec(_test_code(job["setup"], "<test setup>", "exec"), ns)
    if fn is not None and job.get("candidate_name"):
        ns[job["candidate_name"]] = sanitized(fn)
    return ns


def _run_case(case, fn, ns, nonce):
    mode = case["mode"]
    if mode == "call":
        return {"v": encode(fn(*decode(case["args"])))}
    if mode == "expr":
        return {"v": encode(_eval(_test_code(case["expr"], "<test>", "eval"), ns))}
    if mode == "stmt":
        _exec(_test_code(case["src"], "<test>", "exec"), ns)
        return {"nonce": nonce}
    _exec(_test_code(case["test"], "<test>", "exec"), ns)  # "check": HumanEval-style, one case
    ns["check"](ns[case["candidate_name"]])
    return {"nonce": nonce}


def child_main(job, start, nonce):
    """Run cases[start:] of a job in this (forked) process; report each on fd 3; never returns."""
    os.setpgid(0, 0)
    cases = job["cases"][start:] if job["kind"] != "stdin" else job["cases"][start:start + 1]
    _limit(job, _len(cases))
    sys.stdin, sys.stdout, sys.stderr = _STDIO or stdio()
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    os.chdir(os.environ.get("HOME", "/"))
    if job.get("guarded"):
        _guarded_main(job, start, cases, nonce)
    stdin_kind = job["kind"] == "stdin"
    ns = {"__name__": "__main__" if stdin_kind else "candidate", "__builtins__": builtins}
    t0 = _perf()
    try:
        code = _compile(job["code"], "<candidate>", "exec")
    except BaseException as e:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError
        _report({"i": start, "syntax": "%s: %s" % (_type(e).__name__, e)})
        _exit(0)
    fn = None
    try:
        _exec(code, ns)
        if stdin_kind:
            raise SystemExit(0)
        fn = _entry(ns, job["entry"]) if job.get("entry") else None
        if job.get("entry") and fn is None:
            _report({"i": start, "missing": "entry point %r is not defined as a callable by the code"
                     % job["entry"]})
            _exit(0)
        tns = _test_namespace(job, ns, fn)
    except SystemExit as e:
        ok = stdin_kind and e.code in (None, 0)
        _flush()
        _report({"i": start, "ms": (_perf() - t0) * 1e3, "exc": None if ok else "SystemExit",
                 "exit": e.code if _type(e.code) is int else (0 if e.code is None else 1)})
        _exit(0)
    except BaseException as e:
        traceback.print_exc()
        _flush()
        _report({"i": start, "exc": _type(e).__name__, "all": not stdin_kind, "ms": (_perf() - t0) * 1e3})
        _exit(0)
    _run_cases(cases, start, fn, tns, nonce, t0)


def _run_cases(cases, start, fn, tns, nonce, t0):
    for k, case in enumerate(cases):
        frame = {"i": start + k}
        try:
            frame.update(_run_case(case, fn, tns, nonce))
        except TooBig:
            frame["too_big"] = True
        except BaseException as e:
            traceback.print_exc()
            frame["exc"] = _type(e).__name__
        frame["ms"] = (_perf() - t0) * 1e3
        _flush()
        _report(frame)
        t0 = _perf()
    _exit(0)


def _candidate_process(job, r, w):
    """C of the two-process mode (guard.py): run the candidate, then serve T's calls; never returns."""
    try:
        ns = {"__name__": "candidate", "__builtins__": builtins}
        try:
            code = _compile(job["code"], "<candidate>", "exec")
        except BaseException as e:
            _send(w, {"syntax": "%s: %s" % (_type(e).__name__, e)})
            _exit(0)
        try:
            _exec(code, ns)
            fn = _entry(ns, job["entry"]) if job.get("entry") else None
        except BaseException as e:
            traceback.print_exc()
            _flush()
            _send(w, {"exc": _type(e).__name__})
            _exit(0)
        if job.get("entry") and fn is None:
            _send(w, {"missing": "entry point %r is not defined as a callable by the code" % job["entry"]})
            _exit(0)
        serve(ns, fn, r, w)
        _flush()
    finally:
        _exit(0)


def _guarded_main(job, start, cases, nonce):
    """T of the two-process mode: judge cases in the jail without ever running candidate code here."""
    c_r, t_w = os.pipe()
    t_r, c_w = os.pipe()
    if os.fork() == 0:
        for fd in (3, t_w, t_r):
            os.close(fd)
        _candidate_process(job, c_r, c_w)
    os.close(c_r)
    os.close(c_w)
    t0 = _perf()
    try:
        hello = connect(t_r, t_w, _PRISTINE)
    except BaseException as e:  # C died or garbled its hello
        hello = {"exc": _type(e).__name__}
    if "names" not in hello:
        frame = {"i": start, "ms": (_perf() - t0) * 1e3}
        frame.update({"exc": str(hello["exc"]), "all": True} if "exc" in hello else
                     {k: str(v) for k, v in hello.items() if k in ("syntax", "missing")} or {"exc": "?", "all": True})
        _flush()
        _report(frame)
        _exit(0)
    tns = {"__name__": "__test__", "__builtins__": dict(_PRISTINE)}
    try:
        if job.get("setup_scope") == "candidate":
            tns.update(hello["names"])
        if job.get("setup"):
            _exec(_test_code(job["setup"], "<test setup>", "exec"), tns)
        if job.get("candidate_name"):
            tns[job["candidate_name"]] = hello["entry"]
    except BaseException as e:
        traceback.print_exc()
        _flush()
        _report({"i": start, "exc": _type(e).__name__, "all": True})
        _exit(0)
    _run_cases(cases, start, None, tns, nonce, t0)
    _exit(0)
