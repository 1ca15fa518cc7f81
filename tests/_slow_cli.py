"""The kinmisalign command with each record held back, for tests that interrupt it.

Usage: python _slow_cli.py LOG kinmisalign-arguments...

Each record the measuring backend hands back is held RECORD_PAUSE seconds first, as if
measuring took that long, and a line ``measured`` is appended to LOG, so that a test can
interrupt the run after a chosen amount of progress.
"""

import sys
import time

import kinmisalign.batch as batch
from kinmisalign.cli import main

RECORD_PAUSE = 0.2


def slow(run, log):
    def slow_run(items, options, parallel):
        with open(log, "a") as fh:
            for result in run(items, options, parallel):
                time.sleep(RECORD_PAUSE)
                fh.write("measured\n")
                fh.flush()
                yield result

    return slow_run


if __name__ == "__main__":
    batch._run = slow(batch._run, sys.argv[1])
    sys.exit(main(sys.argv[2:]))
