"""The one error type for users: bad input or setup, with a message that says what to do.

``ctrl.cli`` prints a ``UserError`` as one line, ``ctrl <command>: error: <message>``, and exits
with its ``exit_code`` (2); anything else is a bug and keeps its traceback. Errors of layers that
cannot import ``ctrl`` are mapped by the CLI: ``storage.StorageError`` exits 2,
``sandbox.jail.SandboxUnavailable`` (isolation asked for but not proven) exits 3.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or setup; the message names what was wrong and the fix."""

    exit_code = 2
