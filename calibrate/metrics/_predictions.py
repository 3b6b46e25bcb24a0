"""Validated predictions, and the per-row quantities the metrics are made of.

Every public metric validates its input once by building a :class:`Predictions`
and then reads only what it needs from it.  Nothing is computed that the metric
does not use: the top-label ECE of logits costs one pass over the array (the
row maximum and a sum of exponentials), not a full softmax.

Numerics
--------
Logits are read in log space, never through clipped probabilities.  For a
multiclass row ``z`` with maximum ``m`` at column ``j``,

* the top-label confidence is ``1 / sum(exp(z - m))`` (the softmax at ``j``),
* ``log p(y) = (z_y - m) - log(sum(exp(z - m)))``,
* ``sum_k p_k**2 = sum(exp(2 (z - m))) / sum(exp(z - m))**2``.

The differences and exponentials are computed in the logits' own dtype and
summed in float64, the maximum's term (exactly 1) apart, so that a confident
row keeps its small terms (``log1p`` of their sum; ``1 - p`` without
cancellation).  For float32 logits each term is within one float32 rounding
of its exact value, about 6e-8 relative: the confidence and ``sum(exp)`` are
then within about 1e-7 relative of a float64 computation, and ``log p(y)``
within about 1e-7 absolute per unit of ``|z_y - m|`` -- the size of the
rounding of the float32 logits themselves.  This is about twice as fast as
converting every chunk to float64.

Probabilities are used as given (no renormalisation); a probability of 0 for
the observed outcome is floored at float64 ``tiny`` before taking its log,
with a :class:`~calibrate.exceptions.CalibrationWarning` (the package-wide
convention; scikit-learn's ``log_loss`` clips at machine epsilon instead).
Log-probabilities are taken as they are: ``-inf`` for the observed outcome
(a probability of exactly 0, as a probability-space calibrator predicts it)
makes the negative log-likelihood infinite, with a warning.
"""

import copy

import numpy as np

from calibrate import _warnings
from calibrate._dask import is_dask
from calibrate._special import (
    PROBA_FLOOR,
    iter_chunks,
    log_sigmoid,
    sigmoid,
    softmax,
)
from calibrate._validation import (
    as_label_array,
    as_numeric_array,
    check_input_type,
    check_labels,
    check_sample_weight,
    check_score_values,
    infer_task,
)
from calibrate.binning import ColumnBinSums, _bin_column
from calibrate.exceptions import CalibrationWarning

__all__ = ["Predictions", "event_proba", "predictions"]

# Rows per chunk are chosen so that a chunk of float32 logits (1 MiB) and its
# exponentials stay in the L2 cache: measured twice as fast as 8 MiB chunks.
_CHUNK_ELEMENTS = 2**18
# The column kernels (equal-mass classwise bins, the classwise KS and smooth
# errors) need every row of a column at once: they read blocks of columns
# whose float64 temporaries (about eight arrays of n x columns) stay within
# this many bytes, the working set stated in the README.
COLUMN_BLOCK_BYTES = 2**28


class Predictions:
    """Targets, scores and weights, validated once.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels (binary, multiclass) or a 0/1 indicator matrix (multilabel).
        Integer labels index the columns of ``y_prob``.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_columns)
        Scores, read as ``input_type`` says.  One column (or a 1-D array) is
        binary: the score of the positive class.
    input_type : {"probs", "logits", "log_probs"}
        How to read ``y_prob``.
    sample_weight : array_like of shape (n_samples,) or None
        Non-negative weights.
    """

    def __init__(self, y_true, y_prob, *, input_type, sample_weight):
        check_input_type(input_type)
        if is_dask(y_prob):
            raise TypeError(
                "Predictions reads numpy arrays; a dask y_prob goes through "
                "calibrate.metrics.predictions (the public metrics do this)."
            )
        X = as_numeric_array(y_prob, "y_prob")
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ValueError(
                "y_prob must be of shape (n_samples,) or (n_samples, n_classes); "
                f"got shape {X.shape}."
            )
        names = ("y_prob", "y_true")
        y_true = as_label_array(y_true, "y_true")
        task = infer_task(X.shape, y_true, names=names)
        self.scores = check_score_values(
            X, input_type=input_type, task=task, name="y_prob"
        )
        self.y, self.classes = check_labels(
            y_true,
            task=task,
            n_columns=X.shape[1],
            n_samples=X.shape[0],
            names=names,
        )
        self.weights = check_sample_weight(sample_weight, X.shape[0])
        self.task = task
        self.input_type = input_type

    def _rows(self, rows):
        """Return the same predictions restricted to ``rows`` (views, no copies)."""
        part = copy.copy(self)
        part.scores, part.y, part.weights = (
            self.scores[rows],
            self.y[rows],
            self.weights[rows],
        )
        return part

    def _per_row(self, method):
        """Compute ``method`` (a per-row quantity) over chunks of rows.

        Keeps the float64 temporaries of an element-wise formula at one
        chunk: the result is O(n), never ``(n, K)`` float64.
        """
        n, k = self.scores.shape
        chunks = list(iter_chunks(n, k, chunk_elements=_CHUNK_ELEMENTS))
        if len(chunks) == 1:
            return method(self)
        return np.concatenate([method(self._rows(rows)) for rows in chunks])

    @property
    def n_columns(self):
        """Number of score columns (1 for binary)."""
        return self.scores.shape[1]

    def mean_of(self, terms):
        """Weighted mean of the per-row ``terms(self)`` (a proper score's)."""
        return self.weighted_mean(terms(self))

    def weighted_mean(self, values):
        """Weighted mean over samples of a per-row quantity."""
        # A convex combination: finite per-row values (1e307 each, say) give a
        # finite mean, where the weighted sum would overflow.
        with np.errstate(over="ignore", invalid="ignore"):
            mean = np.dot(self.weights, values) / self.weights.sum()
            if not np.isfinite(mean):
                mean = np.dot(self.weights / self.weights.sum(), values)
        return float(mean)

    # -- binary and multilabel: independent events, one per column -----------

    def event_proba(self):
        """P(event) for every entry of a binary or multilabel score matrix."""
        return event_proba(self.scores, self.input_type)

    def _event_targets(self):
        return self.y if self.task == "multilabel" else self.y[:, None]

    def _event_log_likelihood(self):
        # log P(observed outcome) entry by entry, in log space for logits.
        X, y = self.scores, self._event_targets()
        if self.input_type == "logits":
            z = X.astype(np.float64)
            return log_sigmoid(np.where(y == 1, z, -z))
        if self.input_type == "log_probs":
            lp = X.astype(np.float64)
            return np.where(y == 1, lp, np.log(-np.expm1(lp)))
        p = X.astype(np.float64)
        return np.log(np.where(y == 1, p, 1.0 - p))

    # -- multiclass: one categorical distribution per row ---------------------

    def _logit_pass(self, *, confidence=False, log_true=False, brier=False):
        """One chunked pass over multiclass logits; see the module docstring."""
        Z = self.scores
        n = Z.shape[0]
        out = {}
        if confidence:
            out["argmax"] = np.empty(n, dtype=np.int64)
            out["confidence"] = np.empty(n)
        if log_true or brier:
            out["log_true"] = np.empty(n)
        if brier:
            out["brier"] = np.empty(n)
        # float16 is widened to float32 chunk by chunk (exactly): its emulated
        # arithmetic costs 30 times float32's.
        narrow = Z.dtype == np.float16 or Z.dtype.name == "bfloat16"
        dtype = np.float32 if narrow else Z.dtype
        buffer = np.empty((min(n, _chunk_rows(Z.shape[1])), Z.shape[1]), dtype=dtype)
        for rows in iter_chunks(n, Z.shape[1], chunk_elements=_CHUNK_ELEMENTS):
            z = np.asarray(Z[rows], dtype=dtype)
            e = buffer[: z.shape[0]]
            top = z.argmax(axis=1)
            r = np.arange(z.shape[0])
            m = z[r, top]
            # Logits 3e308 below the row's maximum give -inf, and exp(-inf) = 0
            # is their probability to the last bit: no overflow to report.
            with np.errstate(over="ignore"):
                np.subtract(z, m[:, None], out=e)
            np.exp(e, out=e)
            # The sum without the maximum's exp(0) = 1 keeps the small terms of
            # a confident row: log1p(rest), not log(1 + rest), and 1 - p_top
            # = rest / s without cancellation.
            e[r, top] = 0.0
            rest = e.sum(axis=1, dtype=np.float64)
            s = 1.0 + rest
            if confidence:
                out["argmax"][rows] = top
                out["confidence"][rows] = 1.0 / s
            if log_true or brier:
                y = self.y[rows]
                diff = z[r, y].astype(np.float64) - m.astype(np.float64)
                log_true_rows = diff - np.log1p(rest)
                out["log_true"][rows] = log_true_rows
            if brier:
                # sum_{k != y} p_k^2 + (1 - p_y)^2, each term without cancellation
                squares = np.einsum("ij,ij->i", e, e, dtype=np.float64)
                hit = y == top
                e_y = np.where(hit, 1.0, np.exp(diff))
                others = np.where(hit, squares, 1.0 + squares - e_y * e_y) / (s * s)
                miss = np.where(hit, rest, s - e_y) / s
                out["brier"][rows] = others + miss * miss
        return out

    def proba(self):
        """Return the full probability matrix, float64, ``(n, K)`` (multiclass)."""
        X = self.scores
        if self.input_type == "probs":
            return X.astype(np.float64)
        if self.input_type == "log_probs":
            return np.exp(X, dtype=np.float64)
        P = np.empty(X.shape)
        for rows in iter_chunks(*X.shape):  # float64 temporaries of one chunk only
            P[rows] = softmax(X[rows])
        return P

    def _one_hot(self):
        Y = np.zeros(self.scores.shape)
        Y[np.arange(Y.shape[0]), self.y] = 1.0
        return Y

    # -- what the metrics read -------------------------------------------------

    def top_label(self):
        """Top-label confidence and correctness, float64 arrays of shape (n,).

        Multiclass: the largest probability and whether its column is the label
        (ties go to the lowest column, as ``np.argmax``).  Binary: the larger of
        ``p`` and ``1 - p``, predicting the positive class when ``p > 0.5``
        (a tie at 0.5 predicts the negative class, as ``argmax([1 - p, p])``).
        """
        _, confidence, correct = self.top_label_prediction()
        return confidence, correct

    def top_label_prediction(self):
        """Return the predicted column, its confidence and correctness, shape (n,).

        As :meth:`top_label`, with the predicted column (int64; for binary
        scores 1 for the positive class, else 0) in front.
        """
        if self.task == "multilabel":
            raise ValueError(
                "reduction='top_label' needs one label per row, but y_true is a "
                "multilabel indicator matrix (independent labels); use "
                "reduction='classwise', the mean over labels of each label's error."
            )
        if self.task == "binary":
            if self.input_type == "logits":
                z = self.scores[:, 0].astype(np.float64)
                predicted, confidence = z > 0, sigmoid(np.abs(z))
            else:
                p = self.event_proba()[:, 0]
                predicted, confidence = p > 0.5, np.maximum(p, 1.0 - p)
            correct = (predicted == (self.y == 1)).astype(np.float64)
            return predicted.astype(np.int64), confidence, correct
        if self.input_type == "logits":
            out = self._logit_pass(confidence=True)
            top, confidence = out["argmax"], out["confidence"]
        else:
            top = self.scores.argmax(axis=1)
            confidence = self.scores[np.arange(top.shape[0]), top].astype(np.float64)
            if self.input_type == "log_probs":
                confidence = np.exp(confidence)
        return top, confidence, (top == self.y).astype(np.float64)

    def positive(self):
        """P(y = positive class) and the 0/1 target, for binary problems.

        The positive class is ``classes[1]``: the second column of a two-column
        ``y_prob``.
        """
        if self.task == "binary":
            return self.event_proba()[:, 0], self.y
        if self.task == "multiclass" and self.n_columns == 2:
            return self.proba()[:, 1], (self.y == 1).astype(np.float64)
        if self.task == "multilabel":
            raise ValueError(
                "reduction='positive' is for binary problems; y_true is a "
                "multilabel indicator matrix. Use reduction='classwise', the mean "
                "over labels of each label's positive-class error."
            )
        raise ValueError(
            "reduction='positive' is for binary problems (y_prob of shape (n,), "
            f"(n, 1) or (n, 2)); y_prob has {self.n_columns} columns. Use "
            "reduction='top_label' or 'classwise'."
        )

    def class_proba(self):
        """Per-class (or per-label) probabilities and 0/1 targets, ``(n, K)``.

        Binary scores give two columns, ``1 - p`` and ``p``.
        """
        if self.task == "multilabel":
            return self.event_proba(), self.y
        if self.task == "binary":
            p = self.event_proba()[:, 0]
            return np.column_stack((1.0 - p, p)), np.column_stack(
                (1.0 - self.y, self.y)
            )
        return self.proba(), self._one_hot()

    def _class_chunk(self):
        """Probabilities (float64, owned) and labels or dense targets, per class.

        Multiclass: ``(P, labels, None)``; binary: two columns ``1 - p`` and
        ``p`` with their targets; multilabel: each label's probability and the
        indicator.  For one chunk of rows (no ``(n, K)`` one-hot is formed).
        """
        if self.task == "multilabel":
            return self.event_proba(), None, self.y
        if self.task == "binary":
            p = self.event_proba()[:, 0]
            return (
                np.column_stack((1.0 - p, p)),
                None,
                np.column_stack((1.0 - self.y, self.y)),
            )
        return self.proba(), self.y, None

    @property
    def n_class_columns(self):
        """Columns of the classwise reduction (2 for binary scores)."""
        return 2 if self.task == "binary" else self.n_columns

    def add_classwise(self, sums, weights=None):
        """Add these rows to a :class:`~calibrate.binning.ColumnBinSums`.

        Chunk by chunk: the float64 probabilities of one chunk at a time.
        ``weights`` (one per row) replace :attr:`weights` when given.
        """
        n, k = self.scores.shape
        weights = self.weights if weights is None else weights
        # Half-size chunks: their float64 probabilities and the softmax's
        # temporaries stay within 0.05x of a 50,000 x 1,000 float32 input.
        for rows in iter_chunks(n, k, chunk_elements=_CHUNK_ELEMENTS // 2):
            P, labels, targets = self._rows(rows)._class_chunk()
            sums.add(P, weights[rows], labels=labels, targets=targets)
        return sums

    def classwise_bins(self, n_bins, strategy):
        """One :class:`~calibrate.binning.BinStats` per class, in bounded memory.

        Equal width: bin sums accumulated over chunks of rows
        (:class:`~calibrate.binning.ColumnBinSums`).  Equal mass: each column
        needs all its rows, read in blocks of columns (:meth:`class_columns`).
        Equal to ``bin_stats_by_column(*class_proba())`` up to the rounding
        of the sums.
        """
        if strategy == "uniform":
            w = self.weights
            scale = None if np.all(w == w[0]) else float(w.max())
            sums = ColumnBinSums(self.n_class_columns, n_bins, weight_scale=scale)
            return self.add_classwise(sums).stats()
        return tuple(
            _bin_column(P[:, j], T[:, j], self.weights, n_bins, strategy)
            for _, P, T in self.class_columns()
            for j in range(P.shape[1])
        )

    def class_columns(self, max_bytes=None):
        """Yield ``(columns, P, T)``: every row of a block of class columns.

        ``P`` and ``T`` are float64 ``(n, c)`` probabilities and 0/1 targets
        of the classes ``columns`` (a slice), with ``c`` chosen so that about
        eight such arrays fit in ``max_bytes`` (default
        :data:`COLUMN_BLOCK_BYTES`).  Multiclass logits are normalised by
        each row's maximum and sum of exponentials, computed once over chunks
        of rows, so that ``P`` equals the softmax of the whole row.
        """
        n = self.scores.shape[0]
        budget = COLUMN_BLOCK_BYTES if max_bytes is None else max_bytes
        width = max(1, int(budget // (64 * n)))
        if self.task == "binary":
            P, _, T = self._class_chunk()
            yield slice(0, 2), P, T
            return
        k = self.n_columns
        top = total = None  # logits only
        if self.task == "multiclass" and self.input_type == "logits":
            top = np.empty(n)
            total = np.empty(n)
            for rows in iter_chunks(n, k):
                e = np.array(self.scores[rows], dtype=np.float64)  # a copy
                top[rows] = e.max(axis=1)
                e -= top[rows, None]
                np.exp(e, out=e)
                total[rows] = e.sum(axis=1)
        for start in range(0, k, width):
            cols = slice(start, min(start + width, k))
            block = self.scores[:, cols]
            if self.task == "multilabel":
                part = copy.copy(self)
                part.scores, part.y = block, self.y[:, cols]
                yield cols, part.event_proba(), part.y
                continue
            yield (
                cols,
                *column_block_proba(block, self.input_type, self.y, cols, top, total),
            )

    def log_likelihood(self):
        """Return log P(observed outcome) per row, floored at ``log(tiny)``.

        Multilabel rows average their labels' log-likelihoods.
        """
        if self.task != "multiclass":
            log_floor = np.log(PROBA_FLOOR)
            found = {"floored": 0, "impossible": 0}

            def rows_log_likelihood(part):
                with np.errstate(divide="ignore"):
                    ll = part._event_log_likelihood()
                if part.input_type == "probs":  # log_sigmoid of logits is exact
                    found["floored"] += int(np.count_nonzero(ll < log_floor))
                    ll = np.maximum(ll, log_floor)
                elif part.input_type == "log_probs":
                    found["impossible"] += int(np.count_nonzero(np.isneginf(ll)))
                return ll.mean(axis=1) if part.task == "multilabel" else ll[:, 0]

            ll = self._per_row(rows_log_likelihood)
            _warn_floored(found["floored"])
            _warn_impossible_count(found["impossible"])
            return ll
        r = np.arange(self.scores.shape[0])
        if self.input_type == "logits":
            return self._logit_pass(log_true=True)["log_true"]
        picked = self.scores[r, self.y].astype(np.float64)
        if self.input_type == "log_probs":
            _warn_impossible(picked)
            return picked
        with np.errstate(divide="ignore"):
            picked = np.log(picked)
        return _floor_log(picked)

    def squared_error(self):
        """Per-row squared error of the probabilities against the one-hot target.

        Multiclass: ``sum_k (p_k - 1[y = k])**2``.  Binary and multilabel: the
        mean over columns of ``(p - y)**2``.
        """
        if self.task == "multiclass" and self.input_type == "logits":
            return self._logit_pass(brier=True)["brier"]
        return self._per_row(Predictions._squared_error_chunk)

    def _squared_error_chunk(self):
        if self.task != "multiclass":
            return ((self.event_proba() - self._event_targets()) ** 2).mean(axis=1)
        diff = self.proba()
        diff[np.arange(diff.shape[0]), self.y] -= 1.0
        return np.einsum("ij,ij->i", diff, diff)

    def brier_terms(self):
        """Per-row terms whose weighted mean is the Brier score.

        :meth:`squared_error`, halved for two-column multiclass scores so that
        they agree with scikit-learn's ``brier_score_loss`` (and with the same
        model given as one column of binary scores).
        """
        rows = self.squared_error()
        if self.task == "multiclass" and self.n_columns == 2:
            rows = 0.5 * rows
        return rows

    def predicted_wrong(self):
        """1.0 where the predicted class differs from the label, per row.

        Multilabel rows give the share of wrong labels (Hamming loss).
        """
        if self.task == "multilabel":
            return self._per_row(
                lambda part: ((part.event_proba() > 0.5) != (part.y == 1)).mean(axis=1)
            )
        _, correct = self.top_label()
        return 1.0 - correct


def predictions(y_true, y_prob, *, input_type, sample_weight):
    """Return validated predictions, of numpy or dask scores.

    A :class:`Predictions`, or for a ``dask.array`` ``y_prob`` a
    :class:`calibrate._dask.DaskPredictions` (the same methods, computed
    block by block on the dask scheduler).
    """
    if is_dask(y_prob):
        from calibrate._dask import DaskPredictions

        return DaskPredictions(
            y_true, y_prob, input_type=input_type, sample_weight=sample_weight
        )
    return Predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )


def event_proba(X, input_type):
    """P(event) of each entry of binary or multilabel scores, float64."""
    if input_type == "probs":
        return X.astype(np.float64)
    if input_type == "log_probs":
        return np.exp(X, dtype=np.float64)
    return sigmoid(X)


def column_block_proba(block, input_type, labels, cols, top=None, total=None):
    """Multiclass probabilities and one-hot targets of a block of columns.

    ``block`` holds the scores of columns ``cols`` for every row; logits are
    normalised with each row's maximum ``top`` and sum of exponentials
    ``total`` over the whole row, so that ``P`` equals the softmax of the
    row.  Returns float64 ``(P, T)``, shape ``(n, len(cols))``.
    """
    P = np.array(block, dtype=np.float64)  # a copy, changed in place
    if input_type == "logits":
        P -= top[:, None]
        np.exp(P, out=P)
        P /= total[:, None]
    elif input_type == "log_probs":
        np.exp(P, out=P)
    T = (labels[:, None] == np.arange(cols.start, cols.stop)).astype(np.float64)
    return P, T


def _chunk_rows(n_columns):
    return max(1, _CHUNK_ELEMENTS // max(1, n_columns))


def _warn_impossible(log_p):
    """Warn of observed outcomes of log-probability -inf (probability exactly 0).

    A log-probability of ``-inf`` is a probability of exactly 0 (a
    probability-space map such as histogram binning gives it), not an
    underflow: it is kept, and the NLL is infinite.
    """
    _warn_impossible_count(int(np.count_nonzero(np.isneginf(log_p))), stacklevel=5)


def _warn_impossible_count(n_impossible, stacklevel=4):
    if n_impossible:
        _warnings.warn(
            f"{n_impossible} observed outcomes have probability 0 "
            "(log-probability -inf): the negative log-likelihood is infinite.",
            CalibrationWarning,
            stacklevel=stacklevel,
        )


def _floor_log(log_p):
    log_floor = np.log(PROBA_FLOOR)
    low = log_p < log_floor
    if low.any():
        _warn_floored(int(low.sum()), stacklevel=5)
        log_p = np.maximum(log_p, log_floor)
    return log_p


def _warn_floored(n_low, stacklevel=4):
    if n_low:
        log_floor = np.log(PROBA_FLOOR)
        _warnings.warn(
            f"{n_low} observed outcomes have probability below "
            f"{PROBA_FLOOR:.3g} (0 included); their probability was floored there, "
            f"so each adds {-log_floor:.1f} to the summed negative log-likelihood.",
            CalibrationWarning,
            stacklevel=stacklevel,
        )
