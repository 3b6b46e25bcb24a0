"""``calibrate evaluate``: every registered metric of scores against labels.

Without ``--model`` the table has one column, the metrics of the scores as
they are.  With ``--model`` it has two, ``before`` (the scores) and ``after``
(the model's calibrated logits, read in log space).  The metrics are those of
:data:`calibrate.metrics.METRICS` defined for the task (``ece_positive`` is
binary only; the top-label metrics are not defined for multilabel data);
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

A memory-mapped ``.npy`` file is read in chunks by the metrics that can (the
top-label ECE and its L2 and maximum variants, NLL, Brier, classification
error), so those work on a file larger than memory; the classwise ECE and
the calibrated scores of ``--model`` (float64, ``n x K``) are held in memory.
"""

from calibrate.cli._common import (
    CommandError,
    add_binning_options,
    add_global_options,
    add_input_type_option,
    check_model_fits,
    format_number,
    format_table,
    load_model,
    print_json,
    read_inputs,
)
from calibrate.metrics import METRICS

__all__ = ["add_parser", "run", "select_metrics"]


def add_parser(subparsers):
    """Register ``evaluate`` on the top-level parser's subparsers."""
    parser = subparsers.add_parser(
        "evaluate",
        help="print every calibration metric of scores (before and after a model)",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="Example: calibrate evaluate test_logits.npy test_labels.npy "
        "--model model.json",
    )
    parser.add_argument(
        "scores",
        metavar="SCORES",
        help="scores: file.npy or file.npz:key, (n,) or (n, K)",
    )
    parser.add_argument(
        "labels",
        metavar="LABELS",
        help="labels: (n,) classes or an (n, K) 0/1 indicator (multilabel)",
    )
    parser.add_argument(
        "--model",
        metavar="MODEL",
        help="a model saved by fit: add its calibrated scores as an 'after' column",
    )
    add_input_type_option(
        parser, default=None, help_suffix="; with --model, the model's by default"
    )
    add_binning_options(parser)
    parser.add_argument(
        "--metrics",
        action="append",
        metavar="NAME[,NAME...]",
        help=f"metrics to compute (repeatable; default: all that apply): "
        f"{', '.join(METRICS)}",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON document only"
    )
    add_global_options(parser, suppress=True)
    parser.set_defaults(run=run)
    return parser


def select_metrics(requested, task):
    """Names of the metrics to compute, and those skipped with the reason.

    ``requested`` is None (every metric defined for ``task``) or a list of
    comma-separated names; an unknown name, or a name not defined for
    ``task``, is an error.
    """
    not_applicable = {
        name: f"defined for {' and '.join(sorted(m.tasks))} data only"
        for name, m in METRICS.items()
        if task not in m.tasks
    }
    if requested is None:
        return [n for n in METRICS if n not in not_applicable], not_applicable
    names = []
    for group in requested:
        for name in filter(None, (n.strip() for n in group.split(","))):
            if name not in METRICS:
                raise CommandError(
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
        raise CommandError("--metrics: no metric named.")
    return names, {}


def run(args, progress):
    """Run ``calibrate evaluate``; return the exit status."""
    calibrator = None
    input_type = args.input_type
    if args.model is not None:
        calibrator, input_type = load_model(args.model, input_type)
    input_type = input_type or "logits"
    with progress.step("reading and checking the inputs"):
        inputs = read_inputs(args.scores, args.labels, input_type=input_type)
    names, not_applicable = select_metrics(args.metrics, inputs.task)

    columns = {"value": (inputs.scores, input_type)}
    if calibrator is not None:
        check_model_fits(calibrator, inputs, args.model)
        with progress.step(f"applying {args.model}"):
            calibrated = calibrator.transform(inputs.scores)
        columns = {
            "before": (inputs.scores, input_type),
            "after": (calibrated, "logits"),
        }

    results = {}
    for i, name in enumerate(names):
        metric = METRICS[name]
        options = {"n_bins": args.n_bins, "strategy": args.strategy}
        options = {k: v for k, v in options.items() if k in metric.needs}
        entry = {"description": metric.description}
        with progress.step(f"computing {name} ({i + 1}/{len(names)})"):
            for column, (scores, kind) in columns.items():
                entry[column] = metric(
                    inputs.labels, scores, input_type=kind, **options
                )
        results[name] = entry

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
