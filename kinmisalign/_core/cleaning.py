"""Array-level cleaning of velocity fields: detached islands and sigma clipping.

As Duckworth et al. (2020): drop connected components smaller
than a fraction of the valid spaxels, then sigma-clip the remaining velocities.
"""

import numpy as np

__all__ = [
    "NEIGHBOUR_TOLERANCE",
    "component_labels_grid",
    "component_labels_points",
    "grid_spacing",
    "island_keep_mask",
    "sigma_clip_keep_mask",
]

# Points closer than this many grid spacings are neighbours. Slightly above 1 so
# that edge neighbours of a regular grid (distance 1) connect and diagonal ones
# (distance sqrt(2)) do not: the point-list graph then matches 4-connectivity.
NEIGHBOUR_TOLERANCE = 1.01


def component_labels_grid(valid):
    """Label the 4-connected components of a 2-D boolean image.

    Parameters
    ----------
    valid : ndarray of bool, shape (ny, nx)
        True where a spaxel is usable.

    Returns
    -------
    labels : ndarray of int
        0 outside ``valid``, 1..n for the components.
    n : int
        Number of components.
    """
    from scipy import ndimage

    # Edge (4-neighbour) connectivity, as the seed: diagonal contact does not join.
    structure = ndimage.generate_binary_structure(2, 1)
    labels, n = ndimage.label(np.asarray(valid, dtype=bool), structure=structure)
    return labels, int(n)


def grid_spacing(x, y):
    """Typical spacing of a set of points: the median nearest-neighbour distance.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Point coordinates.

    Returns
    -------
    float
        The spacing, or NaN when it cannot be defined (fewer than two distinct
        points).
    """
    from scipy.spatial import cKDTree

    pts = np.column_stack([np.ravel(x), np.ravel(y)])
    if len(pts) < 2:
        return np.nan
    dist, _ = cKDTree(pts).query(pts, k=2)
    nearest = dist[:, 1]
    # Coincident points (distance 0) say nothing about the sampling.
    nearest = nearest[nearest > 0]
    return float(np.median(nearest)) if nearest.size else np.nan


def component_labels_points(x, y, spacing=None, tolerance=NEIGHBOUR_TOLERANCE):
    """Label the connected components of a point list.

    Two points are neighbours when they are closer than ``tolerance`` times the
    grid spacing; on a regular grid this is the 4-neighbour connectivity of
    `component_labels_grid`.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Point coordinates.
    spacing : float, optional
        Grid spacing; by default the median nearest-neighbour distance.
    tolerance : float, optional
        Neighbour distance in units of the spacing.

    Returns
    -------
    labels : ndarray of int, shape (n,)
        Component of each point, 0..n_components-1.
    n : int
        Number of components.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    x = np.ravel(x)
    y = np.ravel(y)
    npts = x.size
    if npts == 0:
        return np.zeros(0, dtype=np.intp), 0
    if spacing is None:
        spacing = grid_spacing(x, y)
    if not np.isfinite(spacing) or spacing <= 0:
        # One point, or all points coincident: a single component.
        return np.zeros(npts, dtype=np.intp), 1
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(
        spacing * tolerance, output_type="ndarray"
    )
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(npts, npts)
    )
    n, labels = connected_components(graph, directed=False)
    return labels, int(n)


def island_keep_mask(valid, fraction, x=None, y=None, tolerance=NEIGHBOUR_TOLERANCE):
    """Which valid spaxels belong to components big enough to keep.

    Parameters
    ----------
    valid : ndarray of bool
        Usable spaxels: a 2-D map (labelled on the grid) or, with ``x`` and
        ``y``, any shape (labelled through the neighbour graph of the points).
    fraction : float
        Components with fewer than ``fraction`` times the number of valid
        spaxels are dropped.
    x, y : ndarray, optional
        Coordinates of every element of ``valid``; required for point lists.
    tolerance : float, optional
        Neighbour distance in grid spacings (point lists only).

    Returns
    -------
    ndarray of bool
        Same shape as ``valid``: True for the valid spaxels that are kept.
    """
    valid = np.asarray(valid, dtype=bool)
    n_valid = int(valid.sum())
    if n_valid == 0 or not fraction:
        return valid.copy()
    if x is None:
        if valid.ndim != 2:
            raise ValueError("a point list needs coordinates to find its connected regions")
        labels, _ = component_labels_grid(valid)
        sizes = np.bincount(labels.ravel())
        keep_label = sizes >= fraction * n_valid
        keep_label[0] = False  # background
        return keep_label[labels]
    xs = np.asarray(x)[valid]
    ys = np.asarray(y)[valid]
    labels, _ = component_labels_points(xs, ys, tolerance=tolerance)
    sizes = np.bincount(labels)
    keep = np.zeros(valid.shape, dtype=bool)
    keep[valid] = sizes[labels] >= fraction * n_valid
    return keep


def sigma_clip_keep_mask(values, sigma=3.0, maxiters=5):
    """Iterative sigma clipping about the median, with the standard deviation as scale.

    Parameters
    ----------
    values : ndarray
        Finite values.
    sigma : float, optional
        Clipping threshold in standard deviations.
    maxiters : int or None, optional
        Maximum number of iterations; None iterates until nothing changes.

    Returns
    -------
    ndarray of bool
        True for the values kept.
    """
    values = np.asarray(values, dtype=float)
    keep = np.ones(values.shape, dtype=bool)
    iteration = 0
    while maxiters is None or iteration < maxiters:
        iteration += 1
        kept = values[keep]
        if kept.size == 0:
            break
        centre = np.median(kept)
        scale = np.std(kept)
        # Inclusive bounds: a constant field (scale 0) loses nothing.
        new_keep = keep & (np.abs(values - centre) <= sigma * scale)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return keep
