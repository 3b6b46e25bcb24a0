"""The ``calibrate`` entry point: argument parsing, verbosity and exit codes.

Each subcommand lives in its own module of this package (``fit``, ``apply``,
``evaluate``, ``plot``, ``report``) with ``add_arguments(parser)`` and
``run(args, progress)``; this module only dispatches, and imports a command's
module only when that command is named, so ``calibrate --help`` and
``--version`` load neither numpy nor scikit-learn.

Exit codes: 0 on success (including ``--help`` and ``--version``); 1 on a
runtime error, with one line ``calibrate <command>: error: <message>`` on
stderr that names the file and the problem (the traceback is added with
``-v``); 2 on a usage error, a command line that is wrong whatever the data:
an unknown command, option, method, metric, parameter, example or output
kind, a malformed value, or options that do not go together (one line, after
the command's usage when argparse found it); 130 when interrupted; 128 + N
when stopped by SIGTERM or SIGHUP (N), after removing temporary files; 141,
silently, when whoever reads stdout stops reading before the output is all
written (``| head`` closing the pipe; an output that fits in the pipe's
buffer is written before ``head`` exits, and the status is then 0).
:func:`main` returns the code instead of exiting, so tests and other Python
code can call it directly.

Results go to stdout; logs, warnings (a :class:`~calibrate.CalibrationWarning`
from a fit, for example) and progress go to stderr through the ``calibrate``
logger.  Progress of long steps is shown only when stderr is a terminal.
"""

import argparse
import contextlib
import importlib
import logging
import os
import re
import signal
import sys
import traceback
import warnings

import calibrate
from calibrate.cli._base import (
    CommandError,
    Progress,
    UsageError,
    add_global_options,
)

__all__ = ["COMMANDS", "build_parser", "main"]

_DESCRIPTION = (
    "Post-hoc calibration of classifier outputs: fit a small calibration map "
    "(temperature scaling and more; 'calibrate fit --help' lists the methods) "
    "on a model's validation logits, apply it to new outputs, measure and draw "
    "the calibration. Array arguments are file.npy or file.npz:key."
)

#: Command -> its line in ``calibrate --help``.  Each is the module
#: ``calibrate.cli.<command>``, imported only when the command is named.
COMMANDS = {
    "fit": "fit a calibration map on validation scores and save it as JSON",
    "apply": "calibrate new scores with a saved model and write them as .npy",
    "evaluate": "print every calibration metric of scores (before and after a model)",
    "plot": "draw a reliability diagram (before and after a model) to a file",
    "report": "fit calibration methods and write an HTML, Markdown and JSON report",
}


class _CommandParser(argparse.ArgumentParser):
    """The parser of one command, filled in by its module when first used.

    ``calibrate --help`` lists the commands from :data:`COMMANDS` without
    importing them; parsing a command's arguments, or showing its help or
    usage, first imports ``calibrate.cli.<command>`` and lets its
    ``add_arguments`` add the options.  An argument the command does not know
    is an error of the command, shown with the command's usage (argparse
    would otherwise report it with the top-level usage).
    """

    def __init__(self, *args, command=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._command = command

    def _fill(self):
        if self._command is not None:
            command, self._command = self._command, None
            importlib.import_module(f"calibrate.cli.{command}").add_arguments(self)

    def parse_known_args(self, args=None, namespace=None):
        """Parse the command's arguments; an unknown one is a usage error."""
        self._fill()
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def format_usage(self):
        """Return the command's usage line."""
        self._fill()
        return super().format_usage()

    def format_help(self):
        """Return the command's help."""
        self._fill()
        return super().format_help()


def build_parser():
    """Build the argument parser of the ``calibrate`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser: ``--version``, the global ``-v``/``-q``/``--force`` flags
        (accepted before or after the command) and one subparser per command,
        whose options are added when the command is parsed.

    Examples
    --------
    >>> parser = build_parser()
    >>> parser.prog
    'calibrate'
    >>> args = parser.parse_args(["-vv"])
    >>> args.verbose, args.quiet, args.force
    (2, 0, False)
    >>> args = parser.parse_args(["evaluate", "s.npy", "y.npy", "--json", "-q"])
    >>> args.command, args.scores, args.json, args.quiet, args.n_bins
    ('evaluate', 's.npy', True, 1, 15)
    """
    parser = argparse.ArgumentParser(
        prog="calibrate",
        description=_DESCRIPTION,
        epilog="Run 'calibrate COMMAND --help' for a command's options.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {calibrate.__version__}",
    )
    add_global_options(parser, suppress=False)
    subparsers = parser.add_subparsers(
        dest="command",
        title="commands",
        metavar="COMMAND",
        parser_class=_CommandParser,
    )
    for command, text in COMMANDS.items():
        subparsers.add_parser(command, help=text, command=command)
    return parser


def log_level(verbose, quiet):
    """Map the counts of ``-v`` and ``-q`` flags to a :mod:`logging` level.

    Each ``-v`` lowers the threshold by one level from WARNING, each ``-q``
    raises it, within DEBUG..CRITICAL.

    Parameters
    ----------
    verbose : int
        Number of ``-v`` flags.
    quiet : int
        Number of ``-q`` flags.

    Returns
    -------
    level : int
        A :mod:`logging` level.

    Examples
    --------
    >>> import logging
    >>> logging.getLevelName(log_level(0, 0))
    'WARNING'
    >>> logging.getLevelName(log_level(1, 0)), logging.getLevelName(log_level(0, 1))
    ('INFO', 'ERROR')
    >>> logging.getLevelName(log_level(5, 0))
    'DEBUG'
    """
    level = logging.WARNING + 10 * (quiet - verbose)
    return min(max(level, logging.DEBUG), logging.CRITICAL)


@contextlib.contextmanager
def _stderr_logging(level):
    """Send records of the ``calibrate`` logger at ``level`` and above to stderr.

    The handler and level are removed on exit, so calling :func:`main` leaves
    the logging configuration as it found it.
    """
    logger = logging.getLogger("calibrate")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("calibrate: %(levelname)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _exit_status(code):
    """Turn the argument of a ``SystemExit`` into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    # sys.exit("message") convention: the message went to stderr, status 1.
    return 1


@contextlib.contextmanager
def _warnings_to_log(logger, collected, scores=None):
    """Log each warning as one stderr line and keep its text in ``collected``.

    The filters in force are kept (a warning configured as an error still
    raises); only how a shown warning is printed changes.  A warning about
    the library's generic names for the scores (``X``, ``y_prob``) names the
    scores file instead, and a text already reported is not repeated (fitting
    and then evaluating the same scores can raise the same warning twice).
    """

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if scores is not None:
            text = re.sub(r"^(X|y_prob): ", f"{scores}: ", text)
        line = f"{category.__name__}: {text}"
        if line in collected:
            return
        collected.append(line)
        logger.warning("%s", line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (temporary files are removed), then exit.

    A ``BaseException`` like :class:`KeyboardInterrupt`, so that no
    ``except Exception`` keeps the command running; every writer's cleanup
    (``finally`` and ``except BaseException``) runs on the way out.  SIGKILL
    cannot be caught: a temporary file ``.NAME.<hex>.tmp`` may then stay
    beside the destination (the destination itself is never half-written).
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_unwind():
    """Turn SIGTERM and SIGHUP into :class:`Terminated` while a command runs.

    The previous handlers are restored on exit.  Outside the main thread
    (where Python cannot install handlers) nothing changes.
    """

    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class _VisibleText:
    r"""A text stream that shows control characters as escapes.

    The command's arguments that hold control or bidi characters (a file
    name with a newline, an escape sequence or U+202E) are written escaped
    whole, so no file name can forge a line ("wrote ...") or drive the
    terminal; every other control character is escaped too, except the
    stream's own line breaks (and ``\r`` of the progress line on stderr).
    """

    def __init__(self, stream, hostile, keep):
        self._stream = stream
        self._hostile = hostile
        self._keep = keep

    def write(self, text):
        from calibrate._text import escape_controls

        for raw in self._hostile:
            text = text.replace(raw, escape_controls(raw))
        if not text.isprintable():
            text = "".join(c if c in self._keep else escape_controls(c) for c in text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


@contextlib.contextmanager
def _visible_output(args):
    """Escape control characters on stdout and stderr while a command runs."""
    hostile = sorted(
        {s for v in vars(args).values() for s in _strings(v) if not s.isprintable()},
        key=len,
        reverse=True,
    )
    out, err = sys.stdout, sys.stderr
    sys.stdout = _VisibleText(out, hostile, "\n")
    sys.stderr = _VisibleText(err, hostile, "\n\r")
    try:
        yield hostile
    finally:
        sys.stdout, sys.stderr = out, err


def one_line(exc, hostile=()):
    r"""Return the message of ``exc`` on one line, with its type if that says more.

    The strings ``hostile`` (arguments holding control characters) are
    shown escaped, before line breaks are folded into spaces.

    >>> one_line(ValueError("bad\n  value"))
    'bad value'
    >>> one_line(MemoryError())
    'MemoryError (out of memory)'
    """
    text = str(exc)
    if hostile:
        from calibrate._text import escape_controls

        for raw in hostile:
            text = text.replace(raw, escape_controls(raw))
    text = " ".join(text.split())
    if isinstance(exc, MemoryError):
        return f"MemoryError (out of memory){': ' + text if text else ''}"
    if isinstance(exc, (ValueError, TypeError, OSError, CommandError)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv=None):
    """Run the ``calibrate`` command.

    Parameters
    ----------
    argv : list of str or None, default=None
        Command-line arguments without the program name; ``None`` reads
        ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success (also for ``--help`` and ``--version``), 1 on a runtime
        error (one line on stderr), 2 on a usage error, 130 when interrupted.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    calibrate ...
    0
    >>> main(["--no-such-option"])
    2
    >>> main(["evaluate", "no-such-file.npy", "labels.npy"])
    1
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _exit_status(exc.code)
    with (
        _visible_output(args) as hostile,
        _stderr_logging(log_level(args.verbose, args.quiet)) as logger,
    ):
        logger.debug("arguments: %s", vars(args))
        if args.command is None:
            parser.print_help()
            return 0
        args.warnings = []
        progress = Progress(enabled=None if args.quiet == 0 else False)
        try:
            with (
                _signals_unwind(),
                _warnings_to_log(logger, args.warnings, getattr(args, "scores", None)),
            ):
                status = args.run(args, progress)
                # Written now, not at exit: a reader that has gone makes this
                # flush fail here, where it is caught (141), instead of in
                # the interpreter's shutdown (status 120 and a message).
                sys.stdout.flush()
                return status
        except BrokenPipeError:
            # The reader of stdout has gone (``calibrate evaluate ... | head``):
            # stop quietly, as a command killed by SIGPIPE does, and keep the
            # interpreter from failing again when it flushes stdout at exit.
            with contextlib.suppress(OSError, ValueError, AttributeError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return 141
        except KeyboardInterrupt:
            print(f"calibrate {args.command}: interrupted", file=sys.stderr)
            return 130
        except Terminated as exc:
            name = signal.Signals(exc.signum).name
            print(f"calibrate {args.command}: stopped by {name}", file=sys.stderr)
            return 128 + exc.signum
        except SystemExit as exc:
            # A command's own usage check (``parser.error``): usage and the
            # message are on stderr, the status is 2.
            return _exit_status(exc.code)
        except Exception as exc:  # noqa: BLE001 - every failure is one line
            if args.verbose:
                traceback.print_exc(file=sys.stderr)
            message = one_line(exc, hostile)
            print(f"calibrate {args.command}: error: {message}", file=sys.stderr)
            return 2 if isinstance(exc, UsageError) else 1
