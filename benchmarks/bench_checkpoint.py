"""Cost of the SQLite checkpoint of resumable runs.

Run as ``python benchmarks/bench_checkpoint.py``. It measures:

- the time of one commit (`kinmisalign._checkpoint.Checkpoint.add` of a typical record:
  JSON encoding, one write transaction) with the journal the package uses (write-ahead log,
  ``synchronous=NORMAL``, exclusive lock) and, for comparison, with a write-ahead log and
  ``synchronous=FULL`` and with the default rollback journal and ``synchronous=FULL``;
- ``measure_files`` over ``--nfiles`` mock files (the ``fast`` engine, one process) without
  and with a checkpoint, and the resumed run that finds every result in the checkpoint.
"""

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

__all__ = ["time_commits", "time_runs", "main"]

RECORD = {
    "FILENAME": "/data/sas/dr17/manga/spectro/analysis/v3_1_1/3.1.0/HYB10-MILESHC-MASTARSSP/"
                "7893/1902/manga-7893-1902-MAPS-HYB10-MILESHC-MASTARSSP.fits.gz",
    "PLATEIFU": "7893-1902", "KINMIS_FLAG": 768, "KINMIS_PROBLEMS": "",
    "PA_STELLAR": 109.5, "PA_STELLAR_ERR": 3.6666666666666665, "PA_GAS": 230.0,
    "PA_GAS_ERR": 3.1666666666666665, "DPA": 120.5, "DPA_ERR": 4.844813951249544,
    "NSPX_STELLAR": 391, "NSPX_GAS": 270, "USABLE_PROB_STELLAR": 0.20191815495491028,
    "USABLE_STELLAR": False, "USABLE_PROB_GAS": 0.003983015194535255, "USABLE_GAS": False,
}


_ALTERNATIVES = {
    ("WAL", "NORMAL"): (),
    ("WAL", "FULL"): ("PRAGMA synchronous = FULL",),
    ("DELETE", "FULL"): ("PRAGMA journal_mode = DELETE", "PRAGMA synchronous = FULL"),
}


def time_commits(directory, n, journal="WAL", synchronous="NORMAL"):
    """Seconds per `Checkpoint.add` of a typical record, over ``n`` commits."""
    from kinmisalign._checkpoint import Checkpoint

    path = Path(directory) / f"commits-{journal}-{synchronous}.sqlite"
    with Checkpoint(path, {"benchmark": True}) as store:
        # The alternatives, for comparison (switching the journal needs the lock we hold).
        for statement in _ALTERNATIVES[journal, synchronous]:
            store._conn.execute(statement)
        mode = store._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.upper() == journal, mode
        start = time.perf_counter()
        for i in range(n):
            store.add(f"plateifu:{i}", RECORD)
        return (time.perf_counter() - start) / n


def time_runs(directory, nfiles):
    """Seconds per observation of measure_files: plain, checkpointed, resumed."""
    from kinmisalign.batch import measure_files
    from kinmisalign.mock import make_mock_catalogue

    table = make_mock_catalogue(directory, nfiles, seed=1)
    paths = [Path(directory) / name for name in table["FILENAME"]]
    fast = {"method": "fast"}
    measure_files(paths[:2], fit_options=fast)  # imports and caches out of the timing
    times = {}
    start = time.perf_counter()
    measure_files(paths, fit_options=fast)
    times["plain"] = (time.perf_counter() - start) / nfiles
    checkpoint = Path(directory) / "run.sqlite"
    start = time.perf_counter()
    measure_files(paths, fit_options=fast, checkpoint=checkpoint)
    times["checkpointed"] = (time.perf_counter() - start) / nfiles
    start = time.perf_counter()
    measure_files(paths, fit_options=fast, checkpoint=checkpoint)
    times["resumed, all done"] = (time.perf_counter() - start) / nfiles
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nfiles", type=int, default=40)
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args(argv)
    print(f"SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as directory:
        for journal, synchronous, n in (("WAL", "NORMAL", args.commits),
                                        ("WAL", "FULL", args.commits // 10),
                                        ("DELETE", "FULL", args.commits // 10)):
            seconds = time_commits(directory, n, journal, synchronous)
            print(f"commit, journal {journal:6s} synchronous {synchronous:6s}: "
                  f"{seconds * 1e3:7.3f} ms")
        for name, seconds in time_runs(directory, args.nfiles).items():
            print(f"measure_files, {name:18s}: {seconds:.4f} s / obs")


if __name__ == "__main__":
    main()
