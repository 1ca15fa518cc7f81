"""Measuring many observations: serial, in local processes, or on a dask cluster."""

import logging
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

from .exceptions import KinmisalignError, MapsFormatError, NotEnoughPointsError

__all__ = ["FLAGS", "describe_flags", "measure_files"]

_log = logging.getLogger(__name__)

# KINMIS_FLAG bits: why a value is missing or doubtful. Bits are never reused.
FLAGS = {
    "NO_MAPS": (0, "no MAPS file for this observation"),
    "BAD_MAPS": (1, "the MAPS file is unreadable, does not follow the DAP data model, or "
                    "holds another plate-IFU or DAPTYPE than requested"),
    "STELLAR_TOO_FEW": (2, "too few stellar spaxels left after masking and cleaning"),
    "GAS_TOO_FEW": (3, "too few gas spaxels left after masking and cleaning"),
    "STELLAR_FIT_FAILED": (4, "the stellar field could not be fitted (e.g. constant velocities; "
                              "with UNEXPECTED_ERROR: an error met in its fit)"),
    "GAS_FIT_FAILED": (5, "the gas field could not be fitted (e.g. constant velocities; with "
                          "UNEXPECTED_ERROR: an error met in its fit)"),
    "STELLAR_NOT_CLASSIFIED": (6, "the usability network could not judge the stellar map: it "
                                  "cannot be normalised for the network (no unmasked spaxel, "
                                  "or no velocity difference), or the network failed "
                                  "(UNEXPECTED_ERROR)"),
    "GAS_NOT_CLASSIFIED": (7, "the usability network could not judge the gas map: it cannot "
                              "be normalised for the network (no unmasked spaxel, or no "
                              "velocity difference), or the network failed "
                              "(UNEXPECTED_ERROR)"),
    "STELLAR_UNUSABLE": (8, "the usability network judges the stellar field unusable: its PA "
                            "is doubtful"),
    "GAS_UNUSABLE": (9, "the usability network judges the gas field unusable: its PA is "
                        "doubtful"),
    "INVALID_KEY": (10, "the row's plate-IFU is missing or not of the survey's form"),
    "DOWNLOAD_FAILED": (11, "the MAPS file could not be fetched from its source"),
    "UNEXPECTED_ERROR": (12, "an unexpected error stopped the measurement of this observation, "
                             "or the part of it that other bits name (the message is in "
                             "KINMIS_PROBLEMS); please report it"),
    "STELLAR_SENSE_UNDETERMINED": (13, "the two sides of the stellar kinematic axis do not "
                                       "differ significantly: PA_STELLAR gives the axis but not "
                                       "which end recedes, and DPA is masked"),
    "GAS_SENSE_UNDETERMINED": (14, "the two sides of the gas kinematic axis do not differ "
                                   "significantly: PA_GAS gives the axis but not which end "
                                   "recedes, and DPA is masked"),
    "GAS_LINE_MISSING": (15, "the MAPS file has no channel of the requested emission line, so "
                             "there is no gas field to fit or classify"),
}


def describe_flags(flag):
    """Names of the bits set in a ``KINMIS_FLAG`` value.

    Parameters
    ----------
    flag : int

    Returns
    -------
    list of str
    """
    return [name for name, (bit, _) in FLAGS.items() if int(flag) & (1 << bit)]


def _bit(name):
    return 1 << FLAGS[name][0]


@dataclass(frozen=True)
class _Options:
    """Everything a worker needs besides the file: small and picklable."""

    line: str
    maskbits: object
    clean_options: dict
    fit_options: dict
    model: object = None  # a UsabilityModel, or None for no classification
    threshold: float = 0.5
    source: object = None  # where MAPS files of plate-IFU keys come from
    daptype: str = ""


_FLOAT_COLUMNS = ("PA_STELLAR", "PA_STELLAR_ERR", "PA_GAS", "PA_GAS_ERR", "DPA", "DPA_ERR")
_INT_COLUMNS = ("NSPX_STELLAR", "NSPX_GAS")


class Key(str):
    """A plate-IFU to be resolved to a MAPS file by the run's source (not a path)."""

    __slots__ = ()


def _add_problem(record, problem):
    """Append ``problem`` to the record's KINMIS_PROBLEMS ('; ' between problems)."""
    problem = str(problem)
    if problem:
        record["KINMIS_PROBLEMS"] = "; ".join(p for p in (record["KINMIS_PROBLEMS"], problem)
                                              if p)


def _failed(record, flag, problem):
    """``record`` with the ``flag`` bit added to its others and ``problem`` to its list."""
    record["KINMIS_FLAG"] |= _bit(flag)
    _add_problem(record, problem)
    return record


def _unexpected(exc):
    """An unexpected error in words: its type and its message."""
    return f"{type(exc).__name__}: {exc}"


def _measure_path(item, options):
    """One observation in, one plain record out; never raises for bad data.

    ``item`` is a path, or a `Key` that ``options.source`` turns into a path
    (or, for a source with ``maps_for`` such as Marvin, into the maps themselves).
    """
    from threadpoolctl import threadpool_limits

    from .maps import _read_maps
    from .measure import _measure

    record = {"FILENAME": "", "PLATEIFU": "", "KINMIS_FLAG": 0, "KINMIS_PROBLEMS": ""}
    maps = path = None
    if isinstance(item, Key):
        from .sources import SourceError

        record["PLATEIFU"] = str(item)
        maps_for = getattr(options.source, "maps_for", None)
        try:
            if callable(maps_for):
                maps = maps_for(str(item), options.daptype, line=options.line,
                                maskbits=options.maskbits)
            else:
                path = options.source.path_for(str(item), options.daptype)
                if path is None:  # a duck-typed source's way of saying "not here"
                    raise FileNotFoundError(f"no MAPS file for {item} from {options.source!r}")
        except FileNotFoundError as exc:
            return _failed(record, "NO_MAPS", exc)
        except SourceError as exc:
            return _failed(record, "DOWNLOAD_FAILED", exc)
        except MapsFormatError as exc:
            return _failed(record, "BAD_MAPS", exc)
        except Exception as exc:  # a source's bug must not end a survey-sized run
            return _failed(record, "UNEXPECTED_ERROR", _unexpected(exc))
    else:
        path = item
    if maps is not None:
        record["FILENAME"] = os.fspath(maps.path) if maps.path else ""
    else:
        record["FILENAME"] = os.fspath(path)
    # One BLAS/OpenMP thread per task: tasks run side by side, one per core.
    with threadpool_limits(limits=1):
        try:
            if maps is None:
                # A file without the line's channel still gives its stellar field.
                maps = _read_maps(path, options.line, options.maskbits, line_required=False)
        except FileNotFoundError as exc:
            return _failed(record, "NO_MAPS", exc)
        except MapsFormatError as exc:
            return _failed(record, "BAD_MAPS", exc)
        except Exception as exc:  # one bad observation must not end a survey-sized run
            return _failed(record, "UNEXPECTED_ERROR", _unexpected(exc))
        if isinstance(item, Key):
            mismatch = _mismatch(maps.meta, str(item), options.daptype)
            if mismatch:
                return _failed(record, "BAD_MAPS", f"{record['FILENAME']}: {mismatch}")
        if not record["PLATEIFU"]:
            record["PLATEIFU"] = str(maps.plateifu or "")
        # Measurement and classification fail apart: what one gave is kept when the other fails.
        try:
            # Exception: even a bug met in one field leaves the other field's PA.
            result = _measure(maps, options.clean_options, options.fit_options, Exception)
        except Exception as exc:
            _failed(record, "UNEXPECTED_ERROR", f"measurement: {_unexpected(exc)}")
            record["KINMIS_FLAG"] |= _bit("STELLAR_FIT_FAILED") | _bit("GAS_FIT_FAILED")
        else:
            _fit_results_into(record, result, maps)
        if options.model is not None:
            try:
                _classify_into(record, maps, options)
            except Exception as exc:
                _failed(record, "UNEXPECTED_ERROR", f"usability network: {_unexpected(exc)}")
                for which in ("STELLAR", "GAS"):
                    if f"USABLE_PROB_{which}" not in record:
                        record["KINMIS_FLAG"] |= _bit(f"{which}_NOT_CLASSIFIED")
    return record


def _fit_results_into(record, result, maps):
    """PAs, their errors, spaxel counts and ΔPA of ``result`` into ``record``; the flag bit
    and the reason of each field that was not fitted."""
    for which in ("stellar", "gas"):
        fit = getattr(result, f"{which}_fit")
        up = which.upper()
        if fit is None:
            error = getattr(result, f"{which}_error")
            if which == "gas" and maps.gas is None:
                _failed(record, "GAS_LINE_MISSING", f"gas: {error}")
            elif isinstance(error, NotEnoughPointsError):
                _failed(record, f"{up}_TOO_FEW", f"{which}: {error}")
            elif isinstance(error, KinmisalignError):
                _failed(record, f"{up}_FIT_FAILED", f"{which}: {error}")
            else:  # a bug, met in this field only
                _failed(record, f"{up}_FIT_FAILED", f"{which}: {_unexpected(error)}")
                record["KINMIS_FLAG"] |= _bit("UNEXPECTED_ERROR")
            continue
        record[f"PA_{up}"] = fit.pa.to_value(u.deg)
        record[f"PA_{up}_ERR"] = fit.pa_err.to_value(u.deg)
        record[f"NSPX_{up}"] = fit.npoints
        if not fit.sense_determined:  # measure_maps then leaves DPA out: it stays masked
            _failed(record, f"{up}_SENSE_UNDETERMINED",
                    f"{which}: sense of rotation undetermined (the two sides differ by "
                    f"{fit.sense_significance:.1f} standard errors), no DPA")
    if result.dpa is not None:
        record["DPA"] = float(result.dpa.to_value(u.deg))
        record["DPA_ERR"] = float(result.dpa_err.to_value(u.deg))


def _mismatch(meta, plateifu, daptype):
    """Why a file fetched for (plateifu, daptype) holds another observation, or ''."""
    for name, wanted in (("PLATEIFU", plateifu), ("DAPTYPE", daptype)):
        found = meta.get(name)
        if found is not None and wanted and str(found).strip() != wanted:
            return f"the file holds {name} {str(found).strip()!r}, not the requested {wanted!r}"
    return ""


def _make_options(*, model, threshold, line, maskbits, clean_options, fit_options, source=None,
                  daptype=""):
    """Resolve defaults from ``conf`` here: worker processes do not see conf.set_temp."""
    from .config import conf

    fit_options = dict(fit_options or {})
    fit_options.setdefault("min_points", conf.min_points)
    if model is not None:
        from .classifier import load_model

        model = load_model(model)
    if threshold is None:
        threshold = conf.usable_threshold
    return _Options(line=line, maskbits=conf.maskbits if maskbits is None else maskbits,
                    clean_options=dict(clean_options or {}), fit_options=fit_options,
                    model=model, threshold=float(threshold), source=source, daptype=daptype)


def run_records(items, options, parallel=False, progress_bar=False, checkpoint=None,
                fresh_checkpoint=False):
    """Plain records of the items (paths or `Key`), in order; see `measure_files`.

    With ``checkpoint``, records already in that file are reused and each new
    one is committed to it as soon as it arrives (here, in the parent process).
    """
    items = [item if isinstance(item, Key) else os.fspath(item) for item in items]
    records = [None] * len(items)
    store = ids = None
    if checkpoint is not None:
        from ._checkpoint import Checkpoint, item_id, run_settings

        ids = [item_id(item) for item in items]
        store = Checkpoint(checkpoint, run_settings(options), fresh=fresh_checkpoint)
    try:
        if store is not None:
            done = store.records()
            records = [done.get(name) for name in ids]
        todo = [i for i, record in enumerate(records) if record is None]
        if len(todo) < len(items):
            _log.info("resuming: %s of %s already measured", f"{len(items) - len(todo):,}",
                      f"{len(items):,}")
        # closing: an error here (a full disk) stops the backend at once, not at collection.
        with _progress(len(items), len(items) - len(todo), progress_bar) as bar, \
                closing(_run([items[i] for i in todo], options, parallel)) as results:
            for j, record in results:
                i = todo[j]
                records[i] = record
                if store is not None:
                    store.add(ids[i], record)
                bar.update(1)
    finally:
        if store is not None:
            store.close()
    return records


def _classify_into(record, maps, options):
    """Usability probabilities of the fields of ``maps`` into ``record``, with their flag
    bits and problems. A field the maps lack (no gas channel) is left out: the bit that
    says it is missing also says why it has no probability."""
    fields = {"STELLAR": maps.stellar, "GAS": maps.gas}
    fields = {which: field for which, field in fields.items() if field is not None}
    probs, reasons = options.model.predict_fields(list(fields.values()))
    for which, p, reason in zip(fields, probs, reasons, strict=True):
        if np.isfinite(p):
            record[f"USABLE_PROB_{which}"] = float(p)
            record[f"USABLE_{which}"] = bool(p > options.threshold)
            if not p > options.threshold:
                record["KINMIS_FLAG"] |= _bit(f"{which}_UNUSABLE")
        else:
            _failed(record, f"{which}_NOT_CLASSIFIED",
                    f"{which.lower()}: not classified ({reason or 'no usable input'})")


# Worker processes get the options once, at start-up, not with every task.
_WORKER_OPTIONS = None


def _init_worker(options):
    global _WORKER_OPTIONS
    _WORKER_OPTIONS = options
    # Ctrl-C reaches the whole process group: the parent stops the run, the workers
    # just finish their task instead of each printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _measure_in_worker(path):
    return _measure_path(path, _WORKER_OPTIONS)


def _serial(paths, options):
    for i, path in enumerate(paths):
        yield i, _measure_path(path, options)


def _windowed(paths, submit, wait_first, window, pending):
    """(index, future) as futures finish, with at most ``window`` in flight.

    Finished results come back at once, not held behind a slower earlier one, so that a
    checkpoint commits each observation as soon as it is measured. ``pending`` (future →
    index, filled here) lets the caller cancel what is left when it stops early.
    """
    next_submit = 0
    while next_submit < len(paths) or pending:
        while next_submit < len(paths) and len(pending) < window:
            pending[submit(paths[next_submit])] = next_submit
            next_submit += 1
        for future in wait_first(list(pending)):
            yield pending.pop(future), future


def _processes(paths, options, n_workers):
    from concurrent.futures import FIRST_COMPLETED, wait

    # 'spawn': a clean interpreter per worker, safe whatever threads the parent runs.
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context("spawn"),
                               initializer=_init_worker, initargs=(options,))
    try:
        for i, future in _windowed(paths, lambda path: pool.submit(_measure_in_worker, path),
                                   lambda fs: wait(fs, return_when=FIRST_COMPLETED).done,
                                   4 * n_workers, {}):
            yield i, future.result()
    finally:
        # Stopped early (an error, Ctrl-C): do not measure what is still queued.
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(paths, options, client):
    # A bounded window of tasks in flight keeps memory flat however long the list is.
    from dask.distributed import wait

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    shared = client.scatter(options, broadcast=True, hash=False)
    pending = {}
    try:
        for i, future in _windowed(
                paths, lambda path: client.submit(_measure_path, path, shared, pure=False),
                lambda fs: wait(fs, return_when="FIRST_COMPLETED").done, 4 * n_workers,
                pending):
            record = future.result()
            future.release()
            yield i, record
    finally:
        if pending:  # stopped early: free the cluster of what is left
            client.cancel(list(pending))


def _run(paths, options, parallel):
    """``(index, record)`` of the paths, as they finish."""
    if parallel is None or parallel is False or parallel == 1:
        yield from _serial(paths, options)
        return
    if isinstance(parallel, bool):  # True: one worker per core
        parallel = os.cpu_count() or 1
    if isinstance(parallel, int):
        if parallel < 1:
            raise ValueError(f"parallel must be a positive number of workers, not {parallel}")
        if paths:
            yield from _processes(paths, options, parallel)
        return
    if isinstance(parallel, str):
        if parallel != "dask":
            raise ValueError(f"parallel must be False, an int, 'dask' or a dask Client, "
                             f"not {parallel!r}")
        try:
            from dask.distributed import Client, LocalCluster, get_client
        except ImportError:
            raise ImportError('parallel="dask" needs dask.distributed: '
                              'pip install "kinmisalign[dask]"') from None
        if not paths:
            return
        try:
            client = get_client()
        except ValueError:  # no client yet: a temporary local cluster, one thread per worker
            with LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                              processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                yield from _dask(paths, options, client)
            return
        yield from _dask(paths, options, client)
        return
    if hasattr(parallel, "submit") and hasattr(parallel, "scheduler_info"):
        if paths:
            yield from _dask(paths, options, parallel)
        return
    raise TypeError(f"parallel must be False, an int, 'dask' or a dask Client, not {parallel!r}")


class _NoBar:
    def update(self, n):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _progress(total, done, enabled):
    """A progress bar over ``total`` observations, ``done`` of them already finished."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if enabled == "auto":
            return _NoBar()
        raise ImportError('progress_bar=True needs tqdm: pip install "kinmisalign[progress]"'
                          ) from None
    # Not a terminal (a batch job's log): a line now and then, not ten a second.
    stream = sys.stderr
    interactive = callable(getattr(stream, "isatty", None)) and stream.isatty()
    return tqdm(total=total, initial=done, unit="obs", mininterval=0.1 if interactive else 60)


def _records_table(records, classified=False):
    """Records (dicts) to a Table with masked columns, units and descriptions."""
    table = Table()
    table["FILENAME"] = [r["FILENAME"] for r in records]
    plateifus = np.array([r["PLATEIFU"] for r in records], dtype=str)
    # Masked when unknown (a file that could not be read): files read '' back as masked.
    table["PLATEIFU"] = MaskedColumn(plateifus, mask=plateifus == "", fill_value="")
    descriptions = {
        "PA_STELLAR": "stellar kinematic PA, East of North to the receding side, [0, 360)",
        "PA_STELLAR_ERR": "1-sigma error of PA_STELLAR",
        "PA_GAS": "H-alpha kinematic PA, East of North to the receding side, [0, 360)",
        "PA_GAS_ERR": "1-sigma error of PA_GAS",
        "DPA": "stellar-gas kinematic misalignment, [0, 180]",
        "DPA_ERR": "1-sigma error of DPA (PA errors in quadrature)",
        "NSPX_STELLAR": "stellar spaxels used in the fit after cleaning",
        "NSPX_GAS": "H-alpha spaxels used in the fit after cleaning",
    }
    for name in _FLOAT_COLUMNS + _INT_COLUMNS:
        values = [r.get(name) for r in records]
        missing = np.array([v is None for v in values], dtype=bool)
        dtype = np.float64 if name in _FLOAT_COLUMNS else np.int32
        data = np.array([0 if v is None else v for v in values], dtype=dtype)
        table[name] = MaskedColumn(data, mask=missing, description=descriptions[name],
                                   unit=u.deg if name in _FLOAT_COLUMNS else None)
    if classified:
        for which in ("STELLAR", "GAS"):
            probs = [r.get(f"USABLE_PROB_{which}") for r in records]
            missing = np.array([p is None for p in probs], dtype=bool)
            table[f"USABLE_PROB_{which}"] = MaskedColumn(
                np.array([np.nan if p is None else p for p in probs], dtype=np.float32),
                mask=missing, description=f"network probability that the {which.lower()} "
                                          "field is usable")
            # Never masked: no file format keeps the value under a boolean's mask (FITS
            # writes the fill value, an ECSV file read back holds True there), so a field
            # the network did not judge is plainly not usable. USABLE_PROB_ is masked.
            usable = np.array([bool(r.get(f"USABLE_{which}", False)) and not m
                               for r, m in zip(records, missing, strict=True)], dtype=bool)
            table[f"USABLE_{which}"] = MaskedColumn(
                usable, mask=np.zeros(len(records), dtype=bool), fill_value=False,
                description=f"USABLE_PROB_{which} above the threshold; False when the "
                            "network did not judge the field")
    table["KINMIS_FLAG"] = MaskedColumn(
        np.array([r["KINMIS_FLAG"] for r in records], dtype=np.int32),
        description="bitmask: why a value is missing or doubtful (kinmisalign.batch.FLAGS)")
    problems = np.array([_one_ascii_line(r["KINMIS_PROBLEMS"]) for r in records], dtype=str)
    # Masked where empty, as FITS, ECSV and CSV files all read an empty string back.
    table["KINMIS_PROBLEMS"] = MaskedColumn(
        problems, mask=problems == "", fill_value="",
        description="why values are missing or doubtful, in words; masked (empty) when "
                    "nothing went wrong")
    return table


def _one_ascii_line(text):
    """``text`` on one line of ASCII: FITS tables hold ASCII only (astropy refuses to write
    anything else), and one line reads back the same from any CSV reader."""
    return " ".join(str(text).split()).encode("ascii", "backslashreplace").decode("ascii")


def measure_files(paths, *, model=None, threshold=None, parallel=False, progress_bar=False,
                  line="Ha-6564", maskbits=None, clean_options=None, fit_options=None,
                  checkpoint=None, fresh_checkpoint=False):
    """Measure the kinematics of many MAPS files.

    Each file is read, both velocity fields are cleaned and fitted and
    their misalignment measured (`~kinmisalign.measure_maps`). A file that
    is missing or broken, or a field that cannot be fitted, gives masked
    values and a ``KINMIS_FLAG`` bit for its row; it never stops the run.

    Parameters
    ----------
    paths : iterable of str or path-like
        MAPS files.
    model : str, path-like or `~kinmisalign.classifier.UsabilityModel`, optional
        A usability network (see `~kinmisalign.classifier.load_model`); when
        given, the probability that each field is usable is added. Default:
        no classification.
    threshold : float, optional
        Probability above which a field counts as usable; default
        ``conf.usable_threshold``.
    parallel : bool, int, 'dask' or `dask.distributed.Client`, optional
        ``False`` (default) runs in this process; an int runs that many
        local worker processes (``True``: one per core); ``'dask'`` uses the
        current dask client, or a temporary local cluster; a client runs on
        its cluster. Every task runs with one BLAS/OpenMP thread. Results do
        not depend on this choice.
    progress_bar : bool or 'auto', optional
        Show a progress bar (needs ``tqdm``); ``'auto'``: when tqdm is installed.
    line : str, optional
        Emission line of the gas field.
    maskbits : {'any', 'donotuse'} or int, optional
        Which DAP mask bits reject a spaxel; default ``conf.maskbits``.
    clean_options, fit_options : dict, optional
        Keyword arguments of `~kinmisalign.clean_velocity_field` and
        `~kinmisalign.fit_pa`.
    checkpoint : str or path-like, optional
        A SQLite file to which each observation's result is committed as it
        finishes (by this process, whatever ``parallel`` is). Rerunning with
        the same file skips the observations it already holds, so a run that
        was interrupted resumes where it stopped and gives the same table as
        an uninterrupted one. A file written with other settings (model,
        threshold, mask bits, fit or cleaning options, source, DAPTYPE,
        kinmisalign version) is refused with
        `~kinmisalign.CheckpointError`, as is a file that is not a
        checkpoint.
    fresh_checkpoint : bool, optional
        Discard the results already in ``checkpoint`` (whatever their
        settings) and start afresh.

    Returns
    -------
    `~astropy.table.Table`
        One row per path, in the order given: ``FILENAME``, ``PLATEIFU``,
        ``PA_STELLAR``, ``PA_STELLAR_ERR``, ``PA_GAS``, ``PA_GAS_ERR``,
        ``DPA``, ``DPA_ERR`` (deg, masked when not measured),
        ``NSPX_STELLAR``, ``NSPX_GAS``, with a model ``USABLE_PROB_STELLAR``,
        ``USABLE_STELLAR``, ``USABLE_PROB_GAS``, ``USABLE_GAS``, then
        ``KINMIS_FLAG`` (bits in `FLAGS`) and ``KINMIS_PROBLEMS`` (why values
        are missing or doubtful, in words, on one line of ASCII; masked, with
        an empty string, when nothing went wrong). ``USABLE_*`` are never
        masked: False when the network did not judge the field
        (``USABLE_PROB_*`` is then masked). PAs show 0.1 deg and
        probabilities 0.001 (display formats only). ``meta`` holds the run's
        provenance as FITS keywords, with the ``KINMIS_FLAG`` bit table (see
        :ref:`provenance`).
    """
    options = _make_options(model=model, threshold=threshold, line=line, maskbits=maskbits,
                            clean_options=clean_options, fit_options=fit_options)
    records = run_records(paths, options, parallel=parallel, progress_bar=progress_bar,
                          checkpoint=checkpoint, fresh_checkpoint=fresh_checkpoint)
    table = _records_table(records, classified=model is not None)
    from ._provenance import annotate

    annotate(table, options)
    return table
