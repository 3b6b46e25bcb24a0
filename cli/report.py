"""``calibrate report``: fit, compare and write a calibration report.

Fits each method on the validation scores, compares them with the uncalibrated
scores on the test scores (bootstrap intervals over the test rows, paired
intervals for the changes) and writes the report into the directory ``-o``:
``report.html`` (one self-contained page), ``README.md`` with its figures as
PNG files, and ``report.json``.  ``--example NAME`` takes the validation and
test scores of a bundled example (``--list-examples`` names them) instead of
``--val`` and ``--test``; ``--example all`` writes one report per example
into ``DIRECTORY/NAME``.  The seed of the resamples defaults to 0, so the
same command writes the same numbers.
"""

import argparse
import contextlib
import logging
import os

from calibrate.cli._common import (
    CommandError,
    UsageError,
    add_global_options,
    add_input_type_option,
    describe,
    format_number,
    format_table,
    methods_help,
    n_bins_value,
    non_negative_int,
    positive_int,
    read_inputs,
)

__all__ = ["FORMATS", "add_arguments", "run"]

logger = logging.getLogger(__name__)

#: The formats ``--format`` takes, and the files of fixed name each writes.  The
#: figures' PNG files (named after the methods for multilabel data) are known,
#: and checked, once the report is built, before anything is written.
FORMATS = {
    "html": ("report.html",),
    "md": ("README.md",),
    "json": ("report.json",),
}


def _choices(text, choices, what):
    """Parse a comma-separated list of ``choices`` (argparse ``type``)."""
    names = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not names or any(n not in choices for n in names):
        raise argparse.ArgumentTypeError(
            f"{what} are a comma-separated list of {', '.join(choices)}; got {text!r}"
        )
    return names


def _formats(text):
    return _choices(text, list(FORMATS), "formats")


def _methods(text):
    from calibrate.calibrators import CALIBRATORS

    return _choices(text, [*sorted(CALIBRATORS), "auto"], "methods")


def _n_bootstrap(text):
    from calibrate.report import MIN_BOOTSTRAP

    value = positive_int(text)
    if value < MIN_BOOTSTRAP:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_BOOTSTRAP} (fewer resamples cannot place an "
            f"interval); got {value}"
        )
    return value


def _level(text):
    from calibrate.binning import check_confidence_level

    try:
        value = float(text)
        check_confidence_level(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"must be a number in (0, 1); got {text!r}"
        ) from exc
    return value


def add_arguments(parser):
    """Add the options of ``report`` to its parser."""
    from calibrate._validation import TASKS
    from calibrate.calibrators import CALIBRATORS, default_methods

    describe(
        parser,
        doc=__doc__,
        example="calibrate report --val val_logits.npy val_labels.npy "
        "--test test_logits.npy test_labels.npy -o reports/resnet",
    )
    data = parser.add_argument_group("data (--val and --test, or --example)")
    data.add_argument(
        "--val",
        nargs=2,
        metavar=("SCORES", "LABELS"),
        help="validation scores and labels the methods are fitted on "
        "(file.npy or file.npz:key)",
    )
    data.add_argument(
        "--test",
        nargs=2,
        metavar=("SCORES", "LABELS"),
        help="test scores and labels the methods are compared on",
    )
    data.add_argument(
        "--example",
        metavar="NAME",
        help="a bundled example instead of --val and --test; 'all' writes one "
        "report per example into DIRECTORY/NAME",
    )
    data.add_argument(
        "--list-examples",
        action="store_true",
        help="list the bundled examples and exit",
    )
    parser.add_argument(
        "--methods",
        type=_methods,
        default=None,
        metavar="M1,M2",
        help="calibration methods, comma-separated, among "
        f"{', '.join(CALIBRATORS)}, auto (default: "
        + "; ".join(f"{','.join(default_methods(t))} for {t}" for t in TASKS)
        + f"). Methods: {methods_help()}",
    )
    add_input_type_option(parser, default="logits")
    parser.add_argument(
        "--n-bins",
        type=n_bins_value,
        default=15,
        help="equal-width bins of the binned errors and diagrams (default: 15)",
    )
    parser.add_argument(
        "--n-bootstrap",
        type=_n_bootstrap,
        default=1000,
        help="resamples of the test rows for the intervals (default: 1000)",
    )
    parser.add_argument(
        "--confidence-level",
        type=_level,
        default=0.95,
        help="coverage of the intervals (default: 0.95)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the resamples, recorded in the report (default: 0)",
    )
    parser.add_argument("--title", default=None, help="heading of the report")
    parser.add_argument(
        "--format",
        dest="formats",
        type=_formats,
        default=list(FORMATS),
        metavar="F1,F2",
        help="what to write, among html, md, json (default: all three)",
    )
    parser.add_argument(
        "-o",
        "--output",
        dest="output",
        metavar="DIRECTORY",
        help="directory to write the report into (created if needed)",
    )
    add_global_options(parser, suppress=True)
    parser.set_defaults(run=run, parser=parser)


def _list_examples():
    from calibrate.datasets import list_examples, load_example

    rows = []
    for name in list_examples():
        lines = load_example(name).DESCR.strip().splitlines()
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        if "Model" in fields and "Calibration" in fields:
            model = fields["Model"].split("(")[0]
            direction = fields["Calibration"].split(".")[0]
            rows.append([name, f"{model}, {direction}"])
        else:
            rows.append([name, lines[0]])
    print(format_table(["example", "description"], rows, align="ll"))
    return 0


def _check_arguments(args):
    """Refuse a combination of options as a usage error (exit status 2)."""
    if args.example is not None and (args.val or args.test):
        args.parser.error("give --example or --val and --test, not both.")
    if args.example is None and not (args.val and args.test):
        missing = " and ".join(
            flag for flag, v in (("--val", args.val), ("--test", args.test)) if not v
        )
        args.parser.error(
            f"missing {missing}: give --val SCORES LABELS and --test SCORES LABELS, "
            "or --example NAME (see --list-examples)."
        )
    if args.output is None:
        args.parser.error("missing -o DIRECTORY: where to write the report.")
    if args.example not in (None, "all"):
        from calibrate.datasets import list_examples

        names = list_examples()
        if args.example not in names:
            import difflib

            close = difflib.get_close_matches(args.example, names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(
                f"--example: unknown example {args.example!r}{hint}; the examples "
                f"are {', '.join(names)} and all."
            )


def _targets(args, output):
    """Refuse, before any work, an output that exists without ``--force``.

    The figures of a multilabel report are named after its methods: they are
    checked once the report is built, before anything is written.
    """
    parent = os.path.dirname(os.path.abspath(output))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CommandError(
            f"{output}: cannot create the directory, {parent} is a file."
        )
    if os.path.exists(output) and not os.path.isdir(output):
        raise CommandError(
            f"{output}: exists and is not a directory; -o names the directory the "
            "report is written into."
        )
    paths = [os.path.join(output, f) for fmt in args.formats for f in FORMATS[fmt]]
    if not args.force:
        existing = [p for p in paths if os.path.lexists(p)]
        if existing:
            raise CommandError(
                f"{existing[0]} already exists; pass --force to overwrite the report "
                "(the old files are replaced only once every new one is complete)."
            )


def _read(args, progress):
    """Return ``(val, test, sources, title, description)``."""
    if args.example is not None:
        from calibrate.datasets import load_example

        try:
            data = load_example(args.example)
        except (ValueError, TypeError) as exc:
            raise CommandError(str(exc)) from exc
        if args.input_type != data.input_type:
            raise UsageError(
                f"example {args.example} holds {data.input_type}; drop --input-type."
            )
        stem = f"example {args.example}"
        sources = {
            role: f"{stem}: {role.replace('scores', 'logits')}"
            for role in ("val_scores", "val_labels", "test_scores", "test_labels")
        }
        title = args.title or f"Calibration report: {args.example}"
        return (
            (data.val_logits, data.val_labels),
            (data.test_logits, data.test_labels),
            sources,
            title,
            data.DESCR,
        )
    with progress.step("reading and checking the inputs"):
        val = read_inputs(*args.val, input_type=args.input_type)
        test = read_inputs(*args.test, input_type=args.input_type)
    if (
        val.scores.ndim != test.scores.ndim
        or val.scores.shape[1:] != (test.scores.shape[1:])
    ):
        raise CommandError(
            f"{args.val[0]} has shape {val.scores.shape} but {args.test[0]} has "
            f"shape {test.scores.shape}; the two sets need the same score columns."
        )
    sources = dict(
        zip(
            ("val_scores", "val_labels", "test_scores", "test_labels"),
            (*args.val, *args.test),
            strict=True,
        )
    )
    title = args.title or f"Calibration report: {os.path.basename(args.test[0])}"
    return (val.scores, val.labels), (test.scores, test.labels), sources, title, None


def _summary(report):
    rows = []
    table = report.metrics
    for method in table.index:
        row = [str(method)]
        for metric in ("accuracy", "nll", "brier", "ece"):
            value = table.loc[method, (metric, "value")]
            row.append(format_number(value))
        rows.append(row)
    return format_table(["method", "accuracy", "nll", "brier", "ece"], rows)


def _write(report, args, output, say):
    """Write the formats asked for into ``output``; return the paths written.

    Every file is checked before the first is written, the figures of a
    multilabel report (named after its methods) included, so a refused run
    writes nothing.  The files are written into a temporary directory beside
    ``output`` and moved in only once every one is complete
    (:func:`calibrate._staging.staged_directory`): a full disk, an error or
    SIGTERM/SIGHUP leaves ``output`` as it was (with ``--force``, the old
    report whole) and no temporary directory behind.
    """
    from calibrate._staging import staged_directory

    names = {
        "html": ["report.html"],
        "md": report.markdown_files(),
        "json": ["report.json"],
    }
    files = [n for fmt in args.formats for n in names[fmt]]
    paths = [os.path.join(output, n) for n in files]
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not args.force:
        raise CommandError(
            f"{existing[0]} already exists; pass --force to overwrite the report "
            "(the old files are replaced only once every new one is complete)."
        )
    with staged_directory(output, overwrite=args.force) as stage:
        if "html" in args.formats:
            say("writing report.html")
            report.to_html(stage / "report.html")
        if "md" in args.formats:
            say("writing README.md and its figures")
            report.to_markdown(stage)
        if "json" in args.formats:
            say("writing report.json")
            report.to_json(stage / "report.json")
        say(f"moving the report into {output}")
    return paths


def _one(args, progress, output):
    """Build and write one report into ``output``; print its summary."""
    from calibrate.report import build_report

    _targets(args, output)
    val, test, sources, title, description = _read(args, progress)
    with contextlib.ExitStack() as stage:

        def say(text):
            stage.close()
            stage.enter_context(progress.step(text))

        try:
            report = build_report(
                val,
                test,
                methods=args.methods,
                input_type=args.input_type,
                n_bins=args.n_bins,
                n_bootstrap=args.n_bootstrap,
                confidence_level=args.confidence_level,
                random_state=args.seed,
                title=title,
                description=description,
                sources=sources,
                progress=say,
            )
        except (ValueError, TypeError) as exc:
            names = (
                f"example {args.example}"
                if args.example
                else f"{args.val[0]} and {args.test[0]}"
            )
            raise CommandError(f"{names}: {exc}") from exc
        for w in report.warnings:
            logger.warning("%s: %s: %s", w["source"], w["category"], w["message"])
        written = _write(report, args, output, say)
    print(report.direction())
    print(report.best["sentence"])
    print()
    print(_summary(report))
    print()
    for path in written:
        print(f"wrote {path}")
    return 0


def run(args, progress):
    """Run ``calibrate report``; return the exit status."""
    if args.list_examples:
        return _list_examples()
    _check_arguments(args)
    if args.example != "all":
        return _one(args, progress, args.output)
    from calibrate.datasets import list_examples

    names = list_examples()
    for name in names:
        _targets(args, os.path.join(args.output, name))
    for i, name in enumerate(names):
        args.example = name
        if i:
            print()
        print(f"== {name} ==")
        _one(args, progress, os.path.join(args.output, name))
    return 0
