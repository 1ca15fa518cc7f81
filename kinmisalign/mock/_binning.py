"""Bins of the mock DAP run: Voronoi-like stellar bins, and averages over bins."""

import numpy as np

__all__ = [
    "voronoi_bins",
    "voronoi_bins_calibrated",
    "spaxel_bins",
    "bin_noise_factor",
    "unit_average",
]

_BIN_MAX = 250  # spaxels; the biggest bins of real VOR10 stellar maps hold ~100-250
_BIN_SIZE_POWER = 3.5
_BIN_LLOYD_STEPS = 2


def voronoi_bins(snr, good, rng, target=10.0):
    """Stellar bins: single spaxels above ``target`` S/N, Voronoi-like cells below.

    Low-S/N spaxels are grouped around random seeds drawn with a density that
    makes each cell reach about ``target`` in S/N; bins are numbered by
    increasing distance from the centre.

    Parameters
    ----------
    snr : numpy.ndarray
        Continuum S/N per spaxel.
    good : numpy.ndarray of bool
        Spaxels to bin.
    rng : numpy.random.Generator
        Draws the seeds of the cells.
    target : float, optional
        S/N a bin should reach.

    Returns
    -------
    numpy.ndarray of int
        Bin index per spaxel, -1 outside ``good``.
    """
    from scipy.spatial import cKDTree

    ny, nx = snr.shape
    binid = np.full(snr.shape, -1, dtype=np.int64)
    rows, cols = np.nonzero(good)
    if rows.size == 0:
        return binid
    label = np.arange(rows.size)
    low = snr[rows, cols] < target
    if low.any():
        lr, lc = rows[low], cols[low]
        need = np.clip((target / np.maximum(snr[lr, lc], 1e-3)) ** 2, 1.0, 40.0)
        seeds = rng.random(lr.size) < 1.0 / need
        if not seeds.any():
            seeds[np.argmax(snr[lr, lc])] = True
        seed_idx = np.flatnonzero(seeds)
        tree = cKDTree(np.column_stack([lr[seed_idx], lc[seed_idx]]))
        _, nearest = tree.query(np.column_stack([lr, lc]))
        label[low] = rows.size + seed_idx[nearest]
    binid[rows, cols] = _rank_bins(label, rows, cols, snr.shape)
    return binid


def _rank_bins(label, rows, cols, shape):
    """Bin numbers ordered by the distance of each bin's nearest spaxel from the centre."""
    ny, nx = shape
    uniq, inverse = np.unique(label, return_inverse=True)
    r2 = (rows - (ny - 1) / 2.0) ** 2 + (cols - (nx - 1) / 2.0) ** 2
    order_key = np.full(uniq.size, np.inf)
    np.minimum.at(order_key, inverse, r2)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(order_key, kind="stable")] = np.arange(uniq.size)
    return rank[inverse]


def bin_noise_factor(n):
    """Noise excess of ``n`` binned spaxels over their quadrature sum (`MockGalaxy.bin_model`).

    ``n ** (1/2 - 1/3.5)``: with it, a bin of ``(10 / s) ** 3.5`` spaxels of
    S/N ``s`` (the sizes `voronoi_bins_calibrated` draws) reaches S/N 10.

    Parameters
    ----------
    n : int or array_like
        Spaxels per bin.

    Returns
    -------
    float or numpy.ndarray
    """
    return np.maximum(n, 1) ** (0.5 - 1.0 / _BIN_SIZE_POWER)


def voronoi_bins_calibrated(snr, good, rng, target=10.0, max_size=_BIN_MAX):
    """Stellar bins sized as in real VOR10 maps (``bin_model='calibrated'``).

    Spaxels at or above ``target`` stay single. Below it, a spaxel of S/N
    ``s`` asks for a bin of ``(target / s) ** 3.5`` spaxels (at most
    ``max_size``): the law that, on mock S/N profiles, gives the spread of
    bin sizes of the 200 real VOR10 stellar maps of the development set (a
    stand-in for the DAP's covariance-corrected Voronoi binning). Bin
    centres are drawn with that density and regularised by two Lloyd steps;
    the low-S/N spaxels go to their nearest centre.

    Parameters
    ----------
    snr, good, rng, target
        As for `voronoi_bins`.
    max_size : int, optional
        Largest bin (spaxels) asked for.

    Returns
    -------
    numpy.ndarray of int
        Bin index per spaxel, -1 outside ``good``.
    """
    from scipy.spatial import cKDTree

    binid = np.full(snr.shape, -1, dtype=np.int64)
    rows, cols = np.nonzero(good)
    if rows.size == 0:
        return binid
    label = np.arange(rows.size)
    s = snr[rows, cols]
    low = s < target
    if low.any():
        lr, lc = rows[low], cols[low]
        need = np.clip((target / np.maximum(s[low], 1e-3)) ** _BIN_SIZE_POWER, 1.0, max_size)
        seeds = rng.random(lr.size) < 1.0 / need
        if not seeds.any():
            seeds[np.argmax(s[low])] = True
        points = np.column_stack([lr, lc]).astype(float)
        centres = points[seeds]
        # Lloyd steps with density need**-2: in 2-D the cells of a centroidal
        # tessellation have areas about density**-1/2, here ``need``.
        weight = need ** -2.0
        for _step in range(_BIN_LLOYD_STEPS):
            _, nearest = cKDTree(centres).query(points)
            wsum = np.bincount(nearest, weights=weight, minlength=len(centres))
            keep = wsum > 0
            sums = np.stack([np.bincount(nearest, weights=weight * points[:, k],
                                         minlength=len(centres)) for k in range(2)], axis=1)
            centres = sums[keep] / wsum[keep, None]
        _, nearest = cKDTree(centres).query(points)
        label[low] = rows.size + nearest
    binid[rows, cols] = _rank_bins(label, rows, cols, snr.shape)
    return binid


def spaxel_bins(good):
    """One bin per spaxel: consecutive indices over ``good`` (row by row), -1 elsewhere.

    Parameters
    ----------
    good : numpy.ndarray of bool

    Returns
    -------
    numpy.ndarray of int
    """
    ids = np.full(good.shape, -1, dtype=np.int64)
    ids[good] = np.arange(int(good.sum()))
    return ids


def unit_average(values, weights, units, n_units):
    """Weighted mean of ``values`` over each unit (bin).

    Parameters
    ----------
    values, weights : numpy.ndarray
        Per spaxel.
    units : numpy.ndarray of int
        Unit (bin) index per spaxel; negative outside every unit.
    n_units : int
        Number of units.

    Returns
    -------
    numpy.ndarray
        The mean of each unit (length ``n_units``; 0 for a unit of zero weight).
    """
    sel = units >= 0
    wsum = np.bincount(units[sel], weights=weights[sel], minlength=n_units)
    vsum = np.bincount(units[sel], weights=(weights * values)[sel], minlength=n_units)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(wsum > 0, vsum / wsum, 0.0)
    return mean

