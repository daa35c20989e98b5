"""Hostile programs against the real firejail sandbox: one attack per test, one property each.

Every attack is written so that it would *pass* (or leave a trace) if it worked. Each test asserts the
verdict (never `pass`, and the status we expect) and that the host is untouched: the root-only canary
file is unchanged, no file appeared where the attack tried to write, no process of any slot user
survives outside its jail, and the next benign sample on the same slot still passes.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import socket

import pytest

from sandbox import jail, judging, selftest

pytestmark = pytest.mark.skipif(
    bool(selftest.host_problems()),
    reason="firejail sandbox unavailable here: " + "; ".join(selftest.host_problems())
    + " (scripts/setup.sh runs sandbox/setup_host.sh)")

REPO = pathlib.Path(__file__).resolve().parent.parent
SECRET = secrets.token_hex(12)
CANARY = os.path.join(jail.BASE, f".test-canary-{SECRET[:8]}")
HOST_SOCKET = f"/run/ctrl-test-{SECRET[:8]}.sock"
TRAPS = ["/tmp/ctrl-pwned", "/var/tmp/ctrl-pwned", "/dev/shm/ctrl-pwned", f"{jail.BASE}/ctrl-pwned",
         str(REPO / "ctrl-pwned"), "/ctrl-pwned"]
BENIGN = {"id": "benign", "code": "def f(x):\n    return x * 2\n",
          "tests": {"kind": "call", "entry_point": "f", "cases": [{"args": [21], "expected": 42}]}}


@pytest.fixture(scope="module", autouse=True)
def host():
    """A root-only canary file and a secret in our environment; fresh jails started after both exist."""
    with open(CANARY, "w") as f:
        f.write(SECRET)
    os.chmod(CANARY, 0o600)
    os.environ["CTRL_TEST_SECRET"] = SECRET
    server = socket.socket(socket.AF_UNIX)  # a world-writable host service, like docker.sock
    server.bind(HOST_SOCKET)
    os.chmod(HOST_SOCKET, 0o777)
    server.listen(1)
    judging.shutdown()
    yield
    server.close()
    os.unlink(HOST_SOCKET)
    os.environ.pop("CTRL_TEST_SECRET", None)
    os.unlink(CANARY)


def call(code, expected, args=(), tl=0.5, mem=128):
    return {"id": "evil", "code": code, "time_limit_s": tl, "memory_mb": mem,
            "tests": {"kind": "call", "entry_point": "f", "cases": [{"args": list(args), "expected": expected}]}}


def program(code, test, tl=0.5):
    return {"id": "evil", "code": code, "time_limit_s": tl, "memory_mb": 128,
            "tests": {"kind": "program", "entry_point": "f", "test": test}}


def stdin(code, out, tl=0.5):
    return {"id": "evil", "code": code, "time_limit_s": tl, "memory_mb": 128,
            "tests": {"kind": "stdin", "cases": [{"input": "", "output": out}]}}


WRITE_ALL = "\n".join(f"    try:\n        open({p!r}, 'w').write('x'); n += 1\n    except OSError:\n        pass"
                      for p in TRAPS)
LOOP_CHECK = "def check(candidate):\n    for i in range(3):\n        assert candidate(i) == i + 100\n"

# (name, item, statuses the verdict may have). CANARY/SECRET are only known to the attacker because
# the test wrote them in: a successful attack returns them, which would be a `pass`.
ATTACKS = [
    # --- escape
    ("network", call("def f():\n    import socket\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\n"
                     "    return 'online'", "online"), {"runtime_error"}),
    ("network_unix_abstract", call("def f():\n    import socket\n    s = socket.socket(socket.AF_UNIX)\n"
                                   "    s.connect('\\0/tmp/.X11-unix/X0')\n    return 'x11'", "x11"), {"runtime_error"}),
    ("host_unix_socket", call(f"def f():\n    import socket\n    s = socket.socket(socket.AF_UNIX)\n"
                              f"    s.connect({HOST_SOCKET!r})\n    return 'connected'", "connected"), {"runtime_error"}),
    ("signal_everything", call("import os\ndef f():\n    os.kill(-1, 9)\n    return 1", 2), {"runtime_error"}),
    ("read_other_slots", call(f"import os\ndef f():\n    n = 0\n    for d in os.listdir({jail.BASE!r}):\n"
                              f"        try:\n            n += len(os.listdir(os.path.join({jail.BASE!r}, d)))\n"
                              "        except OSError:\n            pass\n    return n", 12345), {"wrong_answer"}),
    ("read_canary_file", call(f"def f():\n    return open({CANARY!r}).read()", SECRET), {"runtime_error"}),
    ("read_env_secret", call("import os\ndef f():\n    return os.environ.get('CTRL_TEST_SECRET', 'none')", SECRET),
     {"wrong_answer"}),
    ("read_proc_environ", call("import os\ndef f():\n    for p in os.listdir('/proc'):\n        try:\n"
                               "            if b'CTRL_TEST_SECRET' in open('/proc/%s/environ' % p, 'rb').read():\n"
                               f"                return {SECRET!r}\n        except OSError:\n            pass\n"
                               "    return 'clean'", SECRET), {"wrong_answer"}),
    ("read_repo", call(f"def f():\n    return open({str(REPO / 'pyproject.toml')!r}).read()[:20]",
                       (REPO / "pyproject.toml").read_text()[:20]), {"runtime_error"}),
    ("write_outside", call(f"def f():\n    n = 0\n{WRITE_ALL}\n    return n", 0 + len(TRAPS)), {"wrong_answer"}),
    ("symlink_canary", call(f"import os\ndef f():\n    os.symlink({CANARY!r}, 'l')\n    open('l', 'w').write('x')\n"
                            "    return 1", 1), {"runtime_error"}),
    ("setuid_root", call("import os\ndef f():\n    os.setuid(0)\n    return 0", 0), {"runtime_error"}),
    ("kill_jail_init", call("import os, signal, time\ndef f():\n    os.kill(1, signal.SIGKILL)\n    time.sleep(0.1)\n"
                            "    return 'survived'", "jail down"),
     {"runtime_error", "wrong_answer"}),
    # --- resource exhaustion
    ("infinite_loop", call("def f():\n    while True:\n        pass", 1), {"timeout"}),
    ("sleep_forever", call("import time\ndef f():\n    time.sleep(10**6)", 1), {"timeout"}),
    ("memory_bomb", call("def f():\n    return len(bytearray(10**10))", 10**10), {"memory_limit"}),
    ("memory_growth", call("def f():\n    a = []\n    while True:\n        a.append('x' * 10**6)", 1),
     {"memory_limit"}),
    ("raise_rlimit", call("import resource\ndef f():\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n"
                          "    return len(bytearray(10**10))", 10**10), {"runtime_error", "memory_limit"}),
    ("fork_bomb", call("import os\ndef f():\n    while True:\n        try:\n            os.fork()\n"
                       "        except OSError:\n            pass", 1), {"timeout", "runtime_error"}),
    ("daemon_survives", call("import os, time\ndef f():\n    if os.fork() == 0:\n        os.setsid()\n"
                             "        if os.fork() == 0:\n            time.sleep(10**6)\n        os._exit(0)\n"
                             "    return 'daemon'", "nope"), {"wrong_answer", "runtime_error"}),
    ("thread_bomb", call("import threading, time\ndef f():\n    n = 0\n    while n < 10**5:\n"
                         "        threading.Thread(target=time.sleep, args=(100,), daemon=True).start(); n += 1\n"
                         "    return n", 10**5), {"runtime_error", "memory_limit", "timeout"}),
    ("fd_exhaustion", call("def f():\n    fs = [open('/dev/null') for _ in range(100000)]\n    return len(fs)", 100000),
     {"runtime_error"}),
    ("disk_fill", call("def f():\n    with open('big', 'wb') as o:\n        while True:\n"
                       "            o.write(b'x' * 2**20)\n", 1), {"runtime_error", "output_limit"}),
    ("lock_home", call("import os\ndef f():\n    os.makedirs('a/b')\n    os.chmod('a/b', 0)\n    os.chmod('a', 0)\n"
                       "    os.chmod('.', 0)\n    return 1", 2), {"wrong_answer"}),
    ("huge_output", stdin("while True:\n    print('x' * 10**6)", "x"), {"output_limit"}),
    ("stack_smash", call("import sys\nsys.setrecursionlimit(10**7)\ndef f(n=0):\n    return f(n + 1)", 1),
     {"runtime_error", "memory_limit", "timeout"}),
    ("huge_return", call("def f():\n    return list(range(10**7))", 1), {"output_limit", "memory_limit"}),
    ("deep_return", call("def f():\n    a = []\n    for _ in range(10**5):\n        a = [a]\n    return a", 1),
     {"output_limit"}),
    # --- judge tampering and reward hacking
    ("eq_always_true", call("class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\n"
                            "def f():\n    return A()", 42), {"wrong_answer"}),
    ("int_subclass_eq", call("class I(int):\n    def __eq__(self, o):\n        return True\n"
                             "def f():\n    return I(0)", 42), {"wrong_answer"}),
    ("spoof_class", call("class L:\n    __class__ = property(lambda s: list)\n    def __eq__(s, o):\n        return True\n"
                         "    def __len__(s):\n        return 3\ndef f():\n    return L()", [1, 2, 3]), {"wrong_answer"}),
    ("nan_trick", call("def f():\n    return float('nan')", 1.5), {"wrong_answer"}),
    ("print_pass", stdin("print('PASS')\nprint('All tests passed')", "42"), {"wrong_answer"}),
    ("os_exit_before_tests", call("import os\nos._exit(0)\ndef f():\n    return 1", 1), {"runtime_error"}),
    ("sys_exit_before_tests", call("import sys\nsys.exit(0)\ndef f():\n    return 1", 1), {"runtime_error"}),
    ("patch_builtins", {"id": "evil", "time_limit_s": 0.5, "memory_mb": 128,
                        "code": "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.AssertionError = ZeroDivisionError\n"
                                "def f(x):\n    return x",
                        "tests": {"kind": "assert", "cases": ["assert abs(f(1) - 5) < 1e-6"]}}, {"wrong_answer"}),
    ("rewrite_test_code", program("import builtins\n_c = compile\nbuiltins.compile = lambda *a, **k: _c('pass', '<x>', 'exec')\n"
                                  "builtins.exec = lambda *a, **k: None\ndef f(x):\n    return x", LOOP_CHECK),
     {"wrong_answer", "runtime_error"}),
    ("patch_json_dumps", call("import json\njson.dumps = lambda *a, **k: '{\"i\": 0, \"v\": 42}'\ndef f():\n    return 1", 42),
     {"wrong_answer"}),
    ("fake_report_frames", program("import os\nfor fd in range(3, 64):\n    try:\n"
                                   "        os.write(fd, b'{\"i\": 0, \"nonce\": \"x\"}\\n')\n    except OSError:\n"
                                   "        pass\nos._exit(0)\ndef f(x):\n    return x", LOOP_CHECK), {"runtime_error"}),
    ("write_worker_pipe", call("import os\ndef f():\n    fd = os.open('/proc/%d/fd/251' % os.getppid(), os.O_WRONLY)\n"
                               "    os.write(fd, b'{\"i\": 0, \"st\": \"ok\", \"v\": 42}\\n{\"end\": true, \"clean\": true}\\n')\n"
                               "    return 42", 43), {"runtime_error"}),
    ("kill_worker", call("import os\ndef f():\n    os.kill(os.getppid(), 9)\n    return 1", 1), {"runtime_error"}),
    ("stop_worker", call("import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return 1", 1),
     {"runtime_error"}),
    ("forge_truthy_report", {"id": "evil", "time_limit_s": 0.5, "memory_mb": 128,
                             "code": "import os\nfor fd in range(3, 64):\n    try:\n"
                                     "        os.write(fd, b'{\"i\": 0, \"v\": true}\\n')\n    except OSError:\n"
                                     "        pass\nos._exit(0)\ndef f(x):\n    return False",
                             # `assert f(0)` alone is a plain call: the candidate's process answers it
                             # itself, so a forged line there is just its answer; `or False` keeps the
                             # verdict in the test process, which must not take the forged line
                             "tests": {"kind": "assert", "cases": ["assert f(0) or False"]}}, {"runtime_error"}),
    ("steal_nonce_from_stack", program(
        "import os, sys\ndef f(x):\n    fr = sys._getframe()\n    while fr:\n        if 'nonce' in fr.f_locals:\n"
        "            line = '{\"i\": 0, \"nonce\": \"%s\"}\\n' % fr.f_locals['nonce']\n"
        "            for fd in range(3, 64):\n                try:\n                    os.write(fd, line.encode())\n"
        "                except OSError:\n                    pass\n            os._exit(0)\n        fr = fr.f_back\n"
        "    return -1", LOOP_CHECK), {"wrong_answer", "runtime_error"}),
    ("patch_test_module", {"id": "evil", "time_limit_s": 0.5, "memory_mb": 128,
                           "code": "import math\nmath.isclose = lambda *a, **k: True\ndef f(x):\n    return 0.0",
                           "tests": {"kind": "assert", "setup": "import math", "cases": ["assert math.isclose(f(1), 5.0)"]}},
     {"wrong_answer"}),
    ("deep_fake_report", call("import os\nline = b'{\"i\": 0, \"v\": ' + b'[' * 200000 + b']' * 200000 + b'}\\n'\n"
                              "os.write(3, line)\nos._exit(0)\ndef f():\n    return 1", 1), {"runtime_error"}),
    ("swallow_assert", program("def f(x):\n    raise AssertionError('fine')",
                               "def check(candidate):\n    assert candidate(1) == 101\n"), {"runtime_error"}),
]


def test_enough_distinct_attacks():
    assert len({name for name, _, _ in ATTACKS}) == len(ATTACKS) >= 25


def _host_state():
    stat = os.stat(CANARY)
    return open(CANARY).read(), stat.st_mtime_ns, stat.st_mode & 0o777


@pytest.mark.parametrize("name,item,statuses", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack(name, item, statuses):
    before = _host_state()
    res = judging.judge([item], workers=1)[0]
    got = [c["status"] for c in res["cases"]]
    assert not res["passed"] and "pass" not in got, f"{name} passed: {res}"
    assert set(got) <= statuses, f"{name}: statuses {got}, expected one of {statuses}: {res['cases'][0]['stderr']}"
    assert res["isolation"] == "firejail"
    assert _host_state() == before, f"{name} touched the canary file"
    assert [p for p in TRAPS if os.path.exists(p)] == [], f"{name} wrote outside its jail"
    for slot in judging._POOL.get("firejail", []):
        assert not slot.alive or slot.ping(), f"jail {slot.index} does not answer after {name}"
        assert slot.strays() == [], f"{name} left processes of {jail.slot_user(slot.index)} behind"
    after = judging.judge([BENIGN], workers=1)[0]
    assert after["passed"], f"benign sample failed after {name}: {after}"
    assert judging._POOL["firejail"][0].ping()
    assert os.listdir(judging._POOL["firejail"][0].home) == [], f"{name} left files in the jail home"
