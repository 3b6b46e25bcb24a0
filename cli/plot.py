"""``calibrate plot``: draw a reliability diagram to a PNG, SVG or PDF file.

Without ``--model``: one :class:`~calibrate.plotting.ReliabilityDisplay` of
the scores.  With ``--model``: the uncalibrated scores and the model's
calibrated output side by side
(:meth:`~calibrate.plotting.ReliabilityComparisonDisplay.from_calibrators`).
The format follows the suffix of ``-o``.  The reduction is top-label by
default, and classwise for multilabel data (one panel per label, the most
frequent six); the side-by-side comparison draws top-label or positive-class
diagrams only.
"""

import os

from calibrate._figures import save_figure
from calibrate.cli._common import (
    CommandError,
    add_binning_options,
    add_command,
    add_data_arguments,
    add_global_options,
    add_model_options,
    add_output_option,
    check_output,
    read_model_and_inputs,
)
from calibrate.io import atomic_write

__all__ = ["FORMATS", "add_parser", "run"]

#: File suffixes ``-o`` may end in.
FORMATS = (".png", ".svg", ".pdf")
_REDUCTIONS = ("top_label", "classwise", "positive")


def add_parser(subparsers):
    """Register ``plot`` on the top-level parser's subparsers."""
    parser = add_command(
        subparsers,
        "plot",
        doc=__doc__,
        help="draw a reliability diagram (before and after a model) to a file",
        example="calibrate plot test_logits.npy test_labels.npy --model model.json "
        "-o diagram.png",
    )
    add_data_arguments(parser)
    add_model_options(
        parser,
        help="a model saved by fit: draw its calibrated output beside the scores",
    )
    add_binning_options(parser)
    parser.add_argument(
        "--reduction",
        choices=_REDUCTIONS,
        default=None,
        help="top_label (default), classwise (default for multilabel) or positive "
        "(binary)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="the model's name in the title and legend (with --model, default: "
        "its class and file)",
    )
    parser.add_argument(
        "--dpi",
        type=dpi_value,
        default=150.0,
        help="resolution of PNG output (default: 150)",
    )
    add_output_option(
        parser, metavar="DIAGRAM", help="file to write: .png, .svg or .pdf"
    )
    add_global_options(parser, suppress=True)
    parser.set_defaults(run=run)
    return parser


def dpi_value(text):
    """Parse ``--dpi``: a finite number from 1 to 2400 (argparse ``type``).

    A usage error names the value: ``inf`` used to reach matplotlib and come
    back as "cannot convert float NaN to integer".
    """
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 1 <= value <= 2400):
        raise argparse.ArgumentTypeError(
            f"must be a finite number from 1 to 2400; got {text!r}"
        )
    return value


def run(args, progress):
    """Run ``calibrate plot``; return the exit status."""
    from calibrate.plotting import ReliabilityComparisonDisplay, ReliabilityDisplay

    check_output(args.output, force=args.force, suffixes=FORMATS, what="diagram")
    calibrator, inputs = read_model_and_inputs(args, progress)
    input_type = inputs.input_type
    reduction = args.reduction
    if reduction is None:
        reduction = "classwise" if inputs.task == "multilabel" else "top_label"
    options = {"n_bins": args.n_bins, "strategy": args.strategy, "reduction": reduction}

    with progress.step("drawing"):
        if calibrator is None:
            display = ReliabilityDisplay.from_predictions(
                inputs.labels,
                inputs.scores,
                input_type=input_type,
                name=args.name,
                **options,
            )
        else:
            if reduction == "classwise":
                what = (
                    "multilabel data have no top-label diagram"
                    if inputs.task == "multilabel"
                    else "classwise grids are not drawn side by side"
                )
                raise CommandError(
                    f"plot --model draws top-label or positive-class diagrams side "
                    f"by side, and {what}. Draw two classwise diagrams instead: "
                    f"'calibrate plot {args.scores} {args.labels} --input-type "
                    f"{input_type} --reduction classwise -o before.png' and, on "
                    "the output of 'calibrate apply', 'calibrate plot PROBS.npy "
                    f"{args.labels} --input-type probs --reduction classwise -o "
                    "after.png'."
                )
            name = args.name or (
                f"{type(calibrator).__name__} ({os.path.basename(args.model)})"
            )
            display = ReliabilityComparisonDisplay.from_calibrators(
                {name: calibrator},
                inputs.scores,
                inputs.labels,
                input_type=input_type,
                **options,
            )
    suffix = os.path.splitext(args.output)[1].lower()
    with (
        progress.step(f"writing {args.output}"),
        atomic_write(args.output, "wb", overwrite=args.force) as f,
    ):
        save_figure(display.figure_, f, fmt=suffix[1:], dpi=args.dpi)
    print(f"wrote {args.output}")
    return 0
