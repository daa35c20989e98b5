"""What a candidate can reach, on the real firejail sandbox: one property per test.

Each attack is written so that it would *pass* if it worked (it returns what the test expects only
when it got at something it must not reach). Properties:
- test code sees pristine builtins and trusted modules, whatever the candidate defines or patches;
- the candidate's process never holds test data (of its item or of an earlier one);
- nothing a candidate returns or prints crashes or wedges the judge or the batch;
- limits hold per sample (memory incl. shm/memfd/tmpfs, processes, CPU), and nothing survives
  into the next sample (files, xattrs, mtime, SysV IPC);
- arguments reach the candidate as the dataset wrote them, and values compare as its harness does;
- a kill from outside the sample is the judge's `sandbox_error` (retried), never the candidate's
  verdict; and no candidate can produce a `sandbox_error`;
- reward mode stops at the first failing case and says so.
"""

from __future__ import annotations

import os
import pathlib
import re
import secrets
import signal
import threading
import time

import pytest

from sandbox import codec, jail, judge, judging, selftest

pytestmark = pytest.mark.skipif(
    bool(selftest.host_problems()),
    reason="firejail sandbox unavailable here: " + "; ".join(selftest.host_problems())
    + " (scripts/setup.sh runs sandbox/setup_host.sh)")

BENIGN = {"id": "benign", "code": "def f(x):\n    return x * 2\n",
          "tests": {"kind": "call", "entry_point": "f", "cases": [{"args": [21], "expected": 42}]}}


def item(code, tests, **kw):
    return dict({"id": "evil", "code": code, "tests": tests, "time_limit_s": 1, "memory_mb": 128}, **kw)


def call(code, cases, **kw):
    return item(code, {"kind": "call", "entry_point": "f", "cases": cases}, **kw)


def statuses(res):
    return [c["status"] for c in res["cases"]]


def never_passes(res):
    assert not res["passed"] and "pass" not in statuses(res), res
    assert "sandbox_error" not in statuses(res), res


# ------------------------------------------------------------------ names the test uses are its own

POISON = """
import builtins as _b, sys as _s, types as _t
_names = [n for n in list(_b.__dict__) if not n.startswith("_") and n not in ("object", "type")]
_set, _g = setattr, globals()
class _Yes:
    def __eq__(self, o): return True
    def __lt__(self, o): return True
    def __bool__(self): return True
    def __call__(self, *a, **k): return _Yes()
    def __getattr__(self, n): return _Yes()
    def __len__(self): return 3
    def __iter__(self): return iter([3, 2, 1])
    __hash__ = object.__hash__
for _n in _names:  # every builtin, defined at module level
    _g[_n] = _Yes()
math = _Yes()
_s.modules["math"] = _t.ModuleType("math")
for _n in _names:  # and patched into the builtins module
    _set(_b, _n, _Yes())
"""
CHECK = """def check(candidate):
    r = candidate([1, 2, 3])
    assert isinstance(r, list) and len(r) == 3 and sorted(r) == [1, 2, 3]
    assert all(a == b for a, b in zip(r, [3, 2, 1])) and sum(r) == 6
    assert abs(r[0] - 3) < 1e-6 and round(r[1]) == 2 and str(r[2]) == "1"
    assert set(r) == {1, 2, 3} and list(range(len(r))) == [0, 1, 2] and any(r)
    assert math.isclose(r[0], 3.0) and max(r) == 3 and min(r) == 1 and helper(r) == 3
"""
HELPER = "def helper(xs):\n    return len(xs)\n"  # a helper the test defines: it looks names up in the test's namespace
RIGHT, WRONG = "def f(xs):\n    return xs[::-1]\n", "def f(xs):\n    return [0, 0, 0]\n"


@pytest.mark.parametrize("kind", ["program-split", "program-whole", "assert"])
def test_defining_or_patching_builtins_and_modules_cannot_change_an_outcome(kind):
    """Every builtin name and `math` defined at module level *and* patched into builtins: a right
    solution still passes and a wrong one still fails (the poison would pass the wrong one)."""
    asserts = [ln.strip() for ln in CHECK.splitlines()[2:]]
    if kind == "program-split":  # one case per assert, each evaluated in the test process
        body = "".join("    " + re.sub(r"\br\b", "candidate([1, 2, 3])", a) + "\n" for a in asserts)
        tests = {"kind": "program", "entry_point": "f", "setup": HELPER, "test": "def check(candidate):\n" + body}
    elif kind == "program-whole":
        tests = {"kind": "program", "entry_point": "f", "setup": HELPER, "test": CHECK}
    else:
        tests = {"kind": "assert", "setup": HELPER + "r = f([1, 2, 3])\n", "cases": asserts}
    plain = judge([item(RIGHT, tests), item(WRONG, tests)], workers=1)
    poisoned = judge([item(POISON + RIGHT, tests), item(POISON + WRONG, tests)], workers=1)
    assert plain[0]["passed"] and not plain[1]["passed"], (statuses(plain[0]), statuses(plain[1]))
    assert poisoned[0]["passed"], poisoned[0]["cases"]
    never_passes(poisoned[1])


def test_issue_reproducer_abs_redefined():
    res = judge([item("def abs(x):\n    return 0\ndef mean_absolute_deviation(n):\n    return 0.0\n",
                      {"kind": "program", "entry_point": "mean_absolute_deviation",
                       "test": "def check(candidate):\n    assert abs(candidate([1.0, 2.0, 3.0, 4.0]) - 1.0) < 1e-6\n"})])[0]
    never_passes(res)


def test_prompt_helpers_in_setup_are_the_problems_own():
    """HumanEval/32-style: the test calls a helper the prompt defines (`poly`); given as trusted
    setup, a candidate's redefinition of it is not what the test uses."""
    tests = {"kind": "program", "entry_point": "find_zero", "setup": "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n",
             "test": "def check(candidate):\n    assert abs(poly([-1.0, 1.0], candidate([-1.0, 1.0]))) < 1e-6\n"}
    good = judge([item("def find_zero(xs):\n    return 1.0\n", tests)])[0]
    evil = judge([item("def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 5.0\n", tests)])[0]
    assert good["passed"], good["cases"]
    never_passes(evil)


# ------------------------------------------------------------- the candidate never holds test data

SCAN = """
import ctypes, gc, re, sys
def f(*a):
    pat = re.compile(rb"ctrl-" + rb"secret-([0-9a-f]{24})")
    for o in gc.get_objects():  # every live object, frames included
        for s in ([o] if isinstance(o, (str, bytes)) else []):
            m = pat.search(s.encode() if isinstance(s, str) else s)
            if m:
                return "ctrl-" + "secret-" + m.group(1).decode()
    fr = sys._getframe()
    while fr is not None:  # the callers' locals: the judge's stack
        for v in list(fr.f_locals.values()):
            m = pat.search(repr(v).encode())
            if m:
                return "ctrl-" + "secret-" + m.group(1).decode()
        fr = fr.f_back
    for line in open("/proc/self/maps"):  # and every readable byte of this process
        addr, perms = line.split()[:2]
        if not perms.startswith("r") or "[v" in line:
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        try:
            m = pat.search(ctypes.string_at(lo, hi - lo))
        except Exception:
            continue
        if m:
            return "ctrl-" + "secret-" + m.group(1).decode()
    return "nothing"
"""


def _secret():
    return "ctrl-" + "secret-" + secrets.token_hex(12)


@pytest.mark.parametrize("where", ["call-expected", "assert-truthy", "check-whole"])
def test_candidate_cannot_find_its_own_tests(where):
    s = _secret()
    if where == "call-expected":
        tests = {"kind": "call", "entry_point": "f", "cases": [{"args": [], "expected": s}]}
    elif where == "assert-truthy":
        tests = {"kind": "assert", "cases": [f"assert f() == {s!r} or f() == {s!r}"]}
    else:
        tests = {"kind": "program", "entry_point": "f",
                 "test": f"def check(candidate):\n    s = {s!r}\n    for _ in range(1):\n        assert candidate() == s\n"}
    res = judge([item(SCAN, tests, time_limit_s=5)], workers=1)[0]
    never_passes(res)


def test_a_later_sample_cannot_read_an_earlier_items_tests():
    s = _secret()
    earlier = item("def f():\n    return 1\n", {"kind": "program", "entry_point": "f",
                   "test": f"def check(candidate):\n    for _ in range(1):\n        assert candidate() == {s!r}\n"})
    later = item(SCAN, {"kind": "call", "entry_point": "f", "cases": [{"args": [], "expected": s}]}, time_limit_s=5)
    res = judge([earlier, later], workers=1)
    never_passes(res[1])


# ------------------------------------------------------------------ the judge and the batch survive

CRASHERS = [
    ("huge_int_for_float", call("def f():\n    return 10 ** 400", [{"args": [], "expected": 1.5}])),
    ("inf_for_float", call("def f():\n    return float('inf')", [{"args": [], "expected": 1.5}])),
    ("huge_int_wrong", call("def f():\n    return 10 ** 5000 + 1", [{"args": [], "expected": {"$i": hex(10 ** 5000)}}])),
    ("huge_int_repr_in_assert", item("def f():\n    return 10 ** 5000", {"kind": "assert", "cases": ["assert f() == 5"]})),
    ("forged_wire_frames", call("import os\nfor fd in range(3, 64):\n    try:\n"
                                "        os.write(fd, b'{\"i\": 0, \"v\": 42, \"st\": \"ok\", \"ms\": -1e308, \"more\": \"x\"}\\n' * 3)\n"
                                "    except OSError:\n        pass\ndef f():\n    return 1", [{"args": [], "expected": 43}])),
    ("absurd_reply_fields", call("import os\nos.write(5, b'{\"names\": {}, \"entry\": {\"$h\": 0}}\\n{\"v\": {\"$i\": 12}, \"exc\": [1]}\\n')\n"
                                 "os.read(4, 1 << 20)\nos._exit(0)\ndef f():\n    return 1", [{"args": [], "expected": 42}])),
    ("hash_collision_set", call("import os\nP = 2 ** 61 - 1\nbody = ','.join(str(k * P) for k in range(1, 60000))\n"
                                "os.write(5, b'{\"names\": {}, \"entry\": {\"$h\": 0}}\\n')\nos.read(4, 1 << 20)\n"
                                "os.write(5, ('{\"v\": {\"$s\": [' + body + ']}}\\n').encode())\nos._exit(0)\ndef f():\n    return 1",
                                [{"args": [], "expected": 42}], time_limit_s=5)),
    ("control_bytes_flood", item("import sys\nsys.stdout.write('\\x01' * (8 << 20 - 64))",
                                 {"kind": "stdin", "cases": [{"input": "", "output": "x"}]})),
    ("deep_nested_reply", call("import os\nos.write(5, b'{\"names\": {}, \"entry\": {\"$h\": 0}}\\n')\nos.read(4, 1 << 20)\n"
                               "os.write(5, b'{\"v\": ' + b'[' * 100000 + b']' * 100000 + b'}\\n')\nos._exit(0)\ndef f():\n    return 1",
                               [{"args": [], "expected": 42}])),
]


def test_nothing_a_candidate_returns_crashes_or_wedges_the_batch():
    items = []
    for name, it in CRASHERS:
        items += [dict(it, id=name), dict(BENIGN, id=f"benign-after-{name}")]
    res = judge(items, workers=2)
    for r in res:
        if r["id"].startswith("benign"):
            assert r["passed"], r
        else:
            never_passes(r)


def test_huge_ints_are_judged_both_ways():
    big = {"$i": hex(10 ** 5000)}
    res = judge([call("def f():\n    return 10 ** 5000", [{"args": [], "expected": big}]),
                 call("def f(x):\n    return x + 1", [{"args": [big], "expected": {"$i": hex(10 ** 5000 + 1)}}])])
    assert [r["passed"] for r in res] == [True, True], res


def test_decode_refuses_hash_collisions_fast():
    p = 2 ** 61 - 1
    with pytest.raises(codec.DecodeError):
        codec.decode({"$s": [k * p for k in range(1, 100000)]})


# ------------------------------------------------------------------------ limits on the sample


def test_sysv_shared_memory_is_denied():
    res = judge([call("import ctypes\ndef f():\n    libc = ctypes.CDLL(None, use_errno=True)\n"
                      "    i = libc.shmget(0, 512 << 20, 0o1600)\n    return 'held' if i >= 0 else 'denied'",
                      [{"args": [], "expected": "held"}])])[0]
    never_passes(res)
    assert res["cases"][0]["stdout"] == "'denied'"


def test_memfds_count_against_the_sample():
    res = judge([call("import os\ndef f():\n    fds = []\n    for k in range(40):\n        fd = os.memfd_create('x%d' % k)\n"
                      "        for _ in range(8):\n            os.write(fd, b'x' * (1 << 20) - 1 if False else b'x' * ((1 << 20) - 1))\n"
                      "        fds.append(fd)\n    return 'held'", [{"args": [], "expected": "held"}], memory_mb=64, time_limit_s=5)])[0]
    never_passes(res)
    assert statuses(res) == ["memory_limit"], res["cases"]


def test_fork_fanout_shares_one_memory_limit():
    # Four children holding 60 MB each at once (all still alive, all wrote) would need 240 MB. A
    # child the OOM killer took after it wrote is not alive: writes alone could add up to 4.
    code = ("import os, time\ndef f():\n    r, w = os.pipe()\n    pids = []\n    for _ in range(4):\n"
            "        pid = os.fork()\n        if pid == 0:\n"
            "            b = bytearray(60 << 20)\n            for i in range(0, len(b), 4096):\n                b[i] = 1\n"
            "            os.write(w, b'1')\n            time.sleep(3)\n            os._exit(0)\n"
            "        pids.append(pid)\n"
            "    os.close(w)\n    time.sleep(2)\n"
            "    alive = sum(os.waitpid(p, os.WNOHANG) == (0, 0) for p in pids)\n"
            "    return min(alive, len(os.read(r, 64)))")
    res = judge([call(code, [{"args": [], "expected": 4}], memory_mb=128, time_limit_s=4)])[0]
    never_passes(res)


def test_fork_fanout_shares_one_cpu():
    code = ("import os, time, struct\ndef f():\n    r, w = os.pipe()\n    for _ in range(4):\n        if os.fork() == 0:\n"
            "            t = time.monotonic()\n            while time.monotonic() - t < 1.5:\n                pass\n"
            "            os.write(w, struct.pack('d', time.process_time()))\n            os._exit(0)\n"
            "    os.close(w)\n    data = b''\n    while len(data) < 32:\n        chunk = os.read(r, 64)\n"
            "        if not chunk:\n            break\n        data += chunk\n"
            "    return sum(struct.unpack('4d', data)) > 2.5")  # 4 x 1.5 s of wall: > 1 CPU's worth?
    res = judge([call(code, [{"args": [], "expected": True}], time_limit_s=4)])[0]
    never_passes(res)


@pytest.mark.parametrize("mark,look,found", [
    ("open('left', 'w').write('x')", "os.path.exists('left')", True),
    ("os.setxattr('.', 'user.ctrl', b'1')", "'user.ctrl' in os.listxattr('.')", True),
    ("os.utime('.', (12345, 12345))", "int(os.stat('.').st_mtime) == 12345", True),
    ("os.chmod('.', 0o755)", "os.stat('.').st_mode & 0o777 == 0o755", True),
])
def test_nothing_survives_into_the_next_sample(mark, look, found):
    first = call(f"import os\ndef f():\n    {mark}\n    return 1", [{"args": [], "expected": 1}])
    second = call(f"import os\ndef f():\n    return {look}", [{"args": [], "expected": found}])
    res = judge([first, second], workers=1)
    assert res[0]["passed"], res[0]["cases"]
    never_passes(res[1])


# ------------------------------------------------------------------ arguments and comparison rules

def test_arguments_reach_the_candidate_exactly_as_written():
    res = judge([call("def f(d, t, s, l):\n    return [list(d), type(t).__name__, type(s).__name__, type(l).__name__]",
                      [{"args": [{"b": 1, "a": 2}, {"$t": [1, 2]}, {"$s": [3]}, [1]],
                        "expected": [["b", "a"], "tuple", "set", "list"]}])])[0]
    assert res["passed"], res["cases"]


@pytest.mark.parametrize("code,expected,ok", [
    ("def f():\n    return [1, 2]", {"$t": [1, 2]}, False),   # "convert a list to a tuple" (Mbpp/587)
    ("def f():\n    return (1, 2)", {"$t": [1, 2]}, True),
    ("def f():\n    return 10 ** 9 + 1.0", 10 ** 9, False),  # an int expected: no tolerance
    ("def f():\n    return True", 1, True),                    # Python ==, as the asserts use it
    ("def f():\n    return 0.1 + 0.2", 0.3, True),             # a float expected: tolerance
])
def test_call_comparison_is_pythons(code, expected, ok):
    res = judge([call(code, [{"args": [], "expected": expected}])])[0]
    assert res["passed"] is ok, res["cases"]


def test_stdin_float_tolerance_is_absolute():
    res = judge([item("print(123456912.0)", {"kind": "stdin", "cases": [{"input": "", "output": "123456789.0"}]}),
                 item("print(0.3333331)", {"kind": "stdin", "cases": [{"input": "", "output": "0.333333"}]})])
    assert [r["passed"] for r in res] == [False, True]


# --------------------------------------------------------------------- who caused a failure

SANDBOX_ERROR_ATTEMPTS = [
    ("kill_zygote", "import os\ndef f():\n    os.kill(os.getppid(), 9)\n    return 1"),
    ("kill_all", "import os\ndef f():\n    os.kill(-1, 9)\n    return 1"),
    ("stop_group", "import os, signal\ndef f():\n    os.killpg(0, signal.SIGSTOP)\n    return 1"),
    ("close_everything", "import os\ndef f():\n    os.closerange(0, 1024)\n    return 1"),
    ("exit_mid_wire", "import os\nos.write(5, b'{\"names\": {}, \"entry\": {\"$h\": 0}}\\n')\nos._exit(0)\ndef f():\n    return 1"),
    ("flood_wire", "import os\nos.write(5, b'x' * (1 << 26))\ndef f():\n    return 1"),
    ("oom_many_small", "import os, time\ndef f():\n    for _ in range(40):\n        if os.fork() == 0:\n"
                       "            b = bytearray(12 << 20)\n            for i in range(0, len(b), 4096):\n                b[i] = 1\n"
                       "            time.sleep(5)\n            os._exit(0)\n    time.sleep(5)\n    return 1"),
    ("fill_tmpfs_then_fork", "import os\ndef f():\n    try:\n        for k in range(200):\n            open('f%d' % k, 'wb').write(b'x' * (1 << 20))\n"
                             "    except OSError:\n        pass\n    pids = []\n    for _ in range(20):\n        try:\n            pids.append(os.fork())\n"
                             "        except OSError:\n            break\n        if pids[-1] == 0:\n            os._exit(0)\n    return 1"),
    ("fork_bomb", "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass"),
    ("setsid_escape", "import os, time\ndef f():\n    if os.fork() == 0:\n        try:\n            os.setsid()\n        except OSError:\n            pass\n"
                      "        time.sleep(100)\n    return 1"),
    ("renice_and_relimit_others", "import os, resource\ndef f():\n    for p in range(1, 64):\n        try:\n"
                                  "            os.setpriority(os.PRIO_PROCESS, p, 19)\n        except OSError:\n            pass\n"
                                  "        try:\n            resource.prlimit(p, resource.RLIMIT_NOFILE, (3, 3))\n        except (OSError, ValueError):\n            pass\n"
                                  "    return 1"),
]


@pytest.mark.parametrize("name,code", SANDBOX_ERROR_ATTEMPTS, ids=[a[0] for a in SANDBOX_ERROR_ATTEMPTS])
def test_no_candidate_can_cause_a_sandbox_error(name, code):
    res = judge([call(code, [{"args": [], "expected": 2}, {"args": [], "expected": 2}], memory_mb=128, time_limit_s=1),
                 BENIGN], workers=1)
    assert "sandbox_error" not in statuses(res[0]), (name, res[0]["cases"])
    never_passes(res[0])
    assert res[1]["passed"], (name, res[1])


def _kill_candidates(times: int, stop: threading.Event):
    """From the host, as the OOM killer of another job or an operator would: SIGKILL the sample's
    candidate processes (the slot cgroup's members other than the zygote), `times` times."""
    done = 0
    while done < times and not stop.is_set():
        for slot in judging._POOL.get("firejail", []):
            cg = slot.cgroup
            if cg is None:
                continue
            victims = [p for p in cg.procs() if p != slot.zygote_pid]
            for p in victims:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if victims:
                done += 1
                time.sleep(0.3)
        time.sleep(0.01)


@pytest.mark.parametrize("kills,expect", [(1, "pass"), (10, "sandbox_error")])
def test_an_outside_kill_is_the_judges_error_and_is_retried(kills, expect):
    judge([BENIGN], workers=1)  # warm the slot
    stop = threading.Event()
    killer = threading.Thread(target=_kill_candidates, args=(kills, stop), daemon=True)
    killer.start()
    try:
        res = judge([call("import time\ndef f():\n    time.sleep(1)\n    return 1", [{"args": [], "expected": 1}],
                          time_limit_s=3)], workers=1)[0]
    finally:
        stop.set()
        killer.join()
    assert statuses(res) == [expect], res["cases"]


# --------------------------------------------------------------------------------- reward mode

def test_reward_mode_stops_at_the_first_failing_case_and_says_so():
    cases = [{"args": [k], "expected": k} for k in range(6)]
    code = "def f(x):\n    return x if x != 1 else -1"
    full, reward, good = judge([call(code, cases), call(code, cases, mode="reward"),
                                call("def f(x):\n    return x", cases, mode="reward")], workers=1)
    assert full["mode"] == "full" and full["n_run"] == 6 and statuses(full).count("pass") == 5
    assert reward["mode"] == "reward" and reward["n_run"] == 2 and statuses(reward) == ["pass", "wrong_answer"]
    assert reward["n_cases"] == 6 and not reward["passed"]
    assert good["passed"] and good["n_run"] == 6


def test_reward_mode_for_stdin_and_assert_items():
    stdin = item("n = int(input())\nprint(n if n != 0 else 5)", {"kind": "stdin", "cases": [
        {"input": f"{n}\n", "output": f"{n}"} for n in range(4)]}, mode="reward")
    asserts = item("def f(x):\n    return x", {"kind": "assert", "cases": ["assert f(1) == 1", "assert f(2) == 3",
                                                                          "assert f(3) == 3"]}, mode="reward")
    a, b = judge([stdin, asserts], workers=1)
    assert a["n_run"] == 1 and statuses(a) == ["wrong_answer"] and a["mode"] == "reward"
    assert b["n_run"] == 2 and statuses(b) == ["pass", "wrong_answer"]


def test_slot_cgroup_holds_only_the_zygote_between_samples():
    judge([BENIGN, call("import os, time\ndef f():\n    if os.fork() == 0:\n        time.sleep(100)\n    return 1",
                        [{"args": [], "expected": 1}])], workers=1)
    slot = judging._POOL["firejail"][0]
    assert slot.cgroup is not None and slot.cgroup.procs() == [slot.zygote_pid]
    assert slot.strays() == [] and jail.uid_processes(slot.uid)


# ----------------------------------------------- attacks a red-team pass found against this design

WIRE_HELLO = "import os\nos.write(5, b'{\"names\": {\"abs\": {\"$h\": 0}, \"len\": {\"$h\": 0}, \"isinstance\": {\"$h\": 0}}, \"entry\": {\"$h\": 0}}\\n')\n"
RED_TEAM = [
    ("opaque_is_not_falsy", item("def is_prime(n):\n    return map(int, [])\n", {"kind": "program", "entry_point": "is_prime",
     "test": "def check(candidate):\n    for n in [4, 6, 8, 9]:\n        assert not candidate(n)\n"})),
    ("opaque_is_not_falsy_assert", item("def f(n):\n    return lambda: 0\n", {"kind": "assert", "cases": ["assert not f(4)"]})),
    ("opaque_is_not_unequal", item("def f(n):\n    return iter([])\n", {"kind": "program", "entry_point": "f",
     "test": "def check(candidate):\n    for n in [1, 2]:\n        assert candidate(n) != 5\n"})),
    ("empty_exception_name", item("class E(Exception):\n    pass\nE.__name__ = ''\nraise E()\n", {"kind": "program", "entry_point": "f",
     "test": "def check(candidate):\n    for i in range(3):\n        assert candidate(i) == i * 7\n"})),
    ("forged_hello_binds_builtins", item(WIRE_HELLO + "def f(x):\n    return [0]\n", {"kind": "assert", "cases": [
        "assert abs(f(2)[0] - 1.5) < 1e-9", "assert isinstance(f(3), tuple)", "assert len(f(1)) == 3"]})),
    ("junk_on_the_status_pipe", item("import os\nos.write(4, b'x\\n')\n", {"kind": "stdin", "cases": [{"input": "", "output": "y"}]})),
    ("lower_own_cpu_limit", call("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, 1))\ndef f():\n    while True:\n        pass",
                                 [{"args": [], "expected": 1}])),
    ("renice_the_whole_uid", item("import os\nos.setpriority(os.PRIO_USER, 0, 19)\nprint('x')", {"kind": "stdin", "cases": [{"input": "", "output": "x"}]})),
    ("set_eq_hash_collisions", item("P = 2 ** 61 - 1\ndef f(x):\n    return [k * P for k in range(40000)]",
                        {"kind": "call", "entry_point": "f", "compare": "evalplus", "oracle": "set_eq",
                         "cases": [{"args": [[1, 2]], "expected": [1, 2]}]}, time_limit_s=5)),
]


@pytest.mark.parametrize("name,it", RED_TEAM, ids=[a[0] for a in RED_TEAM])
def test_red_team_findings_hold(name, it):
    res, after = judge([it, BENIGN], workers=1)
    never_passes(res)
    assert after["passed"], (name, after)


def test_a_renice_does_not_reach_the_next_sample():
    probe = item("import os\nprint(os.getpriority(os.PRIO_PROCESS, 0))", {"kind": "stdin", "cases": [{"input": "", "output": "?"}]})
    before = judge([probe], workers=1)[0]["cases"][0]["stdout"]
    judge([RED_TEAM[7][1]], workers=1)
    after = judge([probe], workers=1)[0]["cases"][0]["stdout"]
    assert before == after, (before, after)


def test_a_cached_proof_is_used_only_for_its_own_host_setup_and_code():
    from sandbox import selftest

    judging.shutdown()
    judging.prove("firejail", force=True)  # writes the proof
    checks = selftest.cached_proof()
    assert checks and all(ok for _, ok, _ in checks)
    st = os.stat(selftest.PROOF)
    assert st.st_uid == 0 and st.st_mode & 0o077 == 0  # root-only: nobody else can plant one
    data = __import__("json").load(open(selftest.PROOF))
    with open(selftest.PROOF, "w") as f:  # a proof for some other setup or code version
        __import__("json").dump(dict(data, key="0" * 64), f)
    os.chmod(selftest.PROOF, 0o600)
    assert selftest.cached_proof() is None
    with open(selftest.PROOF, "w") as f:  # or one that records a failed check
        __import__("json").dump(dict(data, checks=[["network off", False, "x"]]), f)
    os.chmod(selftest.PROOF, 0o600)
    assert selftest.cached_proof() is None
    judging.shutdown()
    judging.prove("firejail")  # proves again, and keeps the new proof
    assert selftest.cached_proof() is not None


# A second red-team pass, against the fenced zygote and direct runs (reproducers as found): each
# once forced a sandbox_error, wedged the worker, or passed a wrong program.
ROUND_2 = [__import__("json").loads(line) for line in
           (pathlib.Path(__file__).parent / "fixtures" / "sandbox" / "red_team_2.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("it", ROUND_2, ids=[it["id"] for it in ROUND_2])
def test_red_team_round_2(it):
    res, after = judge([dict(it, time_limit_s=2), BENIGN], workers=1)
    assert "sandbox_error" not in statuses(res), res["cases"]
    assert not res["passed"], res["cases"]
    assert after["passed"], after


def test_direct_run_times_are_the_workers_not_the_candidates():
    code = ("import os, time\nos.write(5, b'{\"v\": 2, \"ms\": 0.001}\\n')\nt = time.monotonic()\n"
            "while time.monotonic() - t < 0.3:\n    pass\nos._exit(0)\ndef f(x):\n    return x + 1")
    res = judge([call(code, [{"args": [1], "expected": 2}])])[0]
    assert res["cases"][0]["time_ms"] != 0.001


def test_a_restarted_slot_can_raise_its_cgroup_memory_limit():
    """A jail restarted after a failure reuses its slot's cgroup with the old limit in force; raising
    it must order the memsw and memory writes by the limit in force (EINVAL otherwise), or every
    later item of a larger memory_mb is a sandbox_error."""
    from sandbox import cgroup

    first = cgroup.SlotCgroup(jail.MAX_SLOTS - 1)
    try:
        first.set_memory(128)
        again = cgroup.SlotCgroup(jail.MAX_SLOTS - 1)  # a fresh object: it does not know the 128
        again.set_memory(1024)
        again.set_memory(64)
        res = judge([call("def f():\n    return 2\n", [{"args": [], "expected": 2}], memory_mb=1024),
                     call("def f():\n    return len(bytearray(600 << 20))\n",
                          [{"args": [], "expected": 600 << 20}], memory_mb=1024)], workers=1)
        assert [r["passed"] for r in res] == [True, True], res
    finally:
        first.remove()
