"""What the subcommands share: options, reading inputs, outputs, tables.

Every subcommand module has ``add_arguments(parser)`` and ``run(args,
progress) -> int``; the entry point (:mod:`calibrate.cli._main`) turns
exceptions into the one-line message and exit status 1.  The exceptions, the
global flags and :class:`Progress` live in :mod:`calibrate.cli._base` (which
imports nothing heavy) and are re-exported here.  The helpers here
raise :class:`CommandError`, ``ValueError``, ``TypeError`` or ``OSError`` with
messages that name the file and the problem.
"""

import argparse
import json
import logging
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from calibrate._validation import (
    as_label_array,
    as_numeric_array,
    check_labels,
    check_score_values,
    infer_task,
    preview,
)
from calibrate.cli._base import (
    CommandError,
    Progress,
    UsageError,
    add_global_options,
)
from calibrate.io import load_array, load_calibrator
from calibrate.metrics._engine import warnings_per_chunk

__all__ = [
    "CommandError",
    "Inputs",
    "Progress",
    "add_binning_options",
    "add_data_arguments",
    "describe",
    "add_global_options",
    "add_input_type_option",
    "add_model_options",
    "add_output_option",
    "check_model_fits",
    "check_output",
    "format_number",
    "format_table",
    "load_model",
    "positive_int",
    "print_json",
    "read_inputs",
    "read_model_and_inputs",
    "read_scores",
    "warnings_per_chunk",
    "UsageError",
]

INPUT_TYPE_CHOICES = ("logits", "probs", "log_probs")
logger = logging.getLogger("calibrate")


def describe(parser, *, doc, example):
    """Set a command's description and example from its module's docstring.

    ``doc`` is the command module's docstring; its first paragraph, without
    reStructuredText markup, is the description.  The one-line help shown by
    ``calibrate --help`` is the entry point's (:data:`calibrate.cli._main.COMMANDS`).
    """
    parser.description = doc.split("\n\n")[0].replace("``", "")
    parser.epilog = f"Example: {example}"
    return parser


def methods_help():
    """Return ``"name (help); ..."`` for every registered calibrator, read now."""
    from calibrate.calibrators import CALIBRATORS

    return "; ".join(
        f"{name} ({cls._help})" if cls._help else name
        for name, cls in CALIBRATORS.items()
    )


def add_data_arguments(parser, *, role=""):
    """Add the positional ``SCORES LABELS`` (``role``: "validation ", ...)."""
    parser.add_argument(
        "scores",
        metavar="SCORES",
        help=f"{role}scores: file.npy or file.npz:key, (n,) or (n, K)",
    )
    parser.add_argument(
        "labels",
        metavar="LABELS",
        help=f"{role}labels: (n,) classes or an (n, K) 0/1 indicator (multilabel)",
    )


def add_model_options(parser, *, help):
    """Add ``--model`` and an ``--input-type`` that defaults to the model's."""
    parser.add_argument("--model", metavar="MODEL", help=help)
    add_input_type_option(
        parser, default=None, help_suffix="; with --model, the model's by default"
    )


def add_output_option(parser, *, metavar, help, dest="output"):
    """Add the required ``-o`` output file."""
    flags = ("-o", "--output") if dest == "output" else ("-o", f"--{dest}")
    parser.add_argument(*flags, dest=dest, required=True, metavar=metavar, help=help)


def add_input_type_option(parser, *, default, help_suffix=""):
    """Add ``--input-type``: how the scores file is to be read."""
    parser.add_argument(
        "--input-type",
        choices=INPUT_TYPE_CHOICES,
        default=default,
        help="how to read SCORES: logits (default), probabilities or "
        "log-probabilities" + help_suffix,
    )


def _int_at_least(text, minimum):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
    return value


def positive_int(text):
    """Parse a positive integer option value (argparse ``type``)."""
    return _int_at_least(text, 1)


def non_negative_int(text):
    """Parse an integer option value that may be 0 (argparse ``type``)."""
    return _int_at_least(text, 0)


def n_bins_value(text):
    """Parse ``--n-bins``: an integer from 1 to the documented maximum."""
    from calibrate.binning import MAX_N_BINS

    value = positive_int(text)
    if value > MAX_N_BINS:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_N_BINS:,} (more bins than that only exhaust "
            f"memory); got {value}"
        )
    return value


def add_binning_options(parser):
    """Add ``--n-bins`` and ``--strategy`` (the binned metrics' options)."""
    parser.add_argument(
        "--n-bins",
        type=n_bins_value,
        default=15,
        help="number of bins of the binned metrics (default: 15, at most 1,000,000)",
    )
    parser.add_argument(
        "--strategy",
        choices=("uniform", "quantile"),
        default="uniform",
        help="equal-width (uniform, default) or equal-mass (quantile) bins",
    )


# ------------------------------------------------------------------- inputs
@dataclass
class Inputs:
    """Scores and labels read from files, validated, with what was inferred.

    ``labels`` are as stored; ``encoded`` are the same labels encoded against
    the score columns over the whole file (column indices for multiclass, 0/1
    for binary, the indicator for multilabel), so that any chunk of rows reads
    them alike.
    """

    scores: np.ndarray
    labels: np.ndarray
    scores_spec: str
    labels_spec: str
    input_type: str
    task: str
    classes: np.ndarray
    encoded: np.ndarray

    @property
    def n_samples(self):
        """Number of rows."""
        return self.scores.shape[0]

    def describe(self):
        """One line: sizes, task, dtype and how the scores are read."""
        shape = " x ".join(map(str, self.scores.shape))
        what = {
            "binary": "binary",
            "multiclass": f"{len(self.classes)} classes",
            "multilabel": f"{len(self.classes)} labels (multilabel)",
        }[self.task]
        return (
            f"data: {self.scores_spec} ({shape} {self.scores.dtype} "
            f"{self.input_type}) with {self.labels_spec}: {self.n_samples} samples, "
            f"{what}"
        )


def _scores_2d(X, spec):
    X = as_numeric_array(X, spec)
    if X.ndim == 1:
        return X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(
            f"{spec} must hold a 1-D (binary) or 2-D (n_samples, n_columns) array "
            f"of scores; it holds shape {X.shape}."
        )
    return X


def read_scores(spec, *, calibrator, model):
    """Load and validate scores for the fitted ``calibrator`` saved in ``model``.

    The column count must be the model's; the values are checked as its
    ``input_type`` in one pass, without copying a memory-mapped file.  The
    array is returned as stored (1-D stays 1-D).
    """
    X = load_array(spec)
    X2 = _scores_2d(X, spec)
    if X2.shape[1] != calibrator.n_features_in_:
        raise CommandError(
            f"{spec} has {X2.shape[1]} score column(s), but {model} was fitted on "
            f"{calibrator.n_features_in_} ({calibrator.task_} "
            f"{type(calibrator).__name__})."
        )
    check_score_values(
        X2, input_type=calibrator.input_type, task=calibrator.task_, name=spec
    )
    return X


def read_inputs(scores_spec, labels_spec, *, input_type, classes=None):
    """Load scores and labels and validate them together, naming the files.

    Parameters
    ----------
    scores_spec, labels_spec : str
        Array arguments (``file.npy`` or ``file.npz:key``).
    input_type : {"logits", "probs", "log_probs"}
        How to read the scores.
    classes : ndarray or None, default=None
        Explicit labels of the score columns (``--classes``; a model's
        ``classes_``), as :func:`calibrate._validation.check_labels` takes.

    Returns
    -------
    Inputs
    """
    X = load_array(scores_spec)
    X2 = _scores_2d(X, scores_spec)
    y = as_label_array(load_array(labels_spec), labels_spec)
    if y.ndim == 2 and y.shape[1] == 1 and X2.shape[1] > 1:
        # A column of labels, as scikit-learn users often save them: read it
        # as the 1-D labels it is (with one score column it is the binary
        # indicator, the same thing).
        logger.info("%s: reading the (n, 1) labels as (n,)", labels_spec)
        y = y[:, 0]
    names = (scores_spec, labels_spec)
    task = infer_task(X2.shape, y, names=names)
    check_score_values(X2, input_type=input_type, task=task, name=scores_spec)
    if task == "binary" and y.ndim == 2:
        y = y[:, 0]
    encoded, classes = check_labels(
        y,
        task=task,
        n_columns=X2.shape[1],
        n_samples=X2.shape[0],
        names=names,
        classes=classes,
    )
    return Inputs(X, y, scores_spec, labels_spec, input_type, task, classes, encoded)


def load_model(path, input_type):
    """Load a saved calibrator; ``input_type``, if given, must be the model's.

    Returns the calibrator and the input type to read scores with.
    """
    calibrator = load_calibrator(path)
    if input_type is not None and input_type != calibrator.input_type:
        raise CommandError(
            f"--input-type {input_type} disagrees with {path}, which reads its "
            f"scores as {calibrator.input_type}; drop --input-type or use the "
            "model's."
        )
    return calibrator, calibrator.input_type


def check_model_fits(calibrator, inputs, model):
    """Refuse scores and labels of another shape or task than the model's."""
    n_columns = 1 if inputs.scores.ndim == 1 else inputs.scores.shape[1]
    if n_columns != calibrator.n_features_in_ or inputs.task != calibrator.task_:
        raise CommandError(
            f"{inputs.scores_spec} with {inputs.labels_spec} is {inputs.task} data "
            f"with {n_columns} score column(s), but {model} was fitted on "
            f"{calibrator.task_} data with {calibrator.n_features_in_}."
        )
    if not (
        len(inputs.classes) == len(calibrator.classes_)
        and np.array_equal(inputs.classes, calibrator.classes_)
    ):
        raise CommandError(
            f"{inputs.labels_spec} has the classes {preview(inputs.classes)}, but "
            f"{model} was fitted on {preview(calibrator.classes_)}."
        )


def _explicit_classes(calibrator):
    """Return a model's classes_ when the default label rule would not give them.

    The default rule gives integer classes ``0 .. K-1`` and sorted non-integer
    labels; only other class arrays (``[3, 1, 2]`` or ``[1, 2, 3]``, from
    ``--classes`` at fit time) are passed on explicitly.
    """
    classes = np.asarray(calibrator.classes_)
    if classes.dtype.kind in "iu":
        default = np.array_equal(classes, np.arange(len(classes)))
    else:
        default = calibrator.task_ != "multilabel" and bool(
            np.all(classes[:-1] <= classes[1:])
        )
    return None if default else classes


def read_model_and_inputs(args, progress):
    """Read ``--model`` (if given), SCORES and LABELS, checked against each other.

    The scores are read as the model's input type, or ``--input-type``
    (logits by default) without a model.  Returns the calibrator (or None)
    and the :class:`Inputs`.
    """
    calibrator, input_type = None, args.input_type
    if args.model is not None:
        calibrator, input_type = load_model(args.model, input_type)
    with progress.step("reading and checking the inputs"):
        # Labels are read as the model's columns: its classes_ (the default
        # rule's, or the ones --classes gave at fit time).
        inputs = read_inputs(
            args.scores,
            args.labels,
            input_type=input_type or "logits",
            classes=None if calibrator is None else _explicit_classes(calibrator),
        )
    if calibrator is not None:
        check_model_fits(calibrator, inputs, args.model)
    return calibrator, inputs


# ------------------------------------------------------------------ outputs
def check_output(path, *, force, suffixes=None, what="output"):
    """Refuse an output path early, before any work is done.

    Checks that the suffix is one of ``suffixes`` (case-insensitive), that the
    directory exists, that the path is not a directory, and that it does not
    exist unless ``force``.  The writers check existence again when they
    rename (see :func:`calibrate.io.atomic_write`).
    """
    if suffixes is not None:
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in suffixes:
            raise CommandError(
                f"{path}: the {what} must end in {' or '.join(suffixes)}; got "
                f"{suffix or 'no suffix'}."
            )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandError(
            f"{path}: cannot write there; the directory {directory} does not exist."
        )
    if os.path.isdir(path):
        raise CommandError(f"{path}: is a directory; name a file to write.")
    if os.path.lexists(path) and not force:
        raise CommandError(
            f"{path} already exists; pass --force to overwrite it (it is replaced "
            "only once the new file is complete)."
        )


def print_json(document, stream=None):
    """Print ``document`` as indented, standard JSON on stdout.

    JSON has no infinity: a non-finite float (an infinite NLL when a true
    class has probability 0) is written as the string ``"inf"``, ``"-inf"``
    or ``"nan"``.
    """
    stream = sys.stdout if stream is None else stream
    stream.write(json.dumps(_json_safe(document), indent=2, allow_nan=False) + "\n")


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# ------------------------------------------------------------------- tables
def format_number(value):
    """Six significant digits, or ``-`` for a missing value.

    >>> format_number(0.078822314), format_number(1.0804123), format_number(None)
    ('0.0788223', '1.08041', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    # + 0.0 turns a -0.0 (NLL of perfect predictions) into 0.
    return f"{value + 0.0:.6g}" if isinstance(value, float) else f"{value:.6g}"


def format_table(header, rows, *, align=None):
    """Align columns: ``align`` has one ``"l"`` or ``"r"`` per column.

    The default aligns the first column left and the others right (numbers).

    >>> print(format_table(["metric", "value"], [["nll", "0.5"], ["ece", "0.05"]]))
    metric  value
    nll       0.5
    ece      0.05
    """
    table = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(row, widths, align, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
