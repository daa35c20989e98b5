"""The jailed worker W: a small server that runs inside firejail as one slot user.

It is started as `/usr/bin/python3 -s -P` with the concatenated sources of codec, fence, guard, child,
zygote and this file (read by a one-line loader). Before it reads any job it forks the zygote Z
(zygote.py), the only process candidates are ever forked from. Then it reads one job per line on
fd 0 and answers one JSON frame per case on fd 1, then `{"end": ...}`.

Per run (all the value cases of an item, or one stdin case) W asks Z for a candidate process C and,
for value items, forks a test process T (child.py) that judges the cases through the wire to C.
W enforces each case's wall-clock limit, kills C and T when it passes (or when the supervisor asks
it to stop, in reward mode), turns what T reported and what C left in its output files into frames,
and after each item wipes the home (files, xattrs, mode, mtime) and checks that nothing of the
sample survived. W, Z and T are not dumpable and never run candidate code; C cannot signal, trace
or re-limit them (fence.py), so nothing a candidate does reaches the verdicts of other samples.

Expected values never enter the jail for stdin outputs, call results and `assert EXPR == LITERAL`:
frames carry what the candidate printed or returned and the supervisor (outside) decides.
"""

import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback

if "zygote_main" not in globals():  # run as a module (tests); in the jail the sources are concatenated
    from sandbox.child import _TEST_CODE, MAX_FRAME, OUT_LIMIT, t_cpu_limit, test_main  # noqa: F401
    from sandbox.codec import DecodeError, decode  # noqa: F401
    from sandbox.zygote import zygote_main  # noqa: F401

TEST_CODE_CHARS = 4 << 20  # bound on the test sources kept compiled
_CACHED = [0]
DISPLAY = 4096  # characters of a value case's stdout/stderr kept in its frame
DIRTY = [False]


def _precompile(job):
    """Compile the job's test code here so forked test processes reuse it. Only the current item's
    tests are kept: the cache is dropped when an item with other tests arrives (GRPO judges the
    samples of one problem back to back, so they still share it). It lives in W and T only;
    candidates are forked from the zygote, which never held any."""
    todo = [(job.get("setup"), "<test setup>", "exec")]
    for case in job["cases"]:
        mode = case.get("mode")
        src = case.get({"expr": "expr", "stmt": "src", "check": "test"}.get(mode, ""), "")
        todo.append((src, "<test>", "eval" if mode == "expr" else "exec"))
    if any(key[0] and key not in _TEST_CODE for key in todo):
        _TEST_CODE.clear()
        _CACHED[0] = 0
    for key in todo:
        if not key[0] or key in _TEST_CODE:
            continue
        if _CACHED[0] + len(key[0]) > TEST_CODE_CHARS:
            _TEST_CODE.clear()
            _CACHED[0] = 0
        _CACHED[0] += len(key[0])
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)  # test code may hold huge int literals; nothing else here may
        try:
            _TEST_CODE[key] = compile(*key)
        except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
            continue  # left uncached: T compiles it again and reports the error for its case
        finally:
            sys.set_int_max_str_digits(limit)


def _tmpfile(data=b""):
    """An anonymous file for a run's stdio/code/arguments: a memfd, not a file in the home, which
    the candidate may chmod or fill (its writes are still charged to its own cgroup)."""
    fd = os.memfd_create("ctrl-run", os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


class Lines:
    """A line reader over a raw fd that stays linear however the bytes arrive."""

    def __init__(self, fd, limit=MAX_FRAME + 4096):
        self.fd, self.buf, self.scanned, self.limit, self.eof = fd, b"", 0, limit, False

    def fill(self):
        try:
            data = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return
        if not data:
            self.eof = True
        self.buf += data

    def pop(self):
        nl = self.buf.find(b"\n", self.scanned)
        if nl < 0:
            self.scanned = len(self.buf)
            if len(self.buf) > self.limit:
                raise ValueError("line over %d bytes" % self.limit)
            return None
        line, self.buf, self.scanned = self.buf[:nl], self.buf[nl + 1:], 0
        return line


class Run:
    """One candidate process (and, for value items, one test process) running cases[start:]."""

    def __init__(self, job, start, zsock):
        self.job, self.start, self.zsock = job, start, zsock
        self.value = job["kind"] != "stdin"
        case = job["cases"][start]
        self.direct = self.value and bool(job.get("direct"))  # C runs the calls itself, no T
        self.files = {"in": _tmpfile(case.get("input", "").encode() if not self.value else b""),
                      "out": _tmpfile(), "err": _tmpfile()}
        if self.value and not self.direct:
            self.files["terr"] = _tmpfile()
        self.offs = {"out": 0, "err": 0, "terr": 0}
        code_fd = _tmpfile(job["code"].encode("utf-8", "replace"))
        n = len(job["cases"]) - start if self.value else 1
        req = {"mode": "direct" if self.direct else "value" if self.value else "program",
               "memory_mb": job["memory_mb"], "cpu_s": int(float(job["time_limit_s"]) * n + 0.999) + 1,
               "entry": job.get("entry"), "names": job.get("names") or []}
        self.cpu_limit = req["cpu_s"]
        send = [self.files["in"], self.files["out"], self.files["err"], code_fd]
        mine = []
        self.tpid = self.tfd = self.report = None
        if self.direct:  # fd 4: the cases' arguments (inputs only), fd 5: C's reports, one line per case
            args_fd = _tmpfile(json.dumps([c["args"] for c in job["cases"][start:]]).encode())
            r, c_w = os.pipe()
            send += [args_fd, c_w]
            mine = [args_fd, c_w]
            os.set_blocking(r, False)
            self.report = Lines(r)
        elif self.value:
            c_r, t_w = os.pipe()
            t_r, c_w = os.pipe()
            send += [c_r, c_w]
            mine = [c_r, c_w]
        else:
            st_r, st_w = os.pipe()
            send.append(st_w)
            mine = [st_w]
            self.status = Lines(st_r, 1 << 16)  # the candidate can write here: a short line or nothing
        go_r, go_w = os.pipe()
        req["go_fd"] = len(send)
        send.append(go_r)
        mine.append(go_r)
        socket.send_fds(zsock, [json.dumps(req).encode()], send)
        os.close(code_fd)
        msg, fds, _, _ = socket.recv_fds(zsock, 4096, 1)
        self.cpid, self.cfd = json.loads(msg)["pid"], fds[0]
        for fd in mine:
            os.close(fd)
        # C waits for its limits: set them from here (the fence keeps it from changing them)
        for res, val in ((resource.RLIMIT_AS, int(job["memory_mb"]) << 20), (resource.RLIMIT_CPU, req["cpu_s"]),
                         (resource.RLIMIT_FSIZE, OUT_LIMIT), (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0)):
            resource.prlimit(self.cpid, res, (val, val))
        os.write(go_w, b"g")
        os.close(go_w)
        if self.value and not self.direct:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    os.dup2(self.files["terr"], 1)
                    os.dup2(self.files["terr"], 2)
                    os.dup2(w, 3)
                    os.dup2(t_r, 4)
                    os.dup2(t_w, 5)
                    os.closerange(6, 1 << 16)
                    test_main(job, start, 4, 5)
                finally:
                    os._exit(70)
            os.close(w)
            os.close(t_r)
            os.close(t_w)
            os.set_blocking(r, False)
            self.tpid, self.tfd, self.report = pid, os.pidfd_open(pid), Lines(r)
        self.exit = None  # Z's report on C
        self.held = None  # T's report that C ended, until Z says how
        self.mark = time.monotonic()
        self.tstatus, self.tcpu = None, None
        self.killed = False

    def kill(self):
        for fd in (self.cfd, self.tfd):
            if fd is not None:
                try:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                except OSError:  # already gone
                    pass

    def read_exit(self):
        data = self.zsock.recv(4096)
        self.exit = json.loads(data) if data else {"status": None, "gone": True}
        if not data:
            DIRTY[0] = True  # the zygote is gone: restart the jail after this item
        elif self.exit.get("leftovers"):  # C is gone; T (if any) is ours and goes on
            kill_leftovers(self.zsock, KEEP | ({self.tpid} if self.tpid and self.tstatus is None else set()))

    def reap_t(self, block=False):
        """T's exit status (and CPU seconds), once it has ended."""
        if self.tpid is not None and self.tstatus is None:
            pid, status, ru = os.wait4(self.tpid, 0 if block else os.WNOHANG)
            if pid:
                self.tstatus, self.tcpu = status, ru.ru_utime + ru.ru_stime

    def output(self, name, cap):
        fd = self.files[name]
        size = os.fstat(fd).st_size
        data = os.pread(fd, min(size - self.offs[name], cap), self.offs[name]) if size > self.offs[name] else b""
        more = max(0, size - self.offs[name] - cap)
        self.offs[name] = size
        return data.decode("utf-8", "replace"), more, size

    def close(self):
        if self.exit is None:
            self.kill()
            self.read_exit()
        if self.tpid is not None:
            if self.tstatus is None:
                self.kill()
                self.reap_t(block=True)
            os.close(self.tfd)
        if self.report is not None:
            os.close(self.report.fd)
        if not self.value:
            os.close(self.status.fd)
        os.close(self.cfd)
        for fd in self.files.values():
            os.close(fd)


KEEP = set()  # the jail's own processes: its init, the shell firejail runs us under, W, Z


def kill_leftovers(zsock, keep):
    """SIGKILL every process of the jail but `keep` (what a candidate left behind: Z's orphans)
    until Z, which reaps them, says none is left. W is outside the sample's cgroup, so a fork bomb
    throttled to one CPU does not slow this down."""
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if select.select([zsock], [], [], 0)[0]:
            if zsock.recv(4096):
                return
            DIRTY[0] = True
            return
        kill_all(keep)
        select.select([zsock], [], [], 0.002)
    DIRTY[0] = True  # something survives SIGKILL: restart the jail


def kill_all(keep):
    """SIGKILL every process of the sample (the candidate and what it left) but `keep`."""
    for pid in _orphans(keep):
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


def _signal_frame(run, status, cpu, who):
    """Why a process ended without reporting the case in progress, from what the worker observed."""
    if run.killed:
        return {"st": "timeout", "msg": "killed after the wall-clock limit"}
    if status is None:  # the cgroup's OOM killer may pick the zygote too: the supervisor tells
        return {"st": "sigkill", "msg": "the zygote went away while the case ran"}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        limit = run.cpu_limit if who == "the program" else t_cpu_limit(run.job)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu is not None and cpu >= limit * 0.98):
            return {"st": "timeout", "msg": "CPU time limit exceeded"}
        if sig == signal.SIGKILL:  # the cgroup's OOM killer, or someone outside: the supervisor tells
            return {"st": "sigkill", "msg": "%s killed by SIGKILL" % who}
        return {"st": "signal", "msg": "%s killed by signal %d (%s)" % (who, sig, signal.Signals(sig).name)}
    return {"st": "exit", "msg": "exited with status %d before the judge got a result" % os.WEXITSTATUS(status)}


def _frame(run, i, rep):
    """The frame for case i from T's report `rep` (a dict) plus the output the case left."""
    cap = run.job["cases"][i].get("out_cap", DISPLAY) if not run.value else DISPLAY
    out, more, osize = run.output("out", cap)
    err, _, esize = run.output("err", 1 << 16)
    if "terr" in run.files:
        terr, _, _ = run.output("terr", 1 << 16)
        err = err + terr
    frame = {"i": i, "out": out, "err": err[-DISPLAY:], "more": more}
    ms = rep.get("ms")
    frame["ms"] = ms if type(ms) in (int, float) and 0 <= ms < 1e9 else None
    if max(osize, esize) >= OUT_LIMIT:
        return dict(frame, st="output", msg="output over %d bytes" % OUT_LIMIT)
    if "syntax" in rep:
        return dict(frame, st="syntax", msg=str(rep["syntax"])[:DISPLAY], stop=True)
    if "missing" in rep:
        return dict(frame, st="missing", msg=str(rep["missing"])[:DISPLAY], stop=True)
    if rep.get("too_big"):
        return dict(frame, st="output", msg="returned value too large to serialize")
    if "exc" in rep:
        return dict(frame, st="exc", exc=str(rep["exc"])[:200] or "Exception", msg=str(rep.get("msg", ""))[:500],
                    stop=bool(rep.get("all")), setup=bool(rep.get("setup")))
    if "v" in rep:
        return dict(frame, st="ok", v=rep["v"])
    return dict(frame, st="ok", done=True)


def _one_run(job, start, send, zsock, ctl):
    """Run cases from `start` until the run ends; returns (index of the next case to run, stopped)."""
    run = Run(job, start, zsock)
    wall, i = float(job["wall_s"]), start
    end = len(job["cases"]) if run.value else start + 1
    case_t0, stopped = time.monotonic(), False
    try:
        while i < end:
            now = time.monotonic()
            if not run.killed and now > case_t0 + wall:
                run.killed = True
                run.kill()
            if run.killed and run.exit is None:
                # Z, in the sample's cgroup, reports C's end only once it gets memory and CPU there:
                # what C left (e.g. forks filling the memory limit) goes now, not after Z's report
                kill_all(KEEP | ({run.tpid} if run.tpid and run.tstatus is None else set()))
            if run.exit is not None and (not run.value or run.direct or run.killed or _signaled(run.exit)):
                if run.value:  # C ended: (T cannot finish the case;) what was reported before still counts
                    run.kill()
                    run.report.fill()
                    i = _pump_reports(run, job, i, send)
                break
            if run.held is not None and run.exit is not None and not _signaled(run.exit):
                # C ended by itself (an exit): T's report stands
                frame = _frame(run, i, run.held)
                send(frame)
                for k in range(i + 1, len(job["cases"])):
                    send(dict(frame, i=k, out="", err="", ms=0.0))
                i = len(job["cases"])
                break
            if run.value and not run.direct and run.report.eof and not run.report.buf and run.held is None:
                break  # T ended (after its last report, or died)
            if run.killed and now > case_t0 + wall + 10:
                raise RuntimeError("the zygote did not report a killed candidate within 10 s")
            wait = [ctl.fd] + ([zsock] if run.exit is None else []) + \
                ([run.report.fd] if run.value and not run.report.eof else [])
            timeout = 0.5 if run.killed else max(0.0, min(case_t0 + wall - now, FLUSH_S))
            ready = select.select(wait, [], [], timeout)[0]
            send.tick()
            if ctl.fd in ready and _stop_requested(ctl, job):
                run.kill()
                stopped = True
                break
            if zsock in ready:
                run.read_exit()
            if run.value and run.report.fd in ready:
                run.report.fill()
                j = _pump_reports(run, job, i, send)
                if j > i:
                    i, case_t0 = j, time.monotonic()
        if stopped or i >= end:
            return i, stopped
        ms = (time.monotonic() - case_t0) * 1e3
        if run.killed or (run.exit is not None and (_signaled(run.exit) or not run.value or run.direct)):
            if run.exit is None:
                run.kill()
                run.read_exit()
            status, cpu, who = run.exit.get("status"), run.exit.get("cpu"), "the program"
            if not run.value and not run.killed and status is not None and os.WIFEXITED(status):
                run.status.fill()
                try:  # the candidate can write here too: junk only loses the detail
                    line = run.status.pop()
                    rep = json.loads(line) if line else {}
                except (ValueError, RecursionError):
                    rep = {}
                if type(rep) is dict and "syntax" in rep:
                    for k in range(i, len(job["cases"])):
                        send(_frame(run, k, {"syntax": rep["syntax"]}))
                    return len(job["cases"]), False
                if os.WEXITSTATUS(status) == 0:
                    send(_frame(run, i, {"done": True, "ms": ms}))
                    return i + 1, False
                if type(rep) is dict and rep.get("exc") == "MemoryError":
                    send(_frame(run, i, {"exc": "MemoryError", "ms": ms}))
                    return i + 1, False
        else:  # T ended without reporting the case while C was still up
            run.kill()
            run.reap_t(block=True)
            status, cpu, who = run.tstatus, run.tcpu, "the test process"
        frame = _frame(run, i, {"ms": ms})
        send(frame if frame["st"] == "output" else dict(frame, **_signal_frame(run, status, cpu, who)))
        return i + 1, False
    finally:
        run.close()


def _signaled(exit):
    st = exit.get("status")
    return st is None or os.WIFSIGNALED(st)


def _pump_reports(run, job, i, send):
    """Send a frame for every complete report line T has written; returns the next case index."""
    while True:
        try:
            line = run.report.pop()
        except ValueError:
            line = b'{"exc": "TestProcessError", "msg": "report line too long"}'
        if line is None:
            return i
        try:
            rep = json.loads(line)
        except (ValueError, RecursionError):
            rep = {"exc": "TestProcessError", "msg": "unreadable report"}
        if type(rep) is not dict:
            rep = {"exc": "TestProcessError", "msg": "unreadable report"}
        if run.direct:  # written by the candidate's process: a value, or its own failure, nothing else
            rep = {k: rep[k] for k in ("v", "exc", "too_big", "syntax", "missing", "all") if k in rep}
            rep.setdefault("v", None)
            try:  # only a value of the tagged format, within the decode budget, goes on to the judge
                decode(rep["v"])
            except (DecodeError, RecursionError, MemoryError, TypeError, ValueError):
                rep = {"exc": "UnreadableValue", "msg": "the reported value is not plain data within "
                       "the judge's size, depth and hash budgets"}
        if rep.get("ended") and (run.exit is None or _signaled(run.exit)):
            run.held = rep  # C's process ended: how (a signal, an exit) decides the case; Z will tell
            return i
        if run.direct:  # the time is ours: since the previous report (or the run's start)
            now = time.monotonic()
            rep["ms"] = (now - run.mark) * 1e3
            run.mark = now
        frame = _frame(run, i, rep)
        send(frame)
        if frame.get("stop"):
            for k in range(i + 1, len(job["cases"])):
                send(dict(frame, i=k, out="", err="", ms=0.0))
            return len(job["cases"])
        i += 1
        if i >= len(job["cases"]):
            return i


def _stop_requested(ctl, job):
    ctl.fill()
    stop = False
    while True:
        line = ctl.pop()
        if line is None:
            return stop
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if type(msg) is dict and msg.get("op") == "stop" and msg.get("job") == job.get("seq"):
            stop = True


def _serve_job(job, send_raw, zsock, ctl):
    """Run every case of a job, sending its frames and then {"end"}.

    Frames go out in batches (one write per job for quick samples): a pending batch is sent once
    FLUSH_S has passed since the last, also while a slow case runs (`send_case.tick`, called from
    the run loop), so the supervisor, which stops a reward-mode job at its first failing case,
    hears of a failure within FLUSH_S."""
    n = len(job["cases"])
    pending, timed_out, last = [], [], [time.monotonic()]

    def flush():
        if pending:
            send_raw(b"".join(pending))
            del pending[:]
        last[0] = time.monotonic()

    def send_case(frame):
        pending.append((json.dumps(frame) + "\n").encode())
        if frame.get("st") == "timeout":
            timed_out.append(frame["i"])
        tick()

    def tick():
        if pending and time.monotonic() - last[0] > FLUSH_S:
            flush()
    send_case.tick = tick
    stopped = False
    i = 0  # an exception here reaches main(): `fatal` before any `end`, and the job is judged again
    while i < n and not stopped:
        if timed_out and job.get("stop_on_timeout", True):
            for k in range(i, n):  # a program that looped once most likely loops again
                send_case({"i": k, "st": "timeout", "out": "", "err": "", "ms": 0.0,
                           "msg": "not run: an earlier case timed out"})
            break
        i, stopped = _one_run(job, i, send_case, zsock, ctl)
    pending.append((json.dumps({"end": True, "stopped": stopped}) + "\n").encode())
    flush()


FLUSH_S = 0.05


def _wipe(path):
    """Empty a directory the candidate may have chmod'ed to 0 (we own everything in it)."""
    os.chmod(path, 0o700)
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            _wipe(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def _orphans(keep):
    """What a sample left: in the jail, every process but `keep`; unjailed (isolation "none", the
    host's /proc), the zygote's children (it is the subreaper: the sample's orphans are its own)."""
    if os.environ.get("CTRL_SANDBOX_JAILED") == "1":
        return _strays(keep)
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read(512)
                if int(stat[stat.rindex(b")") + 2:].split()[1]) == ZPID[0]:
                    out.append(int(name))
            except (OSError, ValueError, IndexError):
                continue
    return out


ZPID = [0]


def _strays(keep):
    if os.environ.get("CTRL_SANDBOX_JAILED") != "1":
        return []  # isolation "none": /proc is the host's; the zygote reaped the sample's processes
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in keep]


def _describe(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return "%d %s" % (pid, f.read(200).split(")")[0].split("(")[-1])
    except OSError:
        return str(pid)


def _clean(keep):
    """Fresh home (no files, xattrs, mode or mtime left by the sample) and no stray process."""
    if _strays(keep):
        return False
    home = os.environ.get("HOME", ".")
    try:
        _wipe(home)
        for name in os.listxattr(home):
            os.removexattr(home, name)
        os.utime(home, (0, 0))
        return not os.listdir(home)
    except (OSError, RecursionError):  # e.g. 5000 nested dirs: report dirty, the jail gets restarted
        return False


def main():
    pin, pout = os.dup2(0, 250), os.dup2(1, 251)  # out of the way of the fds runs use
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    libc = ctypes.CDLL(None)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE=0 (inherited by Z, T, C): no /proc/<pid>/mem, fd, environ
    wsock, zsock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    zpid = os.fork()
    if zpid == 0:  # the zygote: forked before any job exists in this process
        try:
            wsock.close()
            os.close(pin)
            os.close(pout)
            os.closerange(3, zsock.fileno())
            os.closerange(zsock.fileno() + 1, 1 << 16)
            zygote_main(zsock)
        finally:
            os._exit(0)
    zsock.close()
    wsock.settimeout(30)  # a zygote that stops answering is our failure: fatal, the jail restarts
    fence_state = json.loads(wsock.recv(4096) or b'{"fence": "zygote did not start"}')["fence"]

    def send_raw(data):
        while data:
            data = data[os.write(pout, data):]

    def send(frame):
        send_raw((json.dumps(frame) + "\n").encode())

    me = os.getpid()
    keep = {1, os.getppid(), me, zpid}  # the jail's init, the shell firejail runs us under, us, Z
    KEEP.update(keep)
    ZPID[0] = zpid
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    try:
        ifaces = sorted(os.listdir("/sys/class/net"))
    except OSError:
        ifaces = None
    send({"ready": True, "uid": os.getuid(), "clean": _clean(keep), "pid": me, "zygote": zpid, "ifaces": ifaces,
          "fence": fence_state, **{k: status.get(k, "").strip() for k in ("Seccomp", "CapEff", "NoNewPrivs")}})
    ctl = Lines(pin, 1 << 30)
    clean = True
    while True:
        line = ctl.pop()
        if line is None:
            if ctl.eof:
                return
            ctl.fill()
            continue
        job = json.loads(line)
        if job.get("op") == "stop":
            continue  # a stop that arrived after its job ended
        if not clean:  # leftovers of the previous sample survived: refuse, the supervisor restarts us
            send({"fatal": "the previous sample left processes or files behind (%s); restart the jail"
                  % ",".join(_describe(p) for p in _strays(keep)[:5])})
            return
        if job.get("op") == "ping":
            send({"pong": True})
            continue
        _precompile(job)  # before the ack: if this fails, it is our fault, not the candidate's
        send({"ack": True})
        try:
            _serve_job(job, send_raw, wsock, ctl)
            clean = _clean(keep) and not DIRTY[0]
        except BaseException:
            send({"fatal": traceback.format_exc()[-4096:]})
            raise


if __name__ == "__main__":
    main()
