"""The HTML report in a real browser, on a phone's width and a monitor's.

Headless Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it
when it runs as root and it is missing) renders each report in a frame of
390 px (a phone) and 1400 px (a monitor); ``tests/report_layout.js`` then
records, into the page that ``--dump-dom`` prints:

- elements whose content is wider than their box (``scrollWidth`` above
  ``clientWidth``), apart from scroll containers, and elements that stick
  out of the page without a scroll container to reach them;
- scroll containers that do scroll: allowed on a phone (a table of many
  methods scrolls sideways under a fixed first column), not on a monitor,
  where the page has room to spare;
- each figure as that width shows it: the SVG chosen (the phone's one-panel
  -wide figure on a phone), the scale it is drawn at, and every legend and
  text of the SVG that lies outside the SVG's own box (a clipped legend).

The test is skipped, saying why, where no Chromium can be found.
"""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from calibrate.datasets import load_example, make_miscalibrated_multilabel
from calibrate.report import build_report

pytest.importorskip("matplotlib")

CHECK_SCRIPT = Path(__file__).with_name("report_layout.js")

#: A figure drawn below this share of its natural size has 10 pt text
#: below 8 px, which is no longer legible.
MIN_SCALE = 0.6


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium found (install Debian's chromium package: "
        "'apt-get install chromium'; .ci/run does so when run as root)"
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The example the issue was seen on, and a multilabel report."""
    folder = tmp_path_factory.mktemp("layout")
    data = load_example("digits_mlp")
    multiclass = build_report(
        (data.val_logits, data.val_labels),
        (data.test_logits, data.test_labels),
        # Matrix scaling over-fits here: the longest warning of the table.
        methods=["temperature", "matrix"],
        n_bootstrap=20,
        random_state=0,
        title="Calibration report: digits_mlp",
    )
    labels = make_miscalibrated_multilabel(1200, 8, temperature=2.0, random_state=0)
    multilabel = build_report(
        (labels.logits[:600], labels.labels[:600]),
        (labels.logits[600:], labels.labels[600:]),
        methods=["temperature"],
        n_bootstrap=20,
        random_state=0,
    )
    paths = {}
    for name, report in (("multiclass", multiclass), ("multilabel", multilabel)):
        paths[name] = report.to_html(folder / f"{name}.html")
    return paths


def render(page, width, tmp_path):
    """Return the findings of ``report_layout.js`` on ``page`` at ``width`` px.

    The report is the ``srcdoc`` of a frame exactly ``width`` px wide (a
    headless window is at least 500 px wide) and tall enough never to show
    a vertical scroll bar; the frame shares the page's origin, so the
    script can hand its findings to the page that ``--dump-dom`` prints.
    """
    script = CHECK_SCRIPT.read_text(encoding="utf-8")
    inner = page.read_text(encoding="utf-8").replace(
        "</body>", f"<script>{script}</script></body>"
    )
    top = tmp_path / f"top-{width}.html"
    top.write_text(
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe style="border:0;width:{width}px;height:60000px" '
        f'srcdoc="{html.escape(inner, quote=True)}"></iframe></body></html>',
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={width + 100},1000",
            "--virtual-time-budget=10000",
            "--dump-dom",
            top.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    found = re.search(r'<pre id="findings">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the check script left no findings; stderr: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("width", [390, 1400])
@pytest.mark.parametrize("kind", ["multiclass", "multilabel"])
def test_nothing_overflows_on_a_phone_or_a_monitor(kind, width, reports, tmp_path):
    findings = render(reports[kind], width, tmp_path)
    assert findings["viewport"] == width
    assert findings["page"] == width, "the page scrolls sideways"
    assert findings["overflows"] == []
    assert findings["beyond"] == []
    if width >= 1000:
        assert findings["scrolls"] == [], "a table is cut on a monitor"
    figures = findings["figures"]
    expected = 2 if kind == "multiclass" else 3  # multilabel: a grid per row
    assert len(figures) == expected
    for figure in figures:
        assert figure["outside"] == [], figure
        scale = figure["shownWidth"] / figure["naturalWidth"]
        assert scale >= MIN_SCALE, figure
        # A phone is shown the one-panel-wide figures.
        assert figure["phone"] == (width < 640), figure
