"""Warnings raised by calibrate."""

__all__ = ["CalibrationWarning"]


class CalibrationWarning(UserWarning):
    """A fit or a conversion that worked but deserves the user's attention.

    Raised, for example, when a fitted parameter sits on its bound (perfectly
    separated validation data), when the objective does not depend on a
    parameter (the fit is the identity), when a class never occurs in the
    validation labels, or when probabilities of exactly 0 or 1 had to be
    floored before taking logs.
    """
