"""``calibrate evaluate``: every registered metric of scores against labels.

Without ``--model`` the table has one column, the metrics of the scores as
they are.  With ``--model`` it has two, ``before`` (the scores) and ``after``
(the model's log-probabilities, ``predict_log_proba``).  The metrics are those of
:data:`calibrate.metrics.METRICS` defined for the task (``ece_positive`` is
binary only; the top-label metrics are not defined for multilabel data, where
the ECE is the classwise one);
``--metrics`` picks some of them.

``--json`` prints only a JSON document::

    {"scores": ..., "labels": ..., "model": null or the file,
     "input_type": ..., "task": ..., "n_samples": ..., "n_classes": ...,
     "n_bins": 15, "strategy": "uniform",
     "metrics": {"nll": {"description": ..., "value": 0.93}, ...},
     "not_applicable": {"ece_positive": "defined for binary data only"},
     "warnings": [...]}

where each metric has ``"value"`` without a model and ``"before"`` and
``"after"`` with one.

Every metric is computed by :func:`calibrate.metrics.evaluate` (the
model's column by :func:`calibrate.metrics.evaluate_calibrator`, from its
``predict_log_proba`` block by block), over chunks of rows of a
memory-mapped ``.npy`` file (``--chunk-rows``): the means (NLL, Brier,
accuracy) are combined over the chunks, the binned errors from the chunks'
merged bin statistics (equal-mass bins, ``--strategy quantile``, from the
reduced scores gathered over the chunks), and a whole-array metric of the
registry is computed once on the whole input.  The labels are encoded once
for the whole file.  The result equals the whole-array computation up to the
rounding of the sums (about 1e-12 relative or better).
"""

from calibrate.cli._common import (
    CommandError,
    UsageError,
    add_binning_options,
    add_data_arguments,
    add_global_options,
    add_model_options,
    describe,
    format_number,
    format_table,
    positive_int,
    print_json,
    read_model_and_inputs,
    warnings_per_chunk,
)
from calibrate.metrics import METRICS, evaluate, evaluate_calibrator
from calibrate.metrics._engine import applicable_metrics

__all__ = ["add_arguments", "metrics_help", "run", "select_metrics"]


def add_arguments(parser):
    """Add the options of ``evaluate`` to its parser."""
    describe(
        parser,
        doc=__doc__,
        example="calibrate evaluate test_logits.npy test_labels.npy --model model.json",
    )
    add_data_arguments(parser)
    add_model_options(
        parser,
        help="a model saved by fit: add its calibrated scores as an 'after' column",
    )
    add_binning_options(parser)
    parser.add_argument(
        "--metrics",
        action="append",
        metavar="NAME[,NAME...]",
        help=metrics_help(),
    )
    parser.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=None,
        metavar="N",
        help="rows read at a time from the scores (default: about 2**20 scores "
        "a chunk)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON document only"
    )
    add_global_options(parser, suppress=True)
    parser.set_defaults(run=run)


def metrics_help():
    """``--metrics`` help, read from the registry: every name and what it is."""
    listed = "; ".join(f"{name}: {m.description}" for name, m in METRICS.items())
    return (
        "metrics to compute (repeatable, comma-separated; default: all that "
        f"apply): {listed}"
    )


def select_metrics(requested, task):
    """Names of the metrics to compute, and those skipped with the reason.

    ``requested`` is None (every metric defined for ``task``) or a list of
    comma-separated names; an unknown name, or a name not defined for
    ``task``, is an error.
    """
    names, not_applicable = applicable_metrics(task)
    if requested is None:
        return names, not_applicable
    names = []
    for group in requested:
        for name in filter(None, (n.strip() for n in group.split(","))):
            if name not in METRICS:
                raise UsageError(
                    f"--metrics: unknown metric {name!r}; the metrics are "
                    f"{', '.join(METRICS)}."
                )
            if name in not_applicable:
                raise CommandError(
                    f"--metrics: {name} is {not_applicable[name]}; these scores "
                    f"are {task}."
                )
            if name not in names:
                names.append(name)
    if not names:
        raise UsageError(f"--metrics: no metric named in {requested!r}.")
    return names, {}


def run(args, progress):
    """Run ``calibrate evaluate``; return the exit status."""
    calibrator, inputs = read_model_and_inputs(args, progress)
    input_type = inputs.input_type
    names, not_applicable = select_metrics(args.metrics, inputs.task)

    options = {
        "metrics": names,
        "n_bins": args.n_bins,
        "strategy": args.strategy,
        "chunk_rows": args.chunk_rows,
    }
    columns = {
        "value": lambda: evaluate(
            inputs.encoded, inputs.scores, input_type=input_type, **options
        )
    }
    if calibrator is not None:
        columns = {
            "before": columns["value"],
            "after": lambda: evaluate_calibrator(
                calibrator, inputs.scores, inputs.encoded, **options
            ),
        }

    results = {name: {"description": METRICS[name].description} for name in names}
    for column, compute in columns.items():
        with progress.step(f"computing the metrics ({column})"):
            with warnings_per_chunk(args.scores):
                values = compute()
        for name, value in values.items():
            results[name][column] = value

    if args.json:
        print_json(
            {
                "scores": args.scores,
                "labels": args.labels,
                "model": args.model,
                "input_type": input_type,
                "task": inputs.task,
                "n_samples": inputs.n_samples,
                "n_classes": len(inputs.classes),
                "n_bins": args.n_bins,
                "strategy": args.strategy,
                "metrics": results,
                "not_applicable": not_applicable,
                "warnings": args.warnings,
            }
        )
        return 0
    print(inputs.describe())
    if calibrator is not None:
        print(f"model: {args.model} ({type(calibrator).__name__})")
    print(f"binned metrics: {args.n_bins} {args.strategy} bins\n")
    header = ["metric", *columns, "description"]
    rows = [
        [name, *(format_number(entry[c]) for c in columns), entry["description"]]
        for name, entry in results.items()
    ]
    print(format_table(header, rows, align="l" + "r" * len(columns) + "l"))
    if not_applicable:
        print(
            "\nnot computed: "
            + "; ".join(f"{n} ({why})" for n, why in not_applicable.items())
        )
    return 0
