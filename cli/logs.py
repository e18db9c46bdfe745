"""Logging as the `flotilla` command shows it: each warning once, short, where the user looks.

`configure` sets the levels from -v/-q/--debug and installs one handler on the root logger.
The handler prints `flotilla: warning: …` lines on stderr, or hands them to the live view
while one is drawn (`show_in`). Tracebacks appear only with --debug.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Flotilla's own packages: -v and --debug open these up; libraries stay at warnings.
OWN_LOGGERS = ("cli", "graph", "nodes", "sandbox", "memory", "demo_sites", "integrations")

# Libraries that narrate their parsing at warning level (trafilatura: "discarding data: URL"):
# shown from -v on.
CHATTY_LIBRARIES = ("trafilatura", "htmldate", "courlan", "justext")

Sink = Callable[[str], None]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class CliHandler(logging.Handler):
    """Shows each distinct record once: one line, its traceback only when debugging."""

    def __init__(self, *, debug: bool = False) -> None:
        """`debug`: add the traceback of records logged with one."""
        super().__init__()
        self.debug = debug
        self.sink: Sink = _stderr
        self._seen: set[tuple[int, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        """Show the record, unless the same message at the same level was shown already."""
        try:
            message = record.getMessage()
        except Exception:  # a logging call with bad arguments must not stop the run
            message = str(record.msg)
        key = (record.levelno, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.sink(self.format_line(record, message))

    def _helpful(self, message: str) -> str:
        """A cloud access problem told as its fix (the cloud's words only with --debug)."""
        from cli.errors import explain_text

        fix = explain_text(message)
        if fix is None:
            return message
        return f"{fix}\n  ({message.splitlines()[0]})" if self.debug else fix

    def format_line(self, record: logging.LogRecord, message: str) -> str:
        """`flotilla: warning: message`, plus where it came from and why when debugging."""
        level = record.levelname.lower()
        line = f"flotilla: {level}: {self._helpful(message.strip())}"
        if self.debug:
            line += f" [{record.name}]"
            if record.exc_info and record.exc_info[1] is not None:
                line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line += f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        return line


_HANDLER: CliHandler | None = None
_ROOT_LEVEL = logging.WARNING


def configure(*, verbose: int = 0, quiet: bool = False, debug: bool = False) -> CliHandler:
    """Set the levels and install the command's handler (again on each call, replacing it).

    Default: warnings and errors from everything. `-v`: Flotilla's info too; `-vv` or
    `--debug`: its debug messages (and, with --debug, tracebacks). `-q`: errors only.
    """
    global _HANDLER, _ROOT_LEVEL
    root = logging.getLogger()
    if _HANDLER is not None:
        root.removeHandler(_HANDLER)
    else:
        _ROOT_LEVEL = root.level
    _HANDLER = CliHandler(debug=debug)
    root.addHandler(_HANDLER)
    root.setLevel(logging.ERROR if quiet else logging.WARNING)
    own = logging.WARNING
    if quiet:
        own = logging.ERROR
    elif debug or verbose >= 2:
        own = logging.DEBUG
    elif verbose == 1:
        own = logging.INFO
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR if own >= logging.WARNING else own)
    logging.captureWarnings(True)
    return _HANDLER


def reset() -> None:
    """Undo `configure` (for a caller that runs the command in its own process, e.g. a test)."""
    global _HANDLER
    if _HANDLER is None:
        return
    root = logging.getLogger()
    root.removeHandler(_HANDLER)
    root.setLevel(_ROOT_LEVEL)
    for name in (*OWN_LOGGERS, *CHATTY_LIBRARIES):
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.captureWarnings(False)
    _HANDLER = None


@contextmanager
def show_in(sink: Sink) -> Iterator[None]:
    """Send log lines to `sink` (the live view) for a while, then back to stderr."""
    handler = _HANDLER
    if handler is None:
        yield
        return
    previous, handler.sink = handler.sink, sink
    try:
        yield
    finally:
        handler.sink = previous
