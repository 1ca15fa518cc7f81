"""Kinematic columns for a survey catalogue (DRPall, DAPall or any table of plate-IFUs)."""

from ._records import (
    Key,
    canonical_keys,
    failed,
    key_column,
    make_options,
    new_record,
    records_table,
)
from .batch import run_records

__all__ = ["OUTPUT_COLUMNS", "add_kinematic_columns"]

OUTPUT_COLUMNS = (
    "PA_STELLAR", "PA_STELLAR_ERR", "PA_GAS", "PA_GAS_ERR", "DPA", "DPA_ERR",
    "NSPX_STELLAR", "NSPX_GAS", "USABLE_PROB_STELLAR", "USABLE_PROB_GAS",
    "USABLE_STELLAR", "USABLE_GAS", "KINMIS_FLAG", "KINMIS_PROBLEMS",
)
"""The names of the columns `add_kinematic_columns` adds, in order.

Their meanings and units are in the guide's :ref:`quickstart-columns` table.
"""


def _as_table(table):
    """The table itself, or the astropy Table of Marvin query results.

    A Marvin ``Results`` is recognised by its ``toTable`` method, so marvin
    is never imported here.
    """
    from astropy.table import Table

    if isinstance(table, Table) or not callable(getattr(table, "toTable", None)):
        return table
    count, total = getattr(table, "count", None), getattr(table, "totalcount", None)
    if isinstance(count, int) and isinstance(total, int) and count < total:
        # Marvin returns large results a page at a time.
        raise ValueError(f"these Marvin results hold {count} of their {total} rows: call "
                         "results.getAll() first, or pass results.toTable() to measure this "
                         "page only")
    return table.toTable()


def add_kinematic_columns(table, *, source=None, daptype=None, model=None, threshold=None,
                          parallel=False, progress_bar=False, key=None, overwrite=False,
                          line="Ha-6564", maskbits=None, clean_options=None, fit_options=None,
                          checkpoint=None, fresh_checkpoint=False):
    """Add kinematic position angles, misalignment and usability to a catalogue.

    For every row, the MAPS file of its plate-IFU is fetched from ``source``,
    both velocity fields are cleaned and fitted, their misalignment is
    measured and the usability network judges each field. Every input row
    is kept, in order, with its columns and ``meta``; a plate-IFU repeated in
    the table is measured once. What cannot be measured is masked, with the
    reason in the ``KINMIS_FLAG`` bits (`kinmisalign.batch.FLAGS`) and in
    words in ``KINMIS_PROBLEMS``; it never stops the run or changes another
    row. What one field or step gave is kept when another fails.

    Parameters
    ----------
    table : `~astropy.table.Table`, `~astropy.table.QTable` or Marvin ``Results``
        A catalogue with a plate-IFU column: ``PLATEIFU`` (DAPall), ``plateifu``
        (DRPall) or any case, or ``cube.plateifu`` (a Marvin query's
        ``Results.toTable()``); surrounding spaces of FITS strings are
        ignored. Marvin query ``Results`` are taken as their ``toTable()``,
        and must hold all their rows (``results.getAll()``).
    source : str, path-like or source, optional
        Where the MAPS files come from: a local directory (the survey's layout
        or flat), ``'sas'`` for the survey data server, or a source object
        (see `kinmisalign.sources.get_source`). Default ``conf.maps_source``.
    daptype : str, optional
        DAP analysis type of the MAPS files; default ``conf.daptype``.
    model : str, path-like or `~kinmisalign.classifier.UsabilityModel`, optional
        Usability network; default ``conf.usability_model``.
    threshold : float, optional
        Probability above which a field is usable; default
        ``conf.usable_threshold``.
    parallel : bool, int, 'dask' or `dask.distributed.Client`, optional
        How to run (see `kinmisalign.batch.measure_files`).
    progress_bar : bool or 'auto', optional
        Show a progress bar (needs ``tqdm``).
    key : str, optional
        Name of the plate-IFU column, when it cannot be found by name.
    overwrite : bool, optional
        Replace output columns the table already has (names compared ignoring
        case); without it such a clash is an error.
    line, maskbits, clean_options, fit_options
        As in `kinmisalign.batch.measure_files`.
    checkpoint : str or path-like, optional
        A SQLite file to which each observation's result is committed as it
        finishes; a rerun with the same file measures only what it does not
        hold yet and returns the same table as an uninterrupted run. A file
        written with other settings, or that is not a checkpoint, is refused
        (see `kinmisalign.batch.measure_files`).
    fresh_checkpoint : bool, optional
        Discard the results already in ``checkpoint`` and start afresh.

    Returns
    -------
    `~astropy.table.Table` or `~astropy.table.QTable`
        A copy of ``table`` (same class; a Table for Marvin ``Results``)
        with the columns of `OUTPUT_COLUMNS` appended: PAs East of North to
        the receding side and their 1σ errors (deg), ΔPA and its 1σ error
        (deg), spaxels fitted, the network probabilities and flags,
        ``KINMIS_FLAG`` and ``KINMIS_PROBLEMS`` (what went wrong, in words;
        masked when nothing did). Missing values are masked, except
        ``USABLE_STELLAR`` and ``USABLE_GAS``, which are False when the
        network did not judge the field (its ``USABLE_PROB_*`` is masked), so
        that no file format can turn them into True. Its ``meta`` gains the
        run's provenance (version, PA engine, model and its SHA-256,
        threshold, DAPTYPE, source, date, ``KINMIS_FLAG`` bit table) as FITS
        keywords; see :ref:`provenance`.

    Raises
    ------
    TypeError
        When ``table`` is not an astropy Table.
    KeyError
        When no plate-IFU column can be found.
    ValueError
        When the table already has output columns (compared ignoring case, as
        FITS does) and ``overwrite`` is False, ``daptype`` is malformed, or
        Marvin ``Results`` hold only a page of their rows.
    `~kinmisalign.CheckpointError`
        When ``checkpoint`` cannot be used.

    Examples
    --------
    Measure a two-row catalogue from a directory in the survey's layout, where
    `kinmisalign.mock` has written the MAPS file of the first observation only:

    >>> import tempfile
    >>> from kinmisalign.mock import FieldModel, MockGalaxy, write_maps
    >>> galaxy = MockGalaxy(plateifu="8000-3703", inclination=55,
    ...                     stellar=FieldModel(pa=30.0, vmax=160.0, noise=6.0),
    ...                     gas=FieldModel(pa=250.0, vmax=200.0, noise=4.0))
    >>> from astropy.table import Table
    >>> from kinmisalign import add_kinematic_columns
    >>> from kinmisalign.batch import describe_flags
    >>> directory = tempfile.mkdtemp()
    >>> _ = write_maps(galaxy, directory, tree=True, seed=1)
    >>> catalogue = Table({"PLATEIFU": ["8000-3703", "8000-9101"]})
    >>> out = add_kinematic_columns(catalogue, source=directory)
    >>> print(out["PLATEIFU", "PA_STELLAR", "PA_GAS", "DPA", "USABLE_STELLAR", "KINMIS_FLAG"])
     PLATEIFU PA_STELLAR PA_GAS  DPA  USABLE_STELLAR KINMIS_FLAG
                 deg      deg    deg
    --------- ---------- ------ ----- -------------- -----------
    8000-3703       30.5  250.0 140.5           True           0
    8000-9101         --     --    --          False           1
    >>> describe_flags(out["KINMIS_FLAG"][1])
    ['NO_MAPS']
    """
    from astropy.table import Table

    from .config import conf
    from .sources import get_source, validate_daptype

    table = _as_table(table)
    if not isinstance(table, Table):
        raise TypeError(f"table must be an astropy Table or QTable, not {type(table).__name__}")
    keyname = key_column(table, key)
    # FITS column names ignore case: 'pa_stellar' would clash in the written file.
    clashes = [name for name in table.colnames if name.upper() in OUTPUT_COLUMNS]
    if keyname in clashes:
        raise ValueError(f"the plate-IFU column {keyname!r} has the name of an output column")
    if clashes and not overwrite:
        raise ValueError(f"the table already has column(s) {', '.join(clashes)}; pass "
                         "overwrite=True to replace them")
    daptype = validate_daptype(conf.daptype if daptype is None else daptype)

    keys, reasons = canonical_keys(table[keyname])
    unique = list(dict.fromkeys(k for k in keys if k is not None))
    options = make_options(
        model=conf.usability_model if model is None else model, threshold=threshold, line=line,
        maskbits=maskbits, clean_options=clean_options, fit_options=fit_options,
        source=get_source(source), daptype=daptype)
    records = run_records([Key(k) for k in unique], options, parallel=parallel,
                          progress_bar=progress_bar, checkpoint=checkpoint,
                          fresh_checkpoint=fresh_checkpoint)
    by_key = dict(zip(unique, records, strict=True))
    rows = [by_key[k] if k is not None else failed(new_record(), "INVALID_KEY", reason)
            for k, reason in zip(keys, reasons, strict=True)]
    columns = records_table(rows, classified=True)

    out = table.copy(copy_data=True)
    out.remove_columns(clashes)
    for name in OUTPUT_COLUMNS:
        out[name] = columns[name]
    from ._provenance import annotate

    annotate(out, options)
    return out
