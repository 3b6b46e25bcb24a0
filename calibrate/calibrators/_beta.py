"""Beta calibration (Kull, Silva Filho and Flach 2017)."""

import warnings

import numpy as np
from scipy.special import expit, log_expit, log_softmax, logsumexp
from sklearn.exceptions import ConvergenceWarning

from calibrate._special import PROBA_FLOOR
from calibrate.calibrators._base import BaseCalibrator, log1mexp

__all__ = ["BetaCalibration", "beta_features", "fit_beta_columns"]

PARAMETERS = ("abm", "am", "ab")


def beta_features(Zc, task):
    """Return ``log p`` and ``-log(1 - p)`` of each column, float64 ``(m, K)``.

    From logits, in log space: ``log_expit(z)`` and ``-log_expit(-z)`` for
    sigmoid columns (binary, multilabel); for multiclass, ``p`` is the softmax
    probability of the class and ``1 - p`` is floored at the smallest normal
    float64 (the package's probability floor) so that a probability of
    exactly 1 gives a finite feature.
    """
    if task == "multiclass":
        lp = log_softmax(Zc, axis=1)
        return lp, -np.maximum(log1mexp(lp), np.log(PROBA_FLOOR))
    return log_expit(Zc), -log_expit(-Zc)


def fit_beta_columns(F1, F2, Y, w, active, *, tol, max_iter):
    """Weighted logistic regressions ``sigmoid(a F1 + b F2 + c)``, one per column.

    All columns are solved together by Newton's method with exact 3 x 3
    Hessians; each column backtracks until its loss does not increase and
    stops when the Euclidean norm of its gradient (of the weighted mean
    log-loss) is at most ``tol``.  Inactive parameters stay at 0.

    Parameters
    ----------
    F1, F2 : ndarray of shape (n, K)
        The two features of each column.
    Y : ndarray of shape (n, K)
        0/1 targets.
    w : ndarray of shape (n,)
        Weights summing to 1.
    active : ndarray of bool of shape (K, 3)
        Which of ``(a, b, c)`` each column fits.
    tol : float
        Gradient-norm tolerance.
    max_iter : int
        Newton iteration budget.

    Returns
    -------
    theta : ndarray of shape (K, 3)
        ``(a, b, c)`` of each column.
    n_iter : int
        Newton iterations used.
    converged : ndarray of bool of shape (K,)
    """
    k = F1.shape[1]
    theta = np.zeros((k, 3))
    ones = np.ones_like(F1)

    def loss_of(th):
        s = F1 * th[:, 0] + F2 * th[:, 1] + th[:, 2]
        return w @ (np.logaddexp(0.0, s) - Y * s), s

    loss, s = loss_of(theta)
    converged = np.zeros(k, dtype=bool)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (used after the loop)
        mu = expit(s)
        r = w[:, None] * (mu - Y)
        v = w[:, None] * mu * (1.0 - mu)
        feats = (F1, F2, ones)
        grad = np.stack([np.einsum("ij,ij->j", r, f) for f in feats], axis=1)
        hess = np.empty((k, 3, 3))
        for i in range(3):
            for j in range(i, 3):
                hess[:, i, j] = hess[:, j, i] = np.einsum(
                    "ij,ij->j", v, feats[i] * feats[j]
                )
        grad = np.where(active, grad, 0.0)
        converged = np.linalg.norm(grad, axis=1) <= tol
        if converged.all():
            break
        # Inactive parameters: identity rows, so their step is exactly 0.
        mask = active[:, :, None] & active[:, None, :]
        hess = np.where(mask, hess, np.eye(3))
        # The pseudo-inverse: a singular Hessian (one row, collinear
        # features) still gives the minimum-norm Newton step.
        step = (np.linalg.pinv(hess, hermitian=True) @ grad[:, :, None])[:, :, 0]
        step[converged] = 0.0
        size = np.ones(k)
        for _ in range(60):  # 2**-60: below float64 resolution of a step
            trial = theta - size[:, None] * step
            new_loss, new_s = loss_of(trial)
            worse = new_loss > loss + 1e-15 * np.abs(loss)
            if not worse.any():
                break
            size[worse] *= 0.5
        ok = ~worse
        theta[ok] = trial[ok]
        loss = np.where(ok, new_loss, loss)
        s[:, ok] = new_s[:, ok]
        if worse.all():
            break
    return theta, n_iter, converged


class BetaCalibration(BaseCalibrator):
    """Beta calibration: ``sigmoid(a log p - b log(1 - p) + c)``.

    The map of Kull, Silva Filho and Flach (2017), a logistic regression on
    the features ``log p`` and ``-log(1 - p)`` of the model's probability
    ``p``, fitted by maximum likelihood (unregularised, equal to scikit-learn's
    ``LogisticRegression(penalty=None)`` on those features):

    * binary scores: one map of the positive-class probability;
    * multilabel scores: one map per column;
    * multiclass scores: one-vs-rest, one map per class on ``y == k``, then
      the ``K`` values normalised to sum to 1.

    When a fitted ``a`` or ``b`` would be negative (the map would not be
    monotone), the column is refitted with that coefficient fixed at 0, as the
    paper prescribes (``a`` first).  Newton's method starts at
    ``a = b = c = 0`` and works on features computed from the logits in log
    space.  A column that cannot be fitted (a class that never occurs, a
    constant label) keeps the identity map ``a = b = 1``, ``c = 0``.

    Parameters
    ----------
    parameters : {"abm", "am", "ab"}, default="abm"
        ``"abm"``: ``a``, ``b`` and ``c`` free; ``"am"``: ``a = b`` (a logistic
        map of the logit, with intercept); ``"ab"``: ``c = 0``.
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.
    tol : float, default=1e-10
        A column stops when its gradient norm is at most ``tol``.
    max_iter : int, default=100
        Newton iteration budget; running out raises ``ConvergenceWarning``.

    Attributes
    ----------
    coef_ : ndarray of shape (2,) or (n_columns, 2)
        ``(a, b)``, for binary input one pair, otherwise one per column.
    intercept_ : float or ndarray of shape (n_columns,)
        ``c``.
    classes_, task_, n_features_in_, n_iter_
        As for every calibrator.

    References
    ----------
    M. Kull, T. Silva Filho and P. Flach, "Beta calibration: a well-founded
    and easily implemented improvement on logistic calibration for binary
    classifiers", AISTATS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from calibrate import BetaCalibration
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.01, 0.99, size=5_000)
    >>> y = rng.uniform(size=5_000) < p**2 / (p**2 + (1 - p) ** 2)
    >>> cal = BetaCalibration(input_type="probs").fit(p, y)
    >>> np.round(cal.coef_).tolist()  # the true map has a = b = 2, c = 0
    [2.0, 2.0]
    """

    _help = (
        "beta calibration: sigmoid(a log p - b log(1 - p) + c) per column "
        "(Kull et al. 2017; one-vs-rest and normalised for multiclass)"
    )
    _fitted_parameters = ("coef_", "intercept_")

    def __init__(
        self, *, parameters="abm", input_type="logits", tol=1e-10, max_iter=100
    ):
        self.parameters = parameters
        self.input_type = input_type
        self.tol = tol
        self.max_iter = max_iter

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        if not isinstance(self.parameters, str) or self.parameters not in PARAMETERS:
            raise ValueError(
                f"parameters must be one of {PARAMETERS}; got {self.parameters!r}."
            )
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0; got {self.tol!r}.")

    def _fit(self, Z, y, w):
        absent = self._absent_columns(y, w)
        k = Z.shape[1]
        F1, F2 = beta_features(Z.astype(np.float64), self.task_)
        if self.task_ == "multiclass":
            Y = (y[:, None] == np.arange(k)).astype(np.float64)
        else:
            Y = y.reshape(len(y), k).astype(np.float64)
        if self.parameters == "am":
            # a = b: one coefficient on log p - log(1 - p), the logit.
            F1, F2 = F1 + F2, np.zeros_like(F2)
        active = np.tile(
            [True, self.parameters != "am", self.parameters != "ab"], (k, 1)
        )
        active[absent] = False
        fit = dict(tol=self.tol, max_iter=self.max_iter)
        theta, n_iter, converged = fit_beta_columns(F1, F2, Y, w, active, **fit)
        if self.parameters != "am":
            refit = active.copy()
            neg_a = theta[:, 0] < 0
            neg_b = ~neg_a & (theta[:, 1] < 0)
            refit[neg_a, 0] = False
            refit[neg_b, 1] = False
            redo = neg_a | neg_b
            if redo.any():
                th2, it2, conv2 = fit_beta_columns(
                    F1[:, redo], F2[:, redo], Y[:, redo], w, refit[redo], **fit
                )
                theta[redo], converged[redo] = th2, conv2
                n_iter += it2
        theta[absent] = (1.0, 1.0, 0.0)  # identity map: nothing to fit
        if self.parameters == "am":
            theta[~absent, 1] = theta[~absent, 0]
        bad = ~converged & ~absent
        if bad.any():
            warnings.warn(
                f"BetaCalibration did not converge for columns "
                f"{np.flatnonzero(bad)[:10].tolist()} within {self.max_iter} "
                "Newton iterations (separable data?). Increase max_iter or check "
                "the scores.",
                ConvergenceWarning,
                stacklevel=4,
            )
        self.n_iter_ = int(n_iter)
        if self.task_ == "binary":
            self.coef_, self.intercept_ = theta[0, :2].copy(), float(theta[0, 2])
        else:
            self.coef_, self.intercept_ = theta[:, :2].copy(), theta[:, 2].copy()

    def _parameter_shapes(self):
        if self.task_ == "binary":
            return {"coef_": (2,), "intercept_": ()}
        k = self.n_features_in_
        return {"coef_": (k, 2), "intercept_": (k,)}

    def _calibrated_log_proba(self, Zc):
        F1, F2 = beta_features(Zc, self.task_)
        coef = np.reshape(self.coef_, (-1, 2))
        S = F1 * coef[:, 0] + F2 * coef[:, 1] + self.intercept_
        L = log_expit(S)
        if self.task_ == "multiclass":
            L = L - logsumexp(L, axis=1, keepdims=True)
        return L
