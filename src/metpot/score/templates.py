"""Published NTP templates: a table of (class, feature) rows, read and checked.

A template file is what a paper or a package publishes for nearest template prediction: a
list of marker features per class (CMScaller's ``templates.CMS``, a subtype signature).
:func:`read_templates` reads one (CSV or TSV, optionally gzipped) and checks it;
:func:`metpot.score.ntp_predict` scores a cohort with it (``templates=``), with no model file.

Columns (other columns, e.g. ``symbol``, are ignored):

* ``class``: the class the feature marks (at least two classes);
* ``feature``: the feature id, as in the scored cohort's files (gene symbol, Entrez id, probe:
  whichever the cohort uses);
* ``layer`` (optional): the cohort layer of the feature; needed only when the cohort has
  several layers.

A feature marking two classes is two rows (as CMScaller's templates list it).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from metpot.errors import MetpotError, name_list

__all__ = ["TEMPLATE_COLUMNS", "read_templates", "template_rows"]

#: Required columns of a template file.
TEMPLATE_COLUMNS = ("class", "feature")


def read_templates(path: str | Path) -> pd.DataFrame:
    """Read and check a published NTP template table.

    Parameters
    ----------
    path : str or Path
        CSV or TSV (optionally gzipped) with columns ``class`` and ``feature`` and optionally
        ``layer``.

    Returns
    -------
    DataFrame
        Columns ``class``, ``feature``, ``layer`` (empty string when the file has none), as
        strings, in file order; ``attrs["path"]`` is the file name.

    Raises
    ------
    MetpotError
        Missing columns, an empty ``class`` or ``feature`` cell (naming its line), a feature
        listed twice for the same class, or fewer than two classes.
    """
    from metpot.io import read_table

    path = Path(path)
    table = read_table(path)
    missing = [c for c in TEMPLATE_COLUMNS if c not in table.columns]
    if missing:
        raise MetpotError(
            f"{path}: NTP templates need the column(s) {', '.join(missing)} "
            f"(found: {name_list(table.columns)}); one row per class and feature id"
        )
    out = pd.DataFrame(
        {
            "class": table["class"].astype(str).str.strip(),
            "feature": table["feature"].astype(str).str.strip(),
            "layer": table["layer"].astype(str).str.strip() if "layer" in table else "",
        }
    )
    if out.empty:
        raise MetpotError(f"{path}: the NTP template table has no rows")
    for col in ("class", "feature"):
        blank = out.index[out[col] == ""]
        if len(blank):
            raise MetpotError(
                f"{path}: line {int(blank[0]) + 2}: empty {col!r}"
                + (f" ({len(blank)} such rows)" if len(blank) > 1 else "")
            )
    dup = out.duplicated(["layer", "class", "feature"], keep="first")
    if dup.any():
        first = out[dup].iloc[0]
        lines = [int(i) + 2 for i in out.index[(out == first).all(axis=1)]]
        raise MetpotError(
            f"{path}: feature {first['feature']!r} is listed twice for class "
            f"{first['class']!r} (lines {', '.join(map(str, lines))})"
        )
    classes = out["class"].unique().tolist()
    if len(classes) < 2:
        raise MetpotError(
            f"{path}: NTP templates need at least two classes, found {name_list(classes)}"
        )
    out.attrs["path"] = str(path)
    return out


def template_rows(templates: pd.DataFrame, layers) -> list[tuple[str, str, str]]:
    """The (class, layer, feature) rows of a template table, each feature's layer resolved.

    Parameters
    ----------
    templates : DataFrame
        From :func:`read_templates` (columns ``class``, ``feature`` and optionally ``layer``).
    layers : iterable of str
        The cohort's layer names.

    Returns
    -------
    list of tuple
        ``(class, layer, feature)`` in table order.

    Raises
    ------
    MetpotError
        A ``layer`` value that is not a cohort layer, or no ``layer`` column (or an empty cell)
        while the cohort has several layers.
    """
    where = templates.attrs.get("path", "NTP templates")
    names = [str(n) for n in layers]
    for col in TEMPLATE_COLUMNS:
        if col not in templates.columns:
            raise MetpotError(f"{where}: no column {col!r}")
    given = (
        templates["layer"].astype(str).tolist() if "layer" in templates else [""] * len(templates)
    )
    unknown = sorted({g for g in given if g and g not in names})
    if unknown:
        raise MetpotError(
            f"{where}: column 'layer': {name_list(unknown)} not a layer of the cohort "
            f"({', '.join(names)})"
        )
    if "" in given and len(names) != 1:
        raise MetpotError(
            f"{where}: the cohort has {len(names)} layers ({', '.join(names)}); give each "
            "template row its layer in a 'layer' column"
        )
    rows = []
    for cls, feat, lay in zip(templates["class"], templates["feature"], given, strict=True):
        rows.append((str(cls), lay or names[0], str(feat)))
    return rows
