"""A checkpointed add_kinematic_columns run, for tests that stop it (run as a script).

Usage: python _resumable_run.py CATALOGUE SOURCE CHECKPOINT OUTPUT LOG SIGNAL_DIR WORKERS STOP

The run logs what it submits and measures to LOG and stops at STOP, saying so in
SIGNAL_DIR (see ``_interrupt.py``), so that a test can kill it at a chosen record.
"""

import sys

from _interrupt import install
from astropy.table import Table

from kinmisalign import add_kinematic_columns

FAST = {"method": "fast"}


def main(catalogue, source, checkpoint, output, log, signal_dir, workers, stop):
    install(stop, log, signal_dir)
    workers = int(workers)
    out = add_kinematic_columns(Table.read(catalogue), source=source, fit_options=FAST,
                                parallel=workers if workers > 1 else False,
                                checkpoint=checkpoint)
    out.write(output, overwrite=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
