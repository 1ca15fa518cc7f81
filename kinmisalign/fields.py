"""Containers for velocity fields and the contents of a MAPS file."""

import numpy as np
from astropy import units as u

from ._datamodel import SPAXEL_SIZE_ARCSEC, SPEED_OF_LIGHT_KMS, maskbits_value
from .config import conf

__all__ = ["VelocityField", "MapsData"]


def _as_quantity(value, unit, name, physical_type):
    """Return ``value`` as a float64 Quantity in ``unit``, refusing bare numbers."""
    if not isinstance(value, u.Quantity):
        raise TypeError(
            f"{name} must be an astropy Quantity with {physical_type} units "
            f"(e.g. {unit}), not {type(value).__name__}"
        )
    if value.dtype.kind == "c":  # the cast below would silently drop the imaginary part
        raise TypeError(f"{name} must be real, not of dtype {value.dtype}")
    try:
        return u.Quantity(value, unit, dtype=np.float64, copy=True)
    except u.UnitConversionError:
        raise u.UnitConversionError(
            f"{name} must have {physical_type} units (e.g. {unit}), not {value.unit}"
        ) from None


def _check_numeric(array, name):
    kind = np.asarray(array).dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must be numeric, not of dtype {np.asarray(array).dtype}")


def _physical_points(x, y, velocity):
    """True where coordinates are finite and the velocity is finite and slower than light.

    A line-of-sight velocity of the speed of light or more (e.g. 1e30 km/s)
    is a corrupted value, never a measurement, so it is treated like NaN.

    Parameters
    ----------
    x, y : `~astropy.units.Quantity`
        Offsets, in any angle unit.
    velocity : `~astropy.units.Quantity`
        Line-of-sight velocities, in any velocity unit.

    Returns
    -------
    numpy.ndarray of bool
    """
    v = np.abs(velocity.to_value(u.km / u.s))
    with np.errstate(invalid="ignore"):
        slower = v < SPEED_OF_LIGHT_KMS
    return np.isfinite(x.value) & np.isfinite(y.value) & slower


class VelocityField:
    """A line-of-sight velocity field on the sky.

    A field is either a map (2-D arrays in the DAP orientation: the row index
    grows toward North, the column index toward West) or a list of points
    (1-D arrays). Coordinates are sky-right offsets from the galaxy centre:
    ``x`` toward East (+RA), ``y`` toward North (+Dec).

    Parameters
    ----------
    x, y : `~astropy.units.Quantity`
        Offsets from the galaxy centre in angular units, ``x`` toward East,
        ``y`` toward North, with the shape of ``velocity``.
    velocity : `~astropy.units.Quantity`
        Line-of-sight velocity (stored in km/s). Values at masked spaxels are
        kept (the network input uses them).
    ivar : `~astropy.units.Quantity`, optional
        Inverse variance of the velocity, in (km/s)**-2.
    mask : array of int or bool, optional
        DAP mask bits (``MANGA_DAPPIXMASK``) per spaxel; a boolean array marks
        bad spaxels with True (stored as the DONOTUSE bit).
    maskbits : {'any', 'donotuse'} or int, optional
        Which mask bits make a spaxel unusable; default ``conf.maskbits``
        (``'any'``: every bit, as Duckworth et al. 2020).
    good : array of bool, optional
        Explicit usable-spaxel selection. When omitted it is computed: finite
        coordinates, a finite velocity slower than light, and no selected mask
        bit set. Spaxels with non-finite or faster-than-light values are never
        usable, even when ``good`` selects them.
    binid : array of int, optional
        DAP bin index per spaxel (-1 outside the footprint).
    name : str, optional
        A label, e.g. ``'stellar'`` or ``'gas'``.
    meta : dict, optional
        Free-form metadata.
    """

    def __init__(self, x, y, velocity, *, ivar=None, mask=None, maskbits=None, good=None,
                 binid=None, name=None, meta=None):
        self.velocity = _as_quantity(velocity, u.km / u.s, "velocity", "velocity")
        shape = self.velocity.shape
        if self.velocity.ndim not in (1, 2):
            raise ValueError(f"velocity must be a 1-D point list or a 2-D map, not {shape}")
        self.x = _as_quantity(x, u.arcsec, "x", "angle")
        self.y = _as_quantity(y, u.arcsec, "y", "angle")
        for label, arr in (("x", self.x), ("y", self.y)):
            if arr.shape != shape:
                raise ValueError(f"{label} has shape {arr.shape}, velocity has shape {shape}")

        if ivar is None:
            self.ivar = None
        else:
            self.ivar = _as_quantity(ivar, u.s**2 / u.km**2, "ivar", "inverse-variance")
            if self.ivar.shape != shape:
                raise ValueError(f"ivar has shape {self.ivar.shape}, velocity has shape {shape}")

        if mask is None:
            self.mask = np.zeros(shape, dtype=np.int64)
        else:
            _check_numeric(mask, "mask")
            mask = np.asarray(mask)
            if mask.shape != shape:
                raise ValueError(f"mask has shape {mask.shape}, velocity has shape {shape}")
            if mask.dtype == bool:
                from ._datamodel import DONOTUSE

                self.mask = np.where(mask, DONOTUSE, 0).astype(np.int64)
            else:
                integral = np.isfinite(mask) & (mask == np.round(mask))
                if mask.dtype.kind == "f" and not np.all(integral):
                    raise ValueError("mask must hold integer bit values")
                self.mask = mask.astype(np.int64)

        self.maskbits = maskbits_value(conf.maskbits if maskbits is None else maskbits)

        if good is None:
            good = _physical_points(self.x, self.y, self.velocity) & (
                (self.mask & self.maskbits) == 0)
        else:
            good = np.asarray(good)
            if good.dtype != bool:
                raise TypeError(f"good must be a boolean array, not of dtype {good.dtype}")
            if good.shape != shape:
                raise ValueError(f"good has shape {good.shape}, velocity has shape {shape}")
            good = good & _physical_points(self.x, self.y, self.velocity)
        self.good = np.array(good, dtype=bool)
        self.good.flags.writeable = False

        if binid is not None:
            binid = np.asarray(binid)
            if binid.shape != shape:
                raise ValueError(f"binid has shape {binid.shape}, velocity has shape {shape}")
        self.binid = binid
        self.name = name
        self.meta = dict(meta) if meta else {}

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def from_array(cls, velocity, mask=None, ivar=None, pixscale=SPAXEL_SIZE_ARCSEC * u.arcsec,
                   **kwargs):
        """Build a field from a bare 2-D map in the DAP orientation.

        The row index grows toward North and the column index toward West
        (East is at column 0, as on a sky image); the galaxy centre is the
        array centre.

        Parameters
        ----------
        velocity : `~astropy.units.Quantity`
            2-D map of line-of-sight velocity.
        mask : array of int or bool, optional
            DAP mask bits, or True for bad spaxels.
        ivar : `~astropy.units.Quantity`, optional
            Inverse variance of the velocity.
        pixscale : `~astropy.units.Quantity`, optional
            Spaxel size (default 0.5 arcsec).
        **kwargs
            Passed to `VelocityField` (``maskbits``, ``name``, ``meta``, ...).

        Returns
        -------
        `VelocityField`
        """
        velocity = _as_quantity(velocity, u.km / u.s, "velocity", "velocity")
        if velocity.ndim != 2:
            raise ValueError(f"velocity must be a 2-D map, not of shape {velocity.shape}")
        pixscale = _as_quantity(pixscale, u.arcsec, "pixscale", "angle")
        if pixscale.ndim != 0 or not (np.isfinite(pixscale.value) and pixscale.value > 0):
            raise ValueError(f"pixscale must be a positive scalar angle, not {pixscale}")
        ny, nx = velocity.shape
        rows, cols = np.mgrid[0:ny, 0:nx]
        x = -(cols - (nx - 1) / 2.0) * pixscale
        y = (rows - (ny - 1) / 2.0) * pixscale
        return cls(x, y, velocity, ivar=ivar, mask=mask, **kwargs)

    @classmethod
    def from_points(cls, x, y, velocity, ivar=None, **kwargs):
        """Build a field from a list of points.

        Parameters
        ----------
        x, y : `~astropy.units.Quantity`
            Offsets from the galaxy centre, ``x`` toward East, ``y`` toward North.
        velocity : `~astropy.units.Quantity`
            Line-of-sight velocity at each point.
        ivar : `~astropy.units.Quantity`, optional
            Inverse variance of each velocity.
        **kwargs
            Passed to `VelocityField`.

        Returns
        -------
        `VelocityField`
        """
        for label, value in (("x", x), ("y", y), ("velocity", velocity)):
            if np.ndim(value) != 1:
                raise ValueError(
                    f"{label} must be 1-D for a point list, not of shape {np.shape(value)}")
        return cls(x, y, velocity, ivar=ivar, **kwargs)

    # -- views ----------------------------------------------------------------------------------
    @property
    def shape(self):
        """Shape of the arrays."""
        return self.velocity.shape

    @property
    def is_map(self):
        """True for a 2-D map, False for a point list."""
        return self.velocity.ndim == 2

    @property
    def n_good(self):
        """Number of usable spaxels."""
        return int(self.good.sum())

    def points(self):
        """Usable spaxels as 1-D arrays.

        Returns
        -------
        x, y, velocity : `~astropy.units.Quantity`
            Offsets (arcsec) and velocities (km/s) of the usable spaxels.
        ivar : `~astropy.units.Quantity` or None
            Their inverse variances, when known.
        """
        sel = self.good
        ivar = None if self.ivar is None else self.ivar[sel]
        return self.x[sel], self.y[sel], self.velocity[sel], ivar

    def replace(self, **changes):
        """A copy with some attributes replaced (e.g. ``good=``, ``velocity=``).

        Returns
        -------
        `VelocityField`
        """
        args = dict(x=self.x, y=self.y, velocity=self.velocity, ivar=self.ivar, mask=self.mask,
                    maskbits=self.maskbits, good=None, binid=self.binid, name=self.name,
                    meta=self.meta)
        unknown = set(changes) - set(args)
        if unknown:
            raise TypeError(f"unknown field attribute(s): {', '.join(sorted(unknown))}")
        keep_good = not ({"velocity", "x", "y", "mask", "maskbits"} & set(changes))
        if keep_good:
            args["good"] = np.array(self.good)
        args.update(changes)
        x, y, velocity = args.pop("x"), args.pop("y"), args.pop("velocity")
        return type(self)(x, y, velocity, **args)

    def rotated(self, angle):
        """The same field turned on the sky by ``angle`` East of North.

        Every position angle measured on the result is larger by ``angle``.

        Parameters
        ----------
        angle : `~astropy.units.Quantity`
            Rotation angle.

        Returns
        -------
        `VelocityField`
            A point list (a rotated map no longer sits on the DAP grid).
        """
        angle = _as_quantity(angle, u.rad, "angle", "angle")
        c, s = np.cos(angle.value), np.sin(angle.value)
        x = self.x * c + self.y * s
        y = -self.x * s + self.y * c

        def flat(a):
            return None if a is None else a.ravel()

        return type(self)(
            x.ravel(), y.ravel(), self.velocity.ravel(), ivar=flat(self.ivar),
            mask=self.mask.ravel(), maskbits=self.maskbits, good=self.good.ravel(),
            binid=flat(self.binid), name=self.name, meta=self.meta,
        )

    def __repr__(self):
        kind = "map" if self.is_map else "points"
        label = f" {self.name!r}" if self.name else ""
        return f"<VelocityField{label}: {kind} of shape {self.shape}, {self.n_good} usable>"


class MapsData:
    """The velocity fields and metadata read from one MAPS file.

    Parameters
    ----------
    stellar, gas : `VelocityField`
        The stellar and the H-alpha velocity fields. ``gas`` is None when
        the file has no channel of the emission line and was read with
        ``read_maps(..., line_required=False)``, as a batch run reads
        (``gas_problem`` says so); by default `~kinmisalign.read_maps` raises
        instead.
    meta : dict
        Observation metadata: ``PLATEIFU``, ``MANGAID``, ``DAPTYPE``,
        ``VERSDRP3``, ``VERSDAP``, ... (upper-case keys).
    header : `~astropy.io.fits.Header`, optional
        The primary header.
    path : str, optional
        Where the data came from.
    gas_problem : str, optional
        Why ``gas`` is None.
    """

    def __init__(self, stellar, gas, meta=None, header=None, path=None, gas_problem=None):
        self.stellar = stellar
        self.gas = gas
        self.meta = dict(meta) if meta else {}
        self.header = header
        self.path = path
        self.gas_problem = gas_problem

    @property
    def plateifu(self):
        """The observation's plate-IFU identifier, or None."""
        return self.meta.get("PLATEIFU")

    def __repr__(self):
        gas = "no" if self.gas is None else self.gas.n_good
        return (f"<MapsData {self.plateifu or '?'} ({self.meta.get('DAPTYPE', '?')}): "
                f"stellar {self.stellar.n_good} / gas {gas} usable spaxels>")
