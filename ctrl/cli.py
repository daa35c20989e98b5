"""The ``ctrl`` command: one subcommand per stage, plus ``sql`` and ``runs`` over the catalog.

Run ``ctrl --help`` for the list. Each subcommand lives in the module that implements it and
registers itself through ``add_parser(subparsers)``; this file only dispatches.

Exit codes, the same for every command: 0 success; 2 a user error (bad option or value, missing
input artifact, unknown model, storage error), printed as one line ``ctrl <command>: error: ...``;
3 the sandbox's isolation was asked for but is unavailable; 130 interrupted. Any other exception
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

# command -> module defining add_parser(subparsers); the parser sets ``func(args) -> int``.
# The stages' commands come from the step registry (ctrl.registry); these are the others.
OTHER_COMMANDS: dict[str, str] = {
    "sql": "ctrl.catalog_cli",
    "runs": "ctrl.catalog_cli",
    "build-model": "ctrl.default_model",
    "serve": "ctrl.serve",
    "run": "ctrl.pipeline",
}


def commands() -> dict[str, str]:
    """Every ``ctrl`` subcommand -> the module that defines it."""
    from ctrl import registry

    return {**registry.commands(), **OTHER_COMMANDS}


def _exit_code(e: BaseException) -> int | None:
    """The exit code of a user error (bad input or setup; its message says what to do), or None
    for a bug, which keeps its traceback. ``ctrl.errors.UserError`` carries its own code (2);
    the layers below ``ctrl`` cannot import it, so their errors are mapped here."""
    from ctrl.errors import UserError

    if isinstance(e, UserError):
        return e.exit_code
    from storage import StorageError

    if isinstance(e, StorageError):
        return 2
    sandbox = sys.modules.get("sandbox.jail")  # imported only by commands that run code
    if sandbox is not None and isinstance(e, sandbox.SandboxUnavailable):
        return 3
    return None


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, ``ctrl <command>: error: ...``, exit 2 (like user errors)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ctrl", description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="artifact root (default: $CTRL_HOME or ./.ctrl)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    seen: set[str] = set()
    for name, module in commands().items():
        if module in seen:
            continue
        importlib.import_module(module).add_parser(sub)
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
    except Exception as e:  # noqa: BLE001 - only user errors are caught; bugs are re-raised
        code = _exit_code(e)
        if code is None:
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"ctrl {args.command}: error: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the finished shards",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
