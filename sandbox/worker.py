"""The jailed worker: a small server that runs inside firejail as one slot user.

It is started as `/usr/bin/python3 -s -P` with the concatenated sources of codec, guard, child and this
file (read by a one-line loader), reads one job per line on fd 0 and answers one JSON line per
case on fd 1, then `{"end": ...}`. Per job it forks a fresh child per *run* (all the value cases of
an item, or one stdin case); the child sets its rlimits, runs the candidate and reports each case on
a private pipe. The worker enforces each case's wall-clock limit, kills every leftover process of
the jail after each job and wipes the home directory, so nothing survives into the next sample.

Expected values never enter the jail: a case reports what the candidate *returned* or *printed*,
and the supervisor (outside) decides. Verdicts that must be decided in the jail (truth values, whole
statements) come from a process that never runs candidate code (guard.py).
"""

import ctypes
import io
import os
import select
import signal
import time
import traceback

if "child_main" not in globals():  # run as a module (tests); in the jail the sources are concatenated
    from sandbox.child import (MAX_FRAME, OUT_LIMIT, _STDIO, _TEST_CODE, _compile, _dumps, _exit,  # noqa: F401
                               _len, _loads, _range, _type, child_main, stdio)
PRELOAD = ("typing", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "random",
           "statistics", "fractions", "decimal", "hashlib", "copy", "datetime", "operator", "shutil",
           "dataclasses", "enum", "array")  # not numpy: its threads and size make every fork slow


# ----------------------------------------------------------------------------- the worker (one job)

TEST_CODE_CHARS = 4 << 20  # bound on the test sources kept compiled (the cache is part of every fork)
_CACHED = [0]  # characters of source in _TEST_CODE


def _precompile(job):
    """Compile the job's test code here, once per jail, so forked children reuse the code objects."""
    todo = [(job.get("setup"), "<test setup>", "exec")]
    for case in job["cases"]:
        mode = case.get("mode")
        src = case.get({"expr": "expr", "stmt": "src", "check": "test"}.get(mode, ""), "")
        todo.append((src, "<test>", "eval" if mode == "expr" else "exec"))
    for key in todo:
        if not key[0] or key in _TEST_CODE:
            continue
        if _CACHED[0] + _len(key[0]) > TEST_CODE_CHARS:
            _TEST_CODE.clear()
            _CACHED[0] = 0
        _CACHED[0] += _len(key[0])
        try:
            _TEST_CODE[key] = _compile(*key)
        except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
            continue  # left uncached: the child compiles it again and reports the error for its case


def _tmpfile(data=b""):
    fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _start_run(job, start, nonce):
    """Fork a child running cases[start:]; returns (pid, report_fd, out_fd, err_fd)."""
    case = job["cases"][start]
    in_fd = _tmpfile(case.get("input", "").encode() if job["kind"] == "stdin" else b"")
    out_fd, err_fd = _tmpfile(), _tmpfile()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for src, dst in ((in_fd, 0), (out_fd, 1), (err_fd, 2), (w, 3)):
                os.dup2(src, dst)
            os.closerange(4, 1 << 16)
            child_main(job, start, nonce)
        finally:
            _exit(70)
    os.close(w)
    os.close(in_fd)
    os.set_blocking(r, False)
    return pid, r, out_fd, err_fd


def _output(fd, since):
    size = os.fstat(fd).st_size
    data = os.pread(fd, min(size - since, OUT_LIMIT), since)
    return data.decode("utf-8", "replace"), size


def _died(job, status, rusage, killed, out_size):
    """Why a run ended without reporting the case in progress, from what the worker observed."""
    if killed:
        return {"st": "timeout", "msg": "killed after the wall-clock limit"}
    if out_size >= OUT_LIMIT:
        return {"st": "output", "msg": "output over %d bytes" % OUT_LIMIT}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and rusage.ru_utime + rusage.ru_stime
                                     >= float(job["time_limit_s"])):
            return {"st": "timeout", "msg": "CPU time limit exceeded"}
        if rusage.ru_maxrss * 1024 >= 0.85 * (int(job["memory_mb"]) << 20):
            return {"st": "memory", "msg": "killed by signal %d near the memory limit" % sig}
        return {"st": "signal", "msg": "killed by signal %d (%s)" % (sig, signal.Signals(sig).name)}
    code = os.WEXITSTATUS(status)
    if job["kind"] == "stdin" and code == 0:
        return {"st": "ok"}
    return {"st": "exit", "msg": "exited with status %d before the judge got a result" % code}


def _one_run(job, start, send):
    """Run cases from `start` in one child until it ends; returns the index of the next case to run."""
    nonce = os.urandom(16).hex()
    pid, r, out_fd, err_fd = _start_run(job, start, nonce)
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    wall, i, buf, offs, killed = float(job["wall_s"]), start, b"", [0, 0], False
    end = start + 1 if job["kind"] == "stdin" else _len(job["cases"])
    case_t0 = time.monotonic()
    status = rusage = None
    r_open = True  # at EOF (the run's processes closed it) the pipe stays readable: stop selecting it
    while True:
        left = case_t0 + wall - time.monotonic()
        wait = ([r] if r_open else []) + ([pidfd] if pidfd is not None else [])
        select.select(wait, [], [], max(0.0, min(left, 1.0 if pidfd is not None else 0.005)))
        if r_open:
            data, r_open = _drain(r)
            buf += data
        while b"\n" in buf and i < end:
            line, buf = buf.split(b"\n", 1)
            frame = _case_frame(job, i, line, nonce, out_fd, err_fd, offs)
            send(frame)
            if frame.get("stop"):  # the code itself failed (syntax, module-level error): so does every case
                for k in _range(i + 1, _len(job["cases"])):
                    send(dict(frame, i=k, out="", ms=0.0))
                i = end = _len(job["cases"])
                break
            i, case_t0 = i + 1, time.monotonic()
        if status is not None:
            break
        got, st, ru = os.wait4(pid, os.WNOHANG)
        if got:
            status, rusage = st, ru  # one more pass drains what it wrote just before exiting
        elif time.monotonic() > case_t0 + wall or _len(buf) > MAX_FRAME + 2:
            killed = killed or time.monotonic() > case_t0 + wall
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:  # already gone, or it left its process group
                    pass
    if i < end:  # the case in progress never reported
        out, size = _output(out_fd, offs[0])
        err, esize = _output(err_fd, offs[1])
        send(dict(_died(job, status, rusage, killed, max(size, esize)), i=i, out=out, err=err[-4096:],
                  ms=(time.monotonic() - case_t0) * 1e3))
        i += 1
    for fd in (r, out_fd, err_fd) + ((pidfd,) if pidfd is not None else ()):
        os.close(fd)
    _kill_others(os.getpid())
    return i


def _drain(fd):
    """(bytes available now, False at EOF); stops after MAX_FRAME so a flood cannot pin the worker."""
    chunks, size = [], 0
    while size <= MAX_FRAME:
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            return b"".join(chunks), True
        if not data:
            return b"".join(chunks), False
        chunks.append(data)
        size += _len(data)
    return b"".join(chunks), True


def _case_frame(job, i, line, nonce, out_fd, err_fd, offs):
    """Turn the child's report line for case i into the frame sent to the supervisor."""
    try:
        rep = _loads(line)
        if _type(rep) is not dict or rep.get("i") != i:
            rep = {"garbled": "report for the wrong case"}
    except (ValueError, RecursionError, MemoryError) as e:
        rep = {"garbled": _type(e).__name__}
    ends = rep.get("off") if _type(rep.get("off")) is list and _len(rep["off"]) == 2 else [None, None]
    outs = []
    for k, fd in enumerate((out_fd, err_fd)):
        size = os.fstat(fd).st_size
        end = ends[k] if _type(ends[k]) is int and offs[k] <= ends[k] <= size else size
        outs.append(os.pread(fd, min(end - offs[k], OUT_LIMIT), offs[k]).decode("utf-8", "replace"))
        offs[k] = end
    base = {"i": i, "out": outs[0], "err": outs[1][-4096:]}
    if max(os.fstat(out_fd).st_size, os.fstat(err_fd).st_size) >= OUT_LIMIT:
        return dict(base, st="output", msg="output over %d bytes" % OUT_LIMIT)
    if "garbled" in rep:
        return dict(base, st="protocol", msg="garbled report from the run (%s); tampering?" % rep["garbled"])
    base["ms"] = rep.get("ms") if _type(rep.get("ms")) in (int, float) else None
    if "syntax" in rep:
        return dict(base, st="syntax", msg=str(rep["syntax"])[:4096], stop=True)
    if "missing" in rep:
        return dict(base, st="missing", msg=str(rep["missing"])[:4096], stop=True)
    if rep.get("too_big"):
        return dict(base, st="output", msg="returned value too large to serialize")
    if rep.get("exc"):
        return dict(base, st="exc", exc=str(rep["exc"]), exit=rep.get("exit"), stop=bool(rep.get("all")))
    mode = job["cases"][i]["mode"]
    if mode in ("stmt", "check") and rep.get("nonce") != nonce:
        return dict(base, st="protocol", msg="report without the run's nonce; tampering?")
    return dict(base, st="ok", v=rep.get("v"))


def _reap_all():
    """As the jail's child subreaper, every leftover process is our descendant: SIGKILL them all and
    reap until none is left (kill(-1) spares only us and the namespace's init). True when kill(-1)
    found no process at all (ESRCH; processes it may not signal still count as found)."""
    try:
        os.kill(-1, signal.SIGKILL)
        none = False
    except ProcessLookupError:  # ESRCH: nothing in the jail but us and its init
        none = True
    except OSError:
        none = False
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return none
        except InterruptedError:
            continue


def _kill_others(me, verify=False):
    """Kill every other process of this uid in the jail's pid namespace; True when none is left."""
    if os.environ.get("CTRL_SANDBOX_JAILED") != "1":
        return True  # isolation "none": kill(-1) would hit every process of the invoking user
    if SUBREAPER[0]:
        # kill(-1) sees exactly the processes of this pid namespace the scan below would find: when it
        # found none (the usual sample leaves nothing behind), there is nothing to scan /proc for
        if _reap_all() or not verify:
            return True
    uid = os.getuid()
    for _ in _range(400):
        others = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) not in (me, 1) and _proc_uid(name) == uid:  # 1: jail init
                others.append(int(name))
        if not others:
            return True
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.005)
    return False


SUBREAPER = [False]


def _clean(me):
    """Kill every other process of this uid in the jail, then empty the home; True when clean."""
    if not _kill_others(me, verify=True):
        return False
    home = os.environ.get("HOME", ".")
    try:
        _wipe(home)
        return not os.listdir(home)
    except (OSError, RecursionError):  # e.g. 5000 nested dirs: report dirty, the jail gets restarted
        return False


def _wipe(path):
    """Empty a directory the candidate may have chmod'ed to 0 (we own everything in it)."""
    os.chmod(path, 0o700)
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            _wipe(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def _proc_uid(pid):
    """Real uid of a live process; None when it is gone or a zombie (the jail's init reaps those)."""
    try:
        with open("/proc/%s/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f.read(1024).splitlines() if ":" in line)
    except OSError:  # the process is already gone
        return None
    if fields.get("State", "").strip().startswith("Z") or "Uid" not in fields:
        return None
    return int(fields["Uid"].split()[0])


def main():
    pin, pout = os.dup2(0, 250), os.dup2(1, 251)  # out of the way of fds 0-3
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE=0: candidates can't open /proc/<us>/fd or our memory
        SUBREAPER[0] = libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER: orphans come to us
    except (OSError, AttributeError):
        pass  # then _kill_others scans /proc instead; the self-test still proves the jail

    def send(frame):
        _write_all(pout, (_dumps(frame) + "\n").encode())

    # Modules candidates and tests commonly import, loaded once here so each fork gets them for free
    # (typing alone costs ~10 ms per fresh import); a child that patches one only patches its copy.
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:  # not in this Python build; candidates then import what exists
            pass
    _STDIO[:] = stdio()  # over our fds 0-2 (/dev/null), never used here: each run uses its own copy
    me = os.getpid()
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    send({"ready": True, "uid": os.getuid(), "clean": _clean(me), "pid": me,
          **{k: status.get(k, "").strip() for k in ("Seccomp", "CapEff", "NoNewPrivs")}})
    reader = io.open(pin, "rb", buffering=1 << 16)
    clean = True
    for line in reader:
        job = _loads(line)
        if not clean:  # leftovers of the previous sample survived: refuse, the supervisor restarts us
            send({"fatal": "processes of the previous sample survived cleanup; restart the jail"})
            return
        if job.get("op") == "ping":
            send({"pong": True})
            continue
        _precompile(job)  # before the ack: if this fails, it is our fault, not the candidate's
        send({"ack": True})
        try:
            _serve_job(job, pout)
            clean = _clean(me)
        except BaseException:
            send({"fatal": traceback.format_exc()[-4096:]})
            raise


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


FLUSH_S = 0.05  # case frames are sent in batches, at most this long after the previous batch


def _serve_job(job, pout):
    """Run every case of a job, sending its frames and then {"end"} on pout.

    Frames go out in batches (one write and one supervisor wake-up per job for quick samples, not one
    per case); a batch is sent as soon as FLUSH_S has passed since the last, so the supervisor, whose
    deadline is the wall limit plus 3 s after the last frame, hears from us after at most one case.
    """
    n = _len(job["cases"])
    pending, timed_out, last = [], [], [time.monotonic()]

    def flush():
        _write_all(pout, b"".join(pending))
        del pending[:]
        last[0] = time.monotonic()

    def send_case(frame):
        pending.append((_dumps(frame) + "\n").encode())
        if frame.get("st") == "timeout":
            timed_out.append(frame["i"])
        if frame.get("i") == n - 1:  # answer now; reaping and cleanup overlap the supervisor's work
            pending.append(b'{"end": true}\n')
            flush()
        elif time.monotonic() - last[0] > FLUSH_S:
            flush()
    if n == 0:  # nothing to run (the supervisor does not send these; never leave it waiting)
        pending.append(b'{"end": true}\n')
    try:
        i = 0
        while i < n:
            if timed_out and job.get("stop_on_timeout", True):
                # A program that looped once most likely loops again: do not pay the wall limit per case
                for k in _range(i, n):
                    send_case({"i": k, "st": "timeout", "out": "", "err": "", "ms": 0.0,
                               "msg": "not run: an earlier case timed out"})
                break
            i = _one_run(job, i, send_case)
    finally:
        if pending:  # what was judged before a failure still reaches the supervisor
            flush()

if __name__ == "__main__":
    main()
