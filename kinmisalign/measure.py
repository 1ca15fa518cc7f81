"""Measuring one observation: clean and fit both velocity fields, then their misalignment."""

from dataclasses import dataclass

from .cleaning import clean_velocity_field
from .exceptions import KinmisalignError, MapsFormatError
from .pa import fit_pa, misalignment, misalignment_class

__all__ = ["GalaxyKinematics", "measure_maps"]


@dataclass(frozen=True)
class GalaxyKinematics:
    """Kinematic measurements of one observation.

    Attributes
    ----------
    stellar, gas : `~kinmisalign.VelocityField`
        The cleaned velocity fields (``gas`` None when the maps have none).
    stellar_fit, gas_fit : `~kinmisalign.PAFit` or None
        The position-angle fits; None when a field could not be fitted.
    stellar_error, gas_error : `~kinmisalign.KinmisalignError` or None
        Why a field was not fitted (e.g. `~kinmisalign.NotEnoughPointsError`).
    dpa, dpa_err : `~astropy.units.Quantity` or None
        Misalignment and its 1σ error, when both fields were fitted and the
        sense of rotation of both is determined (``sense_determined`` of the
        fits); None otherwise: with a sense unknown, ΔPA and 180° − ΔPA are
        equally possible.
    meta : dict
        The observation's metadata (``MapsData.meta``).
    """

    stellar: object
    gas: object
    stellar_fit: object
    gas_fit: object
    stellar_error: Exception | None
    gas_error: Exception | None
    dpa: object
    dpa_err: object
    meta: dict

    @property
    def stellar_problem(self):
        """Why the stellar field was not fitted, in words (None when it was)."""
        return None if self.stellar_error is None else str(self.stellar_error)

    @property
    def gas_problem(self):
        """Why the gas field was not fitted, in words (None when it was)."""
        return None if self.gas_error is None else str(self.gas_error)

    @property
    def dpa_class(self):
        """'aligned', 'misaligned' or 'counter-rotating', or None when ΔPA is missing."""
        return None if self.dpa is None else misalignment_class(self.dpa)


def _clean_and_fit(field, clean_options, fit_options, caught):
    """(cleaned field, fit, error): a ``caught`` error leaves the fit (or both) None."""
    cleaned = None
    try:
        cleaned = clean_velocity_field(field, **clean_options)
        return cleaned, fit_pa(cleaned, **fit_options), None
    except caught as exc:
        return cleaned, None, exc


def measure_maps(maps, *, clean_options=None, fit_options=None, field_errors=KinmisalignError):
    """Clean and fit both velocity fields of an observation and measure their misalignment.

    A field that cannot be fitted (too few spaxels after cleaning, no
    velocity gradient) gets no fit and a stated reason instead of an error,
    so that the other field is still measured. The misalignment is left
    out (None) when either field's sense of rotation is undetermined.

    Parameters
    ----------
    maps : `~kinmisalign.MapsData`
        The observation, e.g. from `~kinmisalign.read_maps`.
    clean_options : dict, optional
        Keyword arguments of `~kinmisalign.clean_velocity_field`.
    fit_options : dict, optional
        Keyword arguments of `~kinmisalign.fit_pa`.
    field_errors : type or tuple of types, optional
        Errors met in one field's cleaning or fit that leave that field
        without a fit, the error as its reason, instead of being raised.
        Default `~kinmisalign.KinmisalignError` (what bad data gives); a
        batch run passes `Exception`, so that even a bug met in one field
        keeps the other field's PA.

    Returns
    -------
    `GalaxyKinematics`
        A ``maps.gas`` of None (read with ``line_required=False`` from a file
        without the line) gives no gas fit, with a
        `~kinmisalign.MapsFormatError` of ``maps.gas_problem`` as its error.
    """
    clean_options = dict(clean_options or {})
    fit_options = dict(fit_options or {})
    stellar, stellar_fit, stellar_error = _clean_and_fit(maps.stellar, clean_options,
                                                         fit_options, field_errors)
    if maps.gas is None:
        gas, gas_fit = None, None
        gas_error = MapsFormatError(getattr(maps, "gas_problem", None) or "no gas field")
    else:
        gas, gas_fit, gas_error = _clean_and_fit(maps.gas, clean_options, fit_options,
                                                 field_errors)
    dpa = dpa_err = None
    if (stellar_fit is not None and gas_fit is not None and stellar_fit.sense_determined
            and gas_fit.sense_determined):
        dpa, dpa_err = misalignment(stellar_fit, gas_fit)
    return GalaxyKinematics(stellar, gas, stellar_fit, gas_fit, stellar_error, gas_error,
                            dpa, dpa_err, dict(maps.meta))
