"""Critique prompts (with and without an execution hint), hint-leak detection, template critiques.

The CTRL critique format has three parts: an analysis of the solution, actionable improvement
suggestions (no full solution), and a final line ``Overall judgment: Correct|Incorrect``
(parsed by ``ctrl.judgment``).

- ``critique_messages(problem, solution, hint=None)``: the chat prompt. With a hint (critique
  synthesis, CTRL stage I), the model sees verified execution information and is told not to
  mention it; without (the critic at SFT and evaluation time: context distillation), it sees only
  the problem and the solution. Both prompts share every other word, so the SFT prompt is the
  synthesis prompt minus the hint block.
- ``leaks_hint(critique)``: whether a critique talks about the hint (those are dropped).
- ``template_critique(hint_kind, hint, passed)``: the deterministic critique of the explicitly
  configured ``synthesizer="template"`` fallback (for CPU smoke runs where the tiny default model
  cannot write critiques). It is labelled ``critic_model="template"`` wherever it is stored.

No table is read or written here.
"""

from __future__ import annotations

import re

from ctrl.judgment import judgment_line

SYSTEM = ("You are an expert programmer and a careful code reviewer. You review solutions to "
          "programming problems and give precise, actionable feedback.")

FORMAT = """Write a critique of the solution in exactly three parts:
1. **Analysis**: what the solution does, its strengths and weaknesses, and whether it handles \
every case the problem allows (edge cases, input format, efficiency).
2. **Improvement suggestions**: concrete, actionable changes. Do not write a full corrected solution.
3. **Overall judgment**: end with exactly one final line, either
Overall judgment: Correct
or
Overall judgment: Incorrect"""

HINT_BLOCK = """Verified information about this solution (for you only, from running it on tests):
<information>
{hint}
</information>
Use this information to make your critique accurate, but write as if you found everything by \
reading the code yourself: do not mention this information, the tests it came from, or that you \
were given any help."""


def problem_text(problem: dict) -> str:
    """The problem statement with its public examples and starter code, as the critic sees it."""
    from ctrl.prompts import render_examples

    text = str(problem.get("statement") or "").strip()
    examples = render_examples(problem) if problem.get("public_tests") else ""
    if examples and examples not in text:
        text += f"\n\n{examples}"
    starter = str(problem.get("starter_code") or "").strip()
    if starter:
        text += f"\n\nStarter code:\n```python\n{starter}\n```"
    return text


def solution_text(rollout: dict) -> str:
    """The solution under review: its extracted code, else the raw completion."""
    code = rollout.get("code")
    if code:
        return f"```python\n{str(code).strip()}\n```"
    return str(rollout.get("completion") or "(empty answer)").strip()


def critique_messages(problem: dict, rollout: dict, hint: str | None = None) -> list[dict]:
    """The chat prompt asking for a critique of ``rollout``'s solution to ``problem``.

    Args:
        problem: a ``problems`` row (statement, starter_code).
        rollout: a ``rollouts`` row (code, completion).
        hint: the execution hint (synthesis) or None (the critic's hint-free prompt).

    Returns:
        ``[{"role": "system", ...}, {"role": "user", ...}]``.
    """
    parts = [f"# Problem\n{problem_text(problem)}", f"# Solution\n{solution_text(rollout)}"]
    if hint:
        parts.append(HINT_BLOCK.format(hint=hint.strip()))
    parts.append(FORMAT)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


# Phrases that reveal the critic saw execution information it will not have at test time.
_LEAK_PATTERNS = [
    r"\bhints?\b",
    r"\b(verified|provided|given|additional|supplied) (information|feedback|details|results?)\b",
    r"<\s*/?\s*information\s*>",
    r"\bexecution (results?|feedback|output|information|logs?)\b",
    r"\b(test|execution) results? (show|shows|showed|indicate|indicates|provided|given)\b",
    r"\b(i|we|you) (was|were|am|are|have been) (told|given|shown|provided)\b",
    r"\baccording to the (information|feedback|tests? results?|execution)\b",
    r"\bpasse?s? (all )?\d+ (of|out of) \d+ tests\b",
    r"\bpasses all \d+ tests\b",
    r"\bfails? (every one of the |all )?\d+ (of \d+ )?tests\b",
    r"\bone failing test\b",
]
_LEAK = re.compile("|".join(f"(?:{p})" for p in _LEAK_PATTERNS), re.IGNORECASE)


def leaks_hint(critique: str) -> str | None:
    """The phrase by which a critique reveals the hint, or None when it does not."""
    m = _LEAK.search(critique or "")
    return m.group(0) if m else None


_ANALYSIS = {
    "all_pass": "The solution implements what the problem asks directly and handles the cases "
                "the statement describes, including the boundary inputs.",
    "all_fail": "The approach does not compute what the problem asks: its results are wrong on "
                "typical inputs, not only on corner cases, so the core logic is flawed.",
    "partial": "The solution handles the common cases but not all of them. For example, on this "
               "input its result differs from what the problem requires:",
    "timeout": "The logic looks plausible, but the algorithm is too slow (or uses too much memory) "
               "for the input sizes the problem allows.",
    "error": "The code cannot run as written:",
}
_SUGGEST = {
    "all_pass": "- No functional change is needed; keep the solution as it is.\n"
                "- Optionally add a short comment explaining the key step.",
    "all_fail": "- Start afresh: re-read the specification and the expected output format.\n"
                "- Work through a small example by hand before writing the new version.",
    "partial": "- Trace the example above through the code to find the branch that goes wrong.\n"
               "- Check the edge cases the statement allows (empty, single, repeated values).",
    "timeout": "- Replace the brute-force part with a more efficient algorithm or data structure.\n"
               "- Avoid recomputing results inside loops.",
    "error": "- Fix the error so that the program runs, then re-check the logic on an example.",
}


def _partial_detail(hint: str) -> str:
    """The failing case of a ``partial`` hint (its Input/Expected/Actual block)."""
    _, _, case = hint.partition("One failing test:")
    return case.strip() or hint.strip()


def _error_detail(hint: str) -> str:
    lines = [ln for ln in hint.splitlines() if ln.strip()]
    detail = lines[-1] if len(lines) > 1 else "it does not contain runnable code or fails to compile."
    return detail if not leaks_hint(detail) else "it fails before producing any result."


def template_critique(hint_kind: str, hint: str, passed: bool) -> str:
    """A deterministic three-part critique built from an execution hint (no model involved).

    Args:
        hint_kind: one of ``all_pass``, ``all_fail``, ``partial``, ``timeout``, ``error``.
        hint: the hint text (``ctrl.feedback.ctrl_hint``); only its failing case or error is used.
        passed: the execution result, which sets the judgment.

    Returns:
        The critique text, ending with the judgment line.
    """
    if hint_kind not in _ANALYSIS:
        raise ValueError(f"unknown hint kind {hint_kind!r}; expected one of {sorted(_ANALYSIS)}")
    analysis = _ANALYSIS[hint_kind]
    if hint_kind == "partial":
        analysis += "\n" + _partial_detail(hint)
    elif hint_kind == "error":
        analysis += " " + _error_detail(hint)
    return (f"**Analysis**\n{analysis}\n\n**Improvement suggestions**\n{_SUGGEST[hint_kind]}\n\n"
            + judgment_line("correct" if passed else "incorrect"))
