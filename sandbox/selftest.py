"""Isolation self-test: prove, from inside a real jail, that the sandbox holds before trusting it.

Run at start-up (once per process, by `judge`) and by `python -m sandbox doctor`, which prints each
check and exits non-zero when one fails. Every jail start also re-checks uid, seccomp, capabilities
and no_new_privs from the worker's hello (`check_hello`), because firejail runs a user it does not
allow *without* a sandbox, and inside some containers it silently cannot sandbox at all.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile

from sandbox import cgroup, jail

CANARY_ENV = "CTRL_SANDBOX_CANARY"

PROBE = r'''
import json, os, socket, time
r = {"uid": os.getuid(), "env": dict(os.environ)}
st = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
r["seccomp"] = st.get("Seccomp", "").strip()
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1).close(); r["net"] = "connected"
except OSError as e:
    r["net"] = "blocked: %s" % e
try:
    r["ifaces"] = sorted(os.listdir("/sys/class/net"))
except OSError as e:
    r["ifaces"] = []
try:
    r["canary"] = "READ: " + open(CANARY).read()
except OSError as e:
    r["canary"] = "denied: %s" % e
r["writable"] = []
for d in ("/", "/usr", "/etc", "/tmp", "/var/tmp", "/dev/shm", os.path.dirname(CANARY)):
    try:
        open(os.path.join(d, "ctrl-probe"), "w").close(); r["writable"].append(d)
    except OSError:
        pass
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
r["shm"] = "created" if libc.shmget(0, 1 << 20, 0o1600) >= 0 else "denied: errno %d" % ctypes.get_errno()
try:
    os.kill(os.getppid(), 0); r["signal"] = "delivered to the zygote"
except OSError as e:
    r["signal"] = "denied: %s" % e
n = 0
try:
    while n < 400:
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        n += 1
except OSError:
    pass
r["forks"] = n
print(json.dumps(r))
'''


def check_hello(hello: dict, uid: int) -> list[str]:
    """Problems with a jailed worker's hello; empty when it runs confined as the slot user."""
    problems = []
    if hello.get("uid") != uid:
        problems.append(f"worker runs as uid {hello.get('uid')}, not the slot user's uid {uid}")
    if hello.get("Seccomp") != "2":
        problems.append(f"seccomp filter not active (Seccomp: {hello.get('Seccomp')!r}, want '2')")
    if hello.get("CapEff", "x").strip("0"):
        problems.append(f"capabilities not dropped (CapEff {hello.get('CapEff')})")
    if hello.get("NoNewPrivs") != "1":
        problems.append("no_new_privs is not set")
    if hello.get("fence") != "ok":
        problems.append(f"the candidate fence does not hold ({hello.get('fence')})")
    if not isinstance(hello.get("ifaces"), list) or set(hello["ifaces"]) - {"lo"}:
        problems.append(f"network interfaces other than lo in the jail ({hello.get('ifaces')})")
    return problems


def prove(slot: jail.Slot) -> list[tuple[str, bool, str]]:
    """Restart `slot` with a canary in the environment and a root-only canary file; probe from inside."""
    secret = secrets.token_hex(16)
    fd, canary = tempfile.mkstemp(prefix=".canary-", dir=jail.BASE)
    os.write(fd, secret.encode())
    os.close(fd)
    os.chmod(canary, 0o600)
    old = os.environ.get(CANARY_ENV)
    os.environ[CANARY_ENV] = secret
    try:
        hello = slot.start()
        frames, _ = slot.run({"kind": "stdin", "code": f"CANARY = {canary!r}\n" + PROBE, "time_limit_s": 10,
                              "memory_mb": 256, "wall_s": 20, "cases": [{"mode": "stdin", "input": ""}]}, 20)
    finally:
        os.unlink(canary)
        if old is None:
            os.environ.pop(CANARY_ENV, None)
        else:
            os.environ[CANARY_ENV] = old
    frame = frames.get(0, {})
    try:
        r = json.loads(frame.get("out", ""))
    except ValueError:
        return [("probe ran", False, f"probe gave no report: {frame}")]
    hello_problems = check_hello(hello, slot.uid)
    return _probe_checks(slot, r, hello_problems, secret) + _sample_checks(slot)


FANOUT = """import os, time
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        b = bytearray(60 << 20)
        for i in range(0, len(b), 4096):
            b[i] = 1
        time.sleep(1.5)  # hold it while the others allocate
        os._exit(0)
    kids.append(pid)
print("limited" if any(os.WIFSIGNALED(os.waitpid(k, 0)[1]) for k in kids) else "unlimited")
"""
MARK = """import os
open("left", "w").write("x")
os.setxattr(".", "user.ctrl", b"1")
os.utime(".", (12345, 12345))
print("marked")
"""
LOOK = """import os
print(sorted(os.listdir(".")), os.listxattr("."), int(os.stat(".").st_mtime))
"""


def _stdin_job(code: str, memory_mb: int = 256) -> dict:
    return {"kind": "stdin", "code": code, "time_limit_s": 10, "memory_mb": memory_mb, "wall_s": 20,
            "cases": [{"mode": "stdin", "input": "", "out_cap": 4096}]}


def _sample_checks(slot: jail.Slot) -> list[tuple[str, bool, str]]:
    """Limits on the sample, not the process: fan-out memory, and a home that starts fresh."""
    frames, _ = slot.run(_stdin_job(FANOUT, 128), 20)
    fan = frames.get(0, {})
    cg = slot.cgroup
    in_cg = cg is not None and slot.zygote_pid in cg.procs()
    slot.run(_stdin_job(MARK), 20)
    frames, _ = slot.run(_stdin_job(LOOK), 20)
    look = (frames.get(0, {}).get("out") or "").strip()
    return [
        ("candidates run in the slot's cgroup", in_cg,
         f"{cg.version} {cg.dirs['memory']} (pids.max {cgroup.SAMPLE_PIDS}, 1 CPU)" if cg else "no cgroup"),
        ("memory is limited per sample (3 forks x 60 MB at 128 MB)", fan.get("out", "").strip() == "limited"
         or fan.get("st") in ("memory", "sigkill"), f"{fan.get('st')}: {(fan.get('out') or '').strip()[:60]}"),
        ("each sample gets a fresh home (no files, xattrs or mtime left)", look == "[] [] 0", look[:120]),
    ]


def _probe_checks(slot, r, hello_problems, secret) -> list[tuple[str, bool, str]]:
    return [
        ("runs as the slot user", r["uid"] == slot.uid and r["uid"] != 0, f"uid {r['uid']} ({jail.slot_user(slot.index)})"),
        ("jail confined (seccomp, caps, no_new_privs)", not hello_problems and r["seccomp"] == "2",
         "; ".join(hello_problems) or f"Seccomp: {r['seccomp']}, CapEff 0, NoNewPrivs 1"),
        ("network off", r["net"].startswith("blocked") and set(r["ifaces"]) <= {"lo"},
         f"{r['net']}; interfaces {r['ifaces']}"),
        ("canary file unreadable", r["canary"].startswith("denied"), r["canary"][:80]),
        ("environment clean", secret not in json.dumps(r["env"]), f"keys {sorted(r['env'])}"),
        ("only the home is writable", r["writable"] == [], f"writable: {r['writable'] or 'none of /, /usr, /etc, /tmp, /var/tmp, /dev/shm, ' + jail.BASE}"),
        ("process limit holds per sample", r["forks"] < cgroup.SAMPLE_PIDS,
         f"fork stopped after {r['forks']} (cgroup pids.max {cgroup.SAMPLE_PIDS})"),
        ("SysV IPC denied (no channel between samples)", r["shm"].startswith("denied"), r["shm"]),
        ("the candidate cannot signal the jail's other processes", r["signal"].startswith("denied"), r["signal"]),
    ]


PROOF = os.path.join(jail.BASE, ".proof.json")
PROOF_TTL_S = 3600.0


def _proof_key() -> str:
    """What a proof depends on: this boot, the firejail binary and its configuration, the slot
    users, and the sandbox's own code (worker sources, jail command line, this self-test)."""
    import hashlib

    h = hashlib.sha256()
    with open("/proc/sys/kernel/random/boot_id") as f:
        h.update(f.read().encode())
    for path in (jail.firejail_path() or "", "/etc/firejail/firejail.users", "/etc/firejail/firejail.config",
                 "/etc/passwd"):
        try:
            st = os.stat(path)
            h.update(f"{path}:{st.st_mtime_ns}:{st.st_size}:{st.st_ino}".encode())
        except OSError:
            h.update(f"{path}:missing".encode())
    h.update(jail.worker_source().encode())
    for mod in (jail, cgroup):
        h.update(open(mod.__file__, "rb").read())
    h.update(open(__file__, "rb").read())
    return h.hexdigest()


def cached_proof() -> list | None:
    """The checks of a passing proof made for this key within PROOF_TTL_S, or None."""
    import time

    try:
        st = os.stat(PROOF)
        if st.st_uid != 0 or st.st_mode & 0o077 or time.time() - st.st_mtime > PROOF_TTL_S:
            return None
        with open(PROOF) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if data.get("key") != _proof_key() or not all(ok for _, ok, _ in data.get("checks", [[0, False, 0]])):
        return None
    return [tuple(c) for c in data["checks"]]


def keep_proof(checks: list) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".proof-", dir=jail.BASE)
        with os.fdopen(fd, "w") as f:
            json.dump({"key": _proof_key(), "checks": checks}, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, PROOF)
    except OSError:  # no cache: the next process proves again
        pass


def forget_proof() -> None:
    try:
        os.unlink(PROOF)
    except OSError:
        pass


def host_problems() -> list[str]:
    """What keeps this host from running the firejail sandbox (empty when nothing)."""
    problems = []
    if not jail.firejail_path():
        problems.append("firejail is not installed (apt-get install firejail, or run sandbox/setup_host.sh)")
    if os.geteuid() != 0:
        problems.append("the sandbox supervisor must run as root to switch to the slot users")
    if not os.path.exists(jail.PYTHON):
        problems.append(f"{jail.PYTHON} is missing (apt-get install python3)")
    try:
        import pwd
        pwd.getpwnam(jail.slot_user(0))
    except KeyError:
        problems.append(f"sandbox user {jail.slot_user(0)} does not exist (run: sudo sh sandbox/setup_host.sh)")
    if shutil.which("mount") is None:
        problems.append("`mount` is missing (util-linux) but needed for the bounded tmpfs homes")
    return problems
