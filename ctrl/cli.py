"""The ``ctrl`` command: one subcommand per stage, plus ``sql`` and ``runs`` over the catalog.

Run ``ctrl --help`` for the list. Each subcommand lives in the module that implements it and
registers itself through ``add_parser(subparsers)``; this file only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# command -> module defining add_parser(subparsers); the parser sets ``func(args) -> int``.
COMMANDS: dict[str, str] = {
    "ingest": "ctrl.ingest",
    "sql": "ctrl.catalog_cli",
    "runs": "ctrl.catalog_cli",
    "execute": "ctrl.execute",
    "build-model": "ctrl.default_model",
    "serve": "ctrl.serve",
    "rollout": "ctrl.rollout",
    "synthesize": "ctrl.critique",
    "revise": "ctrl.revise",
    "sft": "ctrl.sft",
    "eval": "ctrl.evaluate",
    "run": "ctrl.pipeline",
}


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input or setup (their message says what to do): one line, no
    traceback. Anything else is a bug and keeps its traceback."""
    from ctrl.config import ConfigError
    from ctrl.generation import GenerationError
    from storage import StorageError

    return (ConfigError, GenerationError, StorageError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctrl", description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="artifact root (default: $CTRL_HOME or ./.ctrl)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen: set[str] = set()
    for name, module in COMMANDS.items():
        if module in seen:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:  # a stage not built yet: leave its command out
                continue
            raise
        mod.add_parser(sub)
        seen.add(module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if args.home:
        import os

        os.environ["CTRL_HOME"] = args.home
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Exception as e:  # noqa: BLE001 - only our own user-facing errors are caught below
        if not isinstance(e, _user_errors()):
            raise
        print(f"ctrl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the finished shards",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
