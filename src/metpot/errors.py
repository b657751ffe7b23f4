"""User-facing errors and data warnings.

A :class:`MetpotError` is a user mistake (bad input file, bad config value). Its message is
a single line naming the file, column, sample or value at fault; the CLI prints it without a
traceback and exits non-zero. A :class:`DataWarning` is a real-data blemish (a patient
without follow-up, a constant gene): the run goes on and the warning names what was affected.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable


class MetpotError(Exception):
    """A user error: bad input or configuration. The message is one line."""


class MetpotValueError(MetpotError, ValueError):
    """A bad value or array given to a metpot estimator or function.

    Both a :class:`MetpotError` (the CLI prints its one line and exits non-zero) and the
    ``ValueError`` that scikit-learn's conventions expect of an estimator's input checks.
    """


class DataWarning(UserWarning):
    """A real-data blemish that metpot handled (dropped, skipped), named in the message."""


def name_list(items: Iterable[object], limit: int = 10) -> str:
    """Format a list of names for a one-line message, eliding past ``limit``.

    Parameters
    ----------
    items : iterable
        The names.
    limit : int
        How many to show before eliding.

    Returns
    -------
    str
        ``"a, b, c"`` or ``"a, b, ... (+N more)"``.
    """
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... (+{len(items) - limit} more)"


def warn_data(message: str) -> None:
    """Emit a :class:`DataWarning` with a one-line message."""
    warnings.warn(message, DataWarning, stacklevel=2)
