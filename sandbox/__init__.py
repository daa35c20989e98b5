"""sandbox: fast, isolated judging of untrusted Python programs (standalone; imports nothing of ctrl).

    python -m sandbox judge IN.jsonl [-o OUT.jsonl] [--workers N] [--isolation auto|firejail|none]
    python -m sandbox doctor            # prove the isolation on this host, exit 1 if a check fails
    from sandbox import judge; results = judge(items, workers=None, isolation="auto")

Host setup (root, idempotent): `sh sandbox/setup_host.sh` installs firejail and creates the slot users
ctrl-sbx0..7. The supervisor must run as root (it switches to those users, mounts their homes and
creates the slots' cgroups under its own).

Input item: {"id", "code", "tests", "time_limit_s" (default 2), "memory_mb" (default 256),
"stop_on_timeout" (default true), "mode" ("full" | "reward", default "full"), "return_values" (false)},
tests one of
  {"kind": "stdin", "cases": [{"input": str, "output": str}], "atol"?, "rtol"?}
  {"kind": "call", "entry_point": "f" | "Class.method", "cases": [{"args": [...], "expected": any}],
   "compare"?: "python" | "json" | "evalplus", "atol"?, "oracle"?}
  {"kind": "assert", "cases": ["assert f(1) == 2", ...], "setup"?: str, "entry_point"?, "names"?}
  {"kind": "program", "entry_point": "f", "test": "def check(candidate): ...", "setup"?, "names"?}  (HumanEval)
Values in call args/expected are JSON with tags for what JSON lacks (docs/internals.md): {"$t": [..]}
tuple, {"$s": [..]} set, {"$fs": [..]} frozenset, {"$d": [[k, v], ..]} dict with any keys, {"$f":
"nan"|"inf"|"-inf"}, {"$i": "0x.."} int, {"$b": hex} bytes, {"$c": [re, im]} complex; any other JSON
object is a dict with string keys. Arguments reach the candidate exactly so: key order, tuples, sets.
Result: {"id", "passed", "n_cases", "n_passed", "n_run", "mode", "cases": [{"status", "time_ms",
"stdout", "stderr", "input", "expected", "rule"}], "isolation", "judge_rule"}; text fields truncated
to 2 KB. status is one of pass, wrong_answer, runtime_error, timeout, memory_limit, output_limit,
syntax_error, sandbox_error; `rule` says which comparison rule decided the case.
- For call/assert/program cases `stdout` shows the value the judge compared (the return value or the
  assert's expression), not what the program printed; `stderr` ends with `[judge] ...` notes.
- sandbox_error = the judge's failure, never the candidate's: a malformed item, a jail that failed,
  or a kill from outside the sample (another job's OOM killer, an operator). It is retried once on
  a fresh jail; it is never a verdict, so never score it as 0 (leave it out of a reward).
- mode "reward": the item stops at its first failing case (binary rewards); `cases` then holds the
  cases that ran (n_run of n_cases) and `mode` says so, so a partial run is never read as a full one.
- return_values: call cases carry `value`, the returned value as tagged JSON (e.g. to record the
  outputs of a reference solution at ingest).
- No cases (an empty list): returned at once without running anything, n_cases 0 and passed false.
- Empty code: syntax_error. Code over 1 MB: runtime_error, not run. Missing entry point: runtime_error.
- Limits: time_limit_s is CPU time per case (RLIMIT_CPU) and a case is killed after 1.5 x
  time_limit_s + 0.5 s wall (why: plan.py); memory_mb is RLIMIT_AS per process (min 64) *and* the
  memory of the whole sample (its cgroup: anonymous, shm, memfd and tmpfs pages); a sample has at
  most 64 processes+threads and one CPU's worth of time; stdout/stderr over 8 MB is output_limit.
- stop_on_timeout (default true): once a case times out, the item's later cases are not run and are
  reported as timeout with the stderr note `[judge] not run: an earlier case timed out`.
- Comparison rules (per case as `rule`, see compare.py): stdin token-wise, floats (expected text with
  '.' or an exponent) within an absolute 1e-6; call "python" is Python == with a float tolerance
  only where the expected value is a float, "json" the same with tuples = lists (JSON-sourced
  datasets), "evalplus" evalplus 0.3.1's rule and special oracles; `assert EXPR == LITERAL` is
  Python == outside; other asserts and whole check()s are decided by the test code in the jail.

Design (processes, inside one warm firejail per slot, all as that slot's user):
- W, the worker (worker.py): reads jobs, forks the zygote Z *before its first job*, and per run
  asks Z for a candidate process, sets its rlimits (prlimit), forks a test process when one is
  needed; enforces wall time, kills what a sample left behind, wipes the home.
- Z, the zygote (zygote.py): has never seen a job; installs the fence (fence.py, a seccomp
  filter) on itself once, so every candidate is born behind it; forks each candidate C and reaps
  it and its orphans (Z is the subreaper); lives in the slot's cgroup (cgroup.py), so C is too.
- C, the candidate: behind the fence it cannot signal, trace, renice or re-limit any process
  (itself included, but for its stack), leave its process group, or create SysV/POSIX IPC or keys.
  When every case is a plain call of the entry point with literal arguments ("direct" runs: call
  items, `assert f(1) == 2`, `assert candidate(x) == y`), C makes the calls itself and writes one
  report line per case: what it writes can only be its own answer, and the worker validates it.
- T, the test process (child.py), for every other value item: runs test code with pristine
  builtins, trusted imports of the standard-library modules it names, and the candidate's names
  only as plain data or handles over a wire to C (guard.py: callable and attributes; no truth
  value, equality, length, membership or items, which would be the candidate's own answers);
  T never runs candidate code, and W, Z, T are not dumpable.
- The supervisor (root, outside; judging.py, jail.py) decides every verdict from plain data and
  what it observed: expected values never enter the jail for stdin, call and `== LITERAL` cases;
  values cross the wall through codec.py (base-class methods only, decoded under a cost budget).

Threat model.
Covered (tests/test_sandbox_hostile.py and tests/test_sandbox_reach.py: one property per test):
- escape: no network (--net=none), read-only filesystem except a fresh 128 MB tmpfs home per jail
  start, wiped after each item (files, xattrs, mode and mtime reset); /tmp, /var/tmp, /dev/shm
  read-only; /home, /root, /opt, the repo and the cwd hidden, and so are unix sockets under /run,
  /var/run, /tmp; unprivileged per-slot uid, all capabilities dropped, no_new_privs, seccomp (firejail's
  and the fence), no root in the namespace, clean environment (no secrets inherited).
- reach: test code sees pristine builtins and trusted modules whatever the candidate defines or
  patches; the candidate's process never holds test code or expected values (of its item or any
  other); it cannot signal or slow the worker, zygote or test process; nothing it prints or returns
  can crash or wedge the supervisor (decoding and comparing are total and budgeted; output is
  capped per case and read in linear time).
- resources, per sample: memory (cgroup, shm and tmpfs included), processes (pids.max), CPU (one
  CPU's quota, so fork fan-out cannot multiply time), wall clock per case; RLIMIT_AS/CPU/FSIZE/NOFILE
  per process; no IPC objects or home state survive into the next sample.
- judge tampering: lying __eq__/__class__, subclasses, NaN, printing PASS, exit/os._exit before the
  tests, redefining or patching builtins and modules, forged frames or wire replies, killing or
  stopping anything (denied), reading the stack, gc or raw memory for expected values.
- outside kills (an OOM killer, an operator): a SIGKILL the sample's own limits do not explain is
  `sandbox_error`, retried once; the sample's own memory limit is `memory_limit` (cgroup OOM counter).
- self-test: every jail start re-checks uid/seccomp/caps/no_new_privs and the fence; the first use in
  a process (and `doctor`) proves network off, canary file and env var unreadable, read-only fs,
  SysV IPC denied, signals denied, the sample's cgroup (memory fan-out, pids), a fresh home; if
  isolation cannot be proven nothing runs unless isolation="none" was asked.
Not covered:
- kernel exploits and firejail bugs (the jail shares the host kernel; use a VM for hostile models).
- CPU side channels, and slowing other slots down by using CPU/memory bandwidth within the limits.
- test code itself is trusted: it runs in the jail's test process (never on the host) but we assume
  it is not hostile. A free name it reads that is not a builtin or a standard-library module is the
  candidate's (as plain data or a handle), and so is a declared name (entry_point, names) even when
  it shadows a builtin (MBPP 126 calls its own `sum`): declare only what the problem defines.
- reading world-readable files (e.g. /etc, /usr, /var/lib); keep secrets out of world-readable paths.
- unix sockets created after a jail started, or outside /run, /var/run, /tmp (jails restart after 60 s idle).
- fence syscall numbers are for x86_64 (tested) and aarch64 (not exercised here); other
  architectures refuse to run (the self-test fails) unless isolation="none".
- cgroup v2 is supported but exercised only where the host delegates memory, pids and cpu.
"""

from sandbox.jail import SandboxUnavailable
from sandbox.judging import STATUSES, judge

# Bumped whenever a verdict for the same item can change (comparison rules, what test code sees):
# stages that store verdicts put it in their artifact keys, so no cached verdict of an older judge
# is reused. 2: zygote/fence/test-process design, Python/json/evalplus rules, absolute stdin floats.
JUDGE_VERSION = "2"

__all__ = ["judge", "STATUSES", "SandboxUnavailable", "JUDGE_VERSION"]
