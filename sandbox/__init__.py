"""sandbox: fast, isolated judging of untrusted Python programs (standalone; imports nothing of ctrl).

    python -m sandbox judge IN.jsonl [-o OUT.jsonl] [--workers N] [--isolation auto|firejail|none]
    python -m sandbox doctor            # prove the isolation on this host, exit 1 if a check fails
    from sandbox import judge; results = judge(items, workers=None, isolation="auto")

Host setup (root, idempotent): `sh sandbox/setup_host.sh` installs firejail and creates the slot users
ctrl-sbx0..7. The supervisor must run as root (it switches to those users and mounts their homes).

Input item: {"id", "code", "tests", "time_limit_s" (default 2), "memory_mb" (default 256),
"stop_on_timeout" (default true)}, tests one of
  {"kind": "stdin", "cases": [{"input": str, "output": str}]}
  {"kind": "call", "entry_point": "f" | "Class.method", "cases": [{"args": [...], "expected": any}], "atol"?}
  {"kind": "assert", "cases": ["assert f(1) == 2", ...], "setup"?: str}
  {"kind": "program", "entry_point": "f", "test": "def check(candidate): ..."}   (HumanEval)
Result: {"id", "passed", "n_cases", "n_passed", "cases": [{"status", "time_ms", "stdout", "stderr",
"input", "expected"}], "isolation", "judge_rule"}; text fields truncated to 2 KB. status is one of
pass, wrong_answer, runtime_error, timeout, memory_limit, output_limit, syntax_error, sandbox_error.
- For call/assert/program cases `stdout` shows the value the judge compared (the return value or the
  assert's expression), not what the program printed; `stderr` ends with `[judge] ...` notes.
- sandbox_error = not the candidate's fault (malformed item, jail failure); never score it as 0.
- No cases (an empty list): returned at once without running anything, n_cases 0 and passed false,
  since nothing was verified; judge_rule says so.
- Empty code: syntax_error. Code over 1 MB: runtime_error, not run. Missing entry point: runtime_error.
- Limits: time_limit_s is CPU time (RLIMIT_CPU) and a case is killed after 1.5 x time_limit_s + 0.5 s
  wall (why: plan.py); memory_mb is RLIMIT_AS (min 64); stdout/stderr over 8 MB is output_limit.
- stop_on_timeout (default true): once a case times out, the item's later cases are not run and are
  reported as timeout with the stderr note `[judge] not run: an earlier case timed out` (a looping
  program costs one wall limit, not one per case). false runs every case whatever happened before.
- Comparison rules (recorded per result as judge_rule, see compare.py): stdin token-wise, a token
  whose expected text has a '.' matches within abs or rel 1e-6; call values compared structurally
  (tuples = lists, NaN = NaN, bool only bool, atol default 1e-9 plus rel 1e-9).

Design. One warm firejail per worker slot runs a small server (worker.py) under /usr/bin/python3 -s -P as
that slot's user; per item it forks a child (child.py) that sets rlimits and runs the cases, reporting
on a pipe. Each process claims free slots through lock files, so concurrent judging processes share
the 8 slot users safely. The supervisor (root, outside) decides every verdict from what it observed:
expected values never enter the jail (stdin outputs, call results, `assert EXPR == LITERAL` split into
EXPR inside and the literal outside), and return values cross the wall as data serialized with
base-class methods only (codec.py). Verdicts that can only be computed inside (`assert f(x)`,
`assert abs(f(x) - y) < tol`, a whole `check()`) use two processes (guard.py): the candidate runs in
one, the test in another that reports and only ever sees plain data or remote handles.

Threat model.
Covered (tests/test_sandbox_hostile.py has one attack per property):
- escape: no network (--net=none), read-only filesystem except a fresh 128 MB tmpfs home per jail
  start, wiped after each item; /tmp, /var/tmp, /dev/shm read-only; /home, /root, /opt, the repo and
  the cwd hidden, and so are unix sockets under /run, /var/run, /tmp (docker.sock, dbus, databases:
  --net=none does not cover those); unprivileged per-slot uid (root-only files unreadable), all capabilities dropped,
  no_new_privs, seccomp, no root in the namespace, clean environment (no secrets inherited).
- resources: RLIMIT_AS/CPU/FSIZE/NOFILE per run, RLIMIT_NPROC per slot uid, wall clock enforced by
  the worker and, above it, by the supervisor; after every item all other processes of the jail are
  killed, so fork bombs and daemons do not starve the next sample.
- judge tampering: lying __eq__/__class__, subclasses of the expected type, NaN, printing PASS,
  exit/os._exit before the tests, patching builtins or modules the test uses, rewriting the test code
  (compile/exec patched), killing or stopping the worker (case fails, jail restarted), fake report
  lines (expected values are never inside; in-jail verdicts come from a process the candidate cannot
  reach), stealing the nonce off the stack, garbled reports, huge or deeply nested return values.
- self-test: every jail start re-checks uid/seccomp/caps/no_new_privs; the first use in a process
  (and `doctor`) proves network off, canary file and env var unreadable, read-only fs and the process
  limit from inside; if isolation cannot be proven nothing runs unless isolation="none" was asked.
Not covered:
- kernel exploits and firejail bugs (the jail shares the host kernel; use a VM for hostile models).
- CPU side channels, and slowing other slots down by using CPU/memory bandwidth within the limits.
- test code itself is trusted: it runs in the jail (never on the host) but we assume it is not hostile.
  Arguments the test passes to the candidate must be plain data (or values the candidate returned).
- reading world-readable files (e.g. /etc, /usr, /var/lib); keep secrets out of world-readable paths.
- unix sockets created after a jail started, or outside /run, /var/run, /tmp (jails restart after 60 s idle).
"""

from sandbox.jail import SandboxUnavailable
from sandbox.judging import STATUSES, judge

__all__ = ["judge", "STATUSES", "SandboxUnavailable"]
