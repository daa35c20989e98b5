"""The zygote Z and the candidate process C, inside the jail.

The worker forks Z once, when the jail starts and before it has read any job, so Z (and so every
candidate forked from it) has never held test code, expected values or another item's data. Z
preloads common modules, then serves spawn requests from the worker on a socket: the candidate's
code arrives in a file descriptor, never in a message the worker's memory shaped. Per request Z
forks C, hands the worker a pidfd of C (the worker enforces wall time), waits for C, kills whatever
C left behind (Z is the child subreaper, so every descendant of C is a descendant of Z) and reports
C's exit status and rusage. The host puts Z in the slot's cgroup before the first job, so C and
all it forks are limited as one sample (memory incl. shm/tmpfs, pids, CPU).

C raises its own OOM score (the cgroup's OOM killer picks the candidate, not Z), sets its rlimits,
installs the fence (fence.py: no signals to anyone, no SysV/POSIX IPC, no re-limiting the jail's
other processes) and only then compiles and runs the candidate: as a program (stdin items) or as
the server end of the wire (guard.py) for value items.
"""

import builtins
import ctypes
import json
import os
import signal
import socket
import sys
import time
import traceback

if "set_limits" not in globals():  # run as a module (tests); in the jail the sources are concatenated
    from sandbox import fence  # noqa: F401
    from sandbox.child import set_limits, stdio  # noqa: F401
    from sandbox.guard import _send, serve  # noqa: F401
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
    os.setpgid(0, 0)
    set_limits(int(req["memory_mb"]) << 20, int(req["cpu_s"]))
    err = fence.install()
    if err:
        os.write(2, ("[judge] %s\n" % err).encode())
        os._exit(71)
    src = b""
    while True:
        chunk = os.read(code_fd, 1 << 20)
        if not chunk:
            break
        src += chunk
    os.close(code_fd)
    sys.stdin, sys.stdout, sys.stderr = _STDIO_Z or stdio()
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    os.chdir(os.environ.get("HOME", "/"))
    value = req["mode"] == "value"
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
    if value:
        serve(ns, fn, req.get("names") or [], 4, w, _flush)
    _flush()
    os._exit(status & 0xFF)


def _children(me):
    """Pids of this process's children, from /proc (a zygote sees only its jail's pid namespace)."""
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read(512)
                ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == me:
                kids.append(int(name))
    return kids


def reap_descendants():
    """Kill and reap every descendant (orphans come to us as the subreaper); True when none is left."""
    me = os.getpid()
    for _ in range(1000):
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
        except ChildProcessError:
            return True  # no child at all, hence no descendant
        for pid in _children(me):
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(fd)
        time.sleep(0.001)
    return False


def _fence_works():
    """Prove the fence here, once: a fenced child must fail to signal us."""
    pid = os.fork()
    if pid == 0:
        err = fence.install()
        if err:
            os._exit(2)
        try:
            os.kill(os.getppid(), 0)
            os._exit(3)  # the signal went through: no fence
        except PermissionError:
            os._exit(0 if fence.fenced() >= 1 else 4)
        except BaseException:
            os._exit(5)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return {0: "ok", 2: "fence could not be installed", 3: "a fenced process could still signal",
            4: "no seccomp filter"}.get(code, "fence self-test failed (%d)" % code)


def zygote_main(sock):
    """Z: serve spawn requests on `sock` until the worker closes it."""
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: every orphan of a candidate comes to us
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    _STDIO_Z[:] = stdio()  # over fds 0-2 (/dev/null here); each C takes its own copy
    sock.sendall(json.dumps({"fence": _fence_works()}).encode())
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
            try:
                sock.close()
                high = [os.dup2(fd, 200 + k) for k, fd in enumerate(fds)]  # out of the way first
                for k, fd in enumerate(high):  # 0 stdin, 1 stdout, 2 stderr, 3 code, 4 status | 4/5 wire
                    os.dup2(fd, k)
                os.closerange(len(fds), 1 << 16)
                candidate_main(req)
            except BaseException:  # our own failure in C: say what, on the run's stderr
                try:
                    os.write(2, ("[judge] the candidate process failed: %s\n" % traceback.format_exc()[-2000:]).encode())
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
        try:  # the fence keeps every process of the sample in C's group: end them in one call
            os.killpg(pid, signal.SIGKILL)
        except OSError:  # nobody left
            pass
        clean = reap_descendants()
        sock.sendall(json.dumps({"exit": pid, "status": status, "cpu": ru.ru_utime + ru.ru_stime,
                                 "maxrss_kb": ru.ru_maxrss, "clean": clean}).encode())
