"""Array-level angle conventions for kinematic position angles (degrees, no units).

The package convention: PA is measured East of North, from +y
(North) toward +x (East) in the sky-right frame of ``SPX_SKYCOO``, to the
receding side of the velocity field, in [0, 360).
"""

import numpy as np

__all__ = [
    "wrap_angle",
    "axis_angle",
    "to_ccw_from_y_frame",
    "receding_side_pa",
    "SENSE_THRESHOLD",
    "correlation_area",
    "sense_significance",
    "delta_pa",
    "MISALIGNMENT_CLASSES",
    "classify_delta_pa",
]


def wrap_angle(angle, period=360.0):
    """Wrap angles into [0, period).

    Parameters
    ----------
    angle : float or ndarray
        Angles in degrees (NaN stays NaN).
    period : float, optional
        The period, 360 for a direction, 180 for an axis.

    Returns
    -------
    float or ndarray
    """
    wrapped = np.mod(angle, period)
    # np.mod of a tiny negative number rounds to exactly ``period``.
    return np.where(wrapped >= period, wrapped - period, wrapped)[()]


def axis_angle(angle):
    """An axis orientation (modulo 180 degrees) in [0, 180).

    Parameters
    ----------
    angle : float or ndarray
        Angles in degrees.

    Returns
    -------
    float or ndarray
    """
    return wrap_angle(angle, 180.0)


def to_ccw_from_y_frame(x, y):
    """Coordinates for a routine measuring angles counter-clockwise from +y.

    Such a routine (pafit) turns from +y toward -x of the frame it is given.
    Our PA turns from North (+y) toward East (+x), so the frame handed over
    has its x axis reversed (pointing West): then its angles are ours.

    Parameters
    ----------
    x, y : ndarray
        Offsets, ``x`` toward East, ``y`` toward North.

    Returns
    -------
    x, y : ndarray
        ``(-x, y)``.
    """
    return -np.asarray(x), np.asarray(y)


def receding_side_pa(x, y, velocity, axis_pa):
    """Orient a kinematic axis toward the receding side of the field.

    The points are split by the minor axis (perpendicular to ``axis_pa``);
    the side with the larger median velocity is the receding one (the method
    of Duckworth et al. 2020).

    Parameters
    ----------
    x, y : ndarray
        Offsets, ``x`` toward East, ``y`` toward North.
    velocity : ndarray
        Line-of-sight velocities.
    axis_pa : float
        Orientation of the kinematic major axis, degrees East of North
        (only defined modulo 180).

    Returns
    -------
    pa : float
        ``axis_pa`` or ``axis_pa + 180``, whichever points to the receding
        side, in [0, 360).
    contrast : float
        Median velocity of the receding side minus that of the approaching
        side (>= 0; 0 when the sense of rotation is undetermined).
    """
    theta = np.radians(axis_pa)
    # Distance along the major axis, positive on the side ``axis_pa`` points to.
    along = np.asarray(x) * np.sin(theta) + np.asarray(y) * np.cos(theta)
    velocity = np.asarray(velocity)
    ahead = velocity[along > 0]
    behind = velocity[along < 0]
    if ahead.size == 0 or behind.size == 0:
        return float(wrap_angle(axis_pa)), 0.0
    diff = float(np.median(ahead) - np.median(behind))
    pa = axis_pa if diff >= 0 else axis_pa + 180.0
    return float(wrap_angle(pa)), abs(diff)


# The sense of rotation counts as measured when the median velocities of the two sides differ
# by more than this many standard errors. With no rotation at all, the statistic is about the
# modulus of a 2-D Gaussian (the fit picks the axis), above 3 in exp(-9 / 2) = 1 % of fields
# (pure noise on the spaxels of the real file 7815-3702: 5 of 300).
SENSE_THRESHOLD = 3.0

# Standard error of the median of n Gaussian values of scatter s: sqrt(pi / 2) s / sqrt(n).
_MEDIAN_EFFICIENCY = np.sqrt(np.pi / 2.0)


def _robust_scale(values):
    """Gaussian-equivalent scatter from the median absolute deviation."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def correlation_area(x, y, residual):
    """Number of points over which the residuals are correlated (>= 1).

    The correlation ``rho`` of each residual with that of its nearest
    neighbour gives, for a Gaussian correlation function, the area of one
    independent element in units of the point spacing: ``-pi / ln(rho)``.
    Voronoi bins (one value repeated over many spaxels) and the covariance of
    neighbouring spaxels both raise ``rho``.

    Parameters
    ----------
    x, y : ndarray
        Offsets of the points.
    residual : ndarray
        Velocity minus the point-symmetric model, one per point.

    Returns
    -------
    float
        The area ``A``, at least 1 (also for fewer than 3 points, residuals
        all equal, or no positive correlation); ``rho`` is capped at 0.99
        (``A`` at most 312).
    """
    from scipy.spatial import cKDTree

    if residual.size < 3:
        return 1.0
    points = np.column_stack([x, y])
    _, nearest = cKDTree(points).query(points, k=2)
    centred = residual - np.median(residual)
    power = float(np.sum(centred * centred))
    if power == 0:
        return 1.0
    rho = float(np.sum(centred * centred[nearest[:, 1]])) / power
    # Capped: an estimate from one map cannot tell apart correlations longer than that.
    rho = min(rho, 0.99)
    return max(1.0, -np.pi / np.log(rho)) if rho > 0 else 1.0


def sense_significance(x, y, velocity, residual, axis_pa, area=None):
    """How significantly the two sides of a kinematic axis differ, in standard errors.

    The statistic of the receding-side rule (`receding_side_pa`), the
    difference of the median velocities on the two sides of the minor axis,
    divided by its standard error under pure noise:

    ``sqrt(pi / 2) * s * sqrt(A / n_1 + A / n_2)``,

    with ``n_1``, ``n_2`` the points on either side, ``s`` the noise per
    point and ``A`` the number of points per independent element. ``s`` is
    the robust scatter (from the median absolute deviation) of the residuals
    of the field about its point-symmetric model, divided by ``sqrt(3 / 4)``
    because the model averages the point with three mirror images: the noise
    the field actually has, whatever uncertainty the chi-square was weighted
    with (often a conventional 10 km/s). ``A`` comes from the correlation of
    neighbouring residuals (see `correlation_area`): binned or correlated
    noise has fewer independent values than points.

    Parameters
    ----------
    x, y : ndarray
        Offsets, ``x`` toward East, ``y`` toward North.
    velocity : ndarray
        Line-of-sight velocities relative to the systemic velocity.
    residual : ndarray
        Velocity minus the point-symmetric model about ``axis_pa``.
    axis_pa : float
        Kinematic axis, degrees East of North (modulo 180).
    area : float, optional
        ``A`` if already known (`correlation_area` of the same points and
        residuals); computed when not given.

    Returns
    -------
    float
        The significance; ``inf`` for a noise-free field whose sides differ,
        0 when one side has no point or the sides do not differ.
    """
    x, y, velocity, residual = (np.ravel(np.asarray(a, dtype=float))
                                for a in (x, y, velocity, residual))
    theta = np.radians(axis_pa)
    along = x * np.sin(theta) + y * np.cos(theta)
    ahead = velocity[along > 0]
    behind = velocity[along < 0]
    if ahead.size == 0 or behind.size == 0:
        return 0.0
    diff = abs(float(np.median(ahead) - np.median(behind)))
    if diff == 0:
        return 0.0
    noise = _robust_scale(residual) / np.sqrt(0.75)
    if noise == 0:
        return float("inf")
    if area is None:
        area = correlation_area(x, y, residual)
    stderr = _MEDIAN_EFFICIENCY * noise * np.sqrt(area / ahead.size + area / behind.size)
    return diff / stderr


def delta_pa(pa1, pa2):
    """Misalignment between two position angles, in [0, 180] degrees.

    ``min(|pa1 - pa2|, 360 - |pa1 - pa2|)`` with ``|pa1 - pa2|`` first reduced
    modulo 360, so inputs outside [0, 360) are fine; exactly symmetric in
    ``pa1`` and ``pa2``. NaN in, NaN out.

    Parameters
    ----------
    pa1, pa2 : float or ndarray
        Position angles in degrees.

    Returns
    -------
    float or ndarray
    """
    # |pa1 - pa2| first: the result is then exactly symmetric in its arguments.
    diff = wrap_angle(np.abs(np.asarray(pa1, dtype=float) - np.asarray(pa2, dtype=float)))
    return np.minimum(diff, 360.0 - diff)[()]


# Literature classes of Delta PA (degrees): aligned < 30 <= misaligned < 150 <= counter-rotating.
MISALIGNMENT_CLASSES = (("aligned", 0.0, 30.0), ("misaligned", 30.0, 150.0),
                        ("counter-rotating", 150.0, np.inf))


def classify_delta_pa(dpa):
    """Name the misalignment class of Delta PA values.

    Parameters
    ----------
    dpa : float or ndarray
        Misalignments in degrees, in [0, 180].

    Returns
    -------
    ndarray of str
        ``'aligned'`` (< 30), ``'misaligned'`` (30 to < 150) or
        ``'counter-rotating'`` (>= 150); ``''`` where ``dpa`` is NaN.
    """
    dpa = np.asarray(dpa, dtype=float)
    out = np.full(dpa.shape, "", dtype="<U16")
    for name, low, high in MISALIGNMENT_CLASSES:
        out[(dpa >= low) & (dpa < high)] = name
    return out
