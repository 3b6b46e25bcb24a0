"""Warnings that a dask task can hand back to the client.

A warning raised inside a dask task on a ``distributed`` worker goes to that
worker's log, not to the user.  The checks that run on every block of rows
(floored or impossible probabilities, saturated logits, logits that look like
probabilities) warn through :func:`warn`: outside a task it is
:func:`warnings.warn`; inside :func:`collected` (what the tasks of
:mod:`calibrate._dask` run under) the warning is kept, per thread, and
returned with the task's result, and the client warns it once.  Thread-local
rather than :class:`warnings.catch_warnings`, which swaps process-wide state
and is not safe under dask's threaded scheduler.
"""

import threading
import warnings
from contextlib import contextmanager

__all__ = ["collected", "warn"]

_state = threading.local()


def warn(message, category, stacklevel=2):
    """:func:`warnings.warn`, or kept for the client inside :func:`collected`."""
    sink = getattr(_state, "sink", None)
    if sink is None:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
    else:
        sink.append((category, str(message)))


@contextmanager
def collected():
    """Keep the :func:`warn` warnings of this thread; yield their list.

    The list holds ``(category, message)`` pairs (picklable, so a worker can
    send them back).
    """
    previous = getattr(_state, "sink", None)
    _state.sink = sink = []
    try:
        yield sink
    finally:
        _state.sink = previous
