"""The footprint input of kinmisalign's own usability models (arrays in, arrays out).

The published network of Duckworth et al. (2020) squeezes the whole MAPS
array to 32 x 32, values at masked spaxels included, so its verdict changes
with the array's padding and with what is stored at masked spaxels. The
footprint input uses the measured spaxels only:

- the velocities of the good spaxels, less their median, every other
  spaxel set to 0 (so a map stored with zeros at masked spaxels and the
  DAP's form, values kept there, give the same input);
- cut to the smallest square window centred on the galaxy centre that holds
  every good spaxel, plus a margin (so the padding of the array does not
  matter);
- scaled by the largest absolute velocity, and resized to ``size x size``
  with the cubic convolution of `kinmisalign._core.resize`, as a second
  channel beside the resized coverage (1 on good spaxels, 0 elsewhere).

The window is symmetric about the centre, so a flip or a quarter turn of the
map flips or turns the input in the same way.

`symmetry_features` measures, on the same window, how much the field looks
like a rotating disc: point antisymmetry, roughness and the signal-to-noise
ratio of a ring-by-ring rotation model. They are unchanged by flips and
quarter turns of the map and by the velocity scale.
"""

import numpy as np

from .resize import resize_cubic

__all__ = [
    "FEATURE_NAMES",
    "centre_index2",
    "footprint_window",
    "footprint_cut",
    "footprint_image",
    "symmetry_features",
]

FEATURE_NAMES = ("antisymmetry", "roughness", "rotation_snr")
"""Names of the values returned by `symmetry_features`, in order."""

_MIN_PAIRS = 8  # point-reflected pairs below which antisymmetry is not measured
_N_RINGS = 6


def centre_index2(x, y):
    """Twice the (row, column) index of the point where the offsets ``x`` and ``y`` are zero.

    The result is rounded to integers, so the centre lies on a spaxel or
    halfway between spaxels, and a point reflection through it maps spaxels
    onto spaxels.

    Parameters
    ----------
    x, y : numpy.ndarray
        2-D sky offsets of each spaxel (any unit), ``x`` changing along
        columns and ``y`` along rows. Non-finite values are ignored.

    Returns
    -------
    tuple of int
        ``(2 * row, 2 * column)`` of the centre; the array centre when the
        offsets cannot say.
    """
    ny, nx = x.shape
    rows, cols = np.mgrid[0:ny, 0:nx]
    ok = np.isfinite(x) & np.isfinite(y)
    centre = [ny - 1, nx - 1]  # doubled array centre
    for axis, (index, offset) in enumerate(((rows, y), (cols, x))):
        o = offset[ok].astype(np.float64)
        i = index[ok].astype(np.float64)
        if o.size < 2:
            continue
        # Least-squares line index = a + b * offset; a is the index where the offset is 0.
        o_mean, i_mean = o.mean(), i.mean()
        var = np.mean((o - o_mean) ** 2)
        if not var > 0:
            continue
        slope = np.mean((o - o_mean) * (i - i_mean)) / var
        intercept = i_mean - slope * o_mean
        if np.isfinite(intercept) and abs(intercept) < 4 * max(ny, nx):
            centre[axis] = int(np.rint(2.0 * intercept))
    return centre[0], centre[1]


def footprint_window(good, centre2, margin=1):
    """The square window centred on ``centre2`` that holds every good spaxel.

    Parameters
    ----------
    good : numpy.ndarray of bool
        2-D map of the spaxels to keep; at least one must be True.
    centre2 : tuple of int
        Twice the (row, column) index of the centre (`centre_index2`).
    margin : int, optional
        Spaxels added on every side.

    Returns
    -------
    tuple of int
        ``(row0, row1, col0, col1)``: rows ``row0 <= r < row1`` and columns
        ``col0 <= c < col1``, which may reach beyond the array.
    """
    rows, cols = np.nonzero(good)
    if rows.size == 0:
        raise ValueError("no good spaxel: the footprint is empty")
    cy2, cx2 = int(centre2[0]), int(centre2[1])
    half2 = int(max(np.max(np.abs(2 * rows - cy2)), np.max(np.abs(2 * cols - cx2))))
    half2 += 2 * int(margin)
    # Doubled coordinates: row r is in the window when |2 r - cy2| <= half2. The
    # parities of the two axes may differ, so take the larger side for both.
    r0, r1 = -((half2 - cy2) // 2), (cy2 + half2) // 2 + 1
    c0, c1 = -((half2 - cx2) // 2), (cx2 + half2) // 2 + 1
    n = max(r1 - r0, c1 - c0)
    return r0, r0 + n, c0, c0 + n


def footprint_cut(values, good, window):
    """Values and coverage of a window, zero outside the good spaxels and the array.

    Parameters
    ----------
    values : numpy.ndarray
        2-D map.
    good : numpy.ndarray of bool
        Spaxels to keep.
    window : tuple of int
        ``(row0, row1, col0, col1)`` from `footprint_window`.

    Returns
    -------
    cut_values, cut_good : numpy.ndarray
        float64 values (0 where not good) and bool coverage of the window.
    """
    r0, r1, c0, c1 = window
    ny, nx = values.shape
    out = np.zeros((r1 - r0, c1 - c0))
    cover = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    ys = slice(max(r0, 0), min(r1, ny))
    xs = slice(max(c0, 0), min(c1, nx))
    if ys.start < ys.stop and xs.start < xs.stop:
        inner = (slice(ys.start - r0, ys.stop - r0), slice(xs.start - c0, xs.stop - c0))
        keep = good[ys, xs]
        out[inner] = np.where(keep, values[ys, xs], 0.0)
        cover[inner] = keep
    return out, cover


def _centred(values, good):
    """Good velocities less their median, scaled by the largest absolute value; 0 elsewhere."""
    v = np.where(good, values, 0.0).astype(np.float64)
    v[good] -= np.median(v[good])
    peak = np.max(np.abs(v[good]))
    if not peak > 0:
        return None
    return v / peak


def footprint_image(values, good, centre2, size=32, margin=1):
    """The two-channel footprint input of one map.

    Parameters
    ----------
    values : numpy.ndarray
        2-D velocity map (any unit); values at spaxels that are not good are
        never used.
    good : numpy.ndarray of bool
        The measured spaxels.
    centre2 : tuple of int
        Twice the (row, column) index of the galaxy centre.
    size : int, optional
        Side of the output.
    margin : int, optional
        Spaxels added around the footprint.

    Returns
    -------
    numpy.ndarray or None
        float32 ``(size, size, 2)``: the scaled velocity and the coverage;
        None when no good spaxel has a velocity different from the median.
    """
    good = np.asarray(good, dtype=bool)
    if not good.any():
        return None
    v = _centred(values, good)
    if v is None:
        return None
    window = footprint_window(good, centre2, margin)
    cut_v, cut_g = footprint_cut(v, good, window)
    stack = np.stack([cut_v, cut_g.astype(np.float64)])
    return np.moveaxis(resize_cubic(stack, (size, size)), 0, -1).astype(np.float32)


def _antisymmetry(v, g):
    """Correlation of the field with minus its point reflection, and the pairs used."""
    reflected, rg = -v[::-1, ::-1], g[::-1, ::-1]
    both = g & rg
    n_pairs = int(both.sum())
    if n_pairs < _MIN_PAIRS:
        return 0.0
    a, b = v[both], reflected[both]
    a = a - a.mean()
    b = b - b.mean()
    norm = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / norm) if norm > 0 else 0.0


def _roughness(v, g):
    """RMS difference of neighbouring good spaxels (both axes) over the RMS velocity."""
    rms = np.sqrt(np.mean(v[g] ** 2))
    across = g[:, 1:] & g[:, :-1]
    along = g[1:, :] & g[:-1, :]
    diffs = np.concatenate([(v[:, 1:] - v[:, :-1])[across], (v[1:, :] - v[:-1, :])[along]])
    if diffs.size == 0 or not rms > 0:
        return 2.0
    return float(np.sqrt(np.mean(diffs**2)) / rms)


def _rotation_snr(v, g):
    """log10 of the RMS of a ring-by-ring rotation model over the RMS of its residuals.

    In rings of equal numbers of spaxels about the centre, the velocity is
    fitted as ``c_k + a_k cos(phi) + b_k sin(phi)``; then the rings are given
    one direction of (a, b), the one that explains most (the kinematic axis),
    each keeping its own amplitude and constant.
    """
    rows, cols = np.nonzero(g)
    vals = v[g]
    if vals.size < 4 * _N_RINGS:
        return -1.0
    c = (v.shape[0] - 1) / 2.0
    dy, dx = rows - c, cols - c
    radius = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    edges = np.quantile(radius, np.linspace(0.0, 1.0, _N_RINGS + 1))
    ring = np.clip(np.searchsorted(edges, radius, side="right") - 1, 0, _N_RINGS - 1)
    # Least squares per ring through its 3 x 3 normal equations (sums by ring).
    at_centre = radius == 0  # no azimuth there: no rotation term, whichever way the map turns
    basis = np.stack([np.ones_like(vals), np.where(at_centre, 0.0, np.cos(phi)),
                      np.where(at_centre, 0.0, np.sin(phi))])
    normal = np.empty((_N_RINGS, 3, 3))
    rhs = np.empty((_N_RINGS, 3))
    for i in range(3):
        rhs[:, i] = np.bincount(ring, basis[i] * vals, minlength=_N_RINGS)
        for j in range(i, 3):
            normal[:, i, j] = normal[:, j, i] = np.bincount(ring, basis[i] * basis[j],
                                                            minlength=_N_RINGS)
    normal += 1e-9 * np.eye(3)  # a ring with points on one line only: no blow-up
    coef = np.linalg.solve(normal, rhs[..., np.newaxis])[..., 0]
    direction = np.linalg.svd(coef[:, 1:], full_matrices=False)[2][0]
    amplitude = coef[:, 1:] @ direction
    rotation = amplitude[ring] * (direction[0] * basis[1] + direction[1] * basis[2])
    # The ring constants are refitted for the shared direction: the mean residual per ring.
    residual = vals - rotation
    counts = np.bincount(ring, minlength=_N_RINGS)
    residual -= (np.bincount(ring, residual, minlength=_N_RINGS) / np.maximum(counts, 1))[ring]
    ratio = np.sqrt(np.mean(rotation**2) / max(np.mean(residual**2), 1e-24))
    return float(np.log10(max(ratio, 1e-3)))


def symmetry_features(values, good, centre2):
    """How much one map looks like a rotating disc (see `FEATURE_NAMES`).

    Parameters
    ----------
    values : numpy.ndarray
        2-D velocity map; only good spaxels are used.
    good : numpy.ndarray of bool
        The measured spaxels.
    centre2 : tuple of int
        Twice the (row, column) index of the galaxy centre.

    Returns
    -------
    numpy.ndarray or None
        float32 values of ``antisymmetry`` (correlation of the velocities
        with minus their reflection through the centre, -1 to 1; 0 when fewer
        than 8 pairs), ``roughness`` (RMS velocity difference of neighbouring
        spaxels over the RMS velocity) and ``rotation_snr`` (log10 of the RMS
        of the best ring-by-ring rotation model over the RMS of its
        residuals). None when the map cannot be normalised.
    """
    good = np.asarray(good, dtype=bool)
    if not good.any():
        return None
    v = _centred(values, good)
    if v is None:
        return None
    window = footprint_window(good, centre2, margin=0)
    cut_v, cut_g = footprint_cut(v, good, window)
    return np.array([_antisymmetry(cut_v, cut_g), _roughness(cut_v, cut_g),
                     _rotation_snr(cut_v, cut_g)], dtype=np.float32)
