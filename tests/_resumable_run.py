"""A checkpointed add_kinematic_columns run, for tests that kill it (run as a script).

Usage: python _resumable_run.py CATALOGUE SOURCE CHECKPOINT OUTPUT SUBMITTED_LOG WORKERS

The items handed to the measuring backend are appended to SUBMITTED_LOG (one JSON list per
run) before any is measured, so that a test can see what a resumed run recomputes; then a line
``measured`` each time the backend hands back a record (just before it is committed), so that
a test can kill the run after a chosen amount of progress. Each record is held back
RECORD_PAUSE seconds first, as if measuring took that long, so that a run lasts long enough
to be killed at chosen moments however fast the machine measures.
"""

import json
import sys
import time

from astropy.table import Table

import kinmisalign.batch as batch
from kinmisalign import add_kinematic_columns
from kinmisalign._checkpoint import item_id

FAST = {"method": "fast"}
# 20 records: a run lasts at least 2 s after its start-up.
RECORD_PAUSE = 0.1


def main(catalogue, source, checkpoint, output, submitted_log, workers):
    run = batch._run

    def logged_run(items, options, parallel):
        with open(submitted_log, "a") as fh:
            fh.write(json.dumps([item_id(item) for item in items]) + "\n")
            fh.flush()
            for result in run(items, options, parallel):
                time.sleep(RECORD_PAUSE)
                fh.write("measured\n")
                fh.flush()
                yield result

    batch._run = logged_run
    workers = int(workers)
    out = add_kinematic_columns(Table.read(catalogue), source=source, fit_options=FAST,
                                parallel=workers if workers > 1 else False,
                                checkpoint=checkpoint)
    out.write(output, overwrite=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
