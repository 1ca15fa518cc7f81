"""The kinmisalign command, stopping at a chosen record, for tests that interrupt it.

Usage: python _stopping_cli.py STOP LOG SIGNAL_DIR kinmisalign-arguments...

The run logs what it submits and measures to LOG and stops at STOP, saying so in
SIGNAL_DIR (see ``_interrupt.py``), so that a test can press Ctrl-C at a chosen record.
"""

import sys

from _interrupt import install

from kinmisalign.cli import main

if __name__ == "__main__":
    install(*sys.argv[1:4])
    sys.exit(main(sys.argv[4:]))
