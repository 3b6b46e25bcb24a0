"""Tests of the smooth ECE and the KS calibration error (issue 17).

References: relplot 1.0.3's values on the CIFAR ResNet-110 logits (printed in
../shared/data/README.md), relplot itself when installed, the continuous
definition with the reflected Gaussian kernel, hand-worked arrays, and
synthetic scores with a known calibration curve.
"""

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import norm

from calibrate.metrics import ks_calibration_error, smooth_calibration_error
from calibrate.metrics._smooth import smooth_ece_bandwidth

WHOLE_ARRAY = {
    "smooth_ece": smooth_calibration_error,
    "ks": ks_calibration_error,
    "ks_classwise": lambda *a, **k: ks_calibration_error(
        *a, reduction="classwise", **k
    ),
    "smooth_ece_classwise": lambda *a, **k: smooth_calibration_error(
        *a, reduction="classwise", **k
    ),
}
TASKS = {
    "smooth_ece": ("binary", "multiclass"),
    "ks": ("binary", "multiclass"),
    "ks_classwise": ("binary", "multiclass", "multilabel"),
    "smooth_ece_classwise": ("binary", "multiclass", "multilabel"),
}
CASES = [(name, task) for name in WHOLE_ARRAY for task in TASKS[name]]


def _inputs(task, rng, n=120):
    if task == "binary":
        p = rng.uniform(0.05, 0.95, size=n)
        return (rng.uniform(size=n) < p).astype(int), p
    if task == "multiclass":
        P = rng.dirichlet(np.ones(4), size=n)
        return rng.integers(0, 4, size=n), P
    P = rng.uniform(0.05, 0.95, size=(n, 3))
    return (rng.uniform(size=(n, 3)) < P).astype(int), P


# -- the invariances every registry metric passes (tests/test_metrics.py) ------


@pytest.mark.parametrize(("name", "task"), CASES)
def test_sample_order(rng, name, task):
    y, p = _inputs(task, rng)
    perm = rng.permutation(len(y))
    f = WHOLE_ARRAY[name]
    assert f(y[perm], p[perm]) == pytest.approx(f(y, p), abs=1e-12)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_weights(rng, name, task):
    y, p = _inputs(task, rng)
    f = WHOLE_ARRAY[name]
    assert f(y, p, sample_weight=np.ones(len(y))) == pytest.approx(f(y, p), abs=1e-12)
    w = rng.integers(0, 4, size=len(y))
    repeated = f(np.repeat(y, w, axis=0), np.repeat(p, w, axis=0))
    assert f(y, p, sample_weight=w) == pytest.approx(repeated, abs=1e-12)
    assert f(y, p, sample_weight=w / 7) == pytest.approx(repeated, abs=1e-12)


@pytest.mark.parametrize(("name", "task"), CASES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_rejected(rng, name, task, bad):
    y, p = _inputs(task, rng)
    p = p.copy()
    p[(3, 1) if p.ndim == 2 else 3] = bad
    for input_type in ("probs", "logits"):
        with pytest.raises(ValueError, match="NaN|infinite|outside"):
            WHOLE_ARRAY[name](y, p, input_type=input_type)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_logits_equal_probabilities(rng, name, task):
    y, p = _inputs(task, rng)
    z = np.log(p) if task == "multiclass" else np.log(p) - np.log1p(-p)
    f = WHOLE_ARRAY[name]
    assert f(y, z, input_type="logits") == pytest.approx(f(y, p), abs=1e-9)


@pytest.mark.parametrize("f", [smooth_calibration_error, ks_calibration_error])
def test_bad_reduction_names_the_value(f):
    with pytest.raises(ValueError, match="reduction must be one of .* got 'bins'"):
        f([0, 1], [0.2, 0.7], reduction="bins")


# -- smooth ECE ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # relplot 1.0.3 smECE on the test split's top-label confidence and
        # correctness (../shared/data/README.md)
        ("mukhoti_c10_resnet110_brier", 0.0252688),
        ("mukhoti_c100_resnet110_brier", 0.0771533),
    ],
)
def test_smooth_ece_matches_relplot_on_cifar(shared_data, name, expected):
    data = shared_data(name)
    z, y = data["test_logits"], data["test_labels"]
    got = smooth_calibration_error(y, z, input_type="logits")
    assert got == pytest.approx(expected, abs=1e-6)
    P = softmax(z.astype(np.float64), axis=1)
    assert smooth_calibration_error(y, P) == pytest.approx(expected, abs=1e-6)


def test_smooth_ece_matches_relplot_package(rng):
    relplot = pytest.importorskip("relplot")
    for _ in range(10):
        n = int(rng.integers(200, 4000))
        f = rng.uniform(size=n) ** rng.uniform(0.3, 3.0)
        y = (rng.uniform(size=n) < f ** rng.uniform(0.5, 2.0)).astype(int)
        ours = smooth_calibration_error(y, f, reduction="positive")
        # relplot adds 1e-4 to its density at each mesh point; we do not
        assert ours == pytest.approx(relplot.smECE(f, y.astype(float)), abs=1e-6)
        assert smooth_calibration_error(
            y, f, reduction="positive", bandwidth=0.05
        ) == pytest.approx(relplot.smECE_sigma(f, y.astype(float), 0.05), abs=1e-6)


def _continuous_smece(f, y, sigma, mesh=20001):
    """int |R| / int D with the exact reflected Gaussian, on a fine mesh."""
    t = np.linspace(0.0, 1.0, mesh)[:, None]
    kernel = (
        norm.pdf(t, f, sigma) + norm.pdf(t, -f, sigma) + norm.pdf(t, 2.0 - f, sigma)
    )
    residual = kernel @ (f - y)
    density = kernel.sum(axis=1)
    return np.abs(residual).sum() / density.sum()


@pytest.mark.parametrize("sigma", [0.03, 0.1, 0.3])
def test_smooth_ece_at_a_bandwidth_is_the_kernel_definition(rng, sigma):
    f = rng.beta(5.0, 2.0, size=400)
    y = (rng.uniform(size=400) < f**2).astype(float)
    got = smooth_calibration_error(
        y.astype(int), f, reduction="positive", bandwidth=sigma
    )
    # relplot's discretisation (a 1001-point grid, the kernel cut at 1/2, the
    # integrals as sums over max(200, 10 / sigma) mesh points, both ends
    # included) against the exact kernel: agreement to O(1 / mesh)
    assert got == pytest.approx(_continuous_smece(f, y, sigma), rel=5e-3)


def test_bandwidth_is_the_fixed_point(rng):
    f = rng.beta(4.0, 2.0, size=3000)
    y = (rng.uniform(size=3000) < f**1.5).astype(int)
    sigma = float(smooth_ece_bandwidth(y, f, reduction="positive")[0])
    at = smooth_calibration_error(y, f, reduction="positive")
    assert at == smooth_calibration_error(y, f, reduction="positive", bandwidth=sigma)
    # the upper end of a bisection bracket of width 2**-10
    assert at <= sigma
    below = sigma - 2.0**-10
    assert smooth_calibration_error(y, f, reduction="positive", bandwidth=below) > below


def test_one_score_gives_the_overall_gap():
    # every row at confidence 0.7, 6 of 10 right: R = -0.1 D everywhere
    y = [1] * 6 + [0] * 4
    p = [0.7] * 10
    assert smooth_calibration_error(y, p, reduction="positive") == pytest.approx(0.1)


def test_smooth_ece_is_small_for_calibrated_scores(rng):
    f = rng.uniform(size=200_000)
    y = (rng.uniform(size=200_000) < f).astype(int)
    assert smooth_calibration_error(y, f, reduction="positive") < 0.01
    miscalibrated = (rng.uniform(size=200_000) < f**2).astype(int)
    # the smooth ECE lies between (1/2) and 2 times the distance to
    # calibration (Blasiok & Nakkiran, Theorem 9); here the true ECE of f
    # against f**2 is int |f - f**2| = 1/6
    value = smooth_calibration_error(miscalibrated, f, reduction="positive")
    assert 1 / 12 <= value <= 1 / 6 + 0.01


def test_a_million_rows_in_few_passes(rng, monkeypatch):
    from calibrate.metrics import _smooth

    n = 1_000_000
    f = rng.uniform(0.5, 1.0, size=n)
    y = (rng.uniform(size=n) < f - 0.05).astype(np.int8)
    calls = []
    hat = _smooth._hat

    def counting(scores, *args, **kwargs):
        calls.append(len(scores))
        return hat(scores, *args, **kwargs)

    monkeypatch.setattr(_smooth, "_hat", counting)
    value = smooth_calibration_error(y, f, reduction="positive")
    full = [c for c in calls if c == n]
    assert 0.03 < value < 0.07
    # the rows are spread onto the grid twice (residuals, weights), once per
    # grid size: one grid serves every bandwidth >= 0.01
    assert len(full) <= 4, len(full)


# -- KS calibration error --------------------------------------------------------


def naive_ks(scores, targets, weights=None):
    """max over distinct t of |sum_{f <= t} w (y - f)| / sum w, one t at a time."""
    weights = np.ones(len(scores)) if weights is None else weights
    gaps = [
        abs(np.dot(weights[scores <= t], (targets - scores)[scores <= t]))
        for t in np.unique(scores)
    ]
    return max(gaps) / weights.sum()


def test_ks_hand_worked_ties():
    # sorted residuals -0.2 | 0.4, -0.6 (tied at 0.6) | 0.1, over 4 rows:
    # cumulative -0.05, -0.1, -0.075 at the ends of the runs.  Inside the tie
    # the running sum passes 0.05 or -0.2, depending on the row order.
    p = np.array([0.2, 0.6, 0.6, 0.9])
    for y in ([0, 1, 0, 1], [0, 0, 1, 1]):  # both orders of the tied rows
        assert ks_calibration_error(y, p, reduction="positive") == pytest.approx(0.1)


def test_ks_top_label_hand_worked():
    # confidences 0.9 (right), 0.8 (wrong), 0.6 (right): sorted residuals
    # 0.4, -0.8, 0.1 over 3 rows; running sums 0.4/3, -0.4/3, -0.3/3
    P = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = np.array([0, 0, 0])
    assert ks_calibration_error(y, P) == pytest.approx(0.4 / 3)


@pytest.mark.parametrize("weighted", [False, True])
def test_ks_classwise_matches_naive_reference(rng, weighted):
    P = rng.dirichlet(np.ones(5), size=300)
    P = np.round(P, 2)  # ties
    P /= P.sum(axis=1, keepdims=True)
    y = rng.integers(0, 5, size=300)
    w = rng.uniform(0, 2, size=300) if weighted else None
    expected = np.mean([naive_ks(P[:, k], (y == k).astype(float), w) for k in range(5)])
    got = ks_calibration_error(y, P, reduction="classwise", sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-12)
    top, conf = P.argmax(axis=1), P.max(axis=1)
    assert ks_calibration_error(y, P, sample_weight=w) == pytest.approx(
        naive_ks(conf, (top == y).astype(float), w), rel=1e-12
    )


def test_ks_synthetic_known_answer(rng):
    # f uniform on [0, 1], P(y = 1 | f) = f + 0.2 sin(2 pi f): the gap of the
    # cumulative curves is 0.2 (1 - cos 2 pi t) / (2 pi), largest at t = 1/2
    n = 400_000
    f = rng.uniform(size=n)
    y = (rng.uniform(size=n) < f + 0.2 * np.sin(2 * np.pi * f)).astype(int)
    truth = 0.4 / (2 * np.pi)
    assert ks_calibration_error(y, f, reduction="positive") == pytest.approx(
        truth, abs=0.004
    )
    calibrated = (rng.uniform(size=n) < f).astype(int)
    assert ks_calibration_error(calibrated, f, reduction="positive") < 0.004


def test_ks_top_label_equals_positive_above_one_half(rng):
    p = rng.uniform(0.51, 1.0, size=500)
    y = (rng.uniform(size=500) < p).astype(int)
    assert ks_calibration_error(y, p) == ks_calibration_error(
        y, p, reduction="positive"
    )
