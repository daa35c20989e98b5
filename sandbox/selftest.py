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

from sandbox import jail

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
    return [
        ("runs as the slot user", r["uid"] == slot.uid and r["uid"] != 0, f"uid {r['uid']} ({jail.slot_user(slot.index)})"),
        ("jail confined (seccomp, caps, no_new_privs)", not hello_problems and r["seccomp"] == "2",
         "; ".join(hello_problems) or f"Seccomp: {r['seccomp']}, CapEff 0, NoNewPrivs 1"),
        ("network off", r["net"].startswith("blocked") and set(r["ifaces"]) <= {"lo"},
         f"{r['net']}; interfaces {r['ifaces']}"),
        ("canary file unreadable", r["canary"].startswith("denied"), r["canary"][:80]),
        ("environment clean", secret not in json.dumps(r["env"]), f"keys {sorted(r['env'])}"),
        ("only the home is writable", r["writable"] == [], f"writable: {r['writable'] or 'none of /, /usr, /etc, /tmp, /var/tmp, /dev/shm, ' + jail.BASE}"),
        ("process limit holds", r["forks"] < jail.NPROC, f"fork stopped after {r['forks']} (limit {jail.NPROC})"),
    ]


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
