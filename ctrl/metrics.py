"""Evaluation metrics for critique → revision: pass@1, Δ↑/Δ↓, discrimination F1, bootstrap CIs.

Definitions (CTRL paper):

- pass@1 = mean over samples of "the code passes all private tests".
- Δ↑ (``delta_up``) = fraction of ALL samples that go failed → passed after revision; Δ↓
  (``delta_down``) = passed → failed. Hence ``pass1_after == pass1_before + delta_up - delta_down``
  exactly (same denominator).
- Discrimination: the critic's judgment (``correct``/``incorrect``/``None``) against the execution
  result of the judged code. F1 on the Passed class (positive = judged ``correct``), on the Failed
  class (positive = judged ``incorrect``), and their mean (macro-F1). A missing judgment is wrong for
  either class: a false negative, never a false positive. ``parse_rate`` is the share of parsable
  judgments.
- Confidence intervals: percentile bootstrap over PROBLEMS (samples of one problem move together,
  since they are correlated), seeded, ``n_resamples`` draws.

Everything here is pure Python + numpy: no model, no store.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Samples = dict[str, np.ndarray]


def pass_at_1(passed: Sequence[bool]) -> float:
    """Mean pass rate over samples (0.0 for no samples)."""
    a = np.asarray(passed, dtype=float)
    return float(a.mean()) if a.size else 0.0


def deltas(before: Sequence[bool], after: Sequence[bool]) -> tuple[float, float]:
    """(Δ↑, Δ↓): fractions of all samples that flip failed→passed and passed→failed."""
    b = np.asarray(before, dtype=bool)
    a = np.asarray(after, dtype=bool)
    if b.shape != a.shape:
        raise ValueError(f"before ({b.size}) and after ({a.size}) must pair up sample by sample")
    if not b.size:
        return 0.0, 0.0
    return float((~b & a).mean()), float((b & ~a).mean())


def _f1(tp: int, fp: int, fn: int) -> float:
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def discrimination(passed: Sequence[bool], judgments: Sequence[str | None]) -> dict[str, float]:
    """Judgment accuracy, F1 per class and macro-F1 of a critic against execution results.

    Args:
        passed: per sample, whether the judged code passed its tests (the truth).
        judgments: per sample, ``"correct"``, ``"incorrect"`` or None (unparsable).

    Returns:
        ``accuracy``, ``f1_passed``, ``f1_failed``, ``f1_macro``, ``parse_rate``.
    """
    p = np.asarray(passed, dtype=bool)
    j = np.asarray([x if x in ("correct", "incorrect") else "" for x in judgments])
    if p.size != j.size:
        raise ValueError(f"{p.size} results but {j.size} judgments")
    if not p.size:
        return dict(accuracy=0.0, f1_passed=0.0, f1_failed=0.0, f1_macro=0.0, parse_rate=0.0)
    say_c, say_i = j == "correct", j == "incorrect"
    f1_p = _f1(int((say_c & p).sum()), int((say_c & ~p).sum()), int((~say_c & p).sum()))
    f1_f = _f1(int((say_i & ~p).sum()), int((say_i & p).sum()), int((~say_i & ~p).sum()))
    acc = float(((say_c & p) | (say_i & ~p)).mean())
    return dict(accuracy=acc, f1_passed=f1_p, f1_failed=f1_f, f1_macro=(f1_p + f1_f) / 2,
                parse_rate=float((say_c | say_i).mean()))


def point_metrics(s: Samples) -> dict[str, float]:
    """All metrics of a sample set with columns ``before``, ``after`` (bool) and optionally
    ``judgment`` (object array of str|None)."""
    out = {"pass1_before": pass_at_1(s["before"])}
    if "after" in s:
        up, down = deltas(s["before"], s["after"])
        out.update(pass1_after=pass_at_1(s["after"]), delta_up=up, delta_down=down)
    if "judgment" in s:
        out.update(discrimination(s["before"], list(s["judgment"])))
    return out


def bootstrap(
    groups: Sequence[str],
    columns: Samples,
    stat: Callable[[Samples], dict[str, float]] = point_metrics,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float, float]]:
    """Point estimates with percentile bootstrap intervals, resampling whole groups (problems).

    Args:
        groups: the group (problem id) of each sample.
        columns: per-sample arrays, all of the same length as ``groups``.
        stat: maps a (resampled) column dict to named metrics.
        n_resamples: bootstrap draws; 0 gives degenerate intervals (low = high = value).
        seed: the RNG seed, so intervals are reproducible.
        level: the central coverage of the interval.

    Returns:
        metric name -> (value, ci_low, ci_high).
    """
    cols = {k: np.asarray(v) for k, v in columns.items()}
    point = stat(cols)
    if not len(groups) or n_resamples <= 0:
        return {k: (v, v, v) for k, v in point.items()}
    uniq = sorted(set(groups))
    members = {g: [] for g in uniq}
    for i, g in enumerate(groups):
        members[g].append(i)
    idx_of = [np.asarray(members[g]) for g in uniq]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_resamples):
        pick = rng.integers(0, len(uniq), size=len(uniq))
        idx = np.concatenate([idx_of[i] for i in pick])
        for k, v in stat({c: a[idx] for c, a in cols.items()}).items():
            draws[k].append(v)
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {k: (point[k], float(np.percentile(draws[k], lo_q)), float(np.percentile(draws[k], hi_q)))
            for k in point}
