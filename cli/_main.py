"""The ``calibrate`` entry point: argument parsing, verbosity and exit codes.

Exit codes: 0 on success (including ``--help`` and ``--version``), 2 on usage
errors (argparse's convention).  :func:`main` returns the code instead of
exiting, so tests and other Python code can call it directly.

Logs go to stderr through the ``calibrate`` logger, results to stdout.  The
subcommands (``fit``, ``apply``, ``evaluate``, ``plot``, ``report``) arrive in
a later release, one module each in this package; until then running
``calibrate`` without arguments prints the help.
"""

import argparse
import contextlib
import logging
import sys

import calibrate

__all__ = ["build_parser", "main"]

_DESCRIPTION = (
    "Post-hoc calibration of classifier outputs: fit a small calibration map "
    "(temperature, vector, matrix or Platt scaling) on a model's validation "
    "logits and apply it to new outputs."
)


def build_parser():
    """Build the argument parser of the ``calibrate`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser, with ``--version`` and the ``-v``/``-q`` verbosity flags.

    Examples
    --------
    >>> parser = build_parser()
    >>> parser.prog
    'calibrate'
    >>> args = parser.parse_args(["-vv"])
    >>> args.verbose, args.quiet
    (2, 0)
    """
    parser = argparse.ArgumentParser(
        prog="calibrate",
        description=_DESCRIPTION,
        epilog="Subcommands (fit, apply, evaluate, plot, report) are coming.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {calibrate.__version__}",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more to stderr (-v: info, -vv: debug)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="log less to stderr (-q: errors only, -qq: nothing but critical)",
    )
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
        0 on success (also for ``--help`` and ``--version``), 2 on a usage
        error.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    calibrate ...
    0
    >>> main(["--no-such-option"])
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _exit_status(exc.code)
    with _stderr_logging(log_level(args.verbose, args.quiet)) as logger:
        logger.debug("arguments: %s", vars(args))
        parser.print_help()
        return 0
