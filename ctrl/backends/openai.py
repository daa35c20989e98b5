"""The openai backend: any OpenAI-compatible chat endpoint (``vllm serve``, ``ctrl serve``, ...).

Each sample is one request with ``n=1`` and seed ``derive_seed(seed, messages) + sample_idx``, so
token counts are exact per sample and samples do not depend on batching. Requests run in a thread
pool (``concurrency``); connection errors, 429 and 5xx are retried with exponential back-off.
At load time ``GET /models`` checks that the endpoint is reachable and serves the model, so a wrong
URL or model name fails at once with one clear message. Uses httpx; no ``openai`` package needed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time
from typing import Any

import httpx

from ctrl.generation import (Completion, GenerationError, Messages, SamplingParams, apply_stop,
                             derive_seed)

log = logging.getLogger("ctrl.backends.openai")
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend:
    """``load_backend(name, "openai", base_url=..., api_key=None, concurrency=8, retries=4)``.

    Args:
        model: the served model name (as listed by ``GET /models``).
        base_url: e.g. ``http://localhost:8000/v1``; default ``$OPENAI_BASE_URL``.
        api_key: default ``$OPENAI_API_KEY`` (local servers accept anything).
        concurrency: requests in flight.
        retries: attempts after the first, with back-off 0.5 s, 1 s, 2 s, ...
        timeout: seconds per request.
    """

    def __init__(self, model: str, base_url: str = "", api_key: str | None = None,
                 concurrency: int = 8, retries: int = 4, timeout: float = 300.0) -> None:
        base_url = (base_url or os.environ.get("OPENAI_BASE_URL", "")).rstrip("/")
        if not base_url:
            raise GenerationError("the openai backend needs base_url (or $OPENAI_BASE_URL), "
                                  "e.g. http://localhost:8000/v1")
        self.model_name, self.base_url = model, base_url
        self.concurrency, self.retries = concurrency, retries
        key = api_key or os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=timeout)
        self.max_context = self._check_model()

    def _check_model(self) -> int | None:
        url = f"{self.base_url}/models"
        try:
            r = self.client.get(url, timeout=10)
        except httpx.HTTPError as e:
            raise GenerationError(
                f"cannot reach the OpenAI-compatible endpoint {self.base_url} ({e}); start a "
                "server (`ctrl serve --model default --port 8000` or `vllm serve MODEL`) or fix "
                "--base-url") from e
        if r.status_code != 200:
            raise GenerationError(f"GET {url} answered {r.status_code}: {r.text[:200]}; check "
                                  "--base-url (it usually ends in /v1) and the API key")
        models = {m.get("id"): m for m in r.json().get("data", [])}
        if self.model_name not in models:
            raise GenerationError(f"the endpoint {self.base_url} does not serve model "
                                  f"{self.model_name!r}; it serves {sorted(models)}: pass one of "
                                  "those as --model")
        ctx = models[self.model_name].get("max_model_len")
        return int(ctx) if ctx else None

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        k = 1 if params.temperature == 0 else params.n
        jobs = [(i, j) for i in range(len(prompts)) for j in range(k)]
        with concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
            done = list(pool.map(lambda ij: self._request(prompts[ij[0]], params, ij[1]), jobs))
        out: list[list[Completion]] = [[] for _ in prompts]
        for (i, _), c in zip(jobs, done):
            out[i].append(c)
        return [o * params.n if k == 1 and params.n > 1 else o for o in out]

    def _body(self, messages: Messages, params: SamplingParams, j: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name, "messages": messages, "n": 1,
            "temperature": params.temperature, "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "seed": (derive_seed(params.seed, messages) + j) & 0x7FFFFFFF,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty  # vLLM extension
        return body

    def _request(self, messages: Messages, params: SamplingParams, j: int) -> Completion:
        body, url = self._body(messages, params, j), f"{self.base_url}/chat/completions"
        for attempt in range(self.retries + 1):
            try:
                r = self.client.post(url, json=body)
            except httpx.TransportError as e:
                err = f"{type(e).__name__}: {e}"
            else:
                if r.status_code == 200:
                    return self._parse(r.json(), params)
                if r.status_code == 400 and "context length" in r.text:
                    return Completion("", "prompt_too_long", 0, 0)
                if r.status_code not in RETRY_STATUS:
                    raise GenerationError(f"POST {url} answered {r.status_code}: {r.text[:300]}")
                err = f"HTTP {r.status_code}"
            if attempt < self.retries:
                delay = 0.5 * 2 ** attempt
                log.warning("%s failed (%s); retry %d/%d in %.1f s", url, err, attempt + 1,
                            self.retries, delay)
                time.sleep(delay)
        raise GenerationError(f"POST {url} failed after {self.retries + 1} attempts ({err}); "
                              "check the server's health and logs")

    def _parse(self, data: dict[str, Any], params: SamplingParams) -> Completion:
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
        text, stopped = apply_stop(text, params.stop)
        usage = data.get("usage") or {}
        reason = choice.get("finish_reason") or "stop"
        return Completion(text, "stop" if stopped else reason,
                          int(usage.get("completion_tokens", 0)),
                          int(usage.get("prompt_tokens", 0)))
