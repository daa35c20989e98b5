"""Reuse of earlier rollouts: a problem already sampled with the same model and settings is not
sampled again.

Why: new problems give a new ``problems`` key, hence a new ``rollouts`` key, and without reuse a
scheduled retraining would regenerate every problem's samples. A prompt's samples depend only on
the base seed, the prompt (``ctrl.generation.derive_seed``), the model weights and the sampling
settings, so they are the same in whichever artifact they were first written.

Reads: complete ``rollouts`` artifacts (``store.manifests``, ``store.read_table``; never a
directory without a manifest). Only candidates are read, and of those only ``problem_id`` until
one of them holds a wanted problem. A candidate is an artifact of stage ``rollout`` with the same
code version, the same model fingerprint (manifest ``inputs.model``) and the same values of
``SAMPLE_FIELDS``; ``where``, ``limit``, ``shard_size``, ``base_url``, ``concurrency`` and
``reuse`` do not change a problem's rows and are ignored. (For the openai backend the served
model name is its fingerprint: two servers serving other weights under one name would be taken
as the same model, exactly as the fingerprint already assumes.)

A problem matches when its ``problem_id`` and the sha256 of its rendered prompt both match (a
statement changed under the same id gives another prompt, so it is sampled again) and the
candidate holds all its ``samples`` samples. Only the generation output is taken over
(``OUTPUT_COLUMNS``); the rest of each row (rollout_id, prompt, extracted code, ...) is built by
the rollout stage from the current problem as for a fresh sample, so a reused row is exactly the
row generation would give.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storage import StorageError

log = logging.getLogger("ctrl.rollout")

# Config fields that decide a problem's rows (with the code version and the model fingerprint).
SAMPLE_FIELDS = ("generation", "samples")
# What generation produced for a sample; everything else in a row is derived from the problem.
OUTPUT_COLUMNS = ["completion", "finish_reason", "n_tokens", "prompt_tokens"]
GENERATED = ("stop", "length", "prompt_too_long")  # not "skipped" (bad problem, no generation)


def prompt_hash(prompt: list[dict[str, str]]) -> str:
    """sha256 of a rendered prompt (chat messages), the same for a stored and a fresh prompt."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in prompt]
    return hashlib.sha256(json.dumps(msgs, sort_keys=True, ensure_ascii=False).encode()
                          ).hexdigest()


def candidates(store, *, stage: str, table: str, version: str, config: dict[str, Any],
               fingerprint: str) -> list[dict[str, Any]]:
    """Manifests of complete earlier artifacts whose samples can be reused, newest first."""
    want = {f: config.get(f) for f in SAMPLE_FIELDS}
    out = [m for m in store.manifests(table)
           if m.get("stage") == stage and m.get("code_version") == version
           and (m.get("inputs") or {}).get("model") == fingerprint
           and {f: (m.get("config") or {}).get(f, object()) for f in SAMPLE_FIELDS} == want]
    return out[::-1]


class Reuse:
    """Finds, per problem, the samples an earlier artifact already holds; counts what it did.

    Args:
        store: the artifact store.
        enabled: False never looks (``RolloutConfig.reuse``).
        samples: samples per problem; a candidate must hold all of them.
        find: a callable returning the candidate manifests (called once, on first use).
    """

    def __init__(self, store, *, enabled: bool, samples: int, find) -> None:
        self.store, self.enabled, self.samples, self._find = store, enabled, samples, find
        self.wanted: dict[str, str] = {}           # problem_id -> prompt hash, whole selection
        self.found: dict[str, tuple[str, list[dict[str, Any]]]] | None = None
        self.total = self.reused = self.generated = 0
        self.sources: dict[str, int] = {}          # artifact key -> problems reused from it

    def remember(self, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record the selection (so the index is loaded once for all shards); returns it."""
        from ctrl.prompts import generator_prompt

        self.total = len(problems)
        for p in problems:
            try:
                self.wanted[p["problem_id"]] = prompt_hash(generator_prompt(p))
            except ValueError:  # no prompt: nothing was generated for it, nothing to reuse
                continue
        return problems

    def take(self, problem_id: str, prompt: list[dict[str, str]]) -> list[dict[str, Any]] | None:
        """The stored generation outputs of this problem's samples (by sample_idx), or None."""
        if not self.enabled:
            return None
        if self.found is None:
            self.found = self._load()
        hit = self.found.get(problem_id)
        if hit is None or self.wanted.get(problem_id) != prompt_hash(prompt):
            return None
        self.reused += 1
        self.sources[hit[0]] = self.sources.get(hit[0], 0) + 1
        return hit[1]

    def _load(self) -> dict[str, tuple[str, list[dict[str, Any]]]]:
        found: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        for m in self._find() if self.wanted else []:
            left = [pid for pid in self.wanted if pid not in found]
            if not left:
                break
            try:
                ids = self.store.read_table(m["table"], m["key"], columns=["problem_id"])
                if not pc.any(pc.is_in(ids["problem_id"], pa.array(left))).as_py():
                    continue
                t = self.store.read_table(m["table"], m["key"], columns=[
                    "problem_id", "sample_idx", "prompt", *OUTPUT_COLUMNS])
            except StorageError as e:  # deleted or damaged since listed: generate instead
                log.warning("rollout: not reusing samples of %s/%s: %s", m["table"], m["key"], e)
                continue
            t = t.filter(pc.is_in(t["problem_id"], pa.array(left)))
            groups: dict[str, list[dict[str, Any]]] = {}
            for r in t.to_pylist():
                groups.setdefault(r["problem_id"], []).append(r)
            for pid, rows in groups.items():
                rows.sort(key=lambda r: r["sample_idx"])
                if ([r["sample_idx"] for r in rows] == list(range(self.samples))
                        and all(r["finish_reason"] in GENERATED for r in rows)
                        and all(prompt_hash(r["prompt"]) == self.wanted[pid] for r in rows)):
                    found[pid] = (m["key"], [{c: r[c] for c in OUTPUT_COLUMNS} for r in rows])
        log.info("rollout: %d of %d problems already sampled in earlier artifacts",
                 len(found), len(self.wanted))
        return found

    def extra(self) -> dict[str, Any]:
        """Manifest fields: problem counts (``metrics``) and the artifacts reused from."""
        resumed = self.total - self.reused - self.generated
        log.info("rollout: %d problems reused (%s), %d generated, %d in shards resumed from an "
                 "earlier run", self.reused, self.sources or "-", self.generated, resumed)
        return {"metrics": {"problems_reused": self.reused, "problems_generated": self.generated,
                            "problems_resumed": resumed},
                "reused_from": dict(sorted(self.sources.items()))}
