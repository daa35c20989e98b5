"""Generator prompts (stdin and function problems) and the revision conversation.

``generator_prompt(problem)`` turns a ``problems`` row into chat messages asking for one
```python block. ``revision_messages(prompt, answer, feedback)`` continues that conversation the
way CTRL and RLEF do: the original prompt, the previous answer as the assistant turn, then the
feedback (a critique or execution results) and an instruction to finalize in the same format.
Critique writers and the RLEF loop build their turns with it. Written for ctrl, following the
structure described in the papers (docs in /work/shared/reference/papers.md).
"""

from __future__ import annotations

import json
from typing import Any

Messages = list[dict[str, str]]

MAX_EXAMPLES = 3          # public test cases shown in a prompt
MAX_EXAMPLE_CHARS = 400   # each example is cut to this many characters

FUNCTION_INSTRUCTION = (
    "Write a correct and efficient Python 3 solution. Your solution must define the function "
    "`{entry_point}`. Give the complete code in a single ```python code block."
)
STDIN_INSTRUCTION = (
    "Write a correct and efficient Python 3 program. It must read the input from standard input "
    "and write the answer to standard output. Give the complete program in a single ```python "
    "code block."
)
FINALIZE_INSTRUCTION = (
    "Using the feedback above, write the corrected solution. Give the complete code in a single "
    "```python code block, in the same format as before."
)


def _clip(text: str, limit: int = MAX_EXAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + " ..."


def _tests(problem: dict[str, Any]) -> dict[str, Any]:
    raw = problem.get("public_tests") or "{}"
    try:
        tests = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as e:
        raise ValueError(f"problem {problem.get('problem_id')}: public_tests is not valid JSON "
                         f"({e}); re-run `ctrl ingest` for its source") from e
    return tests if isinstance(tests, dict) else {}


def render_examples(problem: dict[str, Any]) -> str:
    """Up to MAX_EXAMPLES public test cases, rendered for the prompt ("" when there are none).
    Assert cases already quoted in the statement (MBPP puts one there) are not repeated."""
    tests = _tests(problem)
    statement = str(problem.get("statement") or "")
    cases = [c for c in tests.get("cases") or []
             if not (isinstance(c, str) and c.strip() in statement)][:MAX_EXAMPLES]
    kind = tests.get("kind")
    lines: list[str] = []
    if kind == "assert":
        lines = [_clip(str(c)) for c in cases]
        return "Your code should pass these tests:\n```python\n" + "\n".join(lines) + "\n```" \
            if lines else ""
    if kind == "call":
        fn = tests.get("entry_point") or problem.get("entry_point") or "f"
        for c in cases:
            args = ", ".join(repr(a) for a in c.get("args", []))
            lines.append(_clip(f"{fn}({args}) == {c.get('expected')!r}"))
        return "Examples:\n```python\n" + "\n".join(lines) + "\n```" if lines else ""
    if kind == "stdin":
        for i, c in enumerate(cases, 1):
            lines.append(f"Example {i} input:\n```\n{_clip(str(c.get('input', '')))}\n```\n"
                         f"Example {i} output:\n```\n{_clip(str(c.get('output', '')))}\n```")
        return "\n".join(lines)
    return ""


def generator_prompt(problem: dict[str, Any]) -> Messages:
    """Chat messages asking the generator to solve a ``problems`` row.

    Function problems (``entry_point`` set) name the function and show the starter code or
    signature; stdin problems ask for a program reading stdin. Public tests are shown as
    examples unless the statement already contains them (``meta.examples_in_statement``).
    """
    statement = str(problem.get("statement") or "").strip()
    if not statement:
        raise ValueError(f"problem {problem.get('problem_id')}: empty statement; check the "
                         "ingest adapter for its source")
    parts = [statement]
    meta = problem.get("meta")
    meta = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
    if not meta.get("examples_in_statement"):
        examples = render_examples(problem)
        if examples:
            parts.append(examples)
    entry = str(problem.get("entry_point") or "")
    starter = str(problem.get("starter_code") or "").rstrip()
    if entry and problem.get("test_kind") != "stdin":
        if starter and starter not in statement:
            parts.append(f"Start from this code:\n```python\n{starter}\n```")
        parts.append(FUNCTION_INSTRUCTION.format(entry_point=entry))
    else:
        parts.append(STDIN_INSTRUCTION)
    return [{"role": "user", "content": "\n\n".join(parts)}]


def revision_messages(prompt: Messages, previous_answer: str, feedback: str,
                      instruction: str = FINALIZE_INSTRUCTION) -> Messages:
    """The revision conversation: prompt, previous answer (assistant), feedback + instruction.

    Args:
        prompt: the original generation prompt (as stored in ``rollouts.prompt``).
        previous_answer: the previous completion, verbatim (not just its extracted code).
        feedback: a critique or rendered execution feedback.
        instruction: the closing instruction; the default asks for the same ```python format.
    """
    if not prompt or prompt[-1].get("role") != "user":
        raise ValueError("revision_messages: the original prompt must end with a user turn")
    return [dict(m) for m in prompt] + [
        {"role": "assistant", "content": previous_answer},
        {"role": "user", "content": f"{feedback.strip()}\n\n{instruction}"},
    ]
