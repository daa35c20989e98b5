"""``ctrl serve``: a small OpenAI-compatible server backed by the transformers backend.

Serves ``GET /v1/models`` and ``POST /v1/chat/completions`` (no streaming) for one model, so the
openai backend, and any OpenAI client, can be used offline on the default model:

    ctrl serve --model default --port 8000 &
    ctrl rollout --backend openai --base-url http://127.0.0.1:8000/v1 --model default ...

Requests are served one at a time (one model, one lock); for throughput use ``vllm serve``.
Errors follow the OpenAI shape ``{"error": {"message", "type", "code"}}``: 404 for an unknown
model, 400 for a bad request or a prompt longer than the context.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ctrl.config import ConfigError
from ctrl.errors import UserError
from ctrl.generation import SamplingParams, load_backend

log = logging.getLogger("ctrl.serve")


def _params(body: dict[str, Any]) -> SamplingParams:
    stop = body.get("stop") or ()
    return SamplingParams(
        n=int(body.get("n") or 1), temperature=float(body.get("temperature", 1.0)),
        top_p=float(body.get("top_p", 1.0)),
        max_new_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 256),
        seed=int(body.get("seed") or 0), stop=(stop,) if isinstance(stop, str) else tuple(stop),
        repetition_penalty=float(body.get("repetition_penalty", 1.0)))


def make_server(model: str, host: str = "127.0.0.1", port: int = 8000,
                served_name: str | None = None, **backend_options: Any) -> ThreadingHTTPServer:
    """Load ``model`` and return a server (call ``serve_forever()``; port 0 picks a free one)."""
    backend = load_backend(model, "transformers", **backend_options)
    name = served_name or model
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s " + fmt, self.address_string(), *args)

        def _send(self, code: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, message: str, kind: str) -> None:
            self._send(code, {"error": {"message": message, "type": kind, "code": code}})

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{
                    "id": name, "object": "model", "owned_by": "ctrl",
                    "max_model_len": backend.max_context}]})
            elif self.path.rstrip("/") in ("/health", "/v1/health"):
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"no route {self.path}", "NotFoundError")

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                return self._error(404, f"no route {self.path}", "NotFoundError")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if body.get("model") != name:
                    return self._error(404, f"The model `{body.get('model')}` does not exist; "
                                       f"this server serves `{name}`.", "NotFoundError")
                if body.get("stream"):
                    return self._error(400, "streaming is not supported", "BadRequestError")
                params, messages = _params(body), body["messages"]
            except (ValueError, KeyError, TypeError, ConfigError) as e:
                return self._error(400, f"bad request: {e}", "BadRequestError")
            with lock:
                comps = backend.generate([messages], params)[0]
            if comps[0].finish_reason == "prompt_too_long":
                return self._error(400, f"This model's maximum context length is "
                                   f"{backend.max_context} tokens; the messages have "
                                   f"{comps[0].prompt_tokens} tokens.", "BadRequestError")
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion",
                "created": int(time.time()), "model": name,
                "choices": [{"index": i, "message": {"role": "assistant", "content": c.text},
                             "finish_reason": c.finish_reason} for i, c in enumerate(comps)],
                "usage": {"prompt_tokens": comps[0].prompt_tokens,
                          "completion_tokens": sum(c.n_tokens for c in comps),
                          "total_tokens": comps[0].prompt_tokens + sum(c.n_tokens
                                                                      for c in comps)},
            })

    return ThreadingHTTPServer((host, port), Handler)


def add_parser(subparsers) -> None:
    """``ctrl serve``: serve a model over an OpenAI-compatible HTTP API."""
    p = subparsers.add_parser("serve", help="OpenAI-compatible server for a local model")
    p.add_argument("--model", default="default", help="directory, cached hub name or 'default'")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--served-name", help="model name clients use (default: --model as given)")
    p.add_argument("--device", default="auto")

    def func(args) -> int:
        try:
            server = make_server(args.model, args.host, args.port, args.served_name,
                                 device=args.device)
        except OSError as e:  # the port is taken, the host is not ours: exit 2 like a bad option
            raise UserError(f"cannot listen on {args.host}:{args.port}: {e}") from None
        host, port = server.server_address[:2]
        # One machine-readable line so scripts and tests can find the port.
        print(f"serving {args.served_name or args.model} on http://{host}:{port}/v1", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return 0

    p.set_defaults(func=func)
