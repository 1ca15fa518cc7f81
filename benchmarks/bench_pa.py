"""Benchmark the position-angle engines: ``fast`` against ``pafit``.

Run as ``python benchmarks/bench_pa.py``. Both engines fit the same noisy
disc on a regular 0.5-arcsec grid (as MaNGA maps) with N = 500 to 4,000
points, 361 trial angles, in one process with BLAS and OpenMP limited to one
thread (threadpoolctl), and the table gives seconds per field and the ratio.
"""

import argparse
import time

import numpy as np
from astropy import units as u
from threadpoolctl import threadpool_limits

from kinmisalign import fit_pa

__all__ = ["disc_points", "time_engine", "main"]

SIZES = (500, 1000, 2000, 3000, 4000)


def disc_points(npoints, pa=35.0, inc=55.0, noise=8.0, seed=0):
    """About ``npoints`` points of a noisy rotating disc on a 0.5-arcsec grid.

    Returns x (East), y (North) in arcsec and velocities in km/s.
    """
    radius = 0.5 * np.sqrt(npoints / np.pi)  # a disc of npoints 0.25-arcsec2 spaxels
    grid = np.arange(-np.ceil(radius / 0.5), np.ceil(radius / 0.5) + 1) * 0.5
    xx, yy = np.meshgrid(grid, grid)
    inside = np.hypot(xx, yy) <= radius
    x, y = xx[inside], yy[inside]
    t, i = np.radians(pa), np.radians(inc)
    major = x * np.sin(t) + y * np.cos(t)
    minor = (-x * np.cos(t) + y * np.sin(t)) / np.cos(i)
    r = np.hypot(major, minor)
    cos_phi = np.divide(major, r, out=np.zeros_like(r), where=r > 0)
    v = 200.0 * (2 / np.pi) * np.arctan(r / 3.0) * np.sin(i) * cos_phi
    v = v + np.random.default_rng(seed).normal(0.0, noise, v.size)
    return x, y, v


def time_engine(method, x, y, v, repeat):
    """Best wall-clock time (s) of ``repeat`` fits, and the last fit."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fit = fit_pa(x * u.arcsec, y * u.arcsec, v * u.km / u.s, method=method)
        best = min(best, time.perf_counter() - start)
    return best, fit


def main(argv=None):
    """Print the table; ``--sizes`` and ``--repeat`` change what is measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3,
                        help="fits per engine and size; the best time is kept (default 3, "
                             "pafit once)")
    args = parser.parse_args(argv)

    # Warm up: imports and first-call costs are not per-field costs.
    x, y, v = disc_points(300)
    time_engine("fast", x, y, v, 1)
    time_engine("pafit", x, y, v, 1)

    print(f"{'N':>6} {'fast (s)':>10} {'pafit (s)':>10} {'ratio':>7} "
          f"{'PA fast':>8} {'PA pafit':>8}")
    with threadpool_limits(limits=1):
        for n in args.sizes:
            x, y, v = disc_points(n)
            t_fast, f_fast = time_engine("fast", x, y, v, args.repeat)
            # pafit is slow and steady: one fit is enough.
            t_pafit, f_pafit = time_engine("pafit", x, y, v, 1)
            print(f"{x.size:6d} {t_fast:10.3f} {t_pafit:10.2f} {t_pafit / t_fast:6.0f}x "
                  f"{f_fast.pa.to_value(u.deg):8.1f} {f_pafit.pa.to_value(u.deg):8.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
