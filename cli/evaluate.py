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

With equal-width bins (the default) every metric is computed over chunks of
rows of a memory-mapped ``.npy`` file: the means (NLL, Brier, classification
error) are combined over the chunks, and the binned errors from the chunks'
bin statistics merged with :func:`calibrate.binning.merge_bin_stats`.  The
memory used is then the chunk's plus the labels, encoded once for the whole
file (8 bytes a row, or a row of K for a multilabel indicator), so a file of
scores larger than memory can be evaluated; the result equals the whole-array
computation up to the rounding of the sums (about 1e-12 relative or
better).  Equal-mass bins (``--strategy quantile``) need all the scores at
once, so they are computed
on the whole array, as are the calibrated scores of ``--model`` (float64,
``n x K``, held in memory).
"""

import numpy as np

from calibrate.binning import merge_bin_stats
from calibrate.calibrators._probability import calibrated_scores
from calibrate.cli._common import (
    CommandError,
    add_binning_options,
    add_command,
    add_data_arguments,
    add_global_options,
    add_model_options,
    format_number,
    format_table,
    print_json,
    read_model_and_inputs,
    warnings_per_chunk,
)
from calibrate.metrics import METRICS, binned_calibration_error, calibration_bins

__all__ = ["add_parser", "chunk_rows", "compute_metrics", "run", "select_metrics"]


def add_parser(subparsers):
    """Register ``evaluate`` on the top-level parser's subparsers."""
    parser = add_command(
        subparsers,
        "evaluate",
        doc=__doc__,
        help="print every calibration metric of scores (before and after a model)",
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


def chunk_rows(n_columns):
    """Rows per chunk: about 2**20 scores, at most 2**18 rows.

    Each metric holds a few float64 values per score or per row of the chunk,
    so a chunk costs some tens of MB whatever the shape of the file.
    """
    return max(1, min(2**18, 2**20 // max(1, n_columns)))


def compute_metrics(
    names, labels, scores, *, input_type, n_bins, strategy, what, rows=None
):
    """Compute the registry's metrics ``names`` of ``scores`` against ``labels``.

    Parameters
    ----------
    names : list of str
        Keys of :data:`calibrate.metrics.METRICS`.
    labels : ndarray
        Labels encoded against the score columns over the whole file
        (:attr:`Inputs.encoded`), so that every chunk reads them alike.
    scores : ndarray
        Scores, possibly memory-mapped.
    input_type : str
        How to read ``scores``.
    n_bins : int
        Bins of the binned errors.
    strategy : {"uniform", "quantile"}
        Their binning.
    what : str
        The data's name in warnings.
    rows : int or None
        Rows per chunk; None uses :func:`chunk_rows`.

    Returns
    -------
    dict
        ``{name: value}``.  With uniform bins and more rows than one chunk,
        computed chunk by chunk (see the module docstring); otherwise by the
        metric functions on the whole arrays.
    """
    n = scores.shape[0]
    n_columns = 1 if scores.ndim == 1 else scores.shape[1]
    rows = chunk_rows(n_columns) if rows is None else rows
    options = {"n_bins": n_bins, "strategy": strategy}
    if strategy != "uniform" or n <= rows:
        values = {}
        for name in names:
            metric = METRICS[name]
            kwargs = {k: v for k, v in options.items() if k in metric.needs}
            values[name] = metric(labels, scores, input_type=input_type, **kwargs)
        return values

    sums = dict.fromkeys((n for n in names if not METRICS[n].binned), 0.0)
    parts = {name: [] for name in names if METRICS[name].binned}
    with warnings_per_chunk(what):
        for start in range(0, n, rows):
            chunk = slice(start, min(start + rows, n))
            y, X = labels[chunk], np.asarray(scores[chunk])
            for name in sums:
                sums[name] += METRICS[name](y, X, input_type=input_type) * len(y)
            for name in parts:
                reduction = dict(METRICS[name].binned)["reduction"]
                parts[name].append(
                    calibration_bins(
                        y,
                        X,
                        n_bins=n_bins,
                        reduction=reduction,
                        input_type=input_type,
                    )
                )
    values = {name: total / n for name, total in sums.items()}
    for name, chunks in parts.items():
        binned = dict(METRICS[name].binned)
        if binned["reduction"] == "classwise":
            merged = tuple(
                merge_bin_stats(per_class) for per_class in zip(*chunks, strict=True)
            )
        else:
            merged = merge_bin_stats(chunks)
        values[name] = binned_calibration_error(
            merged, norm=binned["norm"], debias=binned["debias"]
        )
    return {name: values[name] for name in names}


def run(args, progress):
    """Run ``calibrate evaluate``; return the exit status."""
    calibrator, inputs = read_model_and_inputs(args, progress)
    input_type = inputs.input_type
    names, not_applicable = select_metrics(args.metrics, inputs.task)

    columns = {"value": (inputs.scores, input_type)}
    if calibrator is not None:
        with progress.step(f"applying {args.model}"):
            calibrated = calibrated_scores(calibrator, inputs.scores)
        columns = {"before": (inputs.scores, input_type), "after": calibrated}

    results = {name: {"description": METRICS[name].description} for name in names}
    for column, (scores, kind) in columns.items():
        with progress.step(f"computing the metrics ({column})"):
            values = compute_metrics(
                names,
                inputs.encoded,
                scores,
                input_type=kind,
                n_bins=args.n_bins,
                strategy=args.strategy,
                what=args.scores,
            )
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
