"""``calibrate fit``: fit a calibration map on validation scores, save it as JSON.

Prints what was fitted (the fitted parameters, the iterations) and the
validation NLL and ECE before and after calibration, then saves the model
with :func:`calibrate.io.save_calibrator`.  With ``--json`` the same report is
printed as JSON and nothing else goes to stdout.
"""

import warnings

import numpy as np

from calibrate.calibrators import CALIBRATORS, TemperatureScaling
from calibrate.calibrators._auto import AutoCalibration
from calibrate.calibrators._diagnostics import (
    PARAMETERS_PER_ROW,
    count_parameters,
    overfit_warning,
)
from calibrate.cli._common import (
    CommandError,
    UsageError,
    add_data_arguments,
    add_global_options,
    add_input_type_option,
    add_output_option,
    check_output,
    describe,
    format_number,
    format_table,
    load_array,
    methods_help,
    n_bins_value,
    print_json,
    read_inputs,
    warnings_per_chunk,
)
from calibrate.exceptions import CalibrationWarning
from calibrate.io import fitted_parameters, save_calibrator
from calibrate.metrics import evaluate, evaluate_calibrator

__all__ = ["add_arguments", "parse_param", "run"]

# Arrays longer than this are summarised on the terminal (--json has them all).
_SHOW_ALL = 10


def add_arguments(parser):
    """Add the options of ``fit`` to its parser."""
    describe(
        parser,
        doc=__doc__,
        example="calibrate fit val_logits.npy val_labels.npy -o model.json",
    )
    add_data_arguments(parser, role="validation ")
    parser.add_argument(
        "--method",
        default="temperature",
        help=f"calibration map, one of {', '.join(CALIBRATORS)} (default: "
        f"temperature). Methods: {methods_help()}",
    )
    add_input_type_option(parser, default="logits")
    parser.add_argument(
        "--classes",
        metavar="FILE.npy",
        help="the labels of the score columns, in column order (any labels, any "
        "order; for one column of binary scores the two labels, positive second); "
        "without it integer labels index the columns and other labels are sorted",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a constructor parameter of the method, e.g. --param reg_lambda=0.01 "
        "(repeatable); values are read as integers, floats, true/false, none or "
        "strings",
    )
    parser.add_argument(
        "--n-bins",
        type=n_bins_value,
        default=15,
        help="bins of the validation ECE that is printed (default: 15)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON only"
    )
    add_output_option(parser, metavar="MODEL.json", help="model file to write (.json)")
    add_global_options(parser, suppress=True)
    parser.set_defaults(run=run)


def parse_param(text):
    """Parse ``NAME=VALUE`` into a name and a Python value.

    Integers, then floats, then ``true``/``false``/``none`` (any case) are
    tried; anything else stays a string.

    >>> parse_param("reg_lambda=1e-2"), parse_param("max_iter=200")
    (('reg_lambda', 0.01), ('max_iter', 200))
    >>> parse_param("target_smoothing=True"), parse_param("solver=lbfgs")
    (('target_smoothing', True), ('solver', 'lbfgs'))
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"--param {text!r}: expected NAME=VALUE.")
    raw = raw.strip()
    for convert in (int, float):
        try:
            return name, convert(raw)
        except ValueError:
            pass
    words = {"true": True, "false": False, "none": None}
    return name, words.get(raw.lower(), raw)


def build_calibrator(method, input_type, params):
    """Return an unfitted calibrator, with every name checked.

    ``"auto"`` is :class:`calibrate.AutoCalibration` (its ``--param`` are
    ``methods``, ``cv``, ``scoring`` and ``random_state``).
    """
    if method == "auto":
        cls = AutoCalibration
    elif method not in CALIBRATORS:
        raise UsageError(
            f"unknown method {method!r}; the methods are {', '.join(CALIBRATORS)} "
            "and auto."
        )
    else:
        cls = CALIBRATORS[method]
    accepted = cls().get_params(deep=False)
    kwargs = {}
    for text in params:
        name, value = parse_param(text)
        if name == "input_type":
            raise UsageError(
                "--param input_type: use --input-type to say how SCORES are read."
            )
        if name not in accepted:
            raise UsageError(
                f"--param {name}: {cls.__name__} has no parameter {name!r}; its "
                f"parameters are {', '.join(sorted(set(accepted) - {'input_type'}))}."
            )
        kwargs[name] = value
    return cls(input_type=input_type, **kwargs)


def _print_auto(auto):
    """Print AutoCalibration's cross-validation table and its choice."""
    table = auto.cv_results_
    folds = [c for c in table.columns if c.startswith("fold_")]
    rows = [
        [
            r["method"],
            str(r["n_parameters"]),
            format_number(r["mean"]),
            format_number(r["std_error"]),
            "chosen" if r["chosen"] else "",
        ]
        for _, r in table.iterrows()
    ]
    print(
        f"automatic choice: {len(folds)}-fold cross-validation of the held-out "
        f"{auto.scoring}, one-standard-error rule toward fewer parameters"
    )
    print(format_table(["method", "parameters", "mean", "std error", ""], rows))
    print(f"chosen: {auto.best_method_} (refitted on all rows, saved)\n")


def _show(value):
    if isinstance(value, list):  # a list of arrays (one per class, say)
        return f"{len(value)} arrays: " + "; ".join(_show(v) for v in value)
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return format_number(float(array))
    if array.size <= _SHOW_ALL:
        return "[" + ", ".join(f"{v:.4g}" for v in array.flat) + "]"
    return (
        f"shape {array.shape}: min {array.min():.4g}, median "
        f"{np.median(array):.4g}, max {array.max():.4g}"
    )


def validation_metrics(calibrator, inputs, n_bins):
    """NLL and ECE of the validation scores before and after the fitted map.

    The ECE is top-label, or classwise for multilabel data (where top-label is
    not defined).  Both columns go through the engine that ``evaluate`` uses,
    chunked like it: :func:`calibrate.metrics.evaluate` of the scores and
    :func:`calibrate.metrics.evaluate_calibrator` of the fitted map (its
    ``predict_log_proba``).
    """
    names = ["nll", "ece" if inputs.task != "multilabel" else "ece_classwise"]
    options = {"metrics": names, "n_bins": n_bins, "strategy": "uniform"}
    columns = {
        "before": lambda: evaluate(
            inputs.encoded, inputs.scores, input_type=inputs.input_type, **options
        ),
        "after": lambda: evaluate_calibrator(
            calibrator, inputs.scores, inputs.encoded, **options
        ),
    }
    results = {name: {} for name in names}
    for column, compute in columns.items():
        with warnings_per_chunk(inputs.scores_spec):
            values = compute()
        for name, value in values.items():
            results[name][column] = value
    return results


def warn_if_overfitted(calibrator, inputs, validation_nll):
    """Warn (CalibrationWarning) when the fit looks over-fitted.

    The rule is :func:`calibrate.calibrators._diagnostics.overfit_warning`'s:
    more than one free parameter per ten validation rows and a validation NLL
    below half of temperature scaling's; temperature scaling is fitted for the
    comparison only when the first condition holds.
    """
    n = inputs.n_samples
    if count_parameters(calibrator) <= PARAMETERS_PER_ROW * n:
        return
    reference = TemperatureScaling(input_type=inputs.input_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(inputs.scores, inputs.labels)
        temperature_nll = evaluate_calibrator(
            reference, inputs.scores, inputs.encoded, metrics=["nll"]
        )["nll"]
    message = overfit_warning(calibrator, n, validation_nll, temperature_nll)
    if message is not None:
        warnings.warn(message, CalibrationWarning, stacklevel=2)


def run(args, progress):
    """Run ``calibrate fit``; return the exit status."""
    calibrator = build_calibrator(args.method, args.input_type, args.param)
    check_output(args.output, force=args.force, suffixes=(".json",), what="model")
    with progress.step("reading and checking the inputs"):
        classes = None if args.classes is None else load_array(args.classes)
        inputs = read_inputs(
            args.scores, args.labels, input_type=args.input_type, classes=classes
        )
    name = type(calibrator).__name__
    with progress.step(f"fitting {name}"):
        try:
            # classes= only when given: a registered calibrator's own fit
            # may not take it.
            extra = {} if classes is None else {"classes": classes}
            calibrator.fit(inputs.scores, inputs.labels, **extra)
        except (ValueError, TypeError) as exc:
            raise CommandError(f"fitting {name} on {args.scores}: {exc}") from exc
    if isinstance(calibrator, AutoCalibration):
        # The model file holds the chosen map, refitted on all rows.
        auto, calibrator = calibrator, calibrator.best_estimator_
        name = type(calibrator).__name__
        if not args.json:
            _print_auto(auto)
    with progress.step("computing the validation metrics"):
        metrics = validation_metrics(calibrator, inputs, args.n_bins)
    n_parameters = count_parameters(calibrator)
    warn_if_overfitted(calibrator, inputs, metrics["nll"]["after"])
    save_calibrator(calibrator, args.output, overwrite=args.force)

    parameters = fitted_parameters(calibrator)
    if args.json:
        print_json(
            {
                "model": args.output,
                "method": args.method,
                "class": name,
                "scores": args.scores,
                "labels": args.labels,
                "input_type": inputs.input_type,
                "task": inputs.task,
                "n_samples": inputs.n_samples,
                "n_classes": len(inputs.classes),
                "n_iter": getattr(calibrator, "n_iter_", None),
                "n_parameters": n_parameters,
                "parameters": parameters,
                "n_bins": args.n_bins,
                "validation": metrics,
                "warnings": args.warnings,
            }
        )
        return 0
    print(inputs.describe())
    # n_iter_ is optional: a map fitted in closed form has none.
    n_iter = getattr(calibrator, "n_iter_", None)
    how = "" if n_iter is None else f" in {n_iter} iterations"
    print(
        f"fitted {name}{how}: {n_parameters} "
        f"parameter{'s' * (n_parameters != 1)} for {inputs.n_samples} validation "
        "rows\n"
    )
    shown = [[key, _show(value)] for key, value in parameters.items()]
    print(format_table(["parameter", "value"], shown, align="ll"))
    print()
    rows = [
        [key, format_number(v["before"]), format_number(v["after"])]
        for key, v in metrics.items()
    ]
    print(format_table(["validation", "before", "after"], rows))
    print(f"\nsaved {args.output}")
    return 0
