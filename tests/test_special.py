import numpy as np
import pytest
import scipy.special as sp

from calibrate._special import (
    PROBA_FLOOR,
    iter_chunks,
    log_sigmoid,
    log_softmax,
    logsumexp_rows,
    probs_to_logits,
    sigmoid,
    softmax,
)


def test_log_softmax_matches_scipy_including_extremes(rng):
    z = rng.normal(size=(100, 7)) * 50
    z[0] = [1e4, -1e4, 0, 0, 0, 0, 0]
    # Absolute accuracy: log-probabilities near 0 carry float64 rounding of the
    # row's log-sum-exp (about 1e-16 absolute), like any shift-based kernel.
    np.testing.assert_allclose(
        log_softmax(z), sp.log_softmax(z, axis=1), rtol=1e-13, atol=1e-14
    )
    np.testing.assert_allclose(softmax(z), sp.softmax(z, axis=1), rtol=1e-12, atol=0)
    np.testing.assert_allclose(logsumexp_rows(z), sp.logsumexp(z, axis=1), rtol=1e-14)


def test_sigmoid_is_accurate_in_both_tails():
    z = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    np.testing.assert_allclose(log_sigmoid(z), sp.log_expit(z), rtol=1e-15)
    assert log_sigmoid(np.array([-800.0]))[0] == -800.0  # no underflow to -inf
    np.testing.assert_allclose(sigmoid(z), sp.expit(z), rtol=1e-15)


def test_probs_to_logits_floors_exact_zeros_and_ones():
    logits, n = probs_to_logits(np.array([[0.0, 1.0], [0.25, 0.75]]), binary=False)
    assert n == 1
    assert logits[0, 0] == np.log(PROBA_FLOOR)
    np.testing.assert_allclose(logits[1], np.log([0.25, 0.75]))
    log_odds, n = probs_to_logits(np.array([0.0, 0.5, 1.0, 0.9]), binary=True)
    assert n == 2
    assert log_odds[0] == np.log(PROBA_FLOOR) and log_odds[2] == -np.log(PROBA_FLOOR)
    assert log_odds[3] == pytest.approx(np.log(9.0))


@pytest.mark.parametrize("n_rows, n_cols", [(0, 3), (1, 1), (10, 3), (1000, 7)])
def test_chunks_cover_all_rows_once(n_rows, n_cols):
    seen = np.zeros(n_rows, dtype=int)
    for rows in iter_chunks(n_rows, n_cols, chunk_elements=64):
        seen[rows] += 1
    assert (seen == 1).all()


def test_log_softmax_keeps_the_log_sum_at_huge_logits():
    # m + log(2) rounds to m at 4.8e307; the shifted form keeps it.
    z = np.array([[4.76e307, 4.76e307, -4.76e307, 0.0], [1e300, 0.0, 0.0, 0.0]])
    out = log_softmax(z)
    assert out[0, 0] == out[0, 1] == -np.log(2.0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0)
    np.testing.assert_allclose(out[1, 0], 0.0)
