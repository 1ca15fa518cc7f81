"""Fast point-symmetry fit of a kinematic axis (arrays in, arrays out; no units).

The method is that of Krajnovic et al. (2006, MNRAS 366, 787, appendix C), as
implemented by ``pafit.fit_kinematic_pa``: for each trial axis the velocity
field is made point-symmetric by averaging, at every point, the velocity
there, the velocity at its mirror image across the axis, minus that at its
mirror image across the perpendicular axis and minus that at its reflection
through the centre, each interpolated linearly in the data. The axis
minimising the chi-square between the data and the symmetrised field is the
kinematic axis.

Why it is fast: a reflection across an axis through the origin only moves a
point along its circle about the origin, so the points are triangulated
*once*, and the mirror images of a point for successive trial angles, which lie
close together on its circle, are located by short walks from one triangle to
the next (`kinmisalign._core._symmetry_scan`, compiled): the images, the
symmetrised field and the chi-square of a point at every angle in one pass,
with no temporary arrays. pafit re-triangulates the (rotated) points for every
trial angle.

Frame: ``x`` toward East, ``y`` toward North; angles are measured East of
North (from +y toward +x), in degrees.
"""

from typing import NamedTuple

import numpy as np

__all__ = ["SymmetryFit", "symmetry_chi2", "fit_point_symmetry", "error_from_chi2",
           "noise_scaled_error", "REFERENCE_CORRELATION_AREA"]

class SymmetryFit(NamedTuple):
    """Result of `fit_point_symmetry`.

    Attributes
    ----------
    angle : float
        Best kinematic axis, degrees East of North, in [0, 180].
    error3 : float
        Its 3-sigma error in degrees (see `error_from_chi2`).
    vsys_offset : float
        Correction to the systemic velocity: median of the data minus the
        symmetrised field at the best angle.
    angles : ndarray
        The trial angles (degrees).
    chi2 : ndarray
        The chi-square at each trial angle.
    """

    angle: float
    error3: float
    vsys_offset: float
    angles: np.ndarray
    chi2: np.ndarray


def _triangulation(x, y, velocity):
    """The data triangulated (Delaunay) for point location and linear interpolation.

    Default Qhull options, as `scipy.interpolate.griddata` (and so pafit) uses:
    the same triangles. Raises `scipy.spatial.QhullError` on collinear or
    coincident input.
    """
    from scipy.spatial import Delaunay

    from ._symmetry_scan import Triangulation

    tri = Delaunay(np.column_stack([x, y]))
    return Triangulation(x, y, velocity, tri.simplices.astype(np.intc, copy=False),
                         tri.neighbors.astype(np.intc, copy=False))


def _interpolate(tri, query):
    """Linear interpolation at query coordinates of shape (..., 2): NaN outside the data."""
    query = np.asarray(query, dtype=float)
    flat = query.reshape(-1, 2)
    return tri.interpolate(np.ascontiguousarray(flat[:, 0]),
                           np.ascontiguousarray(flat[:, 1])).reshape(query.shape[:-1])


def _turns(angles):
    """``-exp(-2 i t)`` of each axis angle t: the mirror image of ``z`` is ``conj(z)`` times it."""
    return -np.exp(-2j * np.radians(np.asarray(angles, dtype=float)))


def _mirror(x, y, angles):
    """Mirror images of the points across axes at ``angles`` (deg E of N).

    Returns a complex array of shape ``(len(x), len(angles))``, ``x + i y`` of
    each image, whose float view is the ``(x, y)`` pairs the interpolator
    takes. The axis at position angle ``t`` has argument ``90 - t`` in that
    plane, so the mirror image of ``w`` is ``exp(i (180 - 2 t)) conj(w) =
    -exp(-2 i t) conj(w)``: one complex product per query (`_turns`; the
    compiled scan does the same products).
    """
    w = np.conj(np.asarray(x, dtype=float) + 1j * np.asarray(y, dtype=float))
    return w[:, None] * _turns(angles)[None, :]


def _pairs(z):
    """The float (x, y) pairs of complex coordinates ``x + i y``: shape z.shape + (2,)."""
    return z.view(np.float64).reshape(z.shape + (2,))


def _symmetric_model(v, v_axis, v_perp, v_centre):
    """Point-symmetric model from the interpolated mirror velocities.

    Point symmetry: v(p) = v(mirror across the axis) = -v(mirror across the
    perpendicular) = -v(-p). Terms falling outside the data (NaN) are left out
    of the mean, as pafit's ``nanmean`` of griddata's NaN does.
    """
    ok_axis = np.isfinite(v_axis)
    ok_perp = np.isfinite(v_perp)
    ok_centre = np.isfinite(v_centre)
    # Per point: the data value and the angle-independent centre term.
    base = v - np.where(ok_centre, v_centre, 0.0)
    total = np.where(ok_axis, v_axis, 0.0)
    total -= np.where(ok_perp, v_perp, 0.0)
    total += base[:, None]
    count = ok_axis.astype(np.float64)
    count += ok_perp
    count += (1.0 + ok_centre)[:, None]
    total /= count
    return total


def symmetry_chi2(x, y, velocity, dvel, angles):
    """Chi-square of the point-symmetric model about each trial axis, and the model.

    The vectorised form of the scan in `fit_point_symmetry`, keeping the whole
    symmetrised field at every angle (memory grows as angles times points).

    Parameters
    ----------
    x, y : ndarray
        Coordinates, ``x`` toward East, ``y`` toward North (any unit).
    velocity : ndarray
        Velocities relative to an estimate of the systemic velocity.
    dvel : float or ndarray
        Velocity uncertainty, scalar or one per point.
    angles : ndarray
        Trial axes, degrees East of North.

    Returns
    -------
    chi2 : ndarray
        ``sum(((velocity - model) / dvel)**2)`` per angle.
    model : ndarray
        The symmetrised velocities, shape ``(len(angles), len(x))``.

    Raises
    ------
    scipy.spatial.QhullError
        If the points cannot be triangulated (collinear or coincident).
    """
    x, y, v = (np.ravel(np.asarray(a, dtype=float)) for a in (x, y, velocity))
    angles = np.atleast_1d(np.asarray(angles, dtype=float))
    tri = _triangulation(x, y, v)
    mirrored = _mirror(x, y, angles)
    v_axis = _interpolate(tri, _pairs(mirrored))
    # The mirror across the perpendicular axis is the mirror across the axis followed by
    # the reflection through the centre.
    v_perp = _interpolate(tri, _pairs(-mirrored))
    v_centre = _interpolate(tri, np.column_stack([-x, -y]))
    models = _symmetric_model(v, v_axis, v_perp, v_centre)
    resid = (v[:, None] - models) / (dvel[:, None] if np.ndim(dvel) else dvel)
    return np.einsum("ij,ij->j", resid, resid), models.T


def error_from_chi2(angles, chi2, npoints):
    """3-sigma error of the best axis from the chi-square curve.

    Half the range of the trial angles with ``chi2 - min(chi2) <= 9 +
    3 sqrt(2 N)`` (Krajnovic et al. 2006); when that range reaches 45 degrees
    or more the angles are first folded into (-90, 90], so that a minimum
    near 0/180 degrees is not taken for a huge error. Floored at the larger
    of 0.5 degrees and half a grid step, as pafit does.

    Parameters
    ----------
    angles : ndarray
        Trial angles in degrees, from 0 to 180, evenly spaced.
    chi2 : ndarray
        Chi-square per angle.
    npoints : int
        Number of data points N.

    Returns
    -------
    float
    """
    angles = np.asarray(angles, dtype=float)
    chi2 = np.asarray(chi2, dtype=float)
    floor = max(0.5, (angles[1] - angles[0]) / 2.0)
    within = angles[chi2 - chi2.min() <= 9.0 + 3.0 * np.sqrt(2.0 * npoints)]
    if within.size <= 1:
        return float(floor)
    err = (within.max() - within.min()) / 2.0
    if err >= 45.0:
        folded = np.where(within > 90.0, within - 180.0, within)
        err = (folded.max() - folded.min()) / 2.0
    return float(max(err, floor))


# Points per independent element of the residuals (`kinmisalign._core.pa.correlation_area`) at
# which pafit's rule, with the chi-square scaled to the noise, holds 68 % of fields within
# 1 sigma: measured on mock fields, not derived (docs/conventions.rst, "Errors";
# scripts/pa_error_calibration.py). The clean mock grid (Voronoi-binned stars, median A 4.2)
# needs 4.0 and the 'real'-style stellar fields of the mock mix (correlated noise, median
# A 11) independently 4.1; 'survey'-style stellar fields would take 5.9, 'real' gas 11.
REFERENCE_CORRELATION_AREA = 4.0


def noise_scaled_error(error3, reduced_chi2, nsteps, correlation_area=REFERENCE_CORRELATION_AREA):
    """1-sigma error of the axis, with the chi-square scaled to the noise of the field.

    The 3-sigma rule of `error_from_chi2` takes the chi-square at face value,
    so its error scales with the assumed velocity uncertainty (a conventional
    10 km/s) rather than with the noise the field has: too small for noisier
    fields, too large for quieter ones. Dividing the chi-square by its
    reduced value at the best axis, ``chi2_min / (N - 1)``, makes the
    assumed uncertainty the measured scatter of the field about its
    point-symmetric model; near the minimum the chi-square is a parabola, so
    the half-width of the rule grows by ``sqrt(chi2_min / (N - 1))``.

    The chi-square also counts every point as independent. When the
    residuals are correlated over ``A`` points (Voronoi bins repeat one value
    over many spaxels; neighbouring spaxels share noise), the field holds
    ``N / A`` independent values and the axis is uncertain by ``sqrt(A)``
    times more than the chi-square says. The error is therefore multiplied by
    ``sqrt(A / A_0)``, ``A_0`` (`REFERENCE_CORRELATION_AREA`) being the
    correlation at which the noise-scaled rule was found to hold on mock
    fields.

    The 3-sigma error so scaled is divided by 3, and the rounding of the
    angle to the grid of trial angles, a uniform error over one step ``h``
    (standard deviation ``h / sqrt(12)``), is added in quadrature: it is what
    is left of the error of a field with little noise.

    Parameters
    ----------
    error3 : float
        3-sigma error from the chi-square at face value (`error_from_chi2`,
        or pafit's).
    reduced_chi2 : float
        ``chi2_min / (N - 1)`` at the best axis.
    nsteps : int
        Number of trial angles from 0 to 180 degrees.
    correlation_area : float, optional
        Points per independent element of the residuals at the best axis,
        ``A`` (`kinmisalign._core.pa.correlation_area`); default ``A_0``,
        which leaves only the noise scaling.

    Returns
    -------
    float
        The 1-sigma error in degrees.
    """
    step = 180.0 / (nsteps - 1)
    scale = np.sqrt(float(reduced_chi2) * float(correlation_area) / REFERENCE_CORRELATION_AREA)
    return float(np.hypot(float(error3) * scale / 3.0, step / np.sqrt(12.0)))


def fit_point_symmetry(x, y, velocity, dvel=10.0, nsteps=361):
    """Kinematic axis of a velocity field by point symmetry.

    Parameters
    ----------
    x, y : ndarray
        Coordinates relative to the centre, ``x`` toward East, ``y`` toward
        North.
    velocity : ndarray
        Velocities with an estimate of the systemic velocity subtracted.
    dvel : float or ndarray, optional
        Velocity uncertainty (scalar or per point), default 10.
    nsteps : int, optional
        Number of trial angles, evenly spaced from 0 to 180 degrees
        inclusive (default 361: 0.5-degree steps).

    Returns
    -------
    SymmetryFit

    Raises
    ------
    ValueError
        If the inputs have different sizes or ``nsteps < 2``.
    scipy.spatial.QhullError
        If the points cannot be triangulated (collinear or coincident).
    """
    x, y, v = (np.ravel(np.asarray(a, dtype=float)) for a in (x, y, velocity))
    if not x.size == y.size == v.size:
        raise ValueError(f"x, y and velocity differ in size: {x.size}, {y.size}, {v.size}")
    dvel = np.asarray(dvel, dtype=float)
    if dvel.ndim:
        dvel = np.ravel(dvel)
        if dvel.size != v.size:
            raise ValueError(f"dvel has {dvel.size} values for {v.size} points")
    if int(nsteps) != nsteps or nsteps < 2:
        raise ValueError(f"nsteps must be an integer >= 2, not {nsteps}")
    nsteps = int(nsteps)

    from ._symmetry_scan import chi2_scan, model_at

    angles = np.linspace(0.0, 180.0, nsteps)
    # 180 degrees is the same axis as 0: compute it once.
    distinct = angles[:-1]
    tri = _triangulation(x, y, v)
    turns = _turns(distinct)
    chi2 = np.zeros(distinct.size)
    v_centre = np.empty(v.size)
    # On a whole even-sized grid the perpendicular axes are on the grid too (periodic).
    chi2_scan(tri, x, y, v, np.atleast_1d(dvel), np.ascontiguousarray(turns.real),
              np.ascontiguousarray(turns.imag), distinct.size % 2 == 0, chi2, v_centre)
    chi2 = np.append(chi2, chi2[0])
    best = int(np.argmin(chi2))  # first minimum, so 0 rather than 180
    turn = turns[best % distinct.size]
    model = np.empty(v.size)
    model_at(tri, x, y, v, turn.real, turn.imag, v_centre, model)
    return SymmetryFit(
        angle=float(angles[best]),
        error3=error_from_chi2(angles, chi2, v.size),
        vsys_offset=float(np.median(v - model)),
        angles=angles,
        chi2=chi2,
    )
