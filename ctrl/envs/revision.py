"""The revision environment: (problem, solution, critique) -> frozen generator -> sandbox verdict.

    outcomes = revise_and_judge(handle, cases, problems, params, test_set="private", mode="full")

A case is a (revision id, problem id, original prompt, previous completion, critique text). The
conversation is CTRL's (``ctrl.prompts.revision_messages``); all revisions of a batch are generated
in one backend call and judged in one ``sandbox.judge`` call (``ctrl.envs.judging``). The revise
stage, critique -> revision evaluation and CTRL's GRPO reward use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ctrl.envs.judging import judge_codes
from ctrl.generation import SamplingParams


@dataclass(frozen=True)
class RevisionCase:
    """One revision to make: ``prompt`` and ``completion`` are the original turn."""

    revision_id: str
    problem_id: str
    prompt: list[dict]
    completion: str
    critique: str


@dataclass
class Revision:
    """A revision and its verdict (``execution`` is the executions-format row)."""

    case: RevisionCase
    prompt: list[dict]
    completion: str
    code: str | None
    code_found: bool
    execution: dict | None = None

    @property
    def passed(self) -> bool | None:
        return None if self.execution is None else self.execution["passed"]


def revise(handle: Any, cases: Sequence[RevisionCase], problems: dict[str, dict],
           params: SamplingParams) -> list[Revision]:
    """The generator's revisions of ``cases`` (one batched generate call; params.n must be 1)."""
    from ctrl.extract import extract_code
    from ctrl.models import generate_texts
    from ctrl.prompts import revision_messages

    if params.n != 1:
        raise ValueError("revise: one revision per case (SamplingParams.n == 1)")
    prompts = [revision_messages(list(c.prompt), c.completion or "", c.critique) for c in cases]
    texts = generate_texts(handle, prompts, params)
    out = []
    for c, prompt, (text,) in zip(cases, prompts, texts):
        ex = extract_code(text, problems[c.problem_id].get("entry_point") or "")
        out.append(Revision(c, prompt, text, ex.code, ex.code_found))
    return out


def judge(revisions: Sequence[Revision], problems: dict[str, dict], *, test_set: str = "private",
          isolation: str = "auto", workers: int | None = None, mode: str = "full") -> None:
    """Set each revision's ``execution`` from one batched sandbox call."""
    items = [dict(rollout_id=r.case.revision_id, problem_id=r.case.problem_id, code=r.code,
                  code_found=r.code_found, skip_reason=None) for r in revisions]
    rows = judge_codes(items, problems, test_set=test_set, isolation=isolation,
                       workers=workers, mode=mode) if items else []
    for r, e in zip(revisions, rows):
        r.execution = e


def revise_and_judge(handle: Any, cases: Sequence[RevisionCase], problems: dict[str, dict],
                     params: SamplingParams, **judge_kw: Any) -> list[Revision]:
    """``revise`` then ``judge`` (keywords: test_set, isolation, workers, mode)."""
    revisions = revise(handle, cases, problems, params)
    judge(revisions, problems, **judge_kw)
    return revisions
