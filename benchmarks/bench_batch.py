"""End-to-end throughput of the batch pipeline on gzipped mock MAPS files.

Run as ``python benchmarks/bench_batch.py``. It writes ``--nfiles`` mock MAPS
files of the realistic mix of bundle sizes (DR17 layout, gzipped), then
measures, per observation:

- the floor: decompressing each file and reading only the extensions the
  pipeline needs (``SPX_SKYCOO``, ``BINID``, the stellar and gas velocity
  extensions and their mask and inverse-variance companions), measured before
  and after the rest and averaged, as the speed of a virtual machine drifts;
- the pipeline in one process: `~kinmisalign.read_maps`, cleaning and fitting
  both fields (the ``fast`` engine), the misalignment and the usability of
  both fields (the embedded network: its input and its probabilities);
- `~kinmisalign.batch.measure_files` with ``--workers`` local processes on
  the files, as measured and less the start-up of its workers (measured on its
  own, about 1.5 s: paid once per run), and on 1,000 observations (the files
  repeated), which is closer to a survey-sized run,

and extrapolates each to 11,000 observations (DR17), counting the start-up once;
the 1,000-observation run also reports the peak resident memory of the parent
and of the largest worker. ``--quick`` leaves it out.
"""

import argparse
import gzip
import io
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from threadpoolctl import threadpool_limits

__all__ = ["make_files", "time_floor", "time_pipeline", "time_batch", "time_startup", "main"]

NEEDED = ("SPX_SKYCOO", "BINID", "STELLAR_VEL", "STELLAR_VEL_IVAR", "STELLAR_VEL_MASK",
          "EMLINE_GVEL", "EMLINE_GVEL_IVAR", "EMLINE_GVEL_MASK")
DR17_OBSERVATIONS = 11_000


def make_files(directory, n, seed=0):
    """Write ``n`` mock MAPS files of the realistic mix; return their paths."""
    from kinmisalign.mock import make_mock_catalogue

    table = make_mock_catalogue(directory, n, seed=seed)
    return [Path(directory) / name for name in table["FILENAME"]]


def time_floor(paths):
    """Seconds per file to decompress and read the needed extensions.

    The fastest of four plain ways: astropy reading the gzip file lazily; one
    decompression pass into memory followed by the same reads; the same pass keeping
    only the needed extensions, found by their header sizes, before astropy reads them;
    and the same pass with the needed images taken straight from the decompressed
    bytes, their headers parsed by astropy (what `~kinmisalign.read_maps` does with
    plain images).
    """
    from kinmisalign.maps import _decompress, _Images, _needed_hdus, _scan_hdus

    def with_astropy(opener):
        def read(path):
            with fits.open(opener(path), memmap=False, lazy_load_hdus=True) as hdul:
                for name in NEEDED:
                    np.array(hdul[name].data)
        return read

    def in_memory(path):
        with gzip.open(path, "rb") as fh:
            return io.BytesIO(fh.read())

    def needed_only(path):
        content = _decompress(path)
        return io.BytesIO(_needed_hdus(content, _scan_hdus(content)))

    def raw_images(path):
        content = _decompress(path)
        images = _Images(content, _scan_hdus(content))
        for name in NEEDED:
            np.array(images[name].data)

    best = np.inf
    for read in (with_astropy(lambda path: path), with_astropy(in_memory),
                 with_astropy(needed_only), raw_images):
        start = time.perf_counter()
        for path in paths:
            read(path)
        best = min(best, (time.perf_counter() - start) / len(paths))
    return best


def time_pipeline(paths, method):
    """Seconds per observation of the whole per-observation chain in this process."""
    from kinmisalign import load_model, measure_maps, read_maps

    model = load_model("embedded")
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        for path in paths:
            maps = read_maps(path)
            measure_maps(maps, fit_options={"method": method})
            model.predict_fields([maps.stellar, maps.gas])
    return (time.perf_counter() - start) / len(paths), True


def time_batch(paths, workers, method):
    """Seconds per observation of measure_files with ``workers`` processes."""
    from kinmisalign.batch import measure_files

    start = time.perf_counter()
    # With the embedded network: the workers also prepare its input and classify.
    table = measure_files(paths, parallel=workers if workers > 1 else False,
                          fit_options={"method": method}, model="embedded")
    return (time.perf_counter() - start) / len(paths), table


def time_startup(directory, workers, method):
    """Seconds for measure_files to start its workers and hand them one task each.

    Each task is a file that does not exist, flagged NO_MAPS at once: what is left is the
    start of the worker processes (fresh interpreters importing numpy, scipy and astropy,
    and receiving the options and the network) and one round trip per worker.
    """
    missing = [Path(directory) / f"missing-{i}.fits.gz" for i in range(workers)]
    per_task, _ = time_batch(missing, workers, method)
    return per_task * len(missing)


def _minutes(per_obs, startup=0.0):
    return (startup + per_obs * DR17_OBSERVATIONS) / 60.0


def main(argv=None):
    """Print the throughput table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nfiles", type=int, default=200, help="mock files (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--method", default="fast", help="PA engine (default 'fast')")
    parser.add_argument("--quick", action="store_true",
                        help="leave out the 1,000-observation run")
    parser.add_argument("--directory", help="reuse/keep the mock files here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.directory or tmp)
        start = time.perf_counter()
        paths = sorted(directory.glob("*.fits.gz")) if args.directory else []
        if len(paths) < args.nfiles:
            paths = make_files(directory, args.nfiles)
        paths = paths[: args.nfiles]
        print(f"{len(paths)} mock MAPS files ready in {time.perf_counter() - start:.1f} s "
              f"({sum(p.stat().st_size for p in paths) / len(paths) / 1e6:.2f} MB each)")

        # The machine's speed drifts (a virtual machine): the floor is measured before and
        # after the runs, and the ratios are taken to the mean of the two.
        floor_before = time_floor(paths)
        serial, with_input = time_pipeline(paths, args.method)
        batch, table = time_batch(paths, args.workers, args.method)
        n_fitted = int((~table["PA_STELLAR"].mask).sum())
        startup = time_startup(directory, args.workers, args.method)
        steady = (batch * len(paths) - startup) / len(paths)
        if not args.quick:
            many = [paths[i % len(paths)] for i in range(1000)]
            long_run, _ = time_batch(many, args.workers, args.method)
        floor_after = time_floor(paths)
        floor = (floor_before + floor_after) / 2
        # (label, s/obs, seconds paid once per run)
        rows = [("floor: decompress + read needed", floor, 0.0),
                ("pipeline, 1 process", serial, 0.0),
                (f"measure_files, {args.workers} workers", batch, 0.0),
                (f"  less the start-up, {startup:.1f} s", steady, startup)]
        if not args.quick:
            rows.append(("same, 1,000 observations", long_run, 0.0))

        what = (f"read, clean, fit both ({args.method}), ΔPA"
                + (", usability (embedded network)" if with_input else ""))
        print(f"\nper observation ({what}); extrapolated to {DR17_OBSERVATIONS:,} observations")
        print(f"{'':34s} {'s/obs':>8s} {'minutes':>8s} {'x floor':>8s}")
        for label, value, once in rows:
            print(f"{label:34s} {value:8.4f} {_minutes(value, once):8.1f} {value / floor:8.2f}")
        print(f"\nmeasure_files per observation and core, less the start-up: "
              f"{steady * args.workers:.4f} s ({steady * args.workers / floor:.2f} x the "
              f"single-core floor)")
        print(f"stellar PAs measured: {n_fitted}/{len(table)}; floor measured before and "
              f"after: {floor_before:.4f} and {floor_after:.4f} s/obs")
        if not args.quick:
            parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"1,000 observations: {long_run * len(many):.1f} s; peak RSS parent "
                  f"{parent:.0f} MB, largest worker {child:.0f} MB, total at most "
                  f"{parent + args.workers * child:.0f} MB")


if __name__ == "__main__":
    main()
