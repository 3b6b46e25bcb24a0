"""Calibration reports: fit, compare and show, in one document.

:func:`build_report` fits calibration methods on validation outputs, evaluates
them beside the uncalibrated scores on test outputs, with bootstrap intervals
over the test rows, and returns a :class:`CalibrationReport`: pure data, which
renders to one self-contained HTML file, a Markdown folder or a JSON document.

Examples
--------
>>> from calibrate.datasets import make_miscalibrated
>>> from calibrate.report import build_report
>>> val = make_miscalibrated(n_samples=600, n_classes=3, temperature=3.0,
...                          random_state=0)
>>> test = make_miscalibrated(n_samples=600, n_classes=3, temperature=3.0,
...                           random_state=1)
>>> report = build_report((val.logits, val.labels), (test.logits, test.labels),
...                       n_bootstrap=100, random_state=0)
>>> report.methods
['uncalibrated', 'temperature', 'vector', 'matrix']
>>> report.direction().split(":")[0]
'The uncalibrated model is over-confident'
"""

from calibrate.report._bootstrap import REPORT_METRICS
from calibrate.report._build import DEFAULT_METHODS, MIN_BOOTSTRAP, build_report
from calibrate.report._render import format_markdown_table
from calibrate.report._report import (
    REPORT_SCHEMA,
    SCHEMA_VERSION,
    STATISTICS,
    CalibrationReport,
    load_metrics,
)

__all__ = [
    "DEFAULT_METHODS",
    "MIN_BOOTSTRAP",
    "REPORT_METRICS",
    "REPORT_SCHEMA",
    "SCHEMA_VERSION",
    "STATISTICS",
    "CalibrationReport",
    "build_report",
    "format_markdown_table",
    "load_metrics",
]
