"""Disc kinematics and geometry of the truth model: rotation curves, line-of-sight velocities."""

import numpy as np

__all__ = [
    "rotation_curve",
    "disc_velocity",
    "inclination_from_axis_ratio",
    "axis_ratio_from_inclination",
    "elliptical_radius",
]

_INTRINSIC_THICKNESS = 0.2  # q0 of an oblate disc, for b/a <-> inclination


def rotation_curve(radius, vmax, r_turn):
    """Arctan rotation curve ``vmax * (2 / pi) * arctan(radius / r_turn)``.

    Parameters
    ----------
    radius : array_like
        Deprojected radius (same unit as ``r_turn``).
    vmax : float
        Asymptotic speed.
    r_turn : float
        Turnover radius.

    Returns
    -------
    numpy.ndarray
    """
    return vmax * (2.0 / np.pi) * np.arctan(np.asarray(radius, dtype=float) / r_turn)


def disc_velocity(x, y, pa, inclination, vmax, r_turn, vsys=0.0, pa_twist=0.0, r_twist=1.0):
    """Line-of-sight velocity of a thin rotating disc.

    ``v = vsys + V(R) sin(i) cos(phi)``, with ``R`` the deprojected radius
    and ``phi`` the azimuth in the disc plane from the receding major axis.

    Parameters
    ----------
    x, y : array_like
        Sky offsets from the disc centre (arcsec), ``x`` East, ``y`` North.
    pa : float
        Position angle (deg) East of North of the receding side.
    inclination : float
        Inclination (deg).
    vmax, r_turn : float
        Rotation curve parameters (km/s, arcsec).
    vsys : float, optional
        Systemic velocity (km/s).
    pa_twist : float, optional
        Warp: the PA turns by ``pa_twist`` deg per ``r_twist`` arcsec of
        (sky) radius.
    r_twist : float, optional
        Radius scale of the twist (arcsec).

    Returns
    -------
    numpy.ndarray
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    theta = np.radians(pa + pa_twist * np.hypot(x, y) / r_twist)
    # Along the receding major axis (unit vector (sin PA, cos PA) in (x, y)) and across it.
    major = x * np.sin(theta) + y * np.cos(theta)
    minor = -x * np.cos(theta) + y * np.sin(theta)
    cosi = max(np.cos(np.radians(inclination)), 0.05)  # edge-on discs stay finite
    radius = np.hypot(major, minor / cosi)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosphi = np.where(radius > 0, major / radius, 0.0)
    return vsys + rotation_curve(radius, vmax, r_turn) * np.sin(np.radians(inclination)) * cosphi


def axis_ratio_from_inclination(inclination, q0=_INTRINSIC_THICKNESS):
    """Apparent axis ratio of an oblate disc of intrinsic thickness ``q0``.

    Parameters
    ----------
    inclination : float or array_like
        Inclination (deg).
    q0 : float, optional
        Intrinsic axis ratio (default 0.2).

    Returns
    -------
    float or numpy.ndarray
    """
    c = np.cos(np.radians(inclination))
    return np.sqrt(c**2 * (1.0 - q0**2) + q0**2)


def inclination_from_axis_ratio(ba, q0=_INTRINSIC_THICKNESS):
    """Inclination (deg) of an oblate disc of thickness ``q0`` seen with axis ratio ``ba``.

    Parameters
    ----------
    ba : float or array_like
        Apparent axis ratio; values at or below ``q0`` give 90 deg.
    q0 : float, optional
        Intrinsic axis ratio (default 0.2).

    Returns
    -------
    float or numpy.ndarray
    """
    ba = np.clip(np.asarray(ba, dtype=float), q0, 1.0)
    return np.degrees(np.arccos(np.sqrt((ba**2 - q0**2) / (1.0 - q0**2))))



def elliptical_radius(x, y, pa, ba):
    """Elliptical radius and azimuth of sky offsets about an ellipse's major axis.

    Parameters
    ----------
    x, y : array_like
        Sky offsets (arcsec), ``x`` East, ``y`` North.
    pa : float
        Position angle (deg) East of North of the major axis.
    ba : float
        Axis ratio of the ellipse.

    Returns
    -------
    radius, azimuth : numpy.ndarray
        The semi-major axis of the ellipse through each point (arcsec) and
        the azimuth (deg, in [0, 360)) in the deprojected plane, counted from
        the major axis at ``pa`` toward position angle ``pa - 90`` deg.
    """
    t = np.radians(pa)
    major = x * np.sin(t) + y * np.cos(t)
    minor = -x * np.cos(t) + y * np.sin(t)
    return np.hypot(major, minor / ba), np.degrees(np.arctan2(minor / ba, major)) % 360.0
