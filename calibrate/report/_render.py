"""Render a CalibrationReport: figures, a self-contained HTML page, Markdown.

Rendering reads the report and computes nothing but the figures.  Every string
that reaches the HTML passes through :func:`html.escape`; the figures are
embedded as base64 SVG ``<img>`` sources, where a browser runs no script.
"""

import base64
import html
import io
import re
import textwrap

import numpy as np

from calibrate._figures import save_figure
from calibrate._text import escape_controls
from calibrate.io import atomic_write
from calibrate.metrics import METRICS

__all__ = [
    "draw_figures",
    "figure_names",
    "format_markdown_table",
    "markdown_files",
    "render_html",
    "render_markdown",
]


# -- the facts of a metric, from its registry entry ----------------------------


def _label(metric):
    entry = METRICS.get(metric)
    return entry.label if entry is not None else metric


def _percent(metric):
    """Whether the metric is a fraction shown in percent, as papers print them."""
    entry = METRICS.get(metric)
    return entry is not None and entry.percent


def _higher_is_better(metric):
    entry = METRICS.get(metric)
    return entry is not None and entry.higher_is_better


_FIGURE_CAPTIONS = {
    "reliability": (
        "Reliability diagrams on the test set: accuracy per confidence bin "
        "against the diagonal of perfect calibration, the uncalibrated scores "
        "and each method; below each, the share of samples per bin."
    ),
    "metrics": (
        "Every metric on the test set with its bootstrap interval (black "
        "line); the name of the best in each panel is in bold."
    ),
}
# A bin-statistics table lists arrays up to this many values, then summarises.
_MAX_VALUES_SHOWN = 12


# -- numbers ---------------------------------------------------------------


def _scale(metric):
    return 100.0 if _percent(metric) else 1.0


def format_value(metric, value):
    """Return a metric value as the tables show it (percent or 4 decimals)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if _percent(metric):
        return f"{100 * value:.2f} %"
    return f"{value:.4f}"


def _format_bounds(metric, low, high, signed=False):
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    digits = 2 if _percent(metric) else 4
    sign = "+" if signed else ""
    scale = _scale(metric)
    return f"[{low * scale:{sign}.{digits}f}, {high * scale:{sign}.{digits}f}]"


def _format_change(metric, value):
    if not np.isfinite(value):
        return "n/a"
    if _percent(metric):
        return f"{100 * value:+.2f} pp"
    return f"{value:+.4f}"


def _verdict(metric, low, high):
    """Return "better" or "worse" when the paired interval excludes 0, else ""."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
        return ""
    improves = (low > 0) == (_higher_is_better(metric))
    return "better" if improves else "worse"


def _best_rows(table, metric):
    values = table[(metric, "value")].to_numpy()
    if not np.isfinite(values).any():
        return set()
    best = np.nanmax(values) if _higher_is_better(metric) else np.nanmin(values)
    return {m for m, v in zip(table.index, values, strict=True) if v == best}


def _metrics_shown(report):
    table = report.metrics
    names = table.columns.get_level_values("metric").unique()
    return [m for m in names if np.isfinite(table[(m, "value")]).any()]


def _show_parameter(value):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return f"{float(array):.6g}"
    flat = array.ravel()
    shown = ", ".join(f"{v:.4g}" for v in flat[:_MAX_VALUES_SHOWN])
    more = f", ... ({flat.size} values)" if flat.size > _MAX_VALUES_SHOWN else ""
    shape = "x".join(map(str, array.shape))
    return f"array {shape}: [{shown}{more}]"


# -- figures ----------------------------------------------------------------


def _reliability_figures(report, n_cols):
    from calibrate.plotting import ReliabilityComparisonDisplay, ReliabilityDisplay

    n_bins = report.metadata["n_bins"]
    if report.metadata["task"] != "multilabel":
        display = ReliabilityComparisonDisplay.from_predictions(
            report.y_test,
            {name: scores for name, (scores, _) in report.predictions.items()},
            input_type={name: kind for name, (_, kind) in report.predictions.items()},
            n_bins=n_bins,
            n_cols=n_cols,
        )
        return {"reliability": display.figure_}
    figures = {}
    for name, (scores, kind) in report.predictions.items():
        display = ReliabilityDisplay.from_predictions(
            report.y_test,
            scores,
            n_bins=n_bins,
            reduction="classwise",
            input_type=kind,
            name=name,
            # The phone's figure: one panel a row, legible at its width.
            n_cols=1 if n_cols == 1 else None,
        )
        figures[f"reliability_{name}"] = display.figure_
    return figures


def _metrics_figure(report, n_cols):
    from matplotlib.figure import Figure

    table = report.metrics
    shown = _metrics_shown(report)
    rows = list(table.index)
    n_rows = -(-len(shown) // n_cols)
    fig = Figure(
        figsize=(3.6 * n_cols, 0.5 + n_rows * (0.45 * len(rows) + 1.0)),
        layout="constrained",
    )
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    colors = [f"C{i % 10}" for i in range(len(rows))]
    position = np.arange(len(rows))
    names = [
        "\n".join(textwrap.wrap(str(r), 18, max_lines=2, placeholder="...")) or str(r)
        for r in rows
    ]
    for ax, metric in zip(axes.flat, shown, strict=False):
        scale = _scale(metric)
        value = table[(metric, "value")].to_numpy() * scale
        low = table[(metric, "low")].to_numpy() * scale
        high = table[(metric, "high")].to_numpy() * scale
        # An infinite value (an NLL with an outcome of probability 0) is drawn
        # to the edge of the axis and labelled, not allowed to break the axis.
        finite = np.concatenate([value[np.isfinite(value)], high[np.isfinite(high)]])
        limit = (finite.max() if finite.size else 0.0) * 1.15 or 1.0
        infinite = np.isposinf(value)
        value = np.where(infinite, limit, value)
        low, high = np.minimum(low, limit), np.minimum(high, limit)
        ax.barh(position, value, color=colors, height=0.6)
        for y in position[infinite]:
            ax.text(limit, y, "inf ", ha="right", va="center", fontsize="small")
        # Drawn as lines: an interval clipped to the metric's range need not be
        # symmetric about the value, which error bars assume.
        ax.hlines(position, low, high, color="black", linewidth=1.5)
        ax.plot(low, position, "|", color="black", markersize=8)
        ax.plot(high, position, "|", color="black", markersize=8)
        ax.set_yticks(position, labels=names, fontsize="small")
        best = _best_rows(table, metric)
        for label, row in zip(ax.get_yticklabels(), rows, strict=True):
            if row in best:
                label.set_fontweight("bold")
        ax.invert_yaxis()
        unit = " (%)" if _percent(metric) else ""
        better = "higher" if _higher_is_better(metric) else "lower"
        ax.set_title(f"{_label(metric)}{unit}, {better} is better", fontsize="medium")
        ax.set_xlim(0, limit)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    return fig


def figure_names(report):
    """Return the names of the report's figures, in order, without drawing them."""
    if report.metadata["task"] != "multilabel":
        return ["reliability", "metrics"]
    return [f"reliability_{name}" for name in report.predictions] + ["metrics"]


def markdown_files(report):
    """Return the files :func:`render_markdown` writes, ``README.md`` first."""
    return ["README.md"] + [
        _png_name(i, name) for i, name in enumerate(figure_names(report))
    ]


def draw_figures(report, n_cols=2):
    """Return the report's figures by name (see ``CalibrationReport.figures``)."""
    figures = _reliability_figures(report, n_cols)
    figures["metrics"] = _metrics_figure(report, n_cols)
    return figures


def _figure_bytes(fig, fmt):
    buffer = io.BytesIO()
    # No date, no software stamp and fixed SVG ids, so a regenerated report
    # differs only where its numbers do.
    save_figure(fig, buffer, fmt=fmt, dpi=110)
    return buffer.getvalue()


def _caption(name):
    if name.startswith("reliability_"):
        return (
            f"Classwise reliability diagrams of {name[len('reliability_') :]} on "
            "the test set (the most frequent labels)."
        )
    return _FIGURE_CAPTIONS[name]


# -- HTML -------------------------------------------------------------------

_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0 auto; padding: 1rem; max-width: 72rem; line-height: 1.45;
  color: #1d1d1f; background: #fff; }
/* Prose and figures keep a readable measure; wide tables use the rest. */
p, ul, details, .summary, figure, h1, h2, h3 { max-width: 60rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; }
p.meta { color: #555; margin-top: 0; }
.summary { background: #f4f6fa; border-left: 4px solid #1f77b4;
  box-sizing: border-box;
  overflow-wrap: anywhere;
  padding: 0.6rem 1rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.3rem 0.6rem;
  text-align: right; vertical-align: top; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0;
  background: #fff; }
td.text, th.text { text-align: left; white-space: normal; min-width: 8rem;
  overflow-wrap: anywhere; }
thead th { border-bottom: 2px solid #bbb; }
.ci { display: block; color: #666; font-size: 0.8rem; }
.best { font-weight: 700; }
.better { color: #0b6e2b; font-weight: 600; }
.worse { color: #a4161a; font-weight: 600; }
figure { margin: 1rem 0; }
figure img { width: 100%; height: auto; border: 1px solid #eee;
  box-sizing: border-box; }
figcaption { color: #555; font-size: 0.9rem; }
code { font-size: 0.85rem; word-break: break-all; }
pre { white-space: pre-wrap; font-size: 0.85rem; background: #f7f7f7;
  padding: 0.5rem; }
details { margin: 0.4rem 0; }
summary { cursor: pointer; }
ul.warnings li { margin-bottom: 0.3rem; }
@media (max-width: 40rem) {
  body { padding: 0.6rem; }
  th, td { padding: 0.25rem 0.4rem; font-size: 0.85rem; }
}
"""


def _e(value):
    # Controls and bidi overrides are shown as escapes, never obeyed.
    return html.escape(escape_controls(value, keep_newlines=True), quote=True)


def _html_table(header, rows, *, text_columns=()):
    """Rows of already escaped cell HTML; ``text_columns`` are left-aligned prose."""

    def cell(tag, i, content):
        cls = ' class="text"' if i in text_columns else ""
        return f"<{tag}{cls}>{content}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "\n".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return (
        '<div class="scroll"><table>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n"
        "</table></div>"
    )


def _value_cells(report):
    """Rows of the metrics table: label, then ``(value, interval, mark)`` per method.

    ``mark`` is ``"best"`` for the best value of the row, else ``""``.  The
    HTML and the Markdown tables are both written from these.
    """
    table = report.metrics
    for metric in _metrics_shown(report):
        best = _best_rows(table, metric)
        cells = []
        for method in table.index:
            low, high = (table.loc[method, (metric, s)] for s in ("low", "high"))
            cells.append(
                (
                    format_value(metric, table.loc[method, (metric, "value")]),
                    _format_bounds(metric, low, high),
                    "best" if method in best else "",
                )
            )
        yield _label(metric), cells


def _change_cells(report):
    """Rows of the change table: label, then ``(change, interval, verdict)``.

    ``verdict`` is ``"better"`` or ``"worse"`` when the paired interval
    excludes 0, else ``""``.
    """
    table = report.metrics
    for metric in _metrics_shown(report):
        cells = []
        for method in table.index[1:]:
            low, high = (
                table.loc[method, (metric, s)] for s in ("change_low", "change_high")
            )
            cells.append(
                (
                    _format_change(metric, table.loc[method, (metric, "change")]),
                    _format_bounds(metric, low, high, signed=True),
                    _verdict(metric, low, high),
                )
            )
        yield _label(metric), cells


def _html_rows(rows):
    """HTML cells of :func:`_value_cells` or :func:`_change_cells` rows."""

    def cell(text, bounds, mark):
        cls = f' class="{mark}"' if mark else ""
        return f'<span{cls}>{_e(text)}</span><span class="ci">{_e(bounds)}</span>'

    return [[_e(label)] + [cell(*c) for c in cells] for label, cells in rows]


def _parameters_html(report):
    parts = []
    for method, parameters in report.parameters.items():
        rows = [
            [_e(k), f"<code>{_e(_show_parameter(v))}</code>"]
            for k, v in parameters.items()
        ]
        parts.append(f"<h3>{_e(method)}</h3>")
        parts.append(_html_table(["parameter", "value"], rows, text_columns=(1,)))
    return "\n".join(parts)


def _diagnostics_rows(report):
    before = report.metadata["validation_nll_uncalibrated"]
    test = report.metrics[("nll", "value")]
    rows = []
    for method, d in report.diagnostics.items():
        options = ", ".join(f"{k}={v!r}" for k, v in sorted(d["params"].items()))
        estimator = f"{d['class']}({options})"
        choice = d.get("choice")
        if choice is not None:
            # AutoCalibration: its choice and cross-validation table, inline.
            scores = "; ".join(
                f"{r['method']} {r['mean']:.4f} ± {r['std_error']:.4f} "
                f"({r['n_parameters']} parameter{'s' * (r['n_parameters'] != 1)})"
                for r in choice["cv_results"]
            )
            estimator += (
                f" chose {choice['chosen']} by the one-standard-error rule; "
                f"held-out {choice['scoring']}: {scores}"
            )
        rows.append(
            [
                method,
                estimator,
                str(d["n_iter"]),
                str(d.get("n_parameters", "")),
                f"{before:.4f} → {d['validation_nll']:.4f}",
                f"{test['uncalibrated']:.4f} → {test[method]:.4f}",
                "; ".join(d["warnings"]) or "none",
            ]
        )
    return rows


_BINNED_NOTE = (
    "The binned errors (ECE, classwise ECE, MCE, TL-ECE) are biased upward on a finite "
    "test set (a perfectly calibrated model has a positive ECE): their interval "
    "is the spread of the estimate, and the true error is likely lower. The "
    "debiased L2 error corrects this bias; the changes below compare both sides "
    "on the same rows."
)
_DIAGNOSTICS_NOTE = (
    "NLL before and after each map, on the validation rows it was fitted on and "
    "on the test rows. A validation NLL far below the test NLL means the map "
    "has over-fitted the validation set (many parameters, few rows): a map with "
    "more than one parameter per ten validation rows and a validation NLL below "
    "half of temperature scaling's is flagged in its warnings."
)
_DIAGNOSTICS_HEADER = [
    "method",
    "estimator",
    "iterations",
    "parameters",
    "validation NLL",
    "test NLL",
    "warnings",
]


def _bin_rows(stats):
    rows = []
    for k in range(stats.n_bins):
        if stats.counts[k] == 0:
            continue
        rows.append(
            [
                f"({stats.edges[k]:.3f}, {stats.edges[k + 1]:.3f}]",
                str(int(stats.counts[k])),
                f"{stats.mean_score[k]:.4f}",
                f"{stats.mean_target[k]:.4f}",
                f"{stats.gap[k]:+.4f}",
            ]
        )
    return rows


_BIN_HEADER = ["bin", "samples", "mean confidence", "accuracy", "gap"]


def _bins_html(report):
    parts = []
    if report.metadata["task"] == "multilabel":
        return (
            "<p>Multilabel data: the bins of each label, as the classwise ECE reads "
            "them, are in the JSON report.</p>"
        )
    parts.append(
        "<p>Top-label bins of the test scores, as the diagrams and the ECE read "
        "them; bins are (lower, upper], the first also holding 0.</p>"
    )
    for method, stats in report.bins.items():
        rows = [[_e(c) for c in row] for row in _bin_rows(stats)]
        parts.append(
            f"<details><summary>{_e(method)}: {stats.n_nonempty} non-empty bins of "
            f"{stats.n_bins}</summary>\n{_html_table(_BIN_HEADER, rows)}</details>"
        )
    return "\n".join(parts)


def _inputs_rows(report):
    rows = []
    for record in report.metadata["inputs"]:
        source = record["source"] if record["source"] is not None else "(array)"
        shape = "x".join(map(str, record["shape"]))
        rows.append(
            [
                record["role"],
                source,
                f"{shape} {record['dtype']}",
                f"{record['sha256']} ({record['sha256_of']})",
            ]
        )
    return rows


def _settings_rows(report):
    m = report.metadata
    level = f"{100 * m['confidence_level']:g} %"
    return [
        ["task", f"{m['task']}, {_n_classes(report)}"],
        ["input type", m["input_type"]],
        ["validation / test rows", f"{m['n_val']} / {m['n_test']}"],
        ["binning", f"{m['n_bins']} equal-width bins"],
        [
            "bootstrap",
            f"{m['n_bootstrap']} resamples of the test rows; {level} intervals: the "
            "replicates' spread around their median, placed around the estimate; "
            "each replicate is the metric on the resampled rows (the smooth ECE "
            "with its kernel width found again on each resample)",
        ],
        ["seed", str(m["seed"])],
        ["versions", ", ".join(f"{k} {v}" for k, v in m["versions"].items())],
    ]


def _n_classes(report):
    """Return "10 classes", or "5 labels" for multilabel data."""
    n = len(report.metadata["classes"])
    return f"{n} labels" if report.metadata["task"] == "multilabel" else f"{n} classes"


def _classes_text(report, limit=20):
    classes = [str(c) for c in report.metadata["classes"]]
    text = ", ".join(classes[:limit])
    if len(classes) > limit:
        text += f", ... ({len(classes)} in all)"
    return text


def _keep_units(text):
    """Join numbers to their units with a no-break space ("95 %", "-3.19 pp")."""
    return re.sub(r"(\d) (%|pp\b)", "\\1\u00a0\\2", text)


def render_html(report):
    """Return the report as one self-contained HTML document."""
    # Each figure twice: two panels a row for a monitor, one for a phone.
    sources = {}
    for n_cols in (2, 1):
        figures = report.figures(n_cols=n_cols)
        for name, fig in figures.items():
            data = base64.b64encode(_figure_bytes(fig, "svg")).decode("ascii")
            sources.setdefault(name, []).append(f"data:image/svg+xml;base64,{data}")
        figures.clear()
    images = [
        f'<figure id="figure-{_e(name)}"><picture>'
        f'<source media="(max-width: 40rem)" srcset="{narrow}">'
        f'<img alt="{_e(_caption(name))}" src="{wide}"></picture>'
        f"<figcaption>{_e(_caption(name))}</figcaption></figure>"
        for name, (wide, narrow) in sources.items()
    ]
    m = report.metadata
    methods = list(report.metrics.index)
    level = f"{100 * m['confidence_level']:g} %"
    warnings_html = (
        '<ul class="warnings">'
        + "".join(
            f"<li><b>{_e(w['source'])}</b> ({_e(w['category'])}): "
            f"{_e(w['message'])}</li>"
            for w in report.warnings
        )
        + "</ul>"
        if report.warnings
        else "<p>None.</p>"
    )
    diagnostics = _html_table(
        _DIAGNOSTICS_HEADER,
        # A break opportunity after "(" keeps a narrow column from breaking
        # the estimator's class name.
        [
            [_e(c).replace("(", "(<wbr>") if i == 1 else _e(c) for i, c in enumerate(r)]
            for r in _diagnostics_rows(report)
        ],
        text_columns=(1, 6),
    )
    settings = _html_table(
        ["setting", "value"],
        [[_e(a), _e(b)] for a, b in _settings_rows(report)],
        text_columns=(1,),
    )
    inputs = _html_table(
        ["input", "source", "array", "SHA-256"],
        [
            [_e(a), _e(b), _e(c), f"<code>{_e(d)}</code>"]
            for a, b, c, d in _inputs_rows(report)
        ],
        text_columns=(1, 3),
    )
    description = (
        ""
        if not m.get("description")
        else '<details class="description"><summary>About the model and the '
        f"data</summary><pre>{_e(m['description'])}</pre></details>"
    )
    change_table = _html_table(
        ["metric", *(_e(x) for x in methods[1:])], _html_rows(_change_cells(report))
    )
    body = f"""
<h1>{_e(report.title)}</h1>
<p class="meta">{_e(m["task"])} classification, {_n_classes(report)}
({_e(_classes_text(report))}); fitted on {m["n_val"]} validation rows,
evaluated on {m["n_test"]} test rows.</p>
{description}
<div class="summary">
<p>{_e(report.direction())}</p>
<p>{_e(report.best["sentence"])}</p>
</div>

<h2>Test metrics</h2>
<p>Each cell: the value on the test set and its {level} bootstrap interval over
test rows ({m["n_bootstrap"]} resamples). Bold: the best of the row.
{_e(_BINNED_NOTE)}</p>
{_html_table(["metric", *(_e(x) for x in methods)], _html_rows(_value_cells(report)))}

<h2>Change from the uncalibrated scores</h2>
<p>Method minus uncalibrated (pp: percentage points), with the paired {level}
interval: both computed on the same resampled rows. Green: the interval excludes 0
and the method is better; red: excludes 0 and it is worse.</p>
{change_table}

<h2>Figures</h2>
{"".join(images)}

<h2>Fitted parameters</h2>
{_parameters_html(report)}

<h2>Fit diagnostics</h2>
<p>{_e(_DIAGNOSTICS_NOTE)}</p>
{diagnostics}

<h2>Warnings</h2>
{warnings_html}

<h2>Bin statistics</h2>
{_bins_html(report)}

<h2>Data and reproducibility</h2>
{settings}
{inputs}
"""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(report.title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>{_keep_units(body)}</body>\n</html>\n"
    )


# -- Markdown ---------------------------------------------------------------


class _Markdown(str):
    """A table cell that is already Markdown (numbers we set in bold)."""


def _md_cell(value):
    if isinstance(value, _Markdown):
        return " ".join(value.replace("|", "\\|").splitlines())
    return _md_escape(value)


def format_markdown_table(header, rows, align=None):
    r"""Return a GitHub-flavoured Markdown table.

    Cells are text, shown as given: raw HTML is escaped (``<`` becomes
    ``&lt;``), so are the characters of Markdown's inline markup (``\ ` * _
    [ ] # | ~``) and the ``://`` and ``www.`` that GitHub would turn into
    links (no link, image or emphasis comes from a cell; a bare e-mail
    address may still be linked), and line breaks become spaces.  ``align``
    is a string of ``l``/``r`` per column (default: the first column left,
    the others right).

    Examples
    --------
    >>> print(format_markdown_table(["a", "b"], [["x|y", 1]]))
    | a | b |
    | :-- | --: |
    | x\|y | 1 |
    """
    if align is None:
        align = "l" + "r" * (len(header) - 1)
    marks = {"l": ":--", "r": "--:"}
    lines = [
        "| " + " | ".join(_md_cell(h) for h in header) + " |",
        "| " + " | ".join(marks[a] for a in align) + " |",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_rows(rows, *, say_mark=False):
    """Markdown cells of :func:`_value_cells` or :func:`_change_cells` rows."""
    out = []
    for label, cells in rows:
        row = [label]
        for text, bounds, mark in cells:
            if mark:
                text = f"**{text}** ({mark})" if say_mark else f"**{text}**"
            row.append(_Markdown(f"{text} {bounds}"))
        out.append(row)
    return out


def _md_escape(text):
    """Escape Markdown's inline markup, raw HTML and controls in a user string."""
    text = " ".join(escape_controls(line) for line in str(text).splitlines())
    text = html.escape(text, quote=False)
    # ``$`` too: GitHub reads $...$ as math.
    for char in "\\`*_[]#|~$":
        text = text.replace(char, "\\" + char)
    # GitHub links bare URLs and www. names by itself; an escaped character
    # in the way stops it.
    text = re.sub(r"(?i)(?<=[a-z])://", r"\\://", text)
    text = re.sub(r"(?i)\bwww\.", "www\\.", text)
    return " ".join(text.splitlines())


def _md_block(text):
    """Return ``text`` as a fenced block that no line of it can close."""
    fence = "~~~~"
    while fence in text:
        fence += "~"
    return [fence + "text", text, fence, ""]


def _png_name(index, name):
    """Return a safe, unique PNG file name for figure ``name``.

    The method names in a multilabel report's figure names can hold anything
    (``/``, markup): only a slug of them is kept, after the figure's position.
    """
    if name in _FIGURE_CAPTIONS:
        return f"{name}.png"
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40]
    return f"figure{index + 1}-{slug}.png" if slug else f"figure{index + 1}.png"


def render_markdown(report, directory, *, overwrite=False):
    """Write ``README.md`` and the figures as PNG into ``directory``."""
    figures = report.figures()
    try:
        images = {
            _png_name(i, name): (name, _figure_bytes(fig, "png"))
            for i, (name, fig) in enumerate(figures.items())
        }
    finally:
        figures.clear()
    m = report.metadata
    methods = [str(x) for x in report.metrics.index]
    level = f"{100 * m['confidence_level']:g} %"
    parts = [
        f"# {_md_escape(report.title)}",
        "",
        f"{m['task']} classification, {_n_classes(report)} "
        f"({_md_escape(_classes_text(report))}); fitted on {m['n_val']} validation "
        f"rows, evaluated on {m['n_test']} test rows.",
        "",
        *([] if not m.get("description") else _md_block(m["description"])),
        f"> {_md_escape(report.direction())}",
        ">",
        f"> {_md_escape(report.best['sentence'])}",
        "",
        "## Test metrics",
        "",
        f"Value on the test set and its {level} bootstrap interval over test rows "
        f"({m['n_bootstrap']} resamples); bold: the best of the row. " + _BINNED_NOTE,
        "",
        format_markdown_table(["metric", *methods], _md_rows(_value_cells(report))),
        "",
        "## Change from the uncalibrated scores",
        "",
        f"Method minus uncalibrated (pp: percentage points) with the paired {level} "
        "interval (the same resampled rows for both); bold when it excludes 0.",
        "",
        format_markdown_table(
            ["metric", *methods[1:]], _md_rows(_change_cells(report), say_mark=True)
        ),
        "",
        "## Figures",
        "",
    ]
    for file_name, (name, _) in images.items():
        parts += [
            f"![{_md_escape(_caption(name))}]({file_name})",
            "",
            f"*{_md_escape(_caption(name))}*",
            "",
        ]
    parts += ["## Fitted parameters", ""]
    for method, parameters in report.parameters.items():
        parts += [
            f"**{_md_escape(method)}**",
            "",
            format_markdown_table(
                ["parameter", "value"],
                [[k, _show_parameter(v)] for k, v in parameters.items()],
                align="ll",
            ),
            "",
        ]
    parts += [
        "## Fit diagnostics",
        "",
        _DIAGNOSTICS_NOTE,
        "",
        format_markdown_table(
            _DIAGNOSTICS_HEADER, _diagnostics_rows(report), align="llrrrrl"
        ),
        "",
        "## Warnings",
        "",
    ]
    parts += [
        f"- **{_md_escape(w['source'])}** ({w['category']}): {_md_escape(w['message'])}"
        for w in report.warnings
    ] or ["None."]
    parts += ["", "## Bin statistics", ""]
    if m["task"] == "multilabel":
        parts += [
            "Multilabel data: the per-label bin statistics are in the JSON report."
        ]
    else:
        for method, stats in report.bins.items():
            parts += [
                f"**{_md_escape(method)}**: {stats.n_nonempty} non-empty bins of "
                f"{stats.n_bins}",
                "",
                format_markdown_table(_BIN_HEADER, _bin_rows(stats)),
                "",
            ]
    parts += [
        "",
        "## Data and reproducibility",
        "",
        format_markdown_table(["setting", "value"], _settings_rows(report), align="ll"),
        "",
        format_markdown_table(
            ["input", "source", "array", "SHA-256"], _inputs_rows(report), align="llll"
        ),
        "",
    ]
    text = "\n".join(parts)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "README.md", *(directory / name for name in images)]
    if not overwrite:
        existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
        if existing:
            raise FileExistsError(
                f"{existing[0]} exists; pass overwrite=True (--force) to replace it."
            )
    with atomic_write(paths[0], "w", overwrite=overwrite) as handle:
        handle.write(text)
    for name, (_, data) in images.items():
        with atomic_write(directory / name, "wb", overwrite=overwrite) as handle:
            handle.write(data)
    return paths
