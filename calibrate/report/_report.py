"""The computed report, and its conversion to plain types and files."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibrate.io import atomic_write
from calibrate.metrics import METRICS
from calibrate.report._bootstrap import report_metrics

__all__ = [
    "REPORT_SCHEMA",
    "SCHEMA_VERSION",
    "STATISTICS",
    "CalibrationReport",
    "load_metrics",
]

#: Version 2 dropped the run-dependent ``metadata.created`` and
#: ``diagnostics.*.fit_seconds``, so that a report is the same bytes on every
#: run; its metrics table is that of version 1, which :func:`load_metrics`
#: still reads.
SCHEMA_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_STATISTIC_SCHEMA = {"type": ["number", "null"]}
#: The statistics of each metric in :attr:`CalibrationReport.metrics`.
STATISTICS = ("value", "low", "high", "change", "change_low", "change_high")

# The metrics every report carries: those the default registry shows (the
# entries of calibrate.metrics.METRICS with report=True).
_REQUIRED_METRICS = report_metrics()
_METRIC_VALUES_SCHEMA = {
    "type": "object",
    "required": list(STATISTICS),
    "additionalProperties": False,
    "properties": {s: _STATISTIC_SCHEMA for s in STATISTICS},
}

#: The JSON Schema (draft 2020-12) of :meth:`CalibrationReport.to_json`.
#: ``schema_version`` changes whenever a key is renamed or removed.
REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "calibrate report",
    "type": "object",
    "required": [
        "schema",
        "schema_version",
        "title",
        "summary",
        "metadata",
        "metric_descriptions",
        "metrics",
        "best",
        "parameters",
        "diagnostics",
        "warnings",
        "bins",
    ],
    "properties": {
        "schema": {"const": "calibrate.report"},
        "schema_version": {"const": SCHEMA_VERSION},
        "title": {"type": "string"},
        "summary": {
            "type": "object",
            "required": ["direction", "best"],
            "properties": {
                "direction": {"type": "string"},
                "best": {"type": "string"},
            },
        },
        "metadata": {
            "type": "object",
            "required": [
                "versions",
                "task",
                "input_type",
                "n_val",
                "n_test",
                "classes",
                "n_bins",
                "n_bootstrap",
                "confidence_level",
                "seed",
                "inputs",
            ],
            "properties": {
                "versions": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "task": {"enum": ["binary", "multiclass", "multilabel"]},
                "input_type": {"enum": ["logits", "probs", "log_probs"]},
                "n_val": {"type": "integer", "minimum": 1},
                "n_test": {"type": "integer", "minimum": 1},
                "classes": {"type": "array"},
                "n_bins": {"type": "integer", "minimum": 1},
                "n_bootstrap": {"type": "integer", "minimum": 1},
                "confidence_level": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 1,
                },
                "seed": {"type": "integer", "minimum": 0},
                "inputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["role", "source", "shape", "dtype", "sha256"],
                        "properties": {
                            "role": {
                                "enum": [
                                    "val_scores",
                                    "val_labels",
                                    "test_scores",
                                    "test_labels",
                                ]
                            },
                            "source": {"type": ["string", "null"]},
                            "shape": {"type": "array", "items": {"type": "integer"}},
                            "dtype": {"type": "string"},
                            "sha256": {
                                "type": "string",
                                "pattern": "^[0-9a-f]{64}$",
                            },
                            "sha256_of": {"enum": ["file", "array"]},
                        },
                    },
                },
            },
        },
        "metric_descriptions": {
            "type": "object",
            "required": list(_REQUIRED_METRICS),
            "additionalProperties": {"type": "string"},
        },
        "metrics": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["method", "values"],
                "properties": {
                    "method": {"type": "string"},
                    "values": {
                        "type": "object",
                        "required": list(_REQUIRED_METRICS),
                        # A metric registered beyond these (report=True) is
                        # one more key of the same form.
                        "additionalProperties": _METRIC_VALUES_SCHEMA,
                        "properties": {
                            name: _METRIC_VALUES_SCHEMA for name in _REQUIRED_METRICS
                        },
                    },
                },
            },
        },
        "best": {
            "type": "object",
            "required": [
                "method",
                "runner_up",
                "nll",
                "runner_up_nll",
                "difference",
                "difference_low",
                "difference_high",
                "significant",
                "sentence",
            ],
            "properties": {
                "method": {"type": "string"},
                "runner_up": {"type": "string"},
                "significant": {"type": "boolean"},
                "sentence": {"type": "string"},
            },
        },
        "parameters": {"type": "object", "additionalProperties": {"type": "object"}},
        "diagnostics": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["class", "n_iter", "warnings"],
            },
        },
        "warnings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "category", "message"],
                "properties": {
                    "source": {"type": "string"},
                    "category": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
        "bins": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "edges",
                        "counts",
                        "weights",
                        "mean_score",
                        "mean_target",
                    ],
                },
            },
        },
    },
}


def _plain(value):
    """Convert numpy scalars and arrays to JSON types; NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _bins_record(stats):
    per_class = stats if isinstance(stats, tuple) else (stats,)
    return [
        {
            "edges": s.edges,
            "counts": s.counts,
            "weights": s.weights,
            "mean_score": s.mean_score,
            "mean_target": s.mean_target,
        }
        for s in per_class
    ]


@dataclass(eq=False)
class CalibrationReport:
    """The result of :func:`calibrate.report.build_report`.

    Pure data: rendering (:meth:`to_html`, :meth:`to_markdown`,
    :meth:`to_json`) reads it and computes nothing new but the figures.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per method, ``"uncalibrated"`` first.  The columns are a
        two-level index ``(metric, statistic)``: the metrics of the
        registry the report shows (``report=True`` in
        :data:`calibrate.metrics.METRICS`: by default ``accuracy``, ``nll``,
        ``brier``, ``ece``, ``ece_classwise``, ``mce`` and
        ``ece_l2_debiased``; NaN where not defined for the task), and for
        each the statistics ``value`` (on the whole test set), ``low`` and
        ``high`` (the bootstrap interval), ``change`` (``value`` minus the
        uncalibrated value; NaN on the uncalibrated row) and ``change_low``,
        ``change_high`` (its paired bootstrap interval).
    replicates : ndarray of shape (n_bootstrap, n_methods + 1, n_metrics)
        The bootstrap replicates behind the intervals, in the order of the
        table's rows and metrics.
    parameters : dict
        Method to its fitted parameters (:func:`calibrate.io.fitted_parameters`).
    diagnostics : dict
        Method to its fit diagnostics: class, parameters, iterations,
        validation NLL after fitting, warnings.
    warnings : list of dict
        Every warning collected while building, with its ``source``,
        ``category`` and ``message``.
    bins : dict
        Method to the :class:`~calibrate.binning.BinStats` of its test scores
        (top-label; a tuple of per-label statistics for multilabel data).
    best : dict
        The method with the lowest test NLL, the runner-up, their paired
        interval and the ``sentence`` saying whether the lead is outside it.
    metadata : dict
        Versions, sizes, classes, binning, bootstrap settings, seed, inputs
        with their SHA-256.
    y_test : array_like
        The test labels.
    predictions : dict
        Method to ``(test scores, input_type)``: calibrated logits for the
        methods, the scores as given for ``"uncalibrated"``.
    """

    metrics: object
    replicates: np.ndarray
    parameters: dict
    diagnostics: dict
    warnings: list
    bins: dict
    best: dict
    metadata: dict
    y_test: object
    predictions: dict

    @property
    def title(self):
        """The report's heading."""
        return self.metadata["title"]

    @property
    def methods(self):
        """The rows of the table, ``"uncalibrated"`` first."""
        return list(self.metrics.index)

    def direction(self):
        """One sentence: is the uncalibrated model over- or under-confident."""
        confidence = self.metadata["mean_confidence"]
        accuracy = self.metadata["accuracy"]
        if self.metadata["task"] == "multilabel":
            what = (
                f"per label, its mean confidence is {100 * confidence:.2f} % against "
                f"an accuracy of {100 * accuracy:.2f} %"
            )
        else:
            what = (
                f"its mean confidence is {100 * confidence:.2f} % against an "
                f"accuracy of {100 * accuracy:.2f} %"
            )
        if confidence > accuracy:
            return f"The uncalibrated model is over-confident: {what}."
        if confidence < accuracy:
            return f"The uncalibrated model is under-confident: {what}."
        return f"The uncalibrated model is neither over- nor under-confident: {what}."

    def to_dict(self):
        """Return the report as plain JSON types (the document of :meth:`to_json`).

        NaN (a metric not defined for the task, the change of the
        uncalibrated row) becomes None.
        """
        table = self.metrics
        names = list(table.columns.get_level_values("metric").unique())
        rows = [
            {
                "method": str(method),
                "values": {
                    metric: {
                        s: _plain(float(table.loc[method, (metric, s)]))
                        for s in STATISTICS
                    }
                    for metric in names
                },
            }
            for method in table.index
        ]
        descriptions = {
            name: METRICS[name].description if name in METRICS else "" for name in names
        }
        return _plain(
            {
                "schema": "calibrate.report",
                "schema_version": SCHEMA_VERSION,
                "title": self.title,
                "summary": {
                    "direction": self.direction(),
                    "best": self.best["sentence"],
                },
                "metadata": self.metadata,
                "metric_descriptions": descriptions,
                "metrics": rows,
                "best": self.best,
                "parameters": self.parameters,
                "diagnostics": self.diagnostics,
                "warnings": self.warnings,
                "bins": {row: _bins_record(s) for row, s in self.bins.items()},
            }
        )

    def to_json(self, path, *, overwrite=False):
        """Write the report as one JSON document, atomically.

        The document follows :data:`REPORT_SCHEMA` (``schema_version`` 2);
        :func:`load_metrics` reads its table back into a DataFrame.

        Parameters
        ----------
        path : str or path-like
            The file to write.
        overwrite : bool, default=False
            Replace an existing file; otherwise an existing file is an error.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        with atomic_write(path, "w", overwrite=overwrite) as handle:
            json.dump(self.to_dict(), handle, indent=1, allow_nan=False)
            handle.write("\n")
        return Path(path)

    def figures(self, n_cols=2):
        """Draw the report's figures.

        Parameters
        ----------
        n_cols : int, default=2
            Panels per row (one suits a phone's screen).

        Returns
        -------
        dict of str to matplotlib.figure.Figure
            ``"reliability"``: the uncalibrated scores and every method side by
            side (for multilabel data, one classwise grid per method,
            ``"reliability_<method>"``); ``"metrics"``: every metric with its
            interval, one panel per metric.
        """
        from calibrate.report._render import draw_figures

        return draw_figures(self, n_cols)

    def to_html(self, path, *, overwrite=False):
        """Write one self-contained HTML file, atomically.

        The figures are embedded as base64 SVG images, the style sheet is
        inline and nothing is fetched from elsewhere, so the file can be
        mailed or attached as it is; the page reflows to a phone's width.
        Every string that comes from the user (title, method and class names,
        file names, warnings) is HTML-escaped.

        Parameters
        ----------
        path : str or path-like
            The file to write (``.html``).
        overwrite : bool, default=False
            Replace an existing file; otherwise an existing file is an error.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        from calibrate.report._render import render_html

        document = render_html(self)
        with atomic_write(path, "w", overwrite=overwrite) as handle:
            handle.write(document)
        return Path(path)

    def markdown_files(self):
        """Return the names of the files :meth:`to_markdown` writes.

        ``README.md`` first, then one PNG per figure.
        """
        from calibrate.report._render import markdown_files

        return markdown_files(self)

    def to_markdown(self, directory, *, overwrite=False):
        """Write ``README.md`` and its figures as PNG files into ``directory``.

        ``README.md`` is the name a code host shows when the folder is
        opened.  The tables are written by a small writer of our own (pipes
        and line breaks in names are escaped).  Every file is written
        atomically; the directory is created if needed.

        Parameters
        ----------
        directory : str or path-like
            Where to write.
        overwrite : bool, default=False
            Replace existing files; otherwise an existing file is an error,
            raised before anything is written.

        Returns
        -------
        list of pathlib.Path
            The files written, ``README.md`` first.
        """
        from calibrate.report._render import render_markdown

        return render_markdown(self, Path(directory), overwrite=overwrite)


def load_metrics(source):
    """Read the metrics table back from a report's JSON document.

    Parameters
    ----------
    source : str, path-like or dict
        A file written by :meth:`CalibrationReport.to_json`, or its parsed
        document.

    Returns
    -------
    pandas.DataFrame
        Equal to :attr:`CalibrationReport.metrics` (None read back as NaN).

    Raises
    ------
    ValueError
        If the document is not a calibrate report of a known schema version.
    """
    import pandas as pd

    if isinstance(source, dict):
        document = source
    else:
        with open(source, encoding="utf-8") as handle:
            document = json.load(handle)
    if (
        document.get("schema") != "calibrate.report"
        or type(document.get("schema_version")) is not int
        or document["schema_version"] not in _READABLE_VERSIONS
    ):
        raise ValueError(
            f"{source if not isinstance(source, dict) else 'the document'} is not a "
            f"calibrate report of schema version 1 or {SCHEMA_VERSION}; got schema "
            f"{document.get('schema')!r}, version {document.get('schema_version')!r}."
        )
    rows = document["metrics"]
    # The metrics the document holds, in its order (a report may carry
    # metrics registered beyond the defaults).
    names = list(rows[0]["values"]) if rows else list(report_metrics())
    values = [
        [
            np.nan if row["values"][m][s] is None else float(row["values"][m][s])
            for m in names
            for s in STATISTICS
        ]
        for row in rows
    ]
    columns = pd.MultiIndex.from_product(
        (names, STATISTICS), names=("metric", "statistic")
    )
    return pd.DataFrame(
        np.array(values, dtype=np.float64).reshape(len(rows), -1),
        index=pd.Index([row["method"] for row in rows], name="method"),
        columns=columns,
    )
