"""The test process T: runs an item's test code inside the jail and reports each case to the worker.

T is forked from the worker for each run of a value item (call, assert, program). It never runs
candidate code: the candidate lives in C (zygote.py) and T sees it only through the wire (guard.py).
Test code runs in a namespace of T's own, pristine builtins and trusted imports:
- a free name of the test that is a builtin is the builtin, never the candidate's (`abs`, `len`);
- a free name that is a standard-library module is T's own import, never the candidate's (`math`);
- the other free names (the entry point, classes the test builds, names the prompt declares) are
  looked up in the candidate and arrive as plain data or as Remote handles;
- helpers the test itself defines look their globals up in this namespace too.
T reports one JSON line per case on fd 3: the value the case produced (tagged JSON, judged outside),
or its exception. Like worker.py this runs only inside the jail (concatenated after codec.py,
fence.py and guard.py), and it imports nothing of ours.
"""

import builtins
import io
import json
import os
import resource
import sys
import time
import traceback

if "encode" not in globals():  # run as a module (tests); in the jail the sources are concatenated
    from sandbox.codec import HOOKS, TooBig, decode, encode  # noqa: F401
    from sandbox.guard import CandidateError, connect  # noqa: F401

_PRISTINE = dict(builtins.__dict__)  # T never runs candidate code: these are the real builtins
_type, _len, _range, _dumps, _loads, _write = type, len, range, json.dumps, json.loads, os.write
_compile, _exec, _eval, _exit, _perf = compile, exec, eval, os._exit, time.perf_counter
OUT_LIMIT = 8 << 20  # bytes of stdout/stderr before a case is an output_limit (also RLIMIT_FSIZE)
MAX_FRAME = 16 << 20  # bytes of one serialized value
T_MEMORY = 2 << 30  # address space of T: it decodes what the candidate returns (at most MAX_FRAME)
IMPORTABLE = ("numpy",)  # non-stdlib modules T imports itself when the candidate imported them under an alias
NEVER_IMPORT = ("antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo")

# Test code compiled by the worker before it forks T, keyed by (source, filename, mode), for the
# current item only (worker._precompile): GRPO judges many samples against the same tests. It lives
# in the worker and T only; no candidate is ever forked from either (they come from the zygote).
_TEST_CODE = {}


def _test_code(src, name, mode):
    code = _TEST_CODE.get((src, name, mode))
    return code if code is not None else _compile(src, name, mode)  # not cached: compile errors land here


def stdio():
    """Text streams on fds 0-2, buffered like a normal interpreter's (fast-IO idioms such as
    sys.stdin.buffer.readline stay fast). The zygote builds them once; each forked run takes its own copy."""
    streams = [io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8",
                                errors="replace")]
    for fd in (1, 2):
        streams.append(io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8",
                                        errors="backslashreplace", line_buffering=fd == 2))
    return streams


def set_limits(memory_bytes, cpu_s, nofile=64):
    for res, val in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_CPU, cpu_s),
                     (resource.RLIMIT_FSIZE, OUT_LIMIT), (resource.RLIMIT_NOFILE, nofile),
                     (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (val, val))


def _report(frame):
    data = (_dumps(frame) + "\n").encode()
    if _len(data) > MAX_FRAME:
        data = (_dumps({"i": frame.get("i"), "too_big": True, "ms": frame.get("ms")}) + "\n").encode()
    while data:
        data = data[_write(3, data):]


def _opaque(x):
    return {"$o": "candidate object"}


def _value(v):
    """A case's value as tagged JSON for the supervisor; candidate objects (Remote) are opaque."""
    saved = HOOKS["encode"]
    HOOKS["encode"] = _opaque
    try:
        return encode(v)
    finally:
        HOOKS["encode"] = saved


def _trusted_import(name):
    if name in NEVER_IMPORT or not (name in sys.stdlib_module_names or name in IMPORTABLE):
        return None
    try:
        return __import__(name)
    except BaseException:  # not installed here: the name stays unbound (NameError in the test)
        return None


def _namespace(job, hello):
    """The namespace test code runs in (see the module docstring)."""
    tns = {"__name__": "__test__", "__builtins__": dict(_PRISTINE)}
    for name in job.get("modules") or ():
        mod = _trusted_import(name)
        if mod is not None:
            tns[name] = mod
    wanted = set(job.get("names") or ())
    for name, (kind, v) in hello["names"].items():
        if name in tns or name not in wanted:  # C may forge its hello: only what we asked for binds
            continue
        if kind == "module":
            mod = _trusted_import(name) or _trusted_import(v.split(".")[0])
            if mod is not None:
                tns[name] = mod
        else:
            tns[name] = v
    if job.get("setup"):
        _exec(_test_code(job["setup"], "<test setup>", "exec"), tns)
    if job.get("candidate_name"):
        tns[job["candidate_name"]] = hello["entry"]
    return tns


def _run_case(case, tns, entry):
    mode = case["mode"]
    if mode == "call":
        if entry is None:
            raise CandidateError("the entry point is not callable")
        return {"v": _value(entry(*decode(case["args"])))}
    if mode == "expr":
        return {"v": _value(_eval(_test_code(case["expr"], "<test>", "eval"), tns))}
    if mode == "stmt":
        _exec(_test_code(case["src"], "<test>", "exec"), tns)
        return {"done": True}
    _exec(_test_code(case["test"], "<test>", "exec"), tns)  # "check": HumanEval-style, one case
    tns["check"](tns[case["candidate_name"]])
    return {"done": True}


def t_cpu_limit(job):
    """CPU seconds of T for a job (T decodes what the candidate returns; the wall clock usually ends
    a case first). A T killed at this limit is the candidate's timeout, not a kill from outside."""
    return int(float(job["time_limit_s"]) * _len(job["cases"]) * 2 + 30)


def test_main(job, start, c_r, c_w):
    """T: judge cases[start:] of a value job against the candidate behind (c_r, c_w); never returns."""
    try:
        set_limits(T_MEMORY, t_cpu_limit(job), 256)
        sys.stdout = sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                                   errors="backslashreplace", line_buffering=True)
        t0 = _perf()
        try:
            hello = connect(c_r, c_w, _PRISTINE)
        except CandidateError as e:
            hello = {"exc": "ended", "msg": str(e)}
        if "names" not in hello:
            frame = {"i": start, "ms": (_perf() - t0) * 1e3, "all": True}
            for key in ("syntax", "missing"):
                if key in hello:
                    frame[key] = str(hello[key])[:4096]
            if "syntax" not in frame and "missing" not in frame:
                frame["exc"] = str(hello.get("exc", "?"))[:200] or "Exception"
                frame["msg"] = str(hello.get("msg", ""))[:500]
                frame["ended"] = hello.get("exc") == "ended"
            _report(frame)
            _exit(0)
        try:
            tns = _namespace(job, hello)
        except BaseException as e:  # the test's own setup failed: every case fails, visibly
            traceback.print_exc()
            _report({"i": start, "exc": _type(e).__name__, "all": True, "setup": True})
            _exit(0)
        entry = hello["entry"] if callable(hello["entry"]) else None
        for k, case in enumerate(job["cases"][start:]):
            frame = {"i": start + k}
            try:
                frame.update(_run_case(case, tns, entry))
            except TooBig:
                frame["too_big"] = True
            except CandidateError as e:
                frame["exc"] = "CandidateError"
                frame["msg"] = str(e)[:500]
                if "process ended" in str(e):  # the wire is gone: every later case fails the same way
                    frame.update(all=True, ended=True)
            except BaseException as e:
                traceback.print_exc()
                frame["exc"] = _type(e).__name__ or "Exception"
            frame["ms"] = (_perf() - t0) * 1e3
            sys.stderr.flush()
            _report(frame)
            if frame.get("all"):
                break
            t0 = _perf()
    finally:
        _exit(0)
