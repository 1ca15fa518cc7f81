"""Analytic velocity fields for the cleaning and position-angle tests."""

import numpy as np
from astropy import units as u

from kinmisalign import VelocityField

__all__ = ["BUNDLE_DIAMETERS", "disc_velocity", "footprint", "disc_field"]

PIXSCALE = 0.5  # arcsec per spaxel, as the DAP maps

# IFU bundle size (fibres) -> approximate footprint diameter (arcsec).
BUNDLE_DIAMETERS = {19: 12.5, 37: 17.5, 61: 22.5, 91: 27.5, 127: 32.5}


def disc_velocity(x, y, pa, inc, vmax=200.0, rt=3.0, vsys=0.0):
    """Line-of-sight velocity of a thin rotating disc.

    ``x`` toward East and ``y`` toward North in arcsec; ``pa`` (degrees East
    of North) points to the receding side; ``inc`` in degrees. The rotation
    curve is V(R) = vmax * (2/pi) * arctan(R / rt) with R the radius in the
    disc plane.
    """
    t, i = np.radians(pa), np.radians(inc)
    major = x * np.sin(t) + y * np.cos(t)  # toward the receding side
    minor = -x * np.cos(t) + y * np.sin(t)
    minor_disc = minor / np.cos(i)  # deprojected
    radius = np.hypot(major, minor_disc)
    cos_phi = np.divide(major, radius, out=np.zeros_like(radius), where=radius > 0)
    vrot = vmax * (2 / np.pi) * np.arctan(radius / rt)
    return vsys + vrot * np.sin(i) * cos_phi


def _offsets(npix):
    # Same orientation and centre as VelocityField.from_array: columns grow toward West.
    rows, cols = np.mgrid[0:npix, 0:npix]
    x = -(cols - (npix - 1) / 2.0) * PIXSCALE
    y = (rows - (npix - 1) / 2.0) * PIXSCALE
    return x, y


def footprint(x, y, diameter, shape="hexagon"):
    """True inside a hexagonal (MaNGA-like) or circular footprint of ``diameter``."""
    r = diameter / 2.0
    if shape == "circle":
        return np.hypot(x, y) <= r
    ax, ay = np.abs(x), np.abs(y)
    return (ay <= np.sqrt(3) / 2 * r) & (np.sqrt(3) * ax + ay <= np.sqrt(3) * r)


def disc_field(pa, inc, *, bundle=19, noise=5.0, seed=0, vmax=200.0, rt=3.0, vsys=0.0,
               shape="hexagon", outside=0.0):
    """A masked map of a noisy thin disc in a MaNGA-like footprint.

    Returns a `VelocityField` map; spaxels outside the footprint are masked
    and hold ``outside`` (the DAP stores 0 there).
    """
    diameter = BUNDLE_DIAMETERS[bundle]
    npix = int(np.ceil(diameter / PIXSCALE)) + 8
    x, y = _offsets(npix)
    inside = footprint(x, y, diameter, shape)
    rng = np.random.default_rng(seed)
    vel = disc_velocity(x, y, pa, inc, vmax=vmax, rt=rt, vsys=vsys)
    vel = vel + rng.normal(0.0, noise, vel.shape)
    vel[~inside] = outside
    ivar = np.full(vel.shape, 1.0 / max(noise, 1e-3) ** 2)
    ivar[~inside] = 0.0
    return VelocityField.from_array(vel * u.km / u.s, mask=~inside,
                                    ivar=ivar * u.s**2 / u.km**2)
