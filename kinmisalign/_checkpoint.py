"""Resumable runs: each observation's record is committed to a SQLite file as it finishes.

The file holds two tables: ``settings`` (name → JSON value: everything that decides a
result, checked when a run resumes) and ``results`` (item → the observation's record as
JSON text). Only the parent process writes, through one connection. Values are always bound
as SQL parameters; records are plain JSON, never pickle.

Journal: write-ahead log with ``synchronous=NORMAL`` and an exclusive lock. Each commit is
one append to the log, which the operating system keeps when the process is killed, so a
killed run loses no finished observation; a power cut may lose the last few commits (they
are then measured again) but never leaves a half-written record. The exclusive lock means
no shared-memory index is needed (works on network file systems) and a second run on the
same file is refused instead of interleaving with the first.
"""

import json
import os
import sqlite3
import time

import numpy as np

from . import _provenance
from ._records import Key, is_record
from .exceptions import CheckpointError

__all__ = ["Checkpoint", "item_id", "run_settings"]

_APPLICATION_ID = 1263356243  # b"KMIS" as a big-endian int: marks a kinmisalign checkpoint
_SCHEMA_VERSION = 1


def item_id(item):
    """The checkpoint's name of an item: a plate-IFU `~kinmisalign._records.Key` or a path."""
    if isinstance(item, Key):
        return f"plateifu:{item}"
    # Absolute, so that resuming from another directory never reuses another file's result.
    return f"file:{os.path.abspath(item)}"


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)  # e.g. a Quantity among fit options: compared by its text


def _model_identity(model):
    if model is None:
        return None
    # What the network computes, calibration included: a recalibrated model is another model.
    return {"name": model.name, "sha256": _provenance.model_sha256(model)}


def run_settings(options):
    """Everything in a run's options that decides its results, as JSON-ready values.

    Parameters
    ----------
    options : kinmisalign._records.RunOptions

    Returns
    -------
    dict
    """
    fit_options = dict(options.fit_options)
    method = _provenance.pa_method(fit_options)
    fit_options.pop("method", None)
    min_points = fit_options.pop("min_points", None)
    if options.source is None:
        source = "MAPS files given by path"
    else:
        describe = getattr(options.source, "describe", None)
        source = (f"{type(options.source).__name__}: "
                  f"{describe() if callable(describe) else repr(options.source)}")
    settings = {
        "kinmisalign version": _provenance.VERSION,
        "source": source,
        "DAPTYPE": options.daptype,
        "emission line": options.line,
        "mask bits": options.maskbits,
        "min_points": min_points,
        "PA method": method,
        "other fit options": fit_options,
        "cleaning options": dict(options.clean_options),
        "usability model": _model_identity(options.model),
        "usable threshold": options.threshold,
    }
    # Through JSON once, so that stored and current settings compare alike (tuples, ...).
    return json.loads(json.dumps(settings, sort_keys=True, default=_jsonable))


def _damaged(path, exc):
    return CheckpointError(f"the checkpoint {path} is damaged ({exc}); it was left untouched: "
                           "start afresh with another checkpoint file")


def _short(value):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


class Checkpoint:
    """A SQLite file of finished observations, opened for one run.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file; created when absent (an empty file is also fine).
    settings : dict
        `run_settings` of this run.
    fresh : bool, optional
        Discard the results of an existing checkpoint (whatever its settings)
        instead of resuming.

    Raises
    ------
    `~kinmisalign.CheckpointError`
        When the file is not a kinmisalign checkpoint, is in use by another
        run, or holds results of other settings (and ``fresh`` is False).
    """

    def __init__(self, path, settings, *, fresh=False):
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise CheckpointError(f"the checkpoint {self.path} is a directory, not a file")
        try:
            conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise CheckpointError(f"cannot open the checkpoint {self.path}: {exc}") from None
        try:
            self._open(conn, settings, fresh)
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise CheckpointError(f"the checkpoint {self.path} is in use by another run"
                                      ) from None
            raise CheckpointError(f"cannot use the checkpoint {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "not a database" in str(exc):
                raise CheckpointError(
                    f"{self.path} is not a kinmisalign checkpoint (not a SQLite database: "
                    f"{exc}); it was left untouched: give another checkpoint file") from None
            raise _damaged(self.path, exc) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _open(self, conn, settings, fresh):
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = [row[0] for row in
                  conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        new = application_id == 0 and not tables
        if not new and application_id != _APPLICATION_ID:
            raise CheckpointError(
                f"{self.path} is a SQLite database but not a kinmisalign checkpoint; it was "
                "left untouched: give another checkpoint file")
        if not new:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != _SCHEMA_VERSION:
                raise CheckpointError(
                    f"the checkpoint {self.path} has format version {version}; this "
                    f"kinmisalign reads version {_SCHEMA_VERSION}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # The write lock is taken here and kept until close (exclusive locking mode).
        conn.execute("BEGIN IMMEDIATE")
        try:
            if new:
                conn.execute("CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.execute("CREATE TABLE results (item TEXT PRIMARY KEY, "
                             "record TEXT NOT NULL, finished REAL NOT NULL)")
                # Pragmas take no parameters: literal constants (= _APPLICATION_ID, version 1).
                conn.execute("PRAGMA application_id = 1263356243")
                conn.execute("PRAGMA user_version = 1")
            elif fresh:
                conn.execute("DELETE FROM results")
                conn.execute("DELETE FROM settings")
            else:
                self._check(conn, settings)
            if new or fresh:
                conn.executemany("INSERT INTO settings (name, value) VALUES (?, ?)",
                                 [(name, json.dumps(value, sort_keys=True))
                                  for name, value in settings.items()])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check(self, conn, settings):
        stored = {name: json.loads(value)
                  for name, value in conn.execute("SELECT name, value FROM settings")}
        differ = [f"{name}: {_short(stored.get(name))} in the checkpoint, "
                  f"{_short(settings.get(name))} now"
                  for name in sorted(set(stored) | set(settings), key=str)
                  if stored.get(name) != settings.get(name)]
        if differ:
            raise CheckpointError(
                f"the checkpoint {self.path} was written with other settings; its results "
                f"cannot be mixed with this run's. Differences: {'; '.join(differ)}. Use "
                "another checkpoint file, the settings of that run, or start afresh "
                "(fresh_checkpoint=True, --fresh-checkpoint) to discard its results")

    def records(self):
        """Finished records by item name.

        Returns
        -------
        dict of str to dict
        """
        try:
            records = {item: json.loads(record) for item, record
                       in self._conn.execute("SELECT item, record FROM results")}
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise _damaged(self.path, exc) from None
        for item, record in records.items():
            if not is_record(record):
                raise _damaged(self.path, f"the record of {item} is not a kinmisalign record")
        return records

    def add(self, item, record):
        """Commit one finished record (replacing an earlier one of the same item).

        Parameters
        ----------
        item : str
            `item_id` of the observation.
        record : dict
            Its plain record.
        """
        text = json.dumps(record, sort_keys=True, default=_jsonable)
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT OR REPLACE INTO results (item, record, finished) "
                             "VALUES (?, ?, ?)", (item, text, time.time()))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:  # e.g. the disk is full
            raise CheckpointError(f"cannot write to the checkpoint {self.path}: {exc}"
                                  ) from None

    def close(self):
        """Close the file (the write-ahead log is folded into it)."""
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
