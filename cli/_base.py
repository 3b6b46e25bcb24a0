"""What the entry point and every command share, without importing the library.

The exceptions that set the exit status, the global flags and the progress
line.  This module imports the standard library only, so that the entry point
(:mod:`calibrate.cli._main`) can build its parser and answer ``--help`` and
``--version`` without loading numpy, scipy or scikit-learn; a command's own
module (and :mod:`calibrate.cli._common`, which re-exports these names) is
imported only when that command runs.
"""

import argparse
import contextlib
import sys
import threading
import time

__all__ = ["CommandError", "Progress", "UsageError", "add_global_options"]


class CommandError(Exception):
    """A runtime error whose message is complete: printed as it is, exit 1."""


class UsageError(CommandError):
    """A command line that is wrong whatever the data, found after parsing: exit 2.

    An unknown method, metric, parameter or example, or options that do not
    go together, are usage errors, as argparse's own are; the message is one
    line, printed like a :class:`CommandError`'s.
    """


# ------------------------------------------------------------------ options
def add_global_options(parser, *, suppress):
    """Add ``-v``, ``-q`` and ``--force`` to ``parser``.

    The top-level parser and every subcommand accept them, so that both
    ``calibrate -v fit ...`` and ``calibrate fit ... -v`` work.  Subcommand
    parsers use ``suppress=True``: their defaults must not overwrite what the
    top-level parser already read.
    """
    default = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="log more to stderr (-v: info and tracebacks, -vv: debug)",
        **({"default": 0} if not suppress else default),
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        help="log less to stderr (-q: errors only, -qq: nothing but critical)",
        **({"default": 0} if not suppress else default),
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite output files that exist",
        **default,
    )


# ----------------------------------------------------------------- progress
class Progress:
    """Show what a long step is doing on stderr, only when it is a terminal.

    A step that ends within ``delay`` seconds prints nothing.  A longer one
    shows ``calibrate: <step> ... <seconds> s`` on one line, updated in place,
    and erased when the step ends, so stderr holds only logs and errors
    afterwards.  When stderr is a file or a pipe, nothing is shown.

    Parameters
    ----------
    stream : file object or None
        Where to write; None means ``sys.stderr`` at the time of each step.
    enabled : bool or None
        None shows progress exactly when ``stream.isatty()``.
    delay : float
        Seconds a step may run before it is shown.
    interval : float
        Seconds between updates.
    """

    def __init__(self, stream=None, *, enabled=None, delay=1.0, interval=0.5):
        self.stream = stream
        self.enabled = enabled
        self.delay = delay
        self.interval = interval

    def _target(self):
        stream = sys.stderr if self.stream is None else self.stream
        enabled = self.enabled
        if enabled is None:
            enabled = bool(getattr(stream, "isatty", lambda: False)())
        return stream, enabled

    @contextlib.contextmanager
    def step(self, text):
        """Run the body as a step called ``text``."""
        stream, enabled = self._target()
        if not enabled:
            yield
            return
        done = threading.Event()
        start = time.monotonic()
        shown = []

        def show():
            if done.wait(self.delay):
                return
            while True:
                line = f"\rcalibrate: {text} ... {time.monotonic() - start:.0f} s"
                stream.write(line)
                stream.flush()
                shown.append(len(line))
                if done.wait(self.interval):
                    return

        thread = threading.Thread(target=show, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            if shown:
                stream.write("\r" + " " * max(shown) + "\r")
                stream.flush()
