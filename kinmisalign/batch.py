"""Measuring many observations: serial, in local processes, or on a dask cluster."""

import logging
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from multiprocessing import get_context

import numpy as np
from astropy import units as u

from . import _records
from ._optional import require
from ._records import (
    Key,
    failed,
    flag_bit,
    make_options,
    new_record,
    records_table,
)
from .exceptions import KinmisalignError, MapsFormatError, NotEnoughPointsError

# FLAGS belongs to the records (kinmisalign._records), which the checkpoint and the
# provenance share; it is documented here, with the runs that set its bits.
__all__ = ["FLAGS", "describe_flags", "measure_files"]

FLAGS = _records.FLAGS
"""The bits of the ``KINMIS_FLAG`` column: ``{name: (bit, meaning)}``.

A row's ``KINMIS_FLAG`` is the sum of ``2**bit`` over the problems met; `describe_flags`
turns it back into names, and ``KINMIS_PROBLEMS`` gives the messages. The guide's
:ref:`guide-flags` table lists every bit with what to do about it.
"""

_log = logging.getLogger(__name__)


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


def _unexpected(exc):
    """An unexpected error in words: its type and its message."""
    return f"{type(exc).__name__}: {exc}"


def _measure_path(item, options):
    """One observation in, one plain record out; never raises for bad data.

    ``item`` is a path, or a `Key` that ``options.source`` turns into a path
    (or, for a source with ``maps_for`` such as Marvin, into the maps themselves).
    """
    from threadpoolctl import threadpool_limits

    from .maps import read_maps
    from .measure import measure_maps

    record = new_record()
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
            return failed(record, "NO_MAPS", exc)
        except SourceError as exc:
            return failed(record, "DOWNLOAD_FAILED", exc)
        except MapsFormatError as exc:
            return failed(record, "BAD_MAPS", exc)
        except Exception as exc:  # a source's bug must not end a survey-sized run
            return failed(record, "UNEXPECTED_ERROR", _unexpected(exc))
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
                maps = read_maps(path, line=options.line, maskbits=options.maskbits,
                                 line_required=False)
        except FileNotFoundError as exc:
            return failed(record, "NO_MAPS", exc)
        except MapsFormatError as exc:
            return failed(record, "BAD_MAPS", exc)
        except Exception as exc:  # one bad observation must not end a survey-sized run
            return failed(record, "UNEXPECTED_ERROR", _unexpected(exc))
        if isinstance(item, Key):
            mismatch = _mismatch(maps.meta, str(item), options.daptype)
            if mismatch:
                return failed(record, "BAD_MAPS", f"{record['FILENAME']}: {mismatch}")
        if not record["PLATEIFU"]:
            record["PLATEIFU"] = str(maps.plateifu or "")
        # Measurement and classification fail apart: what one gave is kept when the other fails.
        try:
            # Exception: even a bug met in one field leaves the other field's PA.
            result = measure_maps(maps, clean_options=options.clean_options,
                                  fit_options=options.fit_options, field_errors=Exception)
        except Exception as exc:
            failed(record, "UNEXPECTED_ERROR", f"measurement: {_unexpected(exc)}")
            record["KINMIS_FLAG"] |= flag_bit("STELLAR_FIT_FAILED") | flag_bit("GAS_FIT_FAILED")
        else:
            _fit_results_into(record, result, maps)
        if options.model is not None:
            try:
                _classify_into(record, maps, options)
            except Exception as exc:
                failed(record, "UNEXPECTED_ERROR", f"usability network: {_unexpected(exc)}")
                for which in ("STELLAR", "GAS"):
                    if f"USABLE_PROB_{which}" not in record:
                        record["KINMIS_FLAG"] |= flag_bit(f"{which}_NOT_CLASSIFIED")
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
                failed(record, "GAS_LINE_MISSING", f"gas: {error}")
            elif isinstance(error, NotEnoughPointsError):
                failed(record, f"{up}_TOO_FEW", f"{which}: {error}")
            elif isinstance(error, KinmisalignError):
                failed(record, f"{up}_FIT_FAILED", f"{which}: {error}")
            else:  # a bug, met in this field only
                failed(record, f"{up}_FIT_FAILED", f"{which}: {_unexpected(error)}")
                record["KINMIS_FLAG"] |= flag_bit("UNEXPECTED_ERROR")
            continue
        record[f"PA_{up}"] = fit.pa.to_value(u.deg)
        record[f"PA_{up}_ERR"] = fit.pa_err.to_value(u.deg)
        record[f"NSPX_{up}"] = fit.npoints
        if not fit.sense_determined:  # measure_maps then leaves DPA out: it stays masked
            failed(record, f"{up}_SENSE_UNDETERMINED",
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
                record["KINMIS_FLAG"] |= flag_bit(f"{which}_UNUSABLE")
        else:
            failed(record, f"{which}_NOT_CLASSIFIED",
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


def _submit(pool, fn, arg):
    """``pool.submit(fn, arg)`` with Ctrl-C ignored while it may start a worker process.

    A worker started then inherits the ignored signal from its first instruction (Python
    keeps an ignored SIGINT ignored), not only once its initializer has run: a Ctrl-C while
    it still imports would otherwise print its traceback beside the parent's message.
    """
    if threading.current_thread() is not threading.main_thread():
        return pool.submit(fn, arg)  # only the main thread may set handlers (and gets SIGINT)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return pool.submit(fn, arg)
    finally:
        signal.signal(signal.SIGINT, previous)


def _processes(paths, options, n_workers):
    from concurrent.futures import FIRST_COMPLETED, wait

    # 'spawn': a clean interpreter per worker, safe whatever threads the parent runs.
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context("spawn"),
                               initializer=_init_worker, initargs=(options,))
    try:
        for i, future in _windowed(paths, lambda path: _submit(pool, _measure_in_worker, path),
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
        distributed = require("dask.distributed", extra="dask", feature='parallel="dask"')
        if not paths:
            return
        try:
            client = distributed.get_client()
        except ValueError:  # no client yet: a temporary local cluster, one thread per worker
            with distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                          processes=True, dashboard_address=None) as cluster, \
                    distributed.Client(cluster) as client:
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
        tqdm = require("tqdm.auto", extra="progress", feature="progress_bar=True",
                       package="tqdm").tqdm
    except ImportError:
        if enabled == "auto":
            return _NoBar()
        raise
    # Not a terminal (a batch job's log): a line now and then, not ten a second.
    stream = sys.stderr
    interactive = callable(getattr(stream, "isatty", None)) and stream.isatty()
    return tqdm(total=total, initial=done, unit="obs", mininterval=0.1 if interactive else 60)


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
    options = make_options(model=model, threshold=threshold, line=line, maskbits=maskbits,
                            clean_options=clean_options, fit_options=fit_options)
    records = run_records(paths, options, parallel=parallel, progress_bar=progress_bar,
                          checkpoint=checkpoint, fresh_checkpoint=fresh_checkpoint)
    table = records_table(records, classified=model is not None)
    from ._provenance import annotate

    annotate(table, options)
    return table
