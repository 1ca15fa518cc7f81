"""Stopping a run at a chosen record, for tests that kill or interrupt it from outside.

Used by the scripts that tests start as subprocesses (``_resumable_run.py``,
``_stopping_cli.py``); nothing here is in the library. `install` wraps this process's
measuring backend (``kinmisalign.batch._run``) so that a run

- appends to a LOG file, one JSON line each: ``{"submitted": [item names]}`` when the backend
  is handed its items, then ``{"measured": name}`` for each record it hands back (just
  before the record is committed);
- stops at the point STOP, ``<where>:<k>`` with k counted from 1 in this run:

  ``start``          before any record is measured;
  ``source:k``       in the source's ``path_for`` of the k-th item handed to the backend
                     (in a worker process when the run has workers);
  ``returned:k``     when the k-th record comes back, before it is committed;
  ``commit:k``       inside the SQLite transaction of the k-th record, after its row was
                     written and before the commit;
  ``committed:k``    once the k-th record is committed, before the next one is asked for;
  ``none``           never.

Stopping writes the file ``stopped`` (JSON: where, the item, and ``committed``, the items
this run committed before it stopped, or None where that is not decided by the stop alone)
into SIGNAL_DIR, then blocks until a signal ends the process: the test kills it (SIGKILL) or
interrupts it (SIGINT, which raises KeyboardInterrupt here, as Ctrl-C does anywhere).
"""

import dataclasses
import json
import os
import signal
import sqlite3
from contextlib import closing

import kinmisalign.batch as batch
from kinmisalign._checkpoint import item_id

WHERE = ("start", "source", "returned", "commit", "committed")


def _append(log, entry):
    with open(log, "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def _stop(signal_dir, **what):
    """Say where the run stopped, then wait for the test's signal."""
    tmp = os.path.join(signal_dir, f"stopped.{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(what, fh)
    os.replace(tmp, os.path.join(signal_dir, "stopped"))  # whole, or not there
    while True:
        signal.pause()


class StoppingSource:
    """The run's source, stopping in ``path_for`` of one plate-IFU (picklable)."""

    def __init__(self, source, plateifu, signal_dir):
        self.source, self.plateifu, self.signal_dir = source, plateifu, signal_dir

    def path_for(self, plateifu, daptype):
        if plateifu == self.plateifu:
            _stop(self.signal_dir, where="source", item=f"plateifu:{plateifu}", committed=None)
        return self.source.path_for(plateifu, daptype)

    def describe(self):
        return self.source.describe()


class _StoppingConnection(sqlite3.Connection):
    """A connection that stops inside the transaction of the k-th record written."""

    stop_at = None
    signal_dir = None
    written = []

    def execute(self, sql, parameters=(), /):
        cursor = super().execute(sql, parameters)
        if sql.startswith("INSERT OR REPLACE INTO results"):
            written = type(self).written
            written.append(parameters[0])
            if len(written) == self.stop_at:
                _stop(self.signal_dir, where="commit", item=written[-1],
                      committed=written[:-1])
        return cursor


def install(stop, log, signal_dir):
    """Make the runs of this process log their progress to ``log`` and stop at ``stop``."""
    where, _, k = stop.partition(":")
    if where != "none" and where not in WHERE:
        raise ValueError(f"unknown stop {stop!r}")
    k = int(k or 0)
    run = batch._run

    def stopping_run(items, options, parallel):
        names = [item_id(item) for item in items]
        _append(log, {"submitted": names})
        if where == "start":
            _stop(signal_dir, where="start", item=None, committed=[])
        if where == "source":
            options = dataclasses.replace(
                options, source=StoppingSource(options.source, str(items[k - 1]), signal_dir))
        measured = []
        with closing(run(items, options, parallel)) as results:
            for n, (i, record) in enumerate(results, 1):
                if where == "returned" and n == k:
                    _stop(signal_dir, where="returned", item=names[i], committed=measured)
                measured.append(names[i])
                _append(log, {"measured": names[i]})
                yield i, record
                # The caller asks for the next record once this one is committed.
                if where == "committed" and n == k:
                    _stop(signal_dir, where="committed", item=names[i], committed=measured)

    batch._run = stopping_run
    if where == "commit":
        _StoppingConnection.stop_at, _StoppingConnection.signal_dir = k, signal_dir
        connect = sqlite3.connect
        sqlite3.connect = lambda *args, **kwargs: connect(*args, factory=_StoppingConnection,
                                                          **kwargs)
