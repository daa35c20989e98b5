"""Execution feedback as text: CTRL hints for critique synthesis and RLEF multi-turn feedback.

Reads one judge result or ``executions`` row (``{passed, n_cases, n_passed, status, cases:
[{status, time_ms, stdout, stderr, input, expected}], ...}``, see docs/internals.md) and writes
no table: the critique-synthesis and RLEF stages call these renderers.

- ``ctrl_hint(execution, seed=...) -> (hint_kind, hint_text)``: the hint CTRL's synthesizer sees
  (kinds ``all_pass``, ``all_fail``, ``partial``, ``timeout``, ``error``). A ``partial`` hint shows
  ONE failing case, chosen deterministically from the seed and the rollout id.
- ``rlef_feedback(execution, max_tokens=1024) -> str``: the user turn RLEF appends after a failed
  attempt: every failing public test with one of four messages (wrong output with expected vs.
  got, the stack trace, too slow, out of memory), truncated to a token budget, ending with a
  request to try again.
- ``merge_executions(rows)``: one result from a rollout's per-test-set rows (e.g. public +
  private), for hints over all tests.

Tokens are approximated as characters / 4 unless a ``count_tokens`` callable is given.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Iterable

HINT_KINDS = ("all_pass", "all_fail", "partial", "timeout", "error")
FAIL_STATUSES = ("wrong_answer", "runtime_error", "timeout", "memory_limit", "output_limit",
                 "syntax_error", "sandbox_error")
RETRY_REQUEST = ("Fix the code so that it passes these tests (and the hidden ones). "
                 "Give it another try: answer with the complete corrected solution.")

NO_CODE_RULE = "no_code"  # executions.judge_rule of a rollout that had no code to run
TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """A cheap token estimate: one token per 4 characters (rounded up)."""
    return (len(text) + 3) // 4


def _cases(execution: dict) -> list[dict]:
    return list(execution.get("cases") or [])


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _clip(text: str, max_chars: int) -> str:
    """Keep the head and the tail of a long text, marking what was cut."""
    text = _text(text)
    if len(text) <= max_chars:
        return text
    if max_chars < 40:
        return text[: max(max_chars, 0)]
    head = max_chars * 2 // 3
    tail = max_chars - head - 25
    cut = len(text) - head - tail
    return f"{text[:head]}…[{cut} chars cut]…{text[-tail:]}"


def _actual(case: dict) -> str:
    """What the program produced: an explicit ``actual``/``got`` field, else its stdout."""
    for name in ("actual", "got"):
        if case.get(name) is not None:
            return _text(case[name])
    return _text(case.get("stdout"))


_FRAME = re.compile(r'^\s*File "([^"]*)", line (\d+)(?:, in (.*))?$')
_INTERNAL = ("<sandbox-worker>",)  # frames of the judge itself: noise for a model


def _lines(text: str) -> list[str]:
    return [ln for ln in _text(text).rstrip().splitlines() if ln.strip()]


def clean_traceback(stderr: str, code: str | None = None) -> str:
    """The candidate's traceback without judge-internal frames and ``[judge]`` notes.

    With ``code``, frames in ``<candidate>`` get their source line back (the sandbox runs code
    from a string, so Python cannot show it). When only judge notes remain, they are returned
    without their prefix (e.g. ``SyntaxError: ... (<candidate>, line 1)``).
    """
    lines, src = _lines(stderr), (code or "").splitlines()
    out: list[str] = []
    for i, ln in enumerate(lines):
        m = _FRAME.match(ln)
        if ln.strip().startswith("[judge]") or (m and m.group(1) in _INTERNAL):
            continue
        out.append(ln)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if m and m.group(1) == "<candidate>" and src and (not nxt.startswith("    ")
                                                          or _FRAME.match(nxt)):
            n = int(m.group(2))
            if 1 <= n <= len(src) and src[n - 1].strip():
                out.append("    " + src[n - 1].strip())
    if not [ln for ln in out if not ln.startswith("Traceback")]:
        notes = [ln.strip()[len("[judge]"):].strip() for ln in lines
                 if ln.strip().startswith("[judge]")]
        return "\n".join(notes)
    return "\n".join(out)


def traceback_tail(stderr: str, n_lines: int = 6, code: str | None = None) -> str:
    """The last ``n_lines`` lines of the cleaned traceback (the failing frames and the error)."""
    return "\n".join(clean_traceback(stderr, code).splitlines()[-n_lines:])


def error_line(stderr: str, code: str | None = None) -> str:
    """The exception line of a traceback (``ValueError: ...``), or its last line."""
    lines = _lines(clean_traceback(stderr, code))
    return lines[-1].strip() if lines else ""


def failing_source_line(stderr: str, code: str | None = None) -> str:
    """The source line of the innermost traceback frame that shows one, or ``""``."""
    lines = clean_traceback(stderr, code).splitlines()
    found = ""
    for i, ln in enumerate(lines[:-1]):
        if _FRAME.match(ln) and not _FRAME.match(lines[i + 1]) and lines[i + 1].strip():
            nxt = lines[i + 1].strip()
            if not re.match(r"^\w*(Error|Exception|Interrupt)\b", nxt):
                found = nxt
    return found


# ---------------------------------------------------------------- CTRL hints


def _no_code(execution: dict) -> bool:
    """True for the executions row of a rollout without runnable code (nothing was judged)."""
    return (execution.get("judge_rule") == NO_CODE_RULE or execution.get("code_found") is False
            or execution.get("status") == "no_code")


def hint_kind(execution: dict) -> str:
    """Which CTRL hint applies: error > all_pass > timeout > all_fail > partial."""
    cases = _cases(execution)
    statuses = [c.get("status") for c in cases]
    if (execution.get("status") in ("syntax_error", "sandbox_error") or _no_code(execution)
            or not cases or "syntax_error" in statuses or "sandbox_error" in statuses):
        return "error"
    if execution.get("passed") and all(s == "pass" for s in statuses):
        return "all_pass"
    if "timeout" in statuses or "memory_limit" in statuses:
        return "timeout"
    if not any(s == "pass" for s in statuses):
        return "all_fail"
    return "partial"


def _seeded_index(n: int, seed: int, salt: str) -> int:
    digest = hashlib.sha256(f"{seed}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def _case_for_hint(case: dict, max_chars: int, code: str | None) -> str:
    parts = []
    if case.get("input") not in (None, ""):
        parts.append(f"Input:\n{_clip(case['input'], max_chars)}")
    if case.get("status") == "runtime_error":
        src = failing_source_line(case.get("stderr", ""), code)
        if src:
            parts.append(f"Failing line: {_clip(src, max_chars)}")
        err = error_line(case.get("stderr", ""), code) or "the program crashed"
        parts.append(f"Error: {_clip(err, max_chars)}")
        return "\n".join(parts)
    if case.get("expected") not in (None, ""):
        parts.append(f"Expected output:\n{_clip(case['expected'], max_chars)}")
    if case.get("status") == "output_limit":
        parts.append("Actual output: too much output (the output limit was exceeded)")
    else:
        got = _actual(case)
        if got.strip():
            parts.append(f"Actual output:\n{_clip(got, max_chars)}")
        elif case.get("stderr"):
            parts.append(f"Result: {_clip(error_line(case['stderr'], code), max_chars)}")
        else:
            parts.append("Actual output: (nothing)")
    return "\n".join(parts)


def _error_hint(execution: dict, code: str | None) -> str:
    cases = _cases(execution)
    statuses = {c.get("status") for c in cases}
    if _no_code(execution):
        return ("The response contains no code block that could be run. A complete solution in "
                "the requested format is needed.")
    if execution.get("status") == "no_tests":
        return "There are no tests for this solution; judge it from the code alone."
    if "sandbox_error" in statuses or execution.get("status") == "sandbox_error":
        return ("The solution could not be executed because of an infrastructure problem, so "
                "nothing is known about its correctness; judge it from the code alone.")
    bad = next((c for c in cases if c.get("status") == "syntax_error"), None)
    detail = error_line(bad.get("stderr", ""), code) if bad else ""
    text = "The code does not compile: it has a syntax error, so no test can run."
    return f"{text}\n{detail}" if detail else text


def ctrl_hint(execution: dict, *, seed: int, max_chars: int = 600,
              code: str | None = None) -> tuple[str, str]:
    """The CTRL execution hint for one execution (or merged executions) of a solution.

    Args:
        execution: a judge result or executions row (see module docstring).
        seed: picks the failing case shown in a ``partial`` hint (mixed with ``rollout_id``
            so that rollouts differ but a rerun is identical).
        max_chars: each shown field (input, expected, actual) is clipped to this length.
        code: the solution's code (default: ``execution["code"]`` if present), used to show
            the failing source line, which the sandbox's tracebacks cannot show.

    Returns:
        ``(hint_kind, hint_text)`` with hint_kind one of ``HINT_KINDS``.
    """
    kind = hint_kind(execution)
    cases = _cases(execution)
    code = code if code is not None else execution.get("code")
    n, n_ok = len(cases), sum(c.get("status") == "pass" for c in cases)
    if kind == "error":
        return kind, _error_hint(execution, code)
    if kind == "all_pass":
        return kind, (f"The solution passes all {n} tests. It is correct: write a short, "
                      "positive critique.")
    if kind == "timeout":
        slow = sum(c.get("status") == "timeout" for c in cases)
        mem = sum(c.get("status") == "memory_limit" for c in cases)
        what = []
        if slow:
            what.append(f"exceeds the time limit on {slow} of {n} tests")
        if mem:
            what.append(f"exceeds the memory limit on {mem} of {n} tests")
        return kind, (f"The solution {' and '.join(what)}. It must become more efficient "
                      "(a better algorithm or data structure), not just be fixed locally.")
    if kind == "all_fail":
        text = (f"The solution fails every one of the {n} tests. The approach is wrong: rather "
                "than patching it, start afresh with a different approach.")
        errs = {error_line(c.get("stderr", ""), code) for c in cases
                if c.get("status") == "runtime_error"}
        if len(errs) == 1 and all(c.get("status") == "runtime_error" for c in cases):
            text += f"\nEvery run raised: {_clip(errs.pop(), max_chars)}"
        return kind, text
    failing = [c for c in cases if c.get("status") != "pass"]
    pick = failing[_seeded_index(len(failing), seed, str(execution.get("rollout_id", "")))]
    return kind, (f"The solution passes {n_ok} of {n} tests. One failing test:\n"
                  + _case_for_hint(pick, max_chars, code))


# ---------------------------------------------------------------- RLEF feedback

_MESSAGES = {
    "timeout": "Your code took too long: it exceeded the time limit{limit}.",
    "memory_limit": "Your code ran out of memory{limit}.",
    "output_limit": "Your code printed too much output.",
    "sandbox_error": "This test could not be run (a problem on our side, not in your code).",
}


def _rlef_case(i: int, case: dict, field_chars: int, execution: dict, code: str | None) -> str:
    lines = [f"Test {i}:"]
    if case.get("input") not in (None, ""):
        lines.append(f"Input:\n{_clip(case['input'], field_chars)}")
    st = case.get("status")
    if st in ("runtime_error", "syntax_error"):
        tb = traceback_tail(case.get("stderr", ""), 8, code) or "(no traceback was captured)"
        lines.append(f"Your code raised an exception:\n{_clip(tb, field_chars * 2)}")
    elif st in _MESSAGES:
        limit = ""
        if st == "timeout" and execution.get("time_limit_s"):
            limit = f" of {execution['time_limit_s']} s"
        if st == "memory_limit" and execution.get("memory_mb"):
            limit = f" of {execution['memory_mb']} MB"
        lines.append(_MESSAGES[st].format(limit=limit))
    else:
        if case.get("expected") not in (None, ""):
            lines.append(f"Expected output:\n{_clip(case['expected'], field_chars)}")
        got = _actual(case)
        if got.strip() or not case.get("stderr"):
            lines.append(f"Got:\n{_clip(got, field_chars) if got.strip() else '(nothing)'}")
        else:
            lines.append(f"Got: {_clip(error_line(case['stderr'], code), field_chars)}")
    return "\n".join(lines)


def rlef_feedback(execution: dict, *, max_tokens: int = 1024,
                  count_tokens: TokenCounter | None = None, code: str | None = None) -> str:
    """The RLEF user turn after an attempt: failing public tests, then a request to retry.

    Args:
        execution: the judge result / executions row of the attempt on the public tests.
        max_tokens: budget for the whole message; tests that do not fit are counted, not shown.
        count_tokens: token counter (e.g. ``lambda s: len(tok.encode(s))``); default chars / 4.
        code: the attempt's code (default ``execution["code"]``), to show failing source lines.

    Returns:
        The feedback text; for a passing attempt a one-line confirmation.
    """
    count = count_tokens or approx_tokens
    cases = _cases(execution)
    code = code if code is not None else execution.get("code")
    if _no_code(execution):
        return ("Your answer did not contain any code I could run. Answer with the complete "
                "solution in a single code block. Give it another try.")
    if execution.get("passed") and cases and all(c.get("status") == "pass" for c in cases):
        return f"Your code passed all {len(cases)} public tests."
    failing = [(i, c) for i, c in enumerate(cases, 1) if c.get("status") != "pass"]
    if not failing:
        return "Your code could not be tested (no test result was recorded). " + RETRY_REQUEST
    header = f"Your code failed {len(failing)} of {len(cases)} public tests:"
    if any(c.get("status") == "syntax_error" for _, c in failing):
        header = "Your code does not compile, so every public test failed:"
        failing = failing[:1]
    budget = max_tokens - count(header) - count(RETRY_REQUEST) - 16
    field_chars = max(60, min(1200, budget))
    blocks: list[str] = []
    for i, case in failing:
        # the first failing test may be clipped hard; later ones are left out rather than mangled
        floor = 60 if not blocks else 200
        block = _rlef_case(i, case, field_chars, execution, code)
        while count(block) > budget and field_chars > floor:
            field_chars = max(floor, field_chars // 2)
            block = _rlef_case(i, case, field_chars, execution, code)
        if count(block) + 2 > budget:
            break
        blocks.append(block)
        budget -= count(block) + 2
    omitted = len(failing) - len(blocks)
    plural = "s" if omitted > 1 else ""
    tail = [f"({omitted} more failing test{plural} not shown.)"] if omitted else []
    return "\n\n".join([header, *blocks, *tail, RETRY_REQUEST])


# ---------------------------------------------------------------- helpers


def merge_executions(rows: Iterable[dict]) -> dict:
    """One result from several executions rows of the same rollout (e.g. public + private).

    Cases are concatenated in the given order; ``passed`` is True only when every row passed,
    and None (unknown) when any row is a sandbox error. Rows of test sets without cases
    (status ``no_tests``) are left out.
    """
    rows = [r for r in rows if r.get("status") != "no_tests"] or list(rows)
    if not rows:
        raise ValueError("merge_executions: no rows given; pass the rollout's executions rows")
    ids = {r.get("rollout_id") for r in rows}
    if len(ids) > 1:
        raise ValueError(f"merge_executions: rows of different rollouts {sorted(map(str, ids))}; "
                         "group rows by rollout_id first")
    cases = [c for r in rows for c in _cases(r)]
    statuses = [r.get("status") for r in rows]
    first_bad = next((s for s in statuses if s not in (None, "pass")), "pass")
    passed: bool | None = all(bool(r.get("passed")) for r in rows)
    if "sandbox_error" in statuses:  # unknown, not failed: keep it apart
        first_bad, passed = "sandbox_error", None
    merged = dict(rows[0])
    merged.update(passed=passed, cases=cases,
                  n_cases=len(cases), n_passed=sum(c.get("status") == "pass" for c in cases),
                  status=first_bad, test_set="+".join(str(r.get("test_set")) for r in rows))
    return merged
