"""Training sets from expert labels and MAPS files found through the sources.

Each row of a label table names an observation; its MAPS file is found by a
`~kinmisalign.sources.MapsSource` (a directory is searched with a
`~kinmisalign.sources.LocalSource` of layout ``'recursive'``) or a callable,
and each labelled field becomes one network input. Needs numpy and astropy
only.
"""

import os
from typing import NamedTuple

import numpy as np

from ._input import INPUT_SIZE, _prepare

__all__ = ["build_dataset", "Dataset", "QUALITY_COLUMNS"]


class Dataset(NamedTuple):
    """Training samples built from an expert-label table (see `build_dataset`).

    Attributes
    ----------
    x : numpy.ndarray
        Network input, float32 ``(n, 32, 32, 1)``.
    y : numpy.ndarray
        bool, usable (expert quality >= 1).
    groups : numpy.ndarray
        Galaxy (``mangaid``, or ``plateifu`` without one) of each sample.
    samples : `~astropy.table.Table`
        One row per sample: ``PLATEIFU``, ``MANGAID``, ``FIELD``
        (``'stellar'``/``'gas'``), ``QUALITY`` and ``USABLE``.
    skipped : `~astropy.table.Table`
        One row per field not used: ``PLATEIFU``, ``FIELD`` and ``REASON``.
    """

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    samples: object
    skipped: object


QUALITY_COLUMNS = {"stellar": "stel_qual", "gas": "halpha_qual"}
"""Default column of each field's expert quality in a label table (Duckworth et al. 2020)."""


def _column(table, name):
    """A column by case-insensitive name, or None."""
    for col in table.colnames:
        if col.lower() == name.lower():
            return table[col]
    return None


def _maps_locator(maps_for, daptype):
    """A callable plateifu -> MAPS file or None, from a callable, a source or a directory."""
    from ..sources import LocalSource, MapsSource, validate_daptype

    if daptype is not None:
        # Accepted in any case; the survey's DAPTYPEs, and so its file names, are upper case.
        daptype = validate_daptype(daptype.upper() if isinstance(daptype, str | bytes)
                                   else daptype)
    if not isinstance(maps_for, MapsSource):
        if callable(maps_for):
            return maps_for
        if not isinstance(maps_for, str | os.PathLike) or not os.path.isdir(maps_for):
            raise ValueError(f"maps_for must be a callable, a MAPS source or a directory, "
                             f"not {maps_for!r}")
        maps_for = LocalSource(maps_for, layout="recursive")  # indexed once, on first use
    source = maps_for

    if isinstance(source, LocalSource):
        def find(plateifu):
            hits = source.find(plateifu, daptype)
            if len(hits) > 1:
                raise LookupError(f"several MAPS files ({', '.join(h.name for h in hits)})"
                                  ": pass daptype")
            return hits[0] if hits else None
    else:
        if daptype is None:
            raise ValueError(f"pass daptype to find MAPS files through {source.describe()}")

        def find(plateifu):
            try:
                return source.path_for(plateifu, daptype)
            except FileNotFoundError:
                return None

    return find


def _quality(value):
    """The quality as an int in {0, 1, 2}, or (None, reason)."""
    if np.ma.is_masked(value):
        return None, "missing"
    text = str(value.item() if isinstance(value, np.generic) else value).strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"invalid value {text!r} (expected 0, 1 or 2)"
    if not np.isfinite(number) or number not in (0.0, 1.0, 2.0):
        return None, f"invalid value {text} (expected 0, 1 or 2)"
    return int(number), ""


def build_dataset(labels_table, maps_for, *, fields=("stellar", "gas"), daptype=None,
                  maskbits=None, quality_columns=None, plateifu_column="plateifu",
                  mangaid_column="mangaid", size=INPUT_SIZE):
    """Network inputs, binary labels and galaxy groups from expert labels and MAPS files.

    Each row of the label table names an observation (``plateifu``) and
    gives expert qualities (0 don't use, 1 messy, 2 clean) of its stellar and
    gas fields; the MAPS file of the observation is found through
    ``maps_for``, read with `~kinmisalign.read_maps` and each labelled field
    turned into network input (`prepare_input`). The label is
    ``usable = quality >= 1``. Fields that cannot be used are reported, never
    silently dropped: invalid or missing quality (e.g. the two ``stel_qual``
    values of 3 in the public table), no MAPS file, an unreadable file, a
    field that cannot be normalised, or a repeated ``plateifu``.

    Parameters
    ----------
    labels_table : `~astropy.table.Table` or path
        The labels, e.g. the public table of Duckworth et al. (2020) (a CSV
        file is read with ``format='ascii.csv'``). Column names are matched
        case-insensitively; ``plateifu`` values are stripped.
    maps_for : callable, `~kinmisalign.sources.MapsSource` or path
        A callable giving, for a checked plate-IFU (see
        `~kinmisalign.sources.validate_plateifu`; rows with other keys are
        skipped and never passed on), the MAPS file (path),
        an already read `~kinmisalign.MapsData`, or None when there is none
        (it may raise to say why); a MAPS source; or a directory searched
        recursively (flat, a ``<plate>/<ifu>/`` tree or the survey's layout:
        a `~kinmisalign.sources.LocalSource` of layout ``'recursive'``) for
        ``manga-<plateifu>-MAPS-<DAPTYPE>.fits[.gz]``.
    fields : sequence of {'stellar', 'gas'}, optional
        Which fields to use.
    daptype : str, optional
        Only files of this DAPTYPE (e.g. ``'HYB10-MILESHC-MASTARSSP'``, in
        any case); needed with a directory or a local source when several
        match, and with any other source.
    maskbits : {'any', 'donotuse'} or int, optional
        Passed to `~kinmisalign.read_maps` (default ``conf.maskbits``).
    quality_columns : dict, optional
        Column of each field's quality; default ``{'stellar': 'stel_qual',
        'gas': 'halpha_qual'}``.
    plateifu_column, mangaid_column : str, optional
        Key columns. Without a ``mangaid`` column each observation is its
        own group.
    size : int, optional
        Side of the network input.

    Returns
    -------
    `Dataset`
        ``(x, y, groups, samples, skipped)``.
    """
    from astropy.table import Table

    from ..fields import MapsData
    from ..maps import read_maps

    if not isinstance(labels_table, Table):
        path = os.fspath(labels_table)
        labels_table = Table.read(path, format="ascii.csv" if path.lower().endswith(".csv")
                                  else None)
    columns = dict(QUALITY_COLUMNS, **(quality_columns or {}))
    fields = tuple(fields)
    for which in fields:
        if which not in ("stellar", "gas"):
            raise ValueError(f"fields must be 'stellar' and/or 'gas', not {which!r}")
    plateifus = _column(labels_table, plateifu_column)
    if plateifus is None:
        raise ValueError(f"the label table has no {plateifu_column!r} column")
    quality_cols = {}
    for which in fields:
        quality_cols[which] = _column(labels_table, columns[which])
        if quality_cols[which] is None:
            raise ValueError(f"the label table has no {columns[which]!r} column")
    from ..sources import validate_plateifu

    mangaids = _column(labels_table, mangaid_column)
    locate = _maps_locator(maps_for, daptype)

    samples, items, skipped, seen = [], [], [], set()

    def skip(pid, which_list, reason):
        skipped.extend((pid, which, reason) for which in which_list)

    for row in range(len(labels_table)):
        raw = plateifus[row]
        pid = "" if np.ma.is_masked(raw) else str(raw).strip()
        if not pid:
            skip("", fields, "no plateifu")
            continue
        try:
            # Checked before maps_for sees it: a key never becomes a path unchecked.
            pid = validate_plateifu(raw)
        except (TypeError, ValueError) as exc:
            skip(pid[:64], fields, f"invalid plateifu: {exc}")
            continue
        wanted = []
        for which in fields:
            quality, reason = _quality(quality_cols[which][row])
            if quality is None:
                skip(pid, [which], f"{columns[which]}: {reason}")
            else:
                wanted.append((which, quality))
        if not wanted:
            continue
        names = [which for which, _ in wanted]
        if pid.lower() in seen:
            skip(pid, names, "repeated plateifu")
            continue
        seen.add(pid.lower())
        try:
            source = locate(pid)
            if source is None:
                skip(pid, names, "no MAPS file")
                continue
            maps = source if isinstance(source, MapsData) else read_maps(source, maskbits=maskbits)
        except Exception as exc:  # one bad file must not stop the build: report it
            skip(pid, names, f"{type(exc).__name__}: {exc}")
            continue
        mangaid = pid
        if mangaids is not None and not np.ma.is_masked(mangaids[row]):
            mangaid = str(mangaids[row]).strip() or pid
        for which, quality in wanted:
            samples.append((pid, mangaid, which, quality))
            items.append(getattr(maps, which))

    x, reasons = (_prepare(items, errors="nan", size=size) if items
                  else (np.empty((0, size, size, 1), np.float32), []))
    keep = np.array([not r for r in reasons], dtype=bool)
    for (pid, _, which, _), reason in zip(samples, reasons, strict=True):
        if reason:
            skipped.append((pid, which, f"cannot be normalised: {reason}"))
    samples = [s for s, k in zip(samples, keep, strict=True) if k]
    quality = np.array([s[3] for s in samples], dtype=np.int64)
    sample_table = Table(
        [np.array([s[0] for s in samples], dtype=str), np.array([s[1] for s in samples], dtype=str),
         np.array([s[2] for s in samples], dtype=str), quality, quality >= 1],
        names=("PLATEIFU", "MANGAID", "FIELD", "QUALITY", "USABLE"))
    skipped_table = Table(
        [np.array([s[0] for s in skipped], dtype=str), np.array([s[1] for s in skipped], dtype=str),
         np.array([s[2] for s in skipped], dtype=str)], names=("PLATEIFU", "FIELD", "REASON"))
    if not len(skipped):
        skipped_table = Table(names=("PLATEIFU", "FIELD", "REASON"), dtype=(str, str, str))
    return Dataset(x=x[keep], y=quality >= 1, groups=np.array(sample_table["MANGAID"]),
                   samples=sample_table, skipped=skipped_table)
