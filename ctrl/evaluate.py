"""Evaluation of a critic by critique → revision: pass@1 before/after, Δ↑/Δ↓, judgment F1.

Reads ``problems``, the generator's ``rollouts`` on a benchmark split and their ``executions``;
with a critic, materializes its hint-free ``critiques`` (origin ``critic``, ``ctrl.critique.
criticize``) and the generator's ``revisions`` (``ctrl.revise``) as their own cached artifacts.
Writes ``eval_results`` (``benchmark, generator, critic, critic_model, metric, value, ci_low,
ci_high, n``; the catalog adds ``artifact``) and, inside that artifact's directory,
``report/report.md`` (a markdown table) and ``report/pass1.png`` (pass@1 before/after per critic
with CIs). The report also shows earlier eval artifacts of the same benchmark and generator, so
running once per critic builds up the comparison; the manifest's ``report`` names the files.

Critic: ``None``/``"none"`` (no critique: pass@1 before only), ``"self"`` (the generator
critiques itself: the untrained baseline), a store model key (e.g. the SFT critic) or a model id.

Metrics (``ctrl.metrics``): ``pass1_before``, ``pass1_after``, ``delta_up``, ``delta_down`` (both
over ALL samples, so after = before + Δ↑ − Δ↓), ``accuracy``, ``f1_passed``, ``f1_failed``,
``f1_macro``, ``parse_rate`` of the critic's judgments against the executions; 95% percentile
bootstrap CIs over problems, seeded. With ``rounds > 1`` (test-time scaling) each round's
critic critiques the previous round's revision (``revision_rollouts`` artifacts, ``turn`` = round)
and ``pass1_roundK`` rows are added; ``pass1_after`` is the last round; ``stop_on_correct`` keeps
a solution the critic judged Correct (the paper) instead of revising it (the released code). The
judgment metrics are always those of round 1 (the critic judging the original solutions). Samples whose execution hit a sandbox error are excluded
(counted in the manifest as ``excluded``).

Run: ``ctrl eval --critic self`` or ``ctrl eval --critic <sft model key>``.
"""

from __future__ import annotations

import dataclasses

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ctrl.fingerprint import code_version
from ctrl.generation import GenerationConfig, generation
from ctrl import cli_args
from ctrl.config import ConfigError, doc, to_dict
from ctrl.critique import CriticConfig, criticize, load_inputs
from ctrl.models import ModelPool, fingerprint as model_weights
from ctrl.metrics import bootstrap, pass_at_1, point_metrics
from ctrl.revise import ReviseConfig
from ctrl.revise import run as revise_run
from sandbox import JUDGE_VERSION

log = logging.getLogger("ctrl.evaluate")
# revisions are judged: a new judge is a new key; metrics, prompts, judgment parsing are code
VERSION = code_version("1+judge" + JUDGE_VERSION, __name__, "ctrl.metrics", "ctrl.critic_prompts",
                       "ctrl.prompts", "ctrl.judgment", "ctrl.extract", "ctrl.models", "ctrl.envs",
                       "ctrl.backends.transformers")
SCHEMA = pa.schema([
    ("benchmark", pa.string()), ("generator", pa.string()), ("critic", pa.string()),
    ("critic_model", pa.string()), ("metric", pa.string()), ("value", pa.float64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("n", pa.int64()),
])
ORDER = ["pass1_before", "pass1_after", "delta_up", "delta_down", "accuracy", "f1_passed",
         "f1_failed", "f1_macro", "parse_rate"]


@dataclass(frozen=True)
class EvalConfig:
    """Critique → revision evaluation of one critic on one benchmark split."""

    generation: GenerationConfig = generation(
        "the generator that revises (model: the rollouts' model) and the sampling of critic and "
        "reviser (0 = greedy); a trained critic runs with the same settings",
        temperature=0.0, max_new_tokens=1024)
    benchmark: str = doc("benchmark label; '' = '<source>/<split>' of the problems", "")
    test_set: str = doc("tests that decide pass/fail: private | public", "private")
    n_resamples: int = doc("bootstrap resamples over problems (0 = no intervals)", 1000)
    ci_level: float = doc("central coverage of the bootstrap intervals", 0.95)
    isolation: str = doc("sandbox isolation for revisions: auto | firejail | none", "auto")
    rounds: int = doc("critique -> revision rounds (test-time scaling; paper: up to 8)", 1)
    stop_on_correct: bool = doc("keep a solution once the critic judges it Correct (the "
                                "paper) instead of revising it anyway (its released code)", False)
    seed: int = doc("seed of the bootstrap (sampling: generation.seed)", 0)
    shard_size: int = doc("rollouts per critique/revision shard", 16)

    def __post_init__(self) -> None:
        if self.test_set not in ("private", "public"):
            raise ConfigError(f"test_set={self.test_set!r}: use private or public")
        if self.rounds < 1:
            raise ConfigError(f"rounds={self.rounds}: use at least 1 critique -> revision round")
        if not 0 < self.ci_level < 1 or self.n_resamples < 0:
            raise ConfigError("ci_level must lie in (0, 1) and n_resamples be >= 0")


def critic_label(critic: str | None) -> str:
    return "none" if critic in (None, "", "none") else critic


def revision_rollouts(store: Any, *, rollouts: str, critiques: str, revisions: str,
                      round_: int, stop_on_correct: bool) -> str:
    """A rollouts artifact holding each solution after a revision round (turn = round), so
    the next round's critic and reviser read it like any rollout. With ``stop_on_correct``,
    solutions the critic judged Correct keep their previous code."""
    from ctrl.rollout import SCHEMA as ROLLOUT_SCHEMA
    from ctrl.stage import materialize

    def items() -> list[dict]:
        judg = {c["rollout_id"]: c["judgment"]
                for c in store.read_table("critiques", critiques).to_pylist()}
        revs = {v["rollout_id"]: v for v in store.read_table("revisions", revisions).to_pylist()}
        out = []
        for r in sorted(store.read_table("rollouts", rollouts).to_pylist(),
                        key=lambda r: r["rollout_id"]):
            v = revs.get(r["rollout_id"])
            if v is not None and not (stop_on_correct and judg.get(r["rollout_id"]) == "correct"):
                r = r | dict(completion=v["completion"], code=v["code"],
                             code_found=v["code_found"], extract_method=None,
                             finish_reason=None, n_tokens=None)
            out.append(r | {"turn": round_})
        return out

    return materialize(store, stage="revision_rollouts", table="rollouts", version=VERSION,
                       config={"round": round_, "stop_on_correct": stop_on_correct},
                       inputs={"rollouts": rollouts, "critiques": critiques,
                               "revisions": revisions},
                       items=items, process=lambda chunk: chunk, shard_size=100_000,
                       schema=ROLLOUT_SCHEMA, desc="revision_rollouts").key


def _rounds(store: Any, cfg: EvalConfig, critic: str, *, problems: str, rollouts: str,
            before: dict[str, Any]) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Critique -> revision rounds: (judgments per round, passed per round, artifact keys)."""
    model = cfg.generation.model if critic == "self" else critic
    ccfg = CriticConfig(generation=dataclasses.replace(cfg.generation, model=model),
                        shard_size=cfg.shard_size)
    rcfg = ReviseConfig(generation=cfg.generation, test_set=cfg.test_set,
                        isolation=cfg.isolation, shard_size=cfg.shard_size)
    judgments, passed, keys = [], [], {"critiques": [], "revisions": []}
    current, now = rollouts, dict(before)
    pool = ModelPool(store)  # critic and generator handles stay loaded across rounds
    for k in range(1, cfg.rounds + 1):
        crit = criticize(store, ccfg, rollouts=current, problems=problems, pool=pool)
        rev = revise_run(store, rcfg, critiques=crit.key, problems=problems, rollouts=current,
                         pool=pool)
        judg = {c["rollout_id"]: c["judgment"]
                for c in store.read_table("critiques", crit.key).to_pylist()}
        revised = {v["rollout_id"]: v["passed"]
                   for v in store.read_table("revisions", rev.key).to_pylist()}
        now = {rid: (now[rid] if cfg.stop_on_correct and judg.get(rid) == "correct"
                     else revised.get(rid)) for rid in now}
        judgments.append(judg)
        passed.append(now)
        keys["critiques"].append(crit.key)
        keys["revisions"].append(rev.key)
        if k < cfg.rounds:
            current = revision_rollouts(store, rollouts=current, critiques=crit.key,
                                        revisions=rev.key, round_=k,
                                        stop_on_correct=cfg.stop_on_correct)
    return judgments, passed, keys


def _samples(store: Any, cfg: EvalConfig, *, problems: str, rollouts: str, executions: str,
             critic: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-sample columns (before, after[_rK], judgment) and bookkeeping for the manifest."""
    rows, probs, execs = load_inputs(store, rollouts=rollouts, problems=problems,
                                     executions=executions, test_set=cfg.test_set)
    rows = sorted((r for r in rows if not r.get("skip_reason")), key=lambda r: r["rollout_id"])
    missing = [r["rollout_id"] for r in rows if r["rollout_id"] not in execs]
    if missing:
        raise ConfigError(f"{len(missing)} rollouts have no {cfg.test_set} execution in "
                             f"{executions} (e.g. {missing[:3]}); run `ctrl execute` on these rollouts")
    before = {r["rollout_id"]: execs[r["rollout_id"]]["passed"] for r in rows}
    info: dict[str, Any] = {}
    judgments: list[dict] = []
    passed: list[dict] = []
    if critic_label(critic) != "none":
        judgments, passed, keys = _rounds(store, cfg, critic, problems=problems,
                                          rollouts=rollouts, before=before)
        info.update(keys)
    keep = [r["rollout_id"] for r in rows if before[r["rollout_id"]] is not None
            and all(p.get(r["rollout_id"]) is not None for p in passed)]
    info["excluded"] = len(rows) - len(keep)
    info["excluded_ids"] = sorted(set(before) - set(keep))[:100]
    if info["excluded"]:
        log.warning("eval: %d samples excluded (sandbox errors)", info["excluded"])
    cols: dict[str, Any] = {"before": np.array([bool(before[i]) for i in keep], dtype=bool)}
    if passed:
        cols["judgment"] = np.array([judgments[0].get(i) for i in keep], dtype=object)
        for k, p in enumerate(passed, 1):
            cols[f"after_r{k}"] = np.array([bool(p[i]) for i in keep], dtype=bool)
        cols["after"] = cols[f"after_r{len(passed)}"]
    by_id = {r["rollout_id"]: r for r in rows}
    info["benchmark"] = cfg.benchmark or ",".join(sorted(
        {f"{probs[r['problem_id']]['source']}/{probs[r['problem_id']]['split']}" for r in rows}))
    info["groups"] = [by_id[i]["problem_id"] for i in keep]
    return cols, info


def _stat(cols: dict[str, Any]) -> dict[str, float]:
    out = point_metrics({k: v for k, v in cols.items() if not k.startswith("after_r")})
    rounds = sorted(k for k in cols if k.startswith("after_r"))
    if len(rounds) > 1:
        out.update({f"pass1_round{k[len('after_r'):]}": pass_at_1(cols[k]) for k in rounds})
    return out


def result_rows(cols: dict[str, Any], info: dict[str, Any], cfg: EvalConfig,
                critic: str | None) -> list[dict]:
    """eval_results rows: one per metric with its bootstrap interval."""
    stats = bootstrap(info["groups"], cols, _stat, n_resamples=cfg.n_resamples, seed=cfg.seed,
                      level=cfg.ci_level)
    label = critic_label(critic)
    model = cfg.generation.model if critic == "self" else label
    names = [m for m in ORDER if m in stats] + sorted(m for m in stats if m not in ORDER)
    return [dict(benchmark=info["benchmark"], generator=cfg.generation.model, critic=label,
                 critic_model=model, metric=m, value=stats[m][0], ci_low=stats[m][1],
                 ci_high=stats[m][2], n=len(info["groups"]))
            for m in names]


def run(store: Any, cfg: EvalConfig, *, problems: str, rollouts: str, executions: str,
        critic: str | None = None) -> Any:
    """Evaluate ``critic`` (see module docstring); returns the eval_results StageResult."""
    from ctrl.stage import Outputs, materialize_tables

    inputs = {"problems": problems, "rollouts": rollouts, "executions": executions,
              "critic": critic_label(critic)}
    if inputs["critic"] != "none":  # the weights, not just the names, key the results
        inputs["generator_weights"] = model_weights(store, cfg.generation.model)
        critic_model = cfg.generation.model if critic == "self" else str(critic)
        inputs["critic_weights"] = model_weights(store, critic_model)
    conf = to_dict(cfg)
    state: dict[str, Any] = {}

    def items() -> list[int]:  # only on a miss: a cache hit samples nothing
        state["cols"], state["info"] = _samples(store, cfg, problems=problems, rollouts=rollouts,
                                                executions=executions, critic=critic)
        return [0]

    def process(_: list[int]) -> dict[str, list[dict]]:
        return {"eval_results": result_rows(state["cols"], state["info"], cfg, critic)}

    def extra(out: Outputs) -> dict[str, dict[str, Any]]:
        rows = out.read("eval_results").to_pylist()
        report = write_report(store, out.key, rows, conf, inputs)
        metrics = {r["metric"]: r["value"] for r in rows}
        return {"eval_results": {"metrics": metrics, "report": report,
                                 **{k: v for k, v in state["info"].items() if k != "groups"}}}

    return materialize_tables(
        store, stage="evaluate", version=VERSION, config=conf, inputs=inputs,
        tables={"eval_results": SCHEMA}, items=items, process=process, shard_size=1,
        extra=extra, desc="evaluate")["eval_results"]


# ------------------------------------------------------------------ report


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.2f}"


_SAMPLES = ("problems", "rollouts", "executions")


def comparison_rows(store: Any, key: str, rows: list[dict], config: dict | None = None,
                    inputs: dict | None = None) -> list[dict]:
    """``rows`` plus the newest earlier eval rows per critic on the same samples (problems,
    rollouts, executions), benchmark and generator, and with the same eval config."""
    if not rows:
        return []
    bench, gen = rows[0]["benchmark"], rows[0]["generator"]
    mine = {r["critic"] for r in rows}
    newest: dict[str, tuple[str, list[dict]]] = {}
    for m in store.manifests("eval_results"):
        if m["key"] == key or (config is not None and m.get("config") != config):
            continue
        if inputs is not None and any(m["inputs"].get(k) != inputs.get(k) for k in _SAMPLES):
            continue
        other = [r for r in store.read_table("eval_results", m["key"]).to_pylist()
                 if r["benchmark"] == bench and r["generator"] == gen and r["critic"] not in mine]
        for critic in {r["critic"] for r in other}:
            if critic not in newest or m["created_at"] > newest[critic][0]:
                newest[critic] = (m["created_at"], [r for r in other if r["critic"] == critic])
    return [r for _, rs in sorted(newest.values()) for r in rs] + list(rows)


def markdown_table(rows: list[dict]) -> str:
    """One line per critic, one column per metric: value [ci_low, ci_high] in percent."""
    critics = list(dict.fromkeys(r["critic"] for r in rows))
    seen = list(dict.fromkeys(r["metric"] for r in rows))
    metrics = [m for m in ORDER if m in seen] + sorted(m for m in seen if m not in ORDER)
    cell = {(r["critic"], r["metric"]): r for r in rows}
    head = "| critic | n | " + " | ".join(metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    for c in critics:
        n = next(r["n"] for r in rows if r["critic"] == c)
        vals = [cell.get((c, m)) for m in metrics]
        lines.append(f"| {c} | {n} | " + " | ".join(
            f"{_pct(v['value'])} [{_pct(v['ci_low'])}, {_pct(v['ci_high'])}]" if v else ""
            for v in vals) + " |")
    return "\n".join(lines)


def plot_pass1(rows: list[dict], path: str, title: str) -> None:
    """Grouped bars: pass@1 before and after revision per critic, with CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    critics = list(dict.fromkeys(r["critic"] for r in rows))
    cell = {(r["critic"], r["metric"]): r for r in rows}
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(critics), 3.6))
    x = np.arange(len(critics))
    for off, metric, label in ((-0.2, "pass1_before", "before"), (0.2, "pass1_after", "after")):
        got = [cell.get((c, metric)) for c in critics]
        val = [100 * g["value"] if g else np.nan for g in got]
        err = [[100 * (g["value"] - g["ci_low"]) if g else 0 for g in got],
               [100 * (g["ci_high"] - g["value"]) if g else 0 for g in got]]
        ax.bar(x + off, val, width=0.4, yerr=err, capsize=3, label=label)
    ax.set_xticks(x, [c if len(c) <= 18 else c[:16] + ".." for c in critics])
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(store: Any, key: str, rows: list[dict], config: dict | None = None,
                 inputs: dict | None = None) -> dict[str, str]:
    """``report/report.md`` and ``report/pass1.png`` inside the eval artifact's directory;
    earlier evaluations of other critics on the same samples and config are included."""
    import os
    import tempfile

    allrows = comparison_rows(store, key, rows, config, inputs)
    title = f"{rows[0]['benchmark']} | generator {rows[0]['generator']}" if rows else "empty"
    md = (f"# Critique -> revision evaluation\n\n{title}; values in %, 95% bootstrap CI over "
          f"problems.\n\n{markdown_table(allrows)}\n")
    store.write_file("eval_results", key, "report/report.md", md.encode())
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "pass1.png")
        plot_pass1(allrows, png, title)
        with open(png, "rb") as f:
            store.write_file("eval_results", key, "report/pass1.png", f.read())
    return {"markdown": "report/report.md", "plot": "report/pass1.png",
            "dir": store.file_uri("eval_results", key, "report")}


def add_parser(subparsers: Any) -> None:
    """``ctrl eval``: critique → revision evaluation of a critic."""
    p = subparsers.add_parser("eval", help="evaluate a critic by critique -> revision",
                              description=__doc__,
                              formatter_class=cli_args.RAW)
    cli_args.add_inputs(p, "problems", "rollouts", "executions")
    p.add_argument("--critic", default="none",
                   help="none | self | sft (the newest SFT critic in the store) | a store model "
                        "key | a model id")
    cli_args.add_config(p, EvalConfig)

    def show(res: Any) -> None:
        print(json.dumps(res.manifest.get("report"), indent=1))

    p.set_defaults(func=lambda a: cli_args.run_stage(
        a, run, EvalConfig, ["problems", "rollouts", "executions"],
        extra={"critic": _cli_critic(a.critic)}, after=show))


def _cli_critic(critic: str) -> str | None:
    """``none`` -> None; ``sft`` -> the newest SFT model key in the store; else as given."""
    if critic == "none":
        return None
    if critic != "sft":
        return critic
    from storage import Store

    # the newest model written by the sft stage (manifests() is oldest first); not
    # ctrl.pipeline.newest_model: a stage does not import the pipeline above it
    models = [m for m in Store().manifests("model") if m.get("stage") == "sft"]
    key = models[-1]["key"] if models else None
    if key is None:
        raise ConfigError("--critic sft: no SFT critic in the store yet; run `ctrl sft` first")
    return key
