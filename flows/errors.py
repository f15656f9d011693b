"""Expected failures end a command with one line; the traceback stays in the Prefect log (and on the console
with ``--debug``).

An *expected* failure is one the library reports with a message naming the file or value at fault: a
ValueError (mlp.data.quality.DatasetError among them: an empty class folder, a class of unreadable files; a
damaged checkpoint; a bad setting), FileNotFoundError, FileExistsError, NotADirectoryError,
IsADirectoryError, PermissionError, or an OSError for a full disk (ENOSPC, EDQUOT) or a read-only one
(EROFS). Everything else (TypeError, KeyError, AssertionError, ...) is a bug and keeps its traceback.

    one_line(prog, error)       "<prog>: error: <cause>; <remedy> (--debug shows the traceback)"
    quiet_console(quiet)        Prefect's console handlers leave out the traceback of expected failures
                                (the API's log handler, and so the Prefect UI, keeps it)
    take_debug(argv)            remove --debug from a command line; True when it was there

Standard library only, so that ``--help`` stays fast.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
from collections.abc import Iterable

EXPECTED_TYPES: tuple[type[BaseException], ...] = (
    ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)
FULL_DISK = {errno.ENOSPC, errno.EDQUOT}
READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
DEBUG_FLAG = "--debug"
DEBUG_ENV = "MLPFLOW_DEBUG"  # MLPFLOW_DEBUG=1 acts as --debug on every command
HINT = "--debug shows the traceback"


def expected(error: BaseException) -> bool:
    """Whether `error` is an expected failure (see the module's docstring), not a bug."""
    if isinstance(error, EXPECTED_TYPES):
        return True
    return isinstance(error, OSError) and error.errno in FULL_DISK | READ_ONLY


def remedy(error: BaseException) -> str:
    """What to do about an expected failure, or "" when its message says it already."""
    if type(error).__name__ == "DatasetError":  # mlp.data.quality, not imported: it loads NumPy
        return "fix or remove what it names, then run again"
    if isinstance(error, OSError) and error.errno in FULL_DISK:
        return "free some disk space or give --output-dir a folder on another disk"
    if isinstance(error, PermissionError) or (isinstance(error, OSError) and error.errno in READ_ONLY):
        return "make it writable, or give --output-dir a folder you can write to"
    return ""


def one_line(prog: str, error: BaseException) -> str:
    """The line an expected failure ends a command with: the cause (the error's message, on one line), the
    remedy when there is one, and how to see the traceback."""
    cause = " ".join(str(error).split()) or type(error).__name__
    fix = remedy(error)
    return f"{prog}: error: {cause}{'; ' + fix if fix else ''} ({HINT})"


def take_debug(argv: list[str]) -> bool:
    """Remove every --debug from `argv` (in place, up to a ``--``); True when there was one or MLPFLOW_DEBUG
    is set to something other than "", "0" or "false"."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = DEBUG_FLAG in argv[:end]
    argv[:end] = [a for a in argv[:end] if a != DEBUG_FLAG]
    return found or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false")


class ShortTracebackFormatter(logging.Formatter):
    """Format as `inner` does, leaving out the traceback of records about expected failures."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and expected(exc):
            record = copy.copy(record)  # the other handlers (Prefect's API log) see the traceback
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return self.inner.format(record)


def console_handlers() -> Iterable[logging.Handler]:
    """Prefect's console handlers, on the root logger and on the loggers it configured (uvicorn, ...)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                yield handler


def quiet_console(quiet: bool = True) -> None:
    """Leave the traceback of expected failures out of Prefect's console output (quiet), or show it again
    (not quiet: ``--debug``). Call it after Prefect is imported (its logging is configured then); the logs
    sent to the Prefect API keep the traceback either way."""
    for handler in console_handlers():
        formatter = handler.formatter
        if quiet and not isinstance(formatter, ShortTracebackFormatter):
            handler.setFormatter(ShortTracebackFormatter(formatter))
        elif not quiet and isinstance(formatter, ShortTracebackFormatter):
            handler.setFormatter(formatter.inner)
