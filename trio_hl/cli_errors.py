"""The command line's one error path: a user's mistake is one line, a bug keeps its traceback.

Every ``trio-hl`` command runs through :func:`run_command`.  What it does with what comes out:

- a :class:`CliError` (raised by the commands' own checks) or an exception :func:`explain`-ed by the command
  (unknown pair, unreachable venue, port in use, missing database...) prints exactly one line on stderr,
  ``trio-hl <command>: <what is wrong> (<what to do>)``, and exits with the error's status: **2** when the
  command line (or the environment variables it reads) must change, **1** when the world refused (the venue
  is unreachable, the port is taken);
- Ctrl-C (``KeyboardInterrupt``, alone or inside the exception groups Trio's nurseries wrap it in) exits
  quietly with **130** (128 + SIGINT, what a shell reports for any tool stopped by Ctrl-C), after the
  command's own clean-up has run (the nurseries unwind before the exception reaches us);
- a reader that went away (``trio-hl demo --no-ui | head``) exits quietly with **141** (128 + SIGPIPE): stdout is
  pointed at ``/dev/null`` first so that the interpreter's final flush does not complain;
- anything else is a bug or an environment we did not foresee: it propagates with its full traceback, because
  hiding it would make it impossible to report.

Trio wraps whatever leaves a nursery in an exception group (``strict_exception_groups``); the one-liners are
found by flattening the group and ignoring ``trio.Cancelled`` (the echo of the failure in sibling tasks).  A
group holding two different real errors is not a user mistake we understand: it keeps its traceback.

This module imports nothing heavy: it must be usable before the rest of the package is imported, so that a
Ctrl-C during start-up is caught too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import NoReturn

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_PIPE",
    "EXIT_USAGE",
    "CliError",
    "OneLineArgumentParser",
    "is_interrupt",
    "run_command",
    "run_script",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141


class CliError(Exception):
    """A mistake the user can fix: ``what`` is wrong, ``todo`` says what to do; ``status`` is the exit status."""

    def __init__(self, what: str, todo: str, *, status: int = EXIT_FAILURE) -> None:
        super().__init__(f"{what} ({todo})")
        self.what = what
        self.todo = todo
        self.status = status


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``trio-hl demo: argument --size: ... (see trio-hl demo --help)``, exit 2.

    argparse's own error prints the whole usage block first, which buries the one line that matters.
    Sub-parsers inherit the class (``add_subparsers`` uses the parent's class), so every command gets it.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


Explainer = Callable[[BaseException], CliError | None]


def run_command(command: str, body: Callable[[], int], explain: Explainer | None = None) -> int:
    """Run ``body`` (a command) and turn what escapes it into an exit status (see the module doc).

    ``explain`` maps an exception the command knows to be the user's (or the world's) fault to a
    :class:`CliError`; it returns None for anything else, which then keeps its traceback.
    """
    try:
        status = body()
        sys.stdout.flush()  # here, not at interpreter exit: a reader that went away is then seen below
        return status
    except BaseException as exc:  # sorted below; anything not understood is re-raised as is
        if is_interrupt(exc):
            return EXIT_INTERRUPTED
        leaves = [e for e in _leaves(exc) if not _is_cancelled(e)]
        if leaves and all(isinstance(e, BrokenPipeError) for e in leaves):
            _silence_stdout()
            return EXIT_PIPE
        if isinstance(exc, SystemExit):
            raise
        errors = [_as_cli_error(e, explain) for e in leaves]
        if errors and all(err is not None for err in errors) and len({str(e) for e in errors}) == 1:
            first = errors[0]
            assert first is not None
            print(f"trio-hl {command}: {first.what} ({first.todo})", file=sys.stderr, flush=True)
            return first.status
        if any(isinstance(e, KeyboardInterrupt) for e in leaves) and all(
            isinstance(e, KeyboardInterrupt) or err is not None for e, err in zip(leaves, errors, strict=True)
        ):
            return EXIT_INTERRUPTED  # Ctrl-C while the user's mistake was being reported: the user is done
        raise


def run_script(async_fn: Callable[..., Awaitable[object]], *args: object) -> int:
    """``trio.run(async_fn, *args)`` for a script's ``__main__``: returns the exit status for ``sys.exit``.

    0 when it returns; 130, quietly, when Ctrl-C stopped it (after the nurseries unwound: an ``open_connector``
    block has cancelled its orders); 141 when the output's reader went away.  Any other exception propagates
    with its traceback.  The examples use it: ``sys.exit(run_script(main, url))``.
    """
    import trio

    def body() -> int:
        trio.run(async_fn, *args)
        return 0

    return run_command(getattr(async_fn, "__name__", "script"), body)


def is_interrupt(exc: BaseException) -> bool:
    """``exc`` is a Ctrl-C: a ``KeyboardInterrupt``, alone or in groups (with ``trio.Cancelled`` echoes only)."""
    leaves = [e for e in _leaves(exc) if not _is_cancelled(e)]
    return bool(leaves) and all(isinstance(e, KeyboardInterrupt) for e in leaves)


def _as_cli_error(exc: BaseException, explain: Explainer | None) -> CliError | None:
    if isinstance(exc, CliError):
        return exc
    if explain is None or not isinstance(exc, Exception):
        return None
    return explain(exc)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _is_cancelled(exc: BaseException) -> bool:
    trio = sys.modules.get("trio")  # not imported here: if trio is not loaded, nothing is a trio.Cancelled
    return trio is not None and isinstance(exc, trio.Cancelled)


def _silence_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and the interpreter's last flush must not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout closed or not a real file: nothing left to flush into
        pass
