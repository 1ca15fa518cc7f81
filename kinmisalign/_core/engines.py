"""Position-angle engines: the kinematic axis of a point list, by name.

An engine finds the major axis of a velocity field by symmetrising it about trial
axes (Krajnovic et al. 2006, appendix C). All engines share one contract, arrays in
and arrays out, no units and no I/O::

    engine(x, y, velocity, dvel, nsteps) -> (axis, axis_err, vsys_offset)

``x`` toward East and ``y`` toward North (arcsec), ``velocity`` with an estimate of
the systemic velocity already subtracted (km/s), ``dvel`` (km/s, scalar or one per
point) and the number of trial angles from 0 to 180 degrees. The engine returns the
major-axis orientation in degrees East of North in [0, 180) (modulo 180: the sense of
rotation is found later), its 1-sigma error in degrees (pafit's rule on the
chi-square at face value; `kinmisalign.pa.fit_pa` scales it to the noise and to the
correlation of the residuals) and a correction to the systemic velocity in km/s. Points
that cannot be triangulated raise `~kinmisalign.FitError`.

To add an engine: write a function with this contract here, add it to `ENGINES` under
the name users pass as ``fit_pa(..., method=name)``, and test it against ``'pafit'``
as ``tests/test_pa_fast.py`` does for ``'fast'``. Imports that are slow or optional
belong inside the function, so that ``import kinmisalign`` stays quick.
"""

from ..exceptions import FitError
from .pa import axis_angle, to_ccw_from_y_frame

__all__ = ["ENGINES", "fast_engine", "pafit_engine"]

_NOT_TRIANGULABLE = ("the points cannot be triangulated (they are collinear or coincident), "
                     "so no position angle can be fitted")


def pafit_engine(x, y, velocity, dvel, nsteps):
    """Kinematic axis from `pafit.fit_kinematic_pa` (Krajnovic et al. 2006, appendix C).

    The reference engine. See the module docstring for the parameters and
    return values.
    """
    # Imported here: pafit pulls in matplotlib, which would slow down ``import kinmisalign``.
    from pafit.fit_kinematic_pa import fit_kinematic_pa
    from scipy.spatial import QhullError
    from threadpoolctl import threadpool_limits

    px, py = to_ccw_from_y_frame(x, y)
    try:
        # Multi-threaded BLAS makes pafit's many small interpolations several (under load:
        # tens of) times slower, so run it on one thread.
        with threadpool_limits(limits=1):
            angle, err3, dv = fit_kinematic_pa(px, py, velocity, nsteps=nsteps, dvel=dvel,
                                               plot=False, quiet=True)
    except QhullError as exc:
        raise FitError(_NOT_TRIANGULABLE) from exc
    return float(axis_angle(angle)), float(err3) / 3.0, float(dv)


def fast_engine(x, y, velocity, dvel, nsteps):
    """Kinematic axis by the same method, triangulating the points only once.

    See `kinmisalign._core.symmetry`: the same trial angles, symmetrised model,
    chi-square, error rule and systemic-velocity correction as pafit. See the
    module docstring for the parameters and return values.
    """
    from scipy.spatial import QhullError

    from .symmetry import fit_point_symmetry

    try:
        fit = fit_point_symmetry(x, y, velocity, dvel=dvel, nsteps=nsteps)
    except QhullError as exc:
        raise FitError(_NOT_TRIANGULABLE) from exc
    return float(axis_angle(fit.angle)), fit.error3 / 3.0, fit.vsys_offset


ENGINES = {"pafit": pafit_engine, "fast": fast_engine}
"""Position-angle engines by name (the ``method`` of `kinmisalign.pa.fit_pa`)."""
