"""The zygote Z and the candidate process C, inside the jail.

The worker forks Z once, when the jail starts and before it has read any job, so Z (and so every
candidate forked from it) has never held test code, expected values or another item's data. Z
preloads common modules, then serves spawn requests from the worker on a socket: the candidate's
code arrives in a file descriptor, never in a message the worker's memory shaped. Per request Z
forks C, hands the worker a pidfd of C (the worker enforces wall time), waits for C, kills whatever
C left behind (Z is the child subreaper, so every descendant of C is a descendant of Z) and reports
C's exit status and rusage. The host puts Z in the slot's cgroup before the first job, so C and
all it forks are limited as one sample (memory incl. shm/tmpfs, pids, CPU).

C raises its own OOM score (the cgroup's OOM killer picks the candidate, not Z), sets its rlimits
(the fence forbids changing them afterwards, like signalling anyone, SysV/POSIX IPC or re-limiting
the jail's other processes) and only then compiles and runs the candidate: as a program (stdin items) or as
the server end of the wire (guard.py) for value items.
"""

import builtins
import ctypes
import fcntl
import json
import os
import socket
import sys
import time
import traceback

if "set_limits" not in globals():  # run as a module (tests); in the jail the sources are concatenated
    from sandbox import fence  # noqa: F401
    from sandbox.child import stdio  # noqa: F401
    from sandbox.codec import TooBig, decode, encode  # noqa: F401
    from sandbox.guard import _loads_g, _send, serve  # noqa: F401
else:
    class fence:  # the concatenated fence.py's functions, under the module name used here
        install, fenced = install, fenced  # noqa: F821

PRELOAD = ("typing", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "random",
           "statistics", "fractions", "decimal", "hashlib", "copy", "datetime", "operator", "shutil",
           "dataclasses", "enum", "array", "math", "json")  # not numpy: its threads and size slow every fork
_STDIO_Z = []


def _entry(ns, name):
    head, _, method = name.partition(".")
    obj = ns.get(head)
    if obj is None or (method and not isinstance(obj, type)):
        return None
    if method:  # "Solution.method": LeetCode style, instantiate once
        obj = getattr(obj(), method, None)
    return obj if callable(obj) else None


def _flush():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:  # a closed or broken stream is the candidate's doing; output is on disk
            pass


def candidate_main(req):
    """C: fds 0-2 are the run's stdin/stdout/stderr, 3 the code; then 4/5 the wire (value items) or
    4 a status pipe (programs: a compile error or the uncaught exception is reported there; the
    candidate can write to it too, but the worker only uses it to name a failure, never to pass
    a case). Never returns."""
    code_fd = 3
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    # Wait for the worker to set our rlimits (prlimit from outside: the fence we inherited forbids
    # changing them ourselves, so a candidate cannot either); nothing of the candidate runs before.
    go = int(req["go_fd"])
    if os.read(go, 1) != b"g":
        os._exit(71)
    os.close(go)
    src = _read_all(code_fd)
    os.close(code_fd)
    sys.stdin, sys.stdout, sys.stderr = _STDIO_Z or stdio()
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    os.chdir(os.environ.get("HOME", "/"))
    direct = req["mode"] == "direct"
    if direct:  # the cases' arguments: inputs only, never an expected value
        args = _read_all(4)
        os.close(4)
    value = req["mode"] in ("value", "direct")
    ns = {"__name__": "candidate" if value else "__main__", "__builtins__": builtins}
    w = 5 if value else 4
    try:
        code = compile(src.decode("utf-8", "replace"), "<candidate>", "exec")
    except BaseException as e:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError
        _send(w, {"syntax": "%s: %s" % (type(e).__name__, e)})
        os._exit(0)
    del src
    status = 0
    try:
        exec(code, ns)
        if value:
            fn = _entry(ns, req["entry"]) if req.get("entry") else None
            if req.get("entry") and fn is None:
                _send(w, {"missing": "entry point %r is not defined as a callable by the code" % req["entry"]})
                os._exit(0)
    except SystemExit as e:
        status = e.code if type(e.code) is int else (0 if e.code is None else 1)
        if value:
            _flush()
            _send(w, {"exc": "SystemExit", "msg": "exit status %d" % status})
            os._exit(0)
    except BaseException as e:
        traceback.print_exc()
        _flush()
        try:  # programs: what failed (MemoryError is a memory_limit); it only ever refines a failure
            _send(w, {"exc": type(e).__name__, "msg": ""})
        except BaseException:
            pass
        if value:
            os._exit(0)
        status = 1
    if direct:
        _run_calls(fn, _loads_g(args), w)
    elif value:
        serve(ns, fn, req.get("names") or [], 4, w, _flush)
    _flush()
    os._exit(status & 0xFF)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _run_calls(fn, all_args, w):
    """Direct mode: call the entry point on each case's arguments, one report line per case. The
    supervisor judges the values; what this process writes can only ever be its own answer."""
    for args in all_args:
        t0 = time.perf_counter()
        try:
            rep = {"v": encode(fn(*decode(args)))}
        except TooBig:
            rep = {"too_big": True}
        except BaseException as e:
            traceback.print_exc()
            rep = {"exc": type(e).__name__}
        rep["ms"] = (time.perf_counter() - t0) * 1e3
        _flush()
        try:
            _send(w, rep)
        except TooBig:
            _send(w, {"too_big": True, "ms": rep["ms"]})


def _fence_works():
    """Install the fence on Z itself (every candidate inherits it: one filter per jail, not one per
    sample) and prove it: a signal to the worker must be refused."""
    err = fence.install()
    if err:
        return err
    try:
        os.kill(os.getppid(), 0)
        return "a fenced process could still signal"
    except PermissionError:
        return "ok" if fence.fenced() >= 1 else "no seccomp filter"
    except OSError as e:
        return "fence self-test failed (%s)" % e


def zygote_main(sock):
    """Z: serve spawn requests on `sock` until the worker closes it."""
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: every orphan of a candidate comes to us
    os.setpgid(0, 0)  # our own group (the fence forbids it later): candidates stay in it
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    _STDIO_Z[:] = stdio()  # over fds 0-2 (/dev/null here); each C takes its own copy
    import gc
    gc.freeze()  # what Z holds moves to a permanent generation: a candidate's GC never walks (and
    # copies on write) those pages
    state = _fence_works()
    sock.sendall(json.dumps({"fence": state}).encode())
    if state != "ok":
        return
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8)
        except OSError:
            return
        if not msg:
            return
        req = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            err_fd = fds[2]
            try:
                sock.close()
                # out of the way first, below 64: the worker may already have set RLIMIT_NOFILE
                high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in fds]
                err_fd = 2
                for k, fd in enumerate(high):  # 0 stdin, 1 stdout, 2 stderr, 3 code, 4 status | 4/5 wire
                    os.dup2(fd, k)
                os.closerange(len(fds), 1 << 16)
                candidate_main(req)
            except BaseException:  # our own failure in C: say what, on the run's stderr
                try:
                    os.write(err_fd, ("[judge] the candidate process failed: %s\n" % traceback.format_exc()[-2000:]).encode())
                except BaseException:
                    pass
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [pidfd])
        os.close(pidfd)
        while True:
            try:
                _, status, ru = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
        try:
            os.waitpid(-1, os.WNOHANG)
            left = True  # a child is there (or was, just reaped: there may be more)
        except ChildProcessError:
            left = False  # no child at all, hence no descendant: the usual case
        sock.sendall(json.dumps({"exit": pid, "status": status, "cpu": ru.ru_utime + ru.ru_stime,
                                 "maxrss_kb": ru.ru_maxrss, "leftovers": left}).encode())
        if left:  # Z is fenced: the worker kills them, Z reaps them (they are its orphans)
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
            sock.sendall(b'{"reaped": true}')
