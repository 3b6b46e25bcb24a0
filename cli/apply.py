"""``calibrate apply``: calibrate new scores with a saved model, write ``.npy``.

The scores are read as the model's ``input_type`` and written in the dtype
``--dtype`` names (default: the input's float dtype, at least float32, so
float16 logits give float32 and float64 stay float64; the arithmetic is
float64 either way, rounded to the output dtype as each chunk is written), of
the kind ``--kind`` names:

* ``probs`` (default): ``predict_proba``; binary models give two columns
  (``P(classes_[0])``, ``P(classes_[1])``), as scikit-learn does;
* ``log_probs``: ``predict_log_proba``, computed in log space, same shape;
* ``logits``: ``transform``, the calibrated logits in the layout of the
  input: normalised logits (log-probabilities) for multiclass, log-odds of
  the positive class for binary (1-D if the scores were 1-D), per-label
  log-odds for multilabel.  A probability-space model (``_output_space ==
  "probability"``, such as a lookup table) has no calibrated logits and is
  refused here; write ``probs`` or ``log_probs``.

The input is memory-mapped and processed in chunks of rows, and each chunk is
written straight to the output file, so a file larger than memory can be
calibrated.  The output appears only when it is complete.

``--output KIND`` is the old spelling of ``--kind``: it still works in this
release, with a one-line ``DeprecationWarning`` on stderr, and goes in the
next (``fit --output`` names a file, which ``apply --output`` did not).
"""

import argparse
import logging

import numpy as np

from calibrate._special import iter_chunks
from calibrate.cli._common import (
    CommandError,
    add_global_options,
    add_output_option,
    check_output,
    describe,
    read_scores,
    warnings_per_chunk,
)
from calibrate.io import atomic_write, load_calibrator

__all__ = ["OUTPUTS", "add_arguments", "run"]

logger = logging.getLogger("calibrate")

#: ``--dtype`` choices.
DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def output_dtype(choice, scores_dtype):
    """Return ``choice``, or the input's float dtype, at least float32.

    Examples
    --------
    >>> output_dtype(None, np.dtype(np.float16)), output_dtype("float16", None)
    (dtype('float32'), dtype('float16'))
    """
    if choice is not None:
        return np.dtype(DTYPES[choice])
    if scores_dtype.kind == "f" and scores_dtype.itemsize >= 4:
        return np.dtype(np.float32 if scores_dtype.itemsize == 4 else np.float64)
    return np.dtype(np.float32 if scores_dtype == np.float16 else np.float64)


#: ``--kind`` choice -> calibrator method.
OUTPUTS = {
    "probs": "predict_proba",
    "log_probs": "predict_log_proba",
    "logits": "transform",
}


def add_arguments(parser):
    """Add the options of ``apply`` to its parser."""
    describe(
        parser,
        doc=__doc__,
        example="calibrate apply model.json test_logits.npy -o test_probs.npy",
    )
    parser.add_argument("model", metavar="MODEL", help="a model saved by fit")
    parser.add_argument(
        "scores",
        metavar="SCORES",
        help="scores to calibrate (file.npy or file.npz:key), read as the model's "
        "input type",
    )
    parser.add_argument(
        "--kind",
        choices=tuple(OUTPUTS),
        default="probs",
        help="what to write: probabilities (default), log-probabilities or "
        "calibrated logits",
    )
    parser.add_argument(
        "--output",
        dest="kind",
        choices=tuple(OUTPUTS),
        action=_DeprecatedKind,
        help="deprecated spelling of --kind, removed in the next release",
    )
    parser.add_argument(
        "--dtype",
        choices=tuple(DTYPES),
        default=None,
        help="dtype of the output (default: the input's float dtype, at least float32)",
    )
    add_output_option(
        parser, metavar="OUT.npy", help="file to write (.npy)", dest="out"
    )
    add_global_options(parser, suppress=True)
    parser.set_defaults(run=run)


class _DeprecatedKind(argparse.Action):
    """``--output KIND``: store KIND as ``--kind`` does, and note the old name."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.deprecated = (
            f"DeprecationWarning: apply {option_string} {values} is deprecated and "
            f"will be removed in the next release; use --kind {values}."
        )


def _apply(method, scores, rows, args):
    """Calibrate one chunk of rows; an error says which rows of which file."""
    try:
        return method(scores[rows])
    except ValueError as exc:
        raise CommandError(
            f"{args.model} on rows {rows.start} to {rows.stop - 1} of {args.scores}: "
            f"{exc} Nothing was written."
        ) from exc


def run(args, progress):
    """Run ``calibrate apply``; return the exit status."""
    if getattr(args, "deprecated", None):
        logger.warning("%s", args.deprecated)
    check_output(args.out, force=args.force, suffixes=(".npy",))
    calibrator = load_calibrator(args.model)
    with progress.step("reading and checking the scores"):
        scores = read_scores(args.scores, calibrator=calibrator, model=args.model)
    if args.kind == "logits" and calibrator._output_space != "logit":
        raise CommandError(
            f"{args.model} is a {type(calibrator).__name__}, a probability-space "
            "map with no calibrated logits (probabilities may be 0); use --kind "
            "probs or --kind log_probs."
        )
    method = getattr(calibrator, OUTPUTS[args.kind])
    n = scores.shape[0]
    n_columns = 1 if scores.ndim == 1 else scores.shape[1]
    chunks = list(iter_chunks(n, n_columns))
    with (
        progress.step(f"calibrating {n} rows"),
        warnings_per_chunk(args.scores),
    ):
        # The first chunk gives the output's shape and dtype for the header.
        dtype = output_dtype(args.dtype, scores.dtype)
        first = _apply(method, scores, chunks[0], args).astype(dtype)
        shape = (n, *first.shape[1:])
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": shape,
        }
        try:
            with atomic_write(args.out, "wb", overwrite=args.force) as f:
                np.lib.format.write_array_header_1_0(f, header)
                f.write(np.ascontiguousarray(first).data)
                for rows in chunks[1:]:
                    chunk = _apply(method, scores, rows, args).astype(dtype)
                    f.write(np.ascontiguousarray(chunk).data)
        except FileExistsError:
            raise CommandError(
                f"{args.out} already exists (another run created it meanwhile); "
                "nothing was written. Pass --force to overwrite it."
            ) from None
    print(
        f"wrote {args.out}: {args.kind} of shape {shape}, {dtype}, from "
        f"{args.scores} through {args.model} ({type(calibrator).__name__})"
    )
    return 0
