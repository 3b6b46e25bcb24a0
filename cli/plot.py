"""``calibrate plot``: draw a reliability diagram to a PNG, SVG or PDF file.

Without ``--model``: one :class:`~calibrate.plotting.ReliabilityDisplay` of
the scores.  With ``--model``: the uncalibrated scores and the model's
calibrated output side by side
(:meth:`~calibrate.plotting.ReliabilityComparisonDisplay.from_calibrators`).
The format follows the suffix of ``-o``.  The reduction is top-label by
default, and classwise for multilabel data (one panel per label, the most
frequent six); the side-by-side comparison draws top-label or positive-class
diagrams only.  ``--kind smooth`` draws the kernel-smoothed calibration curve
of the smooth ECE with a bootstrap band instead of bins (without ``--model``).
"""

import os

from calibrate._figures import save_figure
from calibrate.cli._common import (
    CommandError,
    UsageError,
    add_binning_options,
    add_data_arguments,
    add_global_options,
    add_model_options,
    add_output_option,
    check_output,
    describe,
    read_model_and_inputs,
)
from calibrate.io import atomic_write, load_calibrator

__all__ = ["FORMATS", "add_arguments", "run"]

#: File suffixes ``-o`` may end in.
FORMATS = (".png", ".svg", ".pdf")
_REDUCTIONS = ("top_label", "classwise", "positive")
_KINDS = ("bins", "smooth")


def add_arguments(parser):
    """Add the options of ``plot`` to its parser."""
    describe(
        parser,
        doc=__doc__,
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
        "--kind",
        choices=_KINDS,
        default="bins",
        help="bins (default): the binned diagram; smooth: the kernel-smoothed "
        "curve of the smooth ECE with a bootstrap band (top-label or positive, "
        "without --model)",
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


def _model_input_type(args):
    """Return the input type to suggest: --input-type, else the model's."""
    if args.input_type is not None:
        return args.input_type
    try:
        return load_calibrator(args.model).input_type
    except (ValueError, TypeError, OSError):
        return "INPUT_TYPE"


def _two_classwise_diagrams(args, input_type):
    return (
        f"Draw two classwise diagrams instead: 'calibrate plot {args.scores} "
        f"{args.labels} --input-type {input_type} --reduction classwise -o "
        "before.png' and, on the output of 'calibrate apply', 'calibrate plot "
        f"PROBS.npy {args.labels} --input-type probs --reduction classwise -o "
        "after.png'."
    )


def run(args, progress):
    """Run ``calibrate plot``; return the exit status."""
    from calibrate.plotting import ReliabilityComparisonDisplay, ReliabilityDisplay

    if args.model is not None and args.reduction == "classwise":
        raise UsageError(
            "plot --model draws top-label or positive-class diagrams side by "
            "side; --reduction classwise grids are not drawn side by side. "
            f"{_two_classwise_diagrams(args, _model_input_type(args))}"
        )
    check_output(args.output, force=args.force, suffixes=FORMATS, what="diagram")
    calibrator, inputs = read_model_and_inputs(args, progress)
    input_type = inputs.input_type
    reduction = args.reduction
    if reduction is None:
        reduction = "classwise" if inputs.task == "multilabel" else "top_label"
    options = {"n_bins": args.n_bins, "strategy": args.strategy, "reduction": reduction}
    if args.kind == "smooth":
        if calibrator is not None or reduction == "classwise":
            raise CommandError(
                "plot --kind smooth draws one smoothed curve of top-label or "
                "positive-class scores, without --model; got "
                + ("--model" if calibrator is not None else "classwise scores")
                + ". Draw the calibrated output from 'calibrate apply' on its own."
            )
        options = {"reduction": reduction, "kind": "smooth"}

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
                # Multilabel data (classwise by default): the data, not the
                # command line, rule out a side-by-side diagram.
                raise CommandError(
                    "plot --model draws top-label or positive-class diagrams side "
                    "by side, and multilabel data have no top-label diagram. "
                    f"{_two_classwise_diagrams(args, input_type)}"
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
