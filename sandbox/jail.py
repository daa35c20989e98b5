"""Jail slots: one warm firejail per worker slot, each run as its own unprivileged user.

A `Slot` starts `/usr/bin/python3 -s -P` running codec/guard/child/worker.py inside firejail as `ctrl-sbx<N>`
(created by `setup_host.sh`), with a clean environment and a size-bounded tmpfs as the only writable
place (its home). It sends jobs over the worker's stdin and reads one JSON line per case back, with
its own deadline on top of the worker's: a worker that stalls or dies is killed with every process
of its uid and started again on the next job. Needs root (to switch to the slot users and mount the
home); `isolation="none"` runs the same worker as the current user with rlimits only.
"""

from __future__ import annotations

import json
import logging
import os
import fcntl
import pathlib
import pwd
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time

from sandbox import cgroup

log = logging.getLogger("sandbox")

BASE = "/var/lib/ctrl-sandbox"
PYTHON = "/usr/bin/python3"
MAX_SLOTS = 8
# How long past a case's wall the supervisor waits for the worker's frame before it calls the jail
# stuck: the worker's own bounds (10 s for the zygote's report of a killed candidate, 8 s to kill
# what it left) plus slack for a loaded machine. Only a failed judge ever waits this long.
GRACE_S = 25
HOME_MB = 128  # size of each slot's tmpfs home: bounds what a candidate can write
NPROC = 160  # processes per slot uid, host-wide: a backstop; the sample's own bound is its cgroup's pids.max
HIDDEN = ["/home", "/root", "/mnt", "/media", "/srv", "/opt", "/run/user", "/var/mail", "/var/spool",
          "/var/log", "/var/backups", "/var/cache", "/boot", "/run/dbus", "/run/systemd", "/run/postgresql",
          "/run/mysqld", "/run/docker", "/run/containerd", "/run/xpra", "/run/screen", "/run/sshd"]
READ_ONLY = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"]
_HERE = pathlib.Path(__file__).resolve().parent


class SandboxUnavailable(RuntimeError):
    """Isolation cannot be set up or proven; the message says what to do."""


class SlotFailure(RuntimeError):
    """The jailed worker stalled or died; `frames` holds what it reported before that."""

    def __init__(self, msg, frames, acked):
        super().__init__(msg)
        self.frames, self.acked = frames, acked


def worker_source() -> str:
    return "\n".join((_HERE / f).read_text() for f in ("codec.py", "fence.py", "guard.py", "child.py", "zygote.py",
                                                        "worker.py"))


def firejail_path() -> str | None:
    return shutil.which("firejail", path="/usr/bin:/usr/local/bin:/bin")


def slot_user(index: int) -> str:
    return f"ctrl-sbx{index}"


def firejail_argv(home: str) -> list[str]:
    """The firejail command line for one slot (see the threat model in sandbox/__init__.py)."""
    argv = [firejail_path() or "firejail", "--quiet", "--noprofile", "--net=none", "--private-tmp",
            "--private-dev", "--caps.drop=all", "--nonewprivs", "--noroot", "--seccomp", "--nogroups",
            "--ipc-namespace", "--disable-mnt", "--nosound", "--no3d", "--novideo", "--nou2f",
            "--machine-id", "--hostname=sandbox", "--read-only=/", f"--read-write={home}",
            f"--rlimit-nproc={NPROC}", "--rlimit-nofile=256", f"--rlimit-fsize={HOME_MB << 20}"]
    argv += [f"--read-only={p}" for p in READ_ONLY if os.path.exists(p)]
    hide = HIDDEN + [os.getcwd(), str(_HERE.parent)]
    for p in dict.fromkeys(hide):
        if os.path.isdir(p) and not _is_system_dir(p) and not BASE.startswith(p.rstrip("/") + "/"):
            argv.append(f"--blacklist={p}")
    # --net=none does not cover unix sockets on the filesystem (docker.sock, dbus, databases): hide them
    argv += [f"--blacklist={p}" for p in _host_sockets()]
    return argv + ["--"]


def _host_sockets() -> list[str]:
    """Unix socket files under /run, /var/run and /tmp (3 levels deep) that a jail must not reach."""
    found = []
    for top in ("/run", "/var/run", "/tmp"):
        for root, dirs, files in os.walk(top):
            depth = root[len(top):].count("/")
            if depth >= 3 or os.path.realpath(root).startswith(BASE):
                dirs[:] = []
            for name in files + dirs:
                path = os.path.join(root, name)
                try:
                    if stat.S_ISSOCK(os.lstat(path).st_mode) and "," not in path:
                        found.append(path)
                except OSError:  # vanished while we looked
                    continue
    return sorted(set(found))


def _is_system_dir(p: str) -> bool:
    p = os.path.realpath(p)
    return p == "/" or p.startswith(("/usr", "/lib", "/bin", "/etc", "/proc", "/sys", "/dev"))


def uid_processes(uid: int) -> list[int]:
    """Live (non-zombie) host pids whose real uid is `uid` (slot users own nothing else)."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status") as f:
                    head = f.read(1024)
            except OSError:  # exited while we looked
                continue
            fields = dict(line.split(":", 1) for line in head.splitlines() if ":" in line)
            uids = fields.get("Uid", "").split()
            if uids and int(uids[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
                pids.append(int(name))
    return pids


def _real_uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(ln for ln in f if ln.startswith("Uid:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return None


def _kill_if_uid(pid: int, uid: int) -> None:
    """SIGKILL `pid` only while it is still a process of `uid`.

    pid_max can be 32768 and every sample forks, so between the /proc scan and the kill a listed
    pid may exit and be reused by another slot's candidate (seen as a stray SIGKILL mid-run). A pidfd
    pins one process: the uid is checked after pinning, and the signal can only reach that process.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # kernel without pidfd (< 5.3): best effort, re-checked uid
        if _real_uid(pid) == uid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return
    try:
        if _real_uid(pid) == uid:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


def kill_uid(uid: int, timeout: float = 5.0, spare: int | None = None) -> None:
    """SIGKILL every process of `uid` but `spare` until none is left (fork bombs keep forking a while)."""
    deadline = time.monotonic() + timeout
    while pids := [p for p in uid_processes(uid) if p != spare]:
        for pid in pids:
            _kill_if_uid(pid, uid)
        if time.monotonic() > deadline:
            raise SandboxUnavailable(f"processes {pids[:10]} of uid {uid} survive SIGKILL; "
                                     f"is one stuck in the kernel (D state)? check `ps -u {uid}`")
        time.sleep(0.01)


def claim(isolation: str, taken: set[int]) -> "Slot | None":
    """A free slot: its user's lock file is flock'ed for as long as this process keeps the Slot, so
    several judging processes on one host (tests, benches, stages) never share a slot user."""
    for index in range(MAX_SLOTS):
        if index in taken:
            continue
        if isolation != "firejail":
            return Slot(index, isolation)
        try:
            pwd.getpwnam(slot_user(index))
        except KeyError:  # setup_host.sh made fewer slots
            break
        fd = os.open(os.path.join(BASE, f"{slot_user(index)}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(index, isolation, lock_fd=fd)
    return None


class Slot:
    """One warm jailed worker. Not thread-safe: one thread drives one slot."""

    def __init__(self, index: int, isolation: str, lock_fd: int | None = None):
        self.index, self.isolation, self.lock_fd = index, isolation, lock_fd
        self.proc: subprocess.Popen | None = None
        self.hello: dict = {}
        self.jail_pids: set[int] = set()
        self.home_bounded = False
        self._buf, self._scanned = bytearray(), 0
        self.cgroup: cgroup.SlotCgroup | None = None
        self.zygote_pid: int | None = None
        self.seq = 0
        if isolation == "firejail":
            pw = pwd.getpwnam(slot_user(index))
            self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.home = tempfile.mkdtemp(prefix=f"ctrl-sbx{index}-")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> dict:
        """Start the jailed worker; returns its hello (uid, seccomp, caps as it sees them)."""
        self.stop()
        env = {"PATH": "/usr/bin:/bin", "HOME": self.home, "TMPDIR": self.home, "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               # one thread per BLAS/OpenMP pool: threads count against the slot's RLIMIT_NPROC
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        # firejail caps each argument at 4 KB, so a one-line loader reads the worker's source first.
        # -s -P rather than -I: the environment is ours alone, and PYTHONHASHSEED=0 must apply so that
        # set/dict-of-str order, hence printed output and verdicts, is the same in every slot and run.
        argv = [PYTHON, "-s", "-P", "-c", "import sys,json;exec(compile(json.loads("
                "sys.stdin.buffer.readline()),'<sandbox-worker>','exec'))"]
        kw: dict = {}
        if self.isolation == "firejail":
            self._fresh_home()
            argv = firejail_argv(self.home) + argv
            env["CTRL_SANDBOX_JAILED"] = "1"
            kw = dict(user=self.uid, group=self.gid, extra_groups=[])
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, cwd=self.home, env=env, close_fds=True,
                                     start_new_session=True, **kw)
        self._buf, self._scanned = bytearray(), 0
        try:
            self.proc.stdin.write((json.dumps(worker_source()) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            log.warning("slot %d: could not send the worker source: %s", self.index, e)
        hello = self._read(time.monotonic() + 60)
        if not hello or not hello.get("ready"):
            time.sleep(0.05)  # let firejail finish writing why it failed
            self._stderr.seek(0)
            err = self._stderr.read().decode(errors="replace")[-2000:]
            self.stop()
            raise SandboxUnavailable(f"jailed worker {self.index} did not start: {hello or 'no answer'}; "
                                     f"stderr: {err.strip() or '(empty)'}")
        self.hello = hello
        self.jail_pids = self._jail_pids() if self.isolation == "firejail" else set()
        if self.isolation == "firejail":
            self._confine_zygote(hello)
        return hello

    def _confine_zygote(self, hello: dict) -> None:
        """Move the jail's zygote (hence every candidate it forks) into the slot's cgroup."""
        zpid = None
        for pid in uid_processes(self.uid):  # the slot user is ours alone: one jail, one zygote
            try:
                with open(f"/proc/{pid}/status") as f:
                    ns = next(ln for ln in f if ln.startswith("NSpid:")).split()[1:]
            except (OSError, StopIteration):
                continue
            if len(ns) > 1 and int(ns[-1]) == hello.get("zygote"):
                zpid = int(ns[0])
        if zpid is None:
            self.stop()
            raise SandboxUnavailable(f"jail {self.index}: its zygote (pid {hello.get('zygote')} in the jail) "
                                     "was not found on the host")
        try:
            if self.cgroup is None:
                self.cgroup = cgroup.SlotCgroup(self.index)
            self.cgroup.add(zpid)
        except (cgroup.CgroupError, OSError) as e:
            self.stop()
            raise SandboxUnavailable(f"jail {self.index}: per-sample limits unavailable: {e}") from e
        self.zygote_pid = zpid
        self.jail_pids.add(zpid)

    def _jail_pids(self) -> set[int]:
        """Host pids of this jail's own processes: firejail, its namespace init, the worker, the zygote."""
        parents = {}
        for pid in uid_processes(self.uid):
            try:
                with open(f"/proc/{pid}/status") as f:
                    parents[pid] = int(next(ln for ln in f if ln.startswith("PPid:")).split()[1])
            except (OSError, StopIteration):
                continue
        init = {p for p, pp in parents.items() if pp == self.proc.pid}
        worker = {p for p, pp in parents.items() if pp in init}
        return {self.proc.pid} | init | worker | {p for p, pp in parents.items() if pp in worker} | \
            ({self.zygote_pid} if self.zygote_pid else set())

    def strays(self) -> list[int]:
        """Processes of the slot user that are not the jail itself (should be none between items)."""
        return sorted(set(uid_processes(self.uid)) - self.jail_pids) if self.isolation == "firejail" else []

    def _fresh_home(self) -> None:
        """A new, empty tmpfs of HOME_MB on the slot's home (the only place it may write)."""
        kill_uid(self.uid)
        os.makedirs(self.home, exist_ok=True)
        if os.path.ismount(self.home):
            subprocess.run(["umount", "-l", self.home], check=False, capture_output=True)
        opts = f"size={HOME_MB}m,nr_inodes=4096,mode=700,uid={self.uid},gid={self.gid},nosuid,nodev"
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, f"ctrl-{slot_user(self.index)}", self.home],
                           capture_output=True, text=True)
        self.home_bounded = r.returncode == 0
        if not self.home_bounded:  # e.g. a container without CAP_SYS_ADMIN: isolation holds, size doesn't
            log.warning("slot %d: cannot mount a %d MB tmpfs on %s (%s); candidates can fill the disk under "
                        "it up to %d MB per file", self.index, HOME_MB, self.home, r.stderr.strip(), HOME_MB)
            for entry in os.scandir(self.home):  # nothing of the slot user runs now: plain wipe
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            os.chown(self.home, self.uid, self.gid)
            os.chmod(self.home, 0o700)

    def stop(self) -> None:
        """Kill the worker and, in firejail mode, every process of the slot user."""
        if self.proc is not None:
            if self.isolation == "firejail":
                # Kill the jail from the inside out and let firejail reap its own child and exit: killing
                # firejail first orphans its namespace init to the host's pid 1, and a pid 1 that does not
                # reap (some container inits) leaves zombies that count against the slot's RLIMIT_NPROC.
                kill_uid(self.uid, spare=self.proc.pid)
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    log.warning("slot %d: firejail pid %d outlived its jail by 2 s", self.index, self.proc.pid)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            if self.isolation == "firejail":
                kill_uid(self.uid)
            for f in (self.proc.stdin, self.proc.stdout):
                f.close()
            self.proc = None

    def release(self) -> None:
        """Stop the jail and give the slot user back to other processes."""
        self.stop()
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.isolation != "firejail":
            shutil.rmtree(self.home, ignore_errors=True)
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def run(self, job: dict, case_wall_s: float, on_frame=None) -> tuple[dict[int, dict], dict]:
        """Send a job; returns ({case index: frame}, end frame). Raises SlotFailure (slot then stopped).

        `on_frame(frame)` is called for each case frame as it arrives; when it returns True the worker
        is told to stop the job (reward mode: the first failing case decides). A SIGKILL the worker
        saw is resolved here: the sample's own memory limit (the cgroup's OOM counter moved) is the
        candidate's `memory`, anything else a kill from outside, `sandbox`."""
        frames: dict[int, dict] = {}
        acked, stop_sent = False, False
        self.seq += 1
        job = dict(job, seq=self.seq)
        n = len(job.get("cases") or ())
        try:
            oom0 = 0
            if self.cgroup is not None:
                self.cgroup.set_memory(int(job["memory_mb"]))
                oom0 = self.cgroup.oom_kills()
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, cgroup.CgroupError) as e:
            self.stop()
            raise SlotFailure(f"could not send the job to worker {self.index}: {e}", frames, acked)
        deadline = time.monotonic() + 30
        while True:
            frame = self._read(deadline)
            if frame is None or "fatal" in frame or "eof" in frame:
                why = "stopped responding" if frame is None else "died"
                detail = frame["fatal"] if frame and "fatal" in frame else self._exit_detail()
                self.stop()
                raise SlotFailure(f"jailed worker {self.index} {why} {detail}".strip(), frames, acked)
            if frame.get("ack"):
                acked = True
            elif "i" in frame:
                i = frame["i"]
                if type(i) is not int or not 0 <= i < n:
                    self.stop()
                    raise SlotFailure(f"jailed worker {self.index} sent a frame for case {i!r:.40}", frames, acked)
                if frame.get("st") == "sigkill":
                    oom = self.cgroup.oom_kills() if self.cgroup is not None else oom0
                    if oom > oom0:
                        frame.update(st="memory", msg="killed by the sample's memory limit (cgroup OOM killer)")
                        oom0 = oom
                    else:
                        frame.update(st="sandbox", msg=f"{frame.get('msg', 'killed')} from outside the sample "
                                     "(not its limits): not the candidate's doing")
                frames[i] = frame
                if on_frame is not None and on_frame(frame) and not stop_sent:
                    stop_sent = True
                    try:
                        self.proc.stdin.write((json.dumps({"op": "stop", "job": self.seq}) + "\n").encode())
                        self.proc.stdin.flush()
                    except OSError:
                        pass  # the worker is gone: the next read says so
            elif frame.get("end"):
                if self.cgroup is not None and set(self.cgroup.procs()) - {self.zygote_pid}:
                    log.warning("slot %d: processes survived the sample in its cgroup; restarting the jail",
                                self.index)
                    self.stop()
                return frames, frame
            deadline = time.monotonic() + case_wall_s + GRACE_S  # the worker kills at case_wall_s

    def ping(self, timeout: float = 30) -> bool:
        """True once the worker has finished cleaning up after its last job (it answers only then)."""
        try:
            self.proc.stdin.write(b'{"op": "ping"}\n')
            self.proc.stdin.flush()
        except OSError:
            return False
        frame = self._read(time.monotonic() + timeout)
        return bool(frame and frame.get("pong"))

    def _exit_detail(self) -> str:
        """How the jail ended (exit status, firejail's stderr), for error messages."""
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return ""
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace").strip()[-500:]
        return f"(firejail exit status {self.proc.returncode}{'; ' + err if err else ''})"

    def _read(self, deadline: float) -> dict | None:
        """The worker's next JSON line; linear in its length however it arrives, never raises."""
        fd = self.proc.stdout.fileno()
        while True:
            nl = self._buf.find(b"\n", self._scanned)
            if nl >= 0:
                break
            self._scanned = len(self._buf)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            data = os.read(fd, 1 << 20)
            if not data:
                return {"eof": True}
            self._buf += data
        line = bytes(self._buf[:nl])
        del self._buf[:nl + 1]
        self._scanned = 0
        try:
            frame = json.loads(line)
        except (ValueError, RecursionError, MemoryError):
            return {"fatal": f"unreadable line from the worker: {line[:200]!r}"}
        return frame if isinstance(frame, dict) else {"fatal": f"unexpected line from the worker: {line[:200]!r}"}
