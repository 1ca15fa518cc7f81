"""Global kinematic position angles and star-gas misalignment.

Convention: a position angle (PA) is measured East of North (from +y toward
+x in the sky-right frame of ``SPX_SKYCOO``) to the receding side of the
velocity field, in [0, 360) degrees. Errors are 1-sigma.
"""

from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.utils.masked import Masked

from ._core import engines as _engines
from ._core.pa import (
    SENSE_THRESHOLD,
    classify_delta_pa,
    correlation_area,
    delta_pa,
    receding_side_pa,
    sense_significance,
)
from ._core.symmetry import noise_scaled_error, symmetry_chi2
from ._datamodel import SPEED_OF_LIGHT_KMS as _C_KMS
from .config import conf
from .exceptions import FitError, NotEnoughPointsError
from .fields import VelocityField

__all__ = ["PAFit", "fit_pa", "misalignment", "misalignment_class", "ENGINES"]


@dataclass(frozen=True)
class PAFit:
    """Result of a global kinematic position-angle fit.

    Attributes
    ----------
    pa : `~astropy.units.Quantity`
        Kinematic PA in degrees East of North, toward the receding side,
        in [0, 360).
    pa_err : `~astropy.units.Quantity`
        Its 1-sigma error in degrees: a third of the 3-sigma error of pafit's
        rule (Krajnovic et al. 2006), with the chi-square first scaled to the
        noise of the field (by ``reduced_chi2``) and to the correlation of
        its residuals (by ``correlation_area``), for either method.
    vsys : `~astropy.units.Quantity`
        Systemic velocity in km/s: the median velocity subtracted before the
        fit plus the correction found by the fit.
    npoints : int
        Number of points used in the fit.
    method : str
        The engine used.
    sense_determined : bool
        Whether the sense of rotation (which end of the axis recedes) is
        measured: the median velocities on the two sides of the minor axis
        differ by more than ``SENSE_THRESHOLD`` (3) standard errors
        (``sense_significance``). When False, ``pa`` still gives the axis
        (modulo 180 degrees) but not which end of it recedes, and
        `misalignment` treats the PA as missing. True for a result built by
        hand without it.
    sense_significance : float
        The difference of the median velocities on the two sides, in
        standard errors under pure noise
        (``kinmisalign._core.pa.sense_significance``); NaN when not measured.
    reduced_chi2 : float
        Chi-square per degree of freedom, ``chi2_min / (N - 1)``, of the
        point-symmetric model at the best axis with the velocity errors
        used (``dvel`` or the inverse variance): the square of the field's
        noise relative to them. ``pa_err`` is scaled by its square root
        (see :doc:`/conventions`). NaN when not measured.
    correlation_area : float
        Number of points over which the residuals about the point-symmetric
        model are correlated (>= 1; Voronoi bins and correlated noise raise
        it), from the correlation of neighbouring residuals
        (``kinmisalign._core.pa.correlation_area``). ``pa_err`` is scaled by
        ``sqrt(correlation_area / 4)`` (see :doc:`/conventions`). NaN when
        not measured.
    """

    pa: u.Quantity
    pa_err: u.Quantity
    vsys: u.Quantity
    npoints: int
    method: str
    sense_determined: bool = True
    sense_significance: float = float("nan")
    reduced_chi2: float = float("nan")
    correlation_area: float = float("nan")

    def __repr__(self):
        return (f"PAFit(pa={self.pa.to_value(u.deg):.2f} deg, "
                f"pa_err={self.pa_err.to_value(u.deg):.2f} deg, "
                f"vsys={self.vsys.to_value(u.km / u.s):.2f} km/s, npoints={self.npoints}, "
                f"method={self.method!r}, sense_determined={self.sense_determined}, "
                f"sense_significance={self.sense_significance:.1f}, "
                f"reduced_chi2={self.reduced_chi2:.2f}, "
                f"correlation_area={self.correlation_area:.1f})")


ENGINES = _engines.ENGINES
"""Position-angle engines by name, the ``method`` of `fit_pa`.

Each is a function ``engine(x, y, velocity, dvel, nsteps) -> (axis, axis_err,
vsys_offset)`` on plain arrays; they live in ``kinmisalign._core.engines``, whose
docstring gives the contract and how to add one.
"""


# -- input handling -------------------------------------------------------------------------------

def _split_mask(value):
    """Split a possibly masked value into (data, mask or None)."""
    if isinstance(value, Masked):
        return value.unmasked, np.asarray(value.mask)
    if isinstance(value, np.ma.MaskedArray):
        return np.ma.getdata(value), np.ma.getmaskarray(value)
    return value, None


def _values(value, unit, name, physical_type):
    """Plain float values of a Quantity in ``unit`` and its mask (or None)."""
    data, mask = _split_mask(value)
    if not isinstance(data, u.Quantity):
        raise TypeError(
            f"{name} must be an astropy Quantity with {physical_type} units (e.g. {unit}), "
            f"not {type(value).__name__}"
        )
    try:
        values = data.to_value(unit).astype(float, copy=False)
    except u.UnitConversionError:
        raise u.UnitConversionError(
            f"{name} must have {physical_type} units (e.g. {unit}), not {data.unit}"
        ) from None
    return values, mask


def _point_arrays(field_or_x, y, velocity, ivar, dvel, use_ivar):
    """The usable points: x, y, velocity, dvel (arrays, or scalar dvel)."""
    if isinstance(field_or_x, VelocityField):
        if y is not None or velocity is not None:
            raise TypeError("give either a VelocityField or x, y and velocity, not both")
        field = field_or_x
        if ivar is not None:
            raise TypeError("ivar is taken from the VelocityField; do not pass it as well")
        ivar = field.ivar
        # Only the spaxels the field considers usable (mask bits, cleaning).
        select = np.array(field.good, dtype=bool)
        x, y, velocity = field.x, field.y, field.velocity
        if use_ivar and ivar is None:
            raise ValueError("use_ivar=True but the field has no inverse variance (ivar)")
    else:
        if y is None or velocity is None:
            raise TypeError("fit_pa needs a VelocityField, or x, y and velocity Quantities")
        x = field_or_x
        select = None
        if use_ivar and ivar is None:
            raise ValueError("use_ivar=True needs ivar= (inverse variance of the velocities)")

    xv, xmask = _values(x, u.arcsec, "x", "angle")
    yv, ymask = _values(y, u.arcsec, "y", "angle")
    vv, vmask = _values(velocity, u.km / u.s, "velocity", "velocity")
    shape = vv.shape
    for label, arr in (("x", xv), ("y", yv)):
        if arr.shape != shape:
            raise ValueError(f"{label} has shape {arr.shape} but velocity has shape {shape}")

    usable = np.isfinite(xv) & np.isfinite(yv) & np.isfinite(vv)
    with np.errstate(invalid="ignore"):
        usable &= np.abs(vv) < _C_KMS  # corrupted values, never measurements
    if select is not None:
        usable &= select
    for mask in (xmask, ymask, vmask):
        if mask is not None:
            usable &= ~mask

    if use_ivar:
        iv, imask = _values(ivar, u.s**2 / u.km**2, "ivar", "inverse-variance")
        if iv.shape != shape:
            raise ValueError(f"ivar has shape {iv.shape} but velocity has shape {shape}")
        # No information (ivar <= 0) or masked: the point cannot be weighted, drop it.
        usable &= np.isfinite(iv) & (iv > 0)
        if imask is not None:
            usable &= ~imask
        with np.errstate(divide="ignore", invalid="ignore"):
            dv = 1.0 / np.sqrt(iv)
    else:
        dv, dmask = _values(dvel, u.km / u.s, "dvel", "velocity")
        if dv.ndim == 0:
            if not (np.isfinite(dv) and dv > 0):
                raise ValueError(f"dvel must be positive and finite, not {dvel}")
            if dmask is not None and dmask:
                raise ValueError("dvel is masked")
        else:
            if dv.shape != shape:
                raise ValueError(f"dvel has shape {dv.shape} but velocity has shape {shape}")
            usable &= np.isfinite(dv) & (dv > 0)
            if dmask is not None:
                usable &= ~dmask

    xv, yv, vv = xv[usable], yv[usable], vv[usable]
    dv = dv[usable] if np.ndim(dv) else float(dv)
    return xv, yv, vv, dv, int(usable.size)


def fit_pa(field_or_x, y=None, velocity=None, *, ivar=None, dvel=10 * u.km / u.s,
           use_ivar=False, nsteps=361, min_points=None, method="fast"):
    """Fit the global kinematic position angle of a velocity field.

    The velocity field is symmetrised about trial axes (Krajnovic et al.
    2006, appendix C), with `pafit.fit_kinematic_pa` or the equivalent,
    faster ``'fast'`` engine; the sense of rotation
    is then found by comparing the median velocities on either side of the
    minor axis (Duckworth et al. 2020). Whether that comparison measures the
    sense at all is judged against the noise (``sense_determined`` and
    ``sense_significance`` of the result; see :doc:`/conventions`).

    Parameters
    ----------
    field_or_x : `~kinmisalign.VelocityField` or `~astropy.units.Quantity`
        A velocity field (its usable spaxels, ``field.good``, are fitted), or
        the x offsets (toward East, angle units) of a point list.
    y : `~astropy.units.Quantity`, optional
        Offsets toward North (angle units), with ``x``.
    velocity : `~astropy.units.Quantity`, optional
        Line-of-sight velocities (velocity units), with ``x``.
    ivar : `~astropy.units.Quantity`, optional
        Inverse variance of the velocities ((km/s)**-2) of a point list, used
        only with ``use_ivar=True``; a field brings its own.
    dvel : `~astropy.units.Quantity`, optional
        Velocity uncertainty used in the chi-square: a scalar (default
        10 km/s, as Duckworth et al. 2020) or one per point.
    use_ivar : bool, optional
        Use ``1 / sqrt(ivar)`` as per-point uncertainty instead of ``dvel``;
        points with ``ivar <= 0`` are dropped.
    nsteps : int, optional
        Number of trial angles from 0 to 180 degrees (default 361: 0.5-degree
        steps).
    min_points : int, optional
        Minimum number of usable points; default ``conf.min_points`` (20).
    method : {'fast', 'pafit'}, optional
        The engine. ``'fast'`` (default) is this package's implementation of
        the method (``kinmisalign._core.symmetry``): the trial angles,
        symmetrised model, chi-square, error rule and systemic-velocity
        correction of `pafit.fit_kinematic_pa`, but the points are
        triangulated once instead of once per trial angle and the mirror
        images are located by short walks in compiled code, which makes it
        about 190 to 230 times faster (``benchmarks/bench_pa.py``, 500 to
        4,000 points).
        ``'pafit'`` calls `pafit.fit_kinematic_pa` itself, the reference. The
        two agree to rounding when the points have a unique Delaunay
        triangulation, as the DAP's spaxel offsets do; see
        :doc:`/performance` for the agreement measured on real and mock
        fields.

    Returns
    -------
    `PAFit`

    Raises
    ------
    TypeError
        If coordinates or velocities are not Quantities.
    ValueError
        If shapes disagree or an option is invalid.
    `~kinmisalign.FitError`
        If the usable velocities are all equal (no rotation to measure) or
        the points are collinear.
    `~kinmisalign.NotEnoughPointsError`
        If fewer than ``min_points`` points are usable.

    Notes
    -----
    Masked elements (numpy masked arrays or `astropy.utils.masked` Quantities),
    non-finite coordinates or velocities, and velocities of the speed of light
    or more (corrupted values such as 1e30 km/s) are dropped before the fit:
    pafit itself ignores masks and silently returns 0 degrees on NaN.

    Examples
    --------
    Fit the stellar field of a mock galaxy whose stars rotate with their receding
    side at 30 degrees East of North (`kinmisalign.mock` writes the MAPS file):

    >>> import tempfile
    >>> from kinmisalign.mock import FieldModel, MockGalaxy, write_maps
    >>> galaxy = MockGalaxy(plateifu="8000-3703", inclination=55,
    ...                     stellar=FieldModel(pa=30.0, vmax=160.0, noise=6.0),
    ...                     gas=FieldModel(pa=250.0, vmax=200.0, noise=4.0))
    >>> from kinmisalign import fit_pa, read_maps
    >>> maps = read_maps(write_maps(galaxy, tempfile.mkdtemp(), seed=1))
    >>> fit = fit_pa(maps.stellar)
    >>> print(f"{fit.pa:.1f} +/- {fit.pa_err:.1f} from {fit.npoints} spaxels")
    30.5 deg +/- 0.9 deg from 764 spaxels
    >>> fit.sense_determined
    True
    """
    if method not in ENGINES:
        raise ValueError(f"unknown method {method!r}; available: {', '.join(sorted(ENGINES))}")
    if min_points is None:
        min_points = conf.min_points
    if int(min_points) != min_points or min_points < 3:
        raise ValueError(f"min_points must be an integer >= 3, not {min_points}")
    if int(nsteps) != nsteps or nsteps < 2:
        raise ValueError(f"nsteps must be an integer >= 2, not {nsteps}")

    x, y, v, dv, n_total = _point_arrays(field_or_x, y, velocity, ivar, dvel, use_ivar)
    npoints = int(v.size)
    if npoints < min_points:
        raise NotEnoughPointsError(
            f"only {npoints} usable point(s) of {n_total} (after dropping masked, non-finite "
            f"and faster-than-light values), at least min_points={min_points} are needed for a "
            "position-angle fit"
        )
    if np.ptp(v) == 0:
        raise FitError(
            f"all {npoints} usable velocities equal {v[0]:g} km/s: a constant field has no "
            "rotation, so no position angle can be fitted"
        )

    v0 = float(np.median(v))
    axis, err, dv_sys = ENGINES[method](x, y, v - v0, dv, int(nsteps))
    vsys = v0 + dv_sys
    pa, _ = receding_side_pa(x, y, v - vsys, axis)
    # The same symmetrised model at the best axis for either engine (pafit does not return
    # it): its chi-square and the correlation of its residuals scale the error to the noise,
    # its residuals judge the sense.
    chi2, model = symmetry_chi2(x, y, v - v0, dv, [axis])
    residual = (v - v0) - model[0]
    reduced_chi2 = float(chi2[0]) / (npoints - 1)
    area = correlation_area(x, y, residual)
    err = noise_scaled_error(3.0 * err, reduced_chi2, int(nsteps), area)
    significance = sense_significance(x, y, v - vsys, residual, axis, area=area)
    return PAFit(pa=pa * u.deg, pa_err=err * u.deg, vsys=vsys * (u.km / u.s),
                 npoints=npoints, method=method,
                 sense_determined=bool(significance > SENSE_THRESHOLD),
                 sense_significance=float(significance), reduced_chi2=reduced_chi2,
                 correlation_area=float(area))


# -- misalignment ---------------------------------------------------------------------------------

def _angle_input(value, name):
    """Degrees and mask (or None) of an angle Quantity, possibly masked."""
    return _values(value, u.deg, name, "angle")


def misalignment(pa1, pa2, err1=None, err2=None, *, sense_determined=None):
    """Misalignment between two kinematic position angles.

    ``dPA = min(|PA1 - PA2|, 360 deg - |PA1 - PA2|)``, in [0, 180] degrees,
    element-wise over (broadcast) arrays.

    Parameters
    ----------
    pa1, pa2 : `~astropy.units.Quantity` or `PAFit`
        Position angles (e.g. stellar and gas). A `PAFit` gives its ``pa``
        and, when the other side has an error too, its ``pa_err``; a
        `PAFit` whose sense of rotation is undetermined
        (``sense_determined`` False) gives a missing misalignment.
    err1, err2 : `~astropy.units.Quantity`, optional
        1-sigma errors of ``pa1`` and ``pa2``; give both or neither.
    sense_determined : bool or array of bool, optional
        For angles given as Quantities: False where the sense of rotation of
        either angle is undetermined (broadcast against the angles). There
        the misalignment and its error are missing, as they are for a
        missing angle: with only the axes known, dPA and 180 deg - dPA are
        equally possible, so neither the value nor the class (aligned or
        counter-rotating) is measured. Default: all determined.

    Returns
    -------
    dpa : `~astropy.units.Quantity`
        The misalignment in degrees.
    dpa_err : `~astropy.units.Quantity`
        Only when both errors are known: the two errors added in quadrature.

    Raises
    ------
    TypeError
        If an angle or error is a bare number or array rather than a Quantity
        (degrees or radians cannot be guessed).
    `~astropy.units.UnitConversionError`
        If an angle or error does not have angle units.
    ValueError
        If only one error is given, or the shapes do not broadcast.

    Notes
    -----
    Missing values: a NaN input, or an undetermined sense of rotation, gives
    NaN. If any input is a masked Quantity (`astropy.utils.masked.Masked`,
    or a numpy masked array of a Quantity), the outputs are
    `~astropy.utils.masked.Masked` Quantities, masked where any input is
    masked or NaN or a sense is undetermined; they become masked columns in
    an `~astropy.table.QTable`. Otherwise plain Quantities with NaN are
    returned.

    The misalignment of the axes alone, whatever the senses, is
    ``min(dPA, 180 deg - dPA)`` of the angles, in [0, 90] degrees.
    """
    if (err1 is None) != (err2 is None):
        raise ValueError("give both errors (err1 and err2) or neither")
    if isinstance(pa1, PAFit) and isinstance(pa2, PAFit) and err1 is None:
        err1, err2 = pa1.pa_err, pa2.pa_err
    determined = np.ones((), dtype=bool)
    if sense_determined is not None:
        if isinstance(pa1, PAFit) or isinstance(pa2, PAFit):
            raise TypeError("sense_determined is for angles given as Quantities; a PAFit "
                            "brings its own")
        determined = np.asarray(sense_determined)
        if determined.dtype != bool:
            raise TypeError(f"sense_determined must be bool, not {determined.dtype}")
    for fit in (pa1, pa2):
        if isinstance(fit, PAFit) and not fit.sense_determined:
            determined = np.zeros((), dtype=bool)
    pa1 = pa1.pa if isinstance(pa1, PAFit) else pa1
    pa2 = pa2.pa if isinstance(pa2, PAFit) else pa2

    a1, m1 = _angle_input(pa1, "pa1")
    a2, m2 = _angle_input(pa2, "pa2")
    arrays, masks = [a1, a2], [m1, m2]
    if err1 is not None:
        e1, me1 = _angle_input(err1, "err1")
        e2, me2 = _angle_input(err2, "err2")
        arrays += [e1, e2]
        masks += [me1, me2]
    try:
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays + [determined]))
    except ValueError:
        shapes = ", ".join(str(np.shape(a)) for a in arrays + [determined])
        raise ValueError("position angles, errors and sense_determined have incompatible "
                         f"shapes: {shapes}") from None

    dpa = np.array(np.broadcast_to(delta_pa(a1, a2), shape))
    # Without the sense of rotation of either field, dPA is not measured.
    dpa[~np.broadcast_to(determined, shape)] = np.nan
    missing = np.isnan(dpa)
    results = [dpa]
    if err1 is not None:
        err = np.array(np.broadcast_to(np.hypot(e1, e2), shape))
        # An error without a value means nothing: missing wherever the value is.
        err[missing] = np.nan
        missing |= np.isnan(err)
        results.append(err)

    if all(m is None for m in masks):
        outputs = [r[()] * u.deg for r in results]
    else:
        for m in masks:
            if m is not None:
                missing |= m
        outputs = [Masked(r * u.deg, mask=missing.copy()) for r in results]
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def misalignment_class(dpa):
    """Literature class of misalignments.

    Parameters
    ----------
    dpa : `~astropy.units.Quantity`
        Misalignments in [0, 180] degrees (e.g. from `misalignment`).

    Returns
    -------
    ndarray of str
        ``'aligned'`` (dPA < 30 deg), ``'misaligned'`` (30 to < 150 deg) or
        ``'counter-rotating'`` (>= 150 deg); ``''`` where dPA is NaN or masked
        (as `misalignment` makes it when a sense of rotation is undetermined:
        no class is then claimed).
    """
    values, mask = _angle_input(dpa, "dpa")
    out = classify_delta_pa(values)
    if mask is not None:
        out[np.broadcast_to(mask, out.shape)] = ""
    return out
