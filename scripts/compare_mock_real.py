"""How much mock stellar velocity fields look like real expert-labelled MaNGA maps.

The usability models are pretrained on mock fields, so mocks of each expert class
(q0 do not use, q1 messy, q2 clean) should resemble real maps of that class. Per
class, this prints the median of five quantities for the real dev maps and for mock
stellar fields of both `kinmisalign.mock.random_galaxy` styles ('survey', 'real'),
and the two-sample KS statistic of each mock sample against the real maps, with its
asymptotic 5 % critical value (an asterisk marks a larger statistic). Quantities:
antisymmetry, roughness, rotation_snr (`kinmisalign._core.footprint.symmetry_features`,
inputs of the footprint models), distinct (distinct velocity values per good spaxel,
a proxy of the inverse Voronoi bin size) and ngood (good spaxels). Mocks are VOR10,
with bundle sizes drawn in the dev set's proportions, in the zeroed form of the real
file (`MockMaps.zeroed`, good = mask == 0; real maps: 0 = masked). Fields whose
features cannot be computed are left out and counted. Seeded and deterministic::

    python scripts/compare_mock_real.py ../shared/data/real-stellar-maps-dev.fits.gz \\
        [--galaxies 2000] [--seed 0]
"""

import argparse

import numpy as np
from astropy.io import fits
from scipy.stats import ks_2samp

from kinmisalign import mock
from kinmisalign._core.footprint import symmetry_features

__all__ = ["QUANTITIES", "STYLES", "field_quantities", "load_real", "mock_sample", "main"]

QUANTITIES = ("antisymmetry", "roughness", "rotation_snr", "distinct", "ngood")
STYLES = ("survey", "real")
CLASSES = (0, 1, 2)


def field_quantities(values, good):
    """The compared quantities of one velocity map.

    Parameters
    ----------
    values : numpy.ndarray
        2-D velocity map (km/s).
    good : numpy.ndarray of bool
        The measured spaxels.

    Returns
    -------
    numpy.ndarray or None
        The values of `QUANTITIES`; None when the map cannot be normalised.
    """
    ny, nx = values.shape
    sym = symmetry_features(values, good, (ny - 1, nx - 1))
    if sym is None:
        return None
    n = int(good.sum())
    return np.array([*sym, np.unique(values[good]).size / n, n], dtype=float)


def load_real(path):
    """Quantities and expert classes of the real maps of a dev file, and its bundle sizes.

    Parameters
    ----------
    path : str or path-like
        The dev file (HDU ``VEL``, 0 = masked; HDU ``LABELS``).

    Returns
    -------
    x : numpy.ndarray, shape (n, 5)
    quality : numpy.ndarray of int
    bundles : numpy.ndarray of int
        Bundle size of every map (leading digits of the IFU design in ``PLATEIFU``).
    skipped : int
        Maps left out.
    """
    with fits.open(path) as hdul:
        vel = np.asarray(hdul["VEL"].data, dtype=float)
        labels = hdul["LABELS"].data
        quality = np.asarray(labels["STEL_QUAL"], dtype=int)
        bundles = np.array([int(str(p).strip().split("-")[1][:-2]) for p in labels["PLATEIFU"]])
    rows = [field_quantities(v, v != 0) for v in vel]
    keep = np.array([r is not None for r in rows], dtype=bool)
    x = np.array([r for r in rows if r is not None]).reshape(-1, len(QUANTITIES))
    return x, quality[keep], bundles, int((~keep).sum())


def mock_sample(style, n, bundles, seed):
    """Quantities and expert classes of the stellar fields of ``n`` mock galaxies.

    Parameters
    ----------
    style : {'survey', 'real'}
    n : int
    bundles : numpy.ndarray of int
        Bundle sizes, drawn from uniformly (so in their proportions).
    seed : int or sequence of int

    Returns
    -------
    x : numpy.ndarray, shape (n - skipped, 5)
    quality : numpy.ndarray of int
    skipped : int
    """
    rng = np.random.default_rng(seed)
    rows, quality = [], []
    for _ in range(n):
        gal = mock.random_galaxy(rng, binning="VOR10", bundle_size=int(rng.choice(bundles)),
                                 style=style)
        maps = mock.make_maps_arrays(gal).zeroed()
        row = field_quantities(maps.stellar_vel, maps.stellar_mask == 0)
        if row is not None:
            rows.append(row)
            quality.append(gal.quality("stellar"))
    x = np.array(rows).reshape(-1, len(QUANTITIES))
    return x, np.array(quality, dtype=int), n - len(rows)


def _median(a):
    """Median, NaN for an empty sample."""
    return float(np.median(a)) if a.size else np.nan


def _critical(n, m):
    """Asymptotic 5 % critical value of the two-sample KS statistic."""
    return 1.358 * np.sqrt((n + m) / (n * m)) if n and m else np.nan


def main(argv=None):
    """Print the comparison table.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dev_file", help="real-stellar-maps-dev.fits.gz")
    parser.add_argument("--galaxies", type=int, default=2000, help="mock galaxies per style")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    xr, qr, bundles, skipped = load_real(args.dev_file)
    samples = {s: mock_sample(s, args.galaxies, bundles, [args.seed, k])
               for k, s in enumerate(STYLES)}
    sizes, counts = np.unique(bundles, return_counts=True)
    print(f"Real maps vs mock stellar fields (VOR10, zeroed form), seed {args.seed}")
    print("bundle sizes drawn as in the dev set: "
          + ", ".join(f"{s}: {c}" for s, c in zip(sizes, counts, strict=True)))
    print(f"{'sample':12s}{'fields':>8s}{'q0':>7s}{'q1':>7s}{'q2':>7s}{'left out':>10s}")
    for name, q, left in [("real maps", qr, skipped),
                          *((f"mock {s}", samples[s][1], samples[s][2]) for s in STYLES)]:
        print(f"{name:12s}{len(q):8d}" + "".join(f"{np.sum(q == c):7d}" for c in CLASSES)
              + f"{left:10d}")
    crit = {(s, c): _critical(np.sum(qr == c), np.sum(samples[s][1] == c))
            for s in STYLES for c in CLASSES}
    print("KS 5 % critical value (survey / real): " + "; ".join(
        f"q{c} " + " / ".join(f"{crit[s, c]:.3f}" for s in STYLES) for c in CLASSES))
    print(f"\n{'quantity':14s}{'class':>5s}{'real maps':>11s}{'mock survey':>13s}{'KS':>7s}"
          f" {'mock real':>13s}{'KS':>7s}")
    for k, name in enumerate(QUANTITIES):
        fmt = ".1f" if name == "ngood" else ".3f"
        for c in CLASSES:
            real = xr[qr == c, k]
            row = f"{name if c == 0 else '':14s}{f'q{c}':>5s}{_median(real):11{fmt}}"
            for s in STYLES:
                x, q, _ = samples[s]
                other = x[q == c, k]
                ks = ks_2samp(real, other).statistic if real.size and other.size else np.nan
                row += f"{_median(other):13{fmt}}{ks:7.3f}{'*' if ks > crit[s, c] else ' '}"
            print(row.rstrip())
    print("\n* KS statistic above the 5 % critical value (the distributions differ).")


if __name__ == "__main__":
    main()
