"""Synthetic MaNGA DAP MAPS files with known truth.

The generator draws a galaxy observed with a hexagonal MaNGA fibre bundle
(19 to 127 fibres), gives its stars and its ionised gas each a velocity field
(a thin rotating disc, or one of several unusable kinds: noise only, a
central gas hole, patchy gas, a merger-like two-component field, no gas at
all), adds the defects real fields carry (per-bin noise, masked spaxels,
spurious spikes, detached patches, warps) and writes a gzipped MAPS file in
the DAP data model of DR17 (DAP 3.1) or of DR15 (DAP 2.2): every extension,
with ``QUALDATA``/``ERRDATA`` companions, channel names, masks, inverse
variances, ``BINID`` and ``SPX_SKYCOO``, so that `kinmisalign.maps.read_maps`
and Marvin's local-file mode open it like a survey file.

Geometry and conventions (as in `kinmisalign.fields.VelocityField.from_array`):
``x`` grows toward East (+RA) and ``y`` toward North (+Dec), in arcsec from the
galaxy centre, which is the array centre; the row index grows toward North,
the column index toward West; spaxels are 0.5 arcsec. A position angle is
measured East of North to the receding (redshifted) side, in [0, 360).

This module never imports the MAPS reader, so tests of the reader that use
mock files check it against an independent writer.

The realistic mix drawn by `random_galaxy` comes from the public expert
classifications of Duckworth et al. (2020, MNRAS 492, 1869; 4,587 MPL-7
observations with valid labels); ``scripts/derive_mock_mix.py`` recomputes
the numbers below from that table. ``random_galaxy(style='real')`` draws the
same mix with stellar fields, Voronoi bins and footprints made to look like
real expert-labelled VOR10 stellar maps (slow and weak rotators near the
noise, faint galaxies with big bins, footprints that end at the S/N limit
inside the hexagon); `MockMaps.zeroed` gives the arrays in the form with 0 at
every masked spaxel.
"""

import functools
import gzip
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Column, MaskedColumn, Table

from ._datamodel import (
    BINID_CHANNELS,
    EMLINE_CHANNELS,
    LAYOUTS,
    MAPS_EXTENSIONS,
    MASK_BITS,
    SPAXEL_SIZE_ARCSEC,
)

__all__ = [
    "BUNDLE_SIZES",
    "IFU_DESIGNS",
    "HEX_FLAT_DIAMETER",
    "MAP_SIZES",
    "FIELD_KINDS",
    "BINNINGS",
    "BIN_MODELS",
    "STYLES",
    "BUNDLE_FRACTIONS",
    "AXIS_RATIO_HISTOGRAM",
    "STELLAR_UNUSABLE_BY_AXIS_RATIO",
    "STELLAR_UNUSABLE_BY_BUNDLE",
    "GAS_UNUSABLE_BY_AXIS_RATIO",
    "GAS_UNUSABLE_BY_BUNDLE",
    "GAS_UNUSABLE_REASONS",
    "MESSY_FRACTION",
    "DPA_HISTOGRAM",
    "FieldModel",
    "MockGalaxy",
    "MockMaps",
    "rotation_curve",
    "disc_velocity",
    "inclination_from_axis_ratio",
    "axis_ratio_from_inclination",
    "make_maps_arrays",
    "maps_hdulist",
    "maps_filename",
    "write_maps",
    "random_galaxy",
    "make_mock_catalogue",
]

# -- the instrument --------------------------------------------------------------------------
BUNDLE_SIZES = (19, 37, 61, 91, 127)
"""Fibres per MaNGA science bundle."""

IFU_DESIGNS = {
    19: (1901, 1902),
    37: (3701, 3702, 3703, 3704),
    61: (6101, 6102, 6103, 6104),
    91: (9101, 9102),
    127: (12701, 12702, 12703, 12704, 12705),
}
"""IFU design numbers per bundle size (the leading digits give the size)."""

HEX_FLAT_DIAMETER = {19: 12.5, 37: 17.5, 61: 22.5, 91: 27.0, 127: 31.5}
"""Flat-to-flat diameter (arcsec) of the covered hexagon, dithers included.

The real 37-fibre file 7815-3702 covers about 18 by 20 arcsec (flat to
flat, vertex to vertex), vertices toward East and West.
"""

MAP_SIZES = {19: (33, 35), 37: (43, 45), 61: (55, 57), 91: (65, 67), 127: (75,)}
"""Square map sizes (spaxels) per bundle; the first is the default.

Odd, so that one spaxel sits exactly on the galaxy centre with the
``(n - 1) / 2`` centring of `~kinmisalign.fields.VelocityField.from_array`.
"""

FIELD_KINDS = ("regular", "noise", "depleted", "patchy", "two_component", "absent")
"""Kinds of velocity field; see `FieldModel`."""

BINNINGS = ("HYB10", "VOR10", "SPX")
"""Binning schemes: hybrid (binned stars, per-spaxel gas), Voronoi (both binned), none."""

BIN_MODELS = ("simple", "calibrated")
"""How Voronoi bins are drawn; see `MockGalaxy`."""

STYLES = ("survey", "real")
"""Styles of `random_galaxy`: ``'survey'`` (the original mix) and ``'real'``."""

# -- the realistic mix (Duckworth et al. 2020 expert labels, MPL-7; see scripts/) ------------
BUNDLE_FRACTIONS = {19: 0.114, 37: 0.236, 61: 0.236, 91: 0.117, 127: 0.297}
"""Fraction of observations per bundle size."""

AXIS_RATIO_HISTOGRAM = (
    (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    (0.0, 0.002, 0.028, 0.057, 0.084, 0.116, 0.156, 0.191, 0.231, 0.135),
)
"""Bin edges and fractions of the NSA elliptical-Petrosian axis ratio b/a."""

_BA_EDGES = (0.0, 0.3, 0.5, 0.7, 0.85, 1.0001)
STELLAR_UNUSABLE_BY_AXIS_RATIO = (0.086, 0.113, 0.152, 0.232, 0.265)
"""Fraction of stellar fields judged unusable, per b/a bin 0-0.3-0.5-0.7-0.85-1."""
GAS_UNUSABLE_BY_AXIS_RATIO = (0.108, 0.164, 0.294, 0.413, 0.443)
"""Fraction of H-alpha fields judged unusable, per the same b/a bins."""
STELLAR_UNUSABLE_BY_BUNDLE = {19: 0.147, 37: 0.166, 61: 0.210, 91: 0.230, 127: 0.235}
"""Fraction of stellar fields judged unusable, per bundle size (all: 0.202)."""
GAS_UNUSABLE_BY_BUNDLE = {19: 0.422, 37: 0.405, 61: 0.376, 91: 0.307, 127: 0.265}
"""Fraction of H-alpha fields judged unusable, per bundle size (all: 0.347)."""
_STELLAR_UNUSABLE_ALL = 0.202
_GAS_UNUSABLE_ALL = 0.347
_GAS_UNUSABLE_GIVEN_STELLAR_USABLE = 0.190  # 0.152 / 0.798 of all observations
_GAS_USABLE_GIVEN_STELLAR_UNUSABLE = 0.035  # 0.007 / 0.203

GAS_UNUSABLE_REASONS = {"depletion": 0.55, "no_rotation": 0.20, "biased": 0.19, "other": 0.06}
"""Experts' notes on unusable gas when the stars were usable (n = 695)."""

MESSY_FRACTION = {"stellar": 0.325, "gas": 0.271}
"""Fraction of usable fields judged messy (quality 1) rather than clean (2)."""

DPA_HISTOGRAM = (
    (0.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 150.0, 170.0, 180.0),
    (0.6762, 0.1457, 0.0546, 0.0391, 0.0196, 0.0159, 0.0152, 0.0159, 0.0178),
)
"""Bin edges (deg) and fractions of the expert misalignment of galaxies with both
fields usable (n = 2,965): 12.2 % above 30 deg, 3.4 % above 150 deg."""

_INTRINSIC_THICKNESS = 0.2  # q0 of an oblate disc, for b/a <-> inclination

# -- data-model details of the files ---------------------------------------------------------
_SPECINDEX = (
    ("CN1", "mag", 0.02), ("CN2", "mag", 0.05), ("Ca4227", "ang", 1.0), ("G4300", "ang", 4.5),
    ("Fe4383", "ang", 4.0), ("Ca4455", "ang", 1.3), ("Fe4531", "ang", 3.2),
    ("C24668", "ang", 5.0), ("Hb", "ang", 2.2), ("Fe5015", "ang", 5.0), ("Mg1", "mag", 0.08),
    ("Mg2", "mag", 0.2), ("Mgb", "ang", 3.5), ("Fe5270", "ang", 2.8), ("Fe5335", "ang", 2.5),
    ("Fe5406", "ang", 1.6), ("Fe5709", "ang", 0.9), ("Fe5782", "ang", 0.8), ("NaD", "ang", 3.0),
    ("TiO1", "mag", 0.03), ("TiO2", "mag", 0.06), ("HDeltaA", "ang", -1.0),
    ("HGammaA", "ang", -3.0), ("HDeltaF", "ang", 0.8), ("HGammaF", "ang", -0.5),
    ("CaHK", "ang", 15.0), ("CaII1", "ang", 1.0), ("CaII2", "ang", 3.5), ("CaII3", "ang", 3.0),
    ("Pa17", "ang", 0.5), ("Pa14", "ang", 0.5), ("Pa12", "ang", 0.5), ("MgICvD", "ang", 0.5),
    ("NaICvD", "ang", 0.6), ("MgIIR", "ang", 0.4), ("FeHCvD", "ang", 0.4), ("NaI", "ang", 0.7),
    ("bTiO", "mag", 0.02), ("aTiO", "mag", 0.02), ("CaH1", "mag", 0.01), ("CaH2", "mag", 0.03),
    ("NaISDSS", "ang", 0.6), ("TiO2SDSS", "mag", 0.06), ("D4000", "", 1.6), ("Dn4000", "", 1.4),
    ("TiOCvD", "", 1.05),
)
_FOM_CHANNELS = (
    "RMS", "FRMS", "RCHI2", "68th perc frac resid", "99th perc frac resid", "max frac resid",
    "68th perc per pix chi", "99th perc per pix chi", "max per pix chi",
)
_FOM_VALUES = np.array([0.05, 0.03, 1.1, 0.03, 0.1, 0.2, 1.0, 3.0, 5.0], dtype=np.float32)
# Flux of each emission line relative to H-alpha (a typical star-forming spectrum).
_LINE_RATIOS = {
    "OII-3727": 0.6, "OII-3729": 0.8, "OIId-3728": 1.4, "Hb-4862": 0.3, "OIII-4960": 0.08,
    "OIII-5008": 0.25, "OI-6302": 0.05, "NII-6549": 0.12, "Ha-6564": 1.0, "NII-6585": 0.36,
    "SII-6718": 0.2, "SII-6732": 0.15,
}
_DEFAULT_LINE_RATIO = 0.02
_FLUX_UNIT = "1E-17 erg/s/cm^2/spaxel"
_FLUXD_UNIT = "1E-17 erg/s/cm^2/ang/spaxel"


def _bits(*names):
    """Integer mask value with the named MANGA_DAPPIXMASK bits set (Python ints)."""
    value = 0
    for name in names:
        value |= 1 << MASK_BITS[name]
    return value


_M_NOCOV = _bits("DONOTUSE", "NOCOV", "LOWCOV")  # 1073741827, as in real files
_M_LOWCOV = _bits("DONOTUSE", "LOWCOV")  # 1073741826
_M_NOVALUE = _bits("DONOTUSE", "NOVALUE")  # 1073741840
_M_BOUND = _bits("DONOTUSE", "NEARBOUND")  # 1073742080
_M_MATH = _bits("DONOTUSE", "MATHERROR")  # 1073741888


# -- truth -----------------------------------------------------------------------------------
@dataclass
class FieldModel:
    """Truth parameters of one velocity field (stars or ionised gas).

    Parameters
    ----------
    kind : str
        ``'regular'``: a rotating thin disc. ``'noise'``: no rotation, only
        noise and random small-scale structure (a face-on or slow rotator,
        or gas with no clear rotation). ``'depleted'``: a disc with a central
        hole (radius ``hole_fraction`` of the bundle radius) where the line
        is too faint and the DAP returns noise. ``'patchy'``: a disc seen only
        in patches covering ``patch_fraction`` of the footprint, noise in
        between. ``'two_component'``: merger-like, two discs blended (the
        second with ``second_pa``, its centre offset by ``second_offset``
        arcsec and its systemic velocity by ``second_vsys``). ``'absent'``:
        nothing detected, every spaxel masked.
    pa : float
        Kinematic position angle (deg), East of North to the receding side.
    vmax : float
        Asymptotic circular speed (km/s, deprojected) of the rotation curve
        ``vmax * (2 / pi) * arctan(R / r_turn)``.
    r_turn : float
        Turnover radius of the rotation curve (arcsec).
    vsys_offset : float
        Systemic velocity of this field relative to the galaxy's (km/s).
    noise : float
        Velocity error (km/s) at a continuum (stars) or line (gas) S/N of 10;
        the error of each spaxel or bin scales as 1/S/N.
    noise_amplitude : float
        Scatter (km/s) of the values where nothing is measured (noise fields,
        holes, gaps between patches, masked fits).
    inclination : float or None
        Inclination (deg) of this field's disc; None uses the galaxy's.
    pa_twist : float
        Warp: the kinematic PA turns by this many degrees from the centre to
        the bundle edge.
    masked_fraction : float
        Fraction of bins/spaxels masked inside the measured region (fits that
        hit a boundary or failed; values kept, as the DAP does).
    n_spikes : int
        Number of bins/spaxels given spuriously high velocities (150-450 km/s
        off), left unmasked.
    n_patches : int
        Number of small detached islands of spurious velocities, cut off from
        the main field by a ring of masked spaxels.
    hole_fraction : float
        Radius of the central hole of a ``'depleted'`` field, as a fraction of
        the bundle radius.
    patch_fraction : float
        Fraction of the footprint where a ``'patchy'`` field is measured.
    second_pa, second_offset, second_vsys, second_weight
        The second disc of a ``'two_component'`` field: PA (deg; None: 180 deg
        from ``pa``), centre offset (x, y) in arcsec, systemic velocity offset
        (km/s) and relative surface brightness.
    noise_scale : float
        Correlation length (arcsec) of the random structure of a ``'noise'``
        field (1.5 arcsec: small-scale noise; a few arcsec: the irregular,
        partly coherent velocities of slow rotators and disturbed galaxies).
    irregular : float
        RMS (km/s) of large-scale non-circular motions added to the field: a
        smooth random velocity pattern of correlation length
        ``irregular_scale`` (arcsec). 0 (the default) adds nothing.
    irregular_scale : float
        Correlation length (arcsec) of the ``irregular`` pattern.
    harmonic3 : float
        Line-of-sight amplitude (km/s) of a third-order harmonic
        ``cos(3 phi)`` of the disc azimuth ``phi`` (from the receding major
        axis), rising with radius like the rotation curve: point-symmetric
        non-circular motions such as those of bars and spiral arms. They
        leave the kinematic PA and the point antisymmetry of the field
        unchanged but are not part of a rotating disc. 0 adds nothing.
    """

    kind: str = "regular"
    pa: float = 0.0
    vmax: float = 150.0
    r_turn: float = 2.0
    vsys_offset: float = 0.0
    noise: float = 5.0
    noise_amplitude: float = 40.0
    inclination: float | None = None
    pa_twist: float = 0.0
    masked_fraction: float = 0.0
    n_spikes: int = 0
    n_patches: int = 0
    hole_fraction: float = 0.4
    patch_fraction: float = 0.5
    second_pa: float | None = None
    second_offset: tuple = (3.0, 0.0)
    second_vsys: float = 80.0
    second_weight: float = 1.0
    noise_scale: float = 1.5
    irregular: float = 0.0
    irregular_scale: float = 3.0
    harmonic3: float = 0.0

    def __post_init__(self):
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"kind must be one of {FIELD_KINDS}, not {self.kind!r}")
        self.pa = float(self.pa) % 360.0
        for name in ("noise", "noise_amplitude", "vmax", "r_turn", "noise_scale",
                     "irregular_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        if not 0.0 <= self.masked_fraction < 1.0:
            raise ValueError(f"masked_fraction must be in [0, 1), not {self.masked_fraction}")
        if self.n_spikes < 0 or self.n_patches < 0:
            raise ValueError("n_spikes and n_patches must be >= 0")
        for name in ("irregular", "harmonic3"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)!r}")
        self.second_offset = tuple(float(v) for v in self.second_offset)

    @property
    def rotates(self):
        """True when the field holds a measurable disc (a kinematic PA exists)."""
        return self.kind in ("regular", "depleted", "patchy")


@dataclass
class MockGalaxy:
    """Truth parameters of one synthetic MaNGA observation.

    Parameters
    ----------
    plateifu : str
        ``'<plate>-<ifudesign>'``; the IFU design gives the bundle size.
    mangaid : str
        Galaxy identifier (repeat observations share it).
    inclination : float
        Inclination of the discs (deg; 0 is face-on).
    vsys : float
        Systemic velocity (km/s) relative to the redshift the DAP assumed
        (MAPS velocities are relative to it, so this is small).
    redshift : float
        Redshift of the galaxy (header only).
    ra, dec : float
        Sky position (deg; header and WCS only).
    reff : float
        Effective radius (arcsec; header and ``SPX_ELLCOO`` only).
    coverage : float
        Radius where the continuum S/N per spaxel falls to 1, in units of the
        bundle radius; below 1 the outskirts of the bundle are left empty
        (``NOVALUE``), as for faint galaxies.
    sn_center : float
        Continuum S/N per spaxel at the centre.
    sn_gas : float
        H-alpha S/N per spaxel at the centre (of the undepleted disc).
    binning : {'HYB10', 'VOR10', 'SPX'}
        ``'HYB10'``: stars in Voronoi bins of S/N 10, gas per spaxel;
        ``'VOR10'``: both binned; ``'SPX'``: no binning.
    map_size : int or None
        Side of the square maps; None takes the default for the bundle.
    hex_rotation : float
        Rotation (deg) of the hexagonal footprint on the sky.
    seed : int or None
        Seed of the noise; None derives one from ``plateifu``.
    stellar, gas : `FieldModel`
        The two velocity fields.
    bin_model : {'simple', 'calibrated'}
        How the Voronoi bins (``HYB10`` stars, ``VOR10``) are drawn.
        ``'simple'``: cells that reach S/N 10 with the S/N of their spaxels
        added in quadrature, at most 40 spaxels. ``'calibrated'``: a spaxel
        of S/N ``s < 10`` lies in a bin of about ``(10 / s) ** 3.5`` spaxels
        (at most 250), the law that gives the spread of bin sizes of real
        VOR10 stellar maps (faint galaxies and outskirts get bins of tens to
        hundreds of spaxels); the noise of ``N`` binned spaxels exceeds their
        quadrature sum by ``N ** (1/2 - 1/3.5)`` (standing in for the
        covariance of neighbouring spaxels), so that the bins reach S/N 10
        and carry about the velocity error of S/N 10, as real bins do.
    trim_vertices : bool
        Make the measured region as in real maps: the low-coverage rim 9 % of
        the bundle radius wide (not 0.75 arcsec) and the East and West
        vertices of the hexagon cut at the flat-to-flat radius, so that the
        region spans about the flat-to-flat diameter East-West (real
        127-fibre maps: at most about 2,800 good spaxels, 29.5 by 32 arcsec).
    isophote_irregularity : float
        RMS relative distortion of the elliptical radius of the continuum S/N
        profile (a smooth random pattern, correlation length 2 arcsec): 0
        gives elliptical S/N contours, 0.1 to 0.2 the ragged, irregular
        footprints of real maps where the S/N limit falls inside the bundle.
    sn_scatter : float
        RMS (dex) of a spaxel-to-spaxel scatter of the continuum S/N (spatially
        correlated over about a spaxel): it makes the edge of an S/N-limited
        footprint ragged and leaves small detached specks beyond it, as in
        real maps. 0 (the default) adds none. With this or
        ``isophote_irregularity``, spaxels below S/N 1 enclosed by the
        footprint are kept, as real maps hardly have holes.
    noise_correlation : float
        Correlation length (arcsec, Gaussian sigma) of the velocity noise of
        neighbouring bins or spaxels, as the covariance of neighbouring
        spaxels in MaNGA cubes makes it; 0 (the default) draws independent
        noise.
    """

    plateifu: str = "8000-3701"
    mangaid: str = "1-100000"
    inclination: float = 60.0
    vsys: float = 0.0
    redshift: float = 0.03
    ra: float = 180.0
    dec: float = 30.0
    reff: float = 4.0
    coverage: float = 1.3
    sn_center: float = 40.0
    sn_gas: float = 40.0
    binning: str = "HYB10"
    map_size: int | None = None
    hex_rotation: float = 0.0
    seed: int | None = None
    stellar: FieldModel = field(default_factory=lambda: FieldModel(vmax=150.0, noise=8.0))
    gas: FieldModel = field(default_factory=lambda: FieldModel(vmax=200.0, noise=4.0))
    bin_model: str = "simple"
    trim_vertices: bool = False
    isophote_irregularity: float = 0.0
    sn_scatter: float = 0.0
    noise_correlation: float = 0.0

    def __post_init__(self):
        plate, ifu = _split_plateifu(self.plateifu)
        if self.bundle_size not in BUNDLE_SIZES:
            raise ValueError(f"IFU design {ifu} does not name a bundle size {BUNDLE_SIZES}")
        if self.binning not in BINNINGS:
            raise ValueError(f"binning must be one of {BINNINGS}, not {self.binning!r}")
        if not 0.0 <= self.inclination <= 90.0:
            raise ValueError(f"inclination must be in [0, 90] deg, not {self.inclination}")
        if self.bin_model not in BIN_MODELS:
            raise ValueError(f"bin_model must be one of {BIN_MODELS}, not {self.bin_model!r}")
        for name in ("isophote_irregularity", "sn_scatter", "noise_correlation"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)!r}")
        if self.map_size is not None and self.map_size < 16:
            raise ValueError(f"map_size must be >= 16, not {self.map_size}")
        for name in ("stellar", "gas"):
            if not isinstance(getattr(self, name), FieldModel):
                raise TypeError(f"{name} must be a FieldModel")

    # -- derived truth --
    @property
    def plate(self):
        """Plate number."""
        return _split_plateifu(self.plateifu)[0]

    @property
    def ifudesign(self):
        """IFU design number."""
        return _split_plateifu(self.plateifu)[1]

    @property
    def bundle_size(self):
        """Fibres in the bundle (19, 37, 61, 91 or 127)."""
        return int(str(self.ifudesign)[:-2])

    @property
    def shape(self):
        """Shape (ny, nx) of the maps."""
        n = self.map_size or MAP_SIZES[self.bundle_size][0]
        return (n, n)

    @property
    def axis_ratio(self):
        """Photometric axis ratio b/a of the (slightly thick) disc."""
        return axis_ratio_from_inclination(self.inclination)

    @property
    def pa_stellar(self):
        """Stellar kinematic PA (deg), or NaN when the stars show no disc."""
        return self.stellar.pa if self.stellar.rotates else np.nan

    @property
    def pa_gas(self):
        """Gas kinematic PA (deg), or NaN when the gas shows no disc."""
        return self.gas.pa if self.gas.rotates else np.nan

    @property
    def dpa(self):
        """True misalignment in [0, 180] deg, NaN when either PA is undefined."""
        d = abs(self.pa_stellar - self.pa_gas) % 360.0
        return min(d, 360.0 - d) if np.isfinite(d) else np.nan

    def quality(self, which):
        """Expert-like quality of one field: 0 don't use, 1 messy, 2 clean.

        The rules: a field without a measurable disc (kinds ``'noise'``,
        ``'absent'``, ``'two_component'``), a ``'depleted'`` field whose hole
        reaches 0.6 of the bundle radius, a ``'patchy'`` field covering less
        than 35 % of the footprint, a disc whose projected amplitude
        ``vmax sin(i)`` is below 2.5 times the noise, or a disc whose
        large-scale non-circular motions (``irregular``, RMS) exceed half its
        projected amplitude is 0. A usable field is messy (1) when it is
        depleted or patchy, carries more than one spike, any detached patch,
        more than 5 % masked bins, a warp above 10 deg, a projected amplitude
        below 6 times the noise, or ``irregular`` or ``harmonic3`` above 0.2
        times the projected amplitude; otherwise it is clean (2).

        The noise is the velocity error at S/N 10, which is about the error
        of every bin of a Voronoi-binned (S/N 10) map, so the amplitude rules
        compare the rotation with the scatter an expert sees. Fields drawn
        with ``random_galaxy(style='real')`` follow the same rules; there the
        unusable stellar fields are weak rotators (amplitude 0.6 to 2.2 times
        the noise), discs dominated by irregular motions, slow rotators with
        only irregular structure (``'noise'`` fields with a correlation length
        of a few arcsec) and mergers, most messy ones are slow or weak
        rotators (amplitude 2.8 to 6 times the noise), and clean ones carry
        non-circular motions below the messy limits, as the real
        expert-labelled maps show.

        Parameters
        ----------
        which : {'stellar', 'gas'}

        Returns
        -------
        int
        """
        f = self._field(which)
        inc = self.inclination if f.inclination is None else f.inclination
        amplitude = f.vmax * np.sin(np.radians(inc))
        if (not f.rotates or (f.kind == "depleted" and f.hole_fraction >= 0.6)
                or (f.kind == "patchy" and f.patch_fraction < 0.35)
                or amplitude < 2.5 * f.noise or f.irregular > 0.5 * amplitude):
            return 0
        messy = (f.kind in ("depleted", "patchy") or f.n_spikes > 1 or f.n_patches > 0
                 or f.masked_fraction > 0.05 or abs(f.pa_twist) > 10.0
                 or amplitude < 6.0 * f.noise or f.irregular > 0.2 * amplitude
                 or f.harmonic3 > 0.2 * amplitude)
        return 1 if messy else 2

    @property
    def usable_stellar(self):
        """Expert-like usability of the stellar field (quality >= 1)."""
        return self.quality("stellar") >= 1

    @property
    def usable_gas(self):
        """Expert-like usability of the gas field (quality >= 1)."""
        return self.quality("gas") >= 1

    def _field(self, which):
        if which not in ("stellar", "gas"):
            raise ValueError(f"which must be 'stellar' or 'gas', not {which!r}")
        return getattr(self, which)

    def resolved_seed(self):
        """The seed used for the noise: ``seed``, or a hash of ``plateifu``."""
        if self.seed is not None:
            return int(self.seed)
        return zlib.crc32(self.plateifu.encode())

    def truth(self):
        """The truth as a flat dict of upper-case catalogue columns.

        Returns
        -------
        dict
        """
        row = {
            "PLATEIFU": self.plateifu, "MANGAID": self.mangaid, "PLATE": self.plate,
            "IFUDSGN": self.ifudesign, "IFUDESIGNSIZE": self.bundle_size,
            "BINNING": self.binning, "INCLINATION_TRUE": self.inclination,
            "BA_TRUE": self.axis_ratio, "VSYS_TRUE": self.vsys,
            "PA_STELLAR_TRUE": self.pa_stellar, "PA_GAS_TRUE": self.pa_gas,
            "DPA_TRUE": self.dpa,
        }
        for which, f in (("STELLAR", self.stellar), ("GAS", self.gas)):
            row.update({
                f"KIND_{which}": f.kind, f"VMAX_{which}_TRUE": f.vmax,
                f"NOISE_{which}": f.noise, f"NSPIKES_{which}": f.n_spikes,
                f"NPATCHES_{which}": f.n_patches,
                f"QUALITY_{which}_TRUE": self.quality(which.lower()),
                f"USABLE_{which}_TRUE": self.quality(which.lower()) >= 1,
            })
        row["SEED"] = self.resolved_seed()
        return row


def _split_plateifu(plateifu):
    try:
        plate, ifu = str(plateifu).strip().split("-")
        return int(plate), int(ifu)
    except ValueError:
        raise ValueError(f"plateifu must look like '7815-3702', not {plateifu!r}") from None


# -- kinematics --------------------------------------------------------------------------------
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


# -- arrays ------------------------------------------------------------------------------------
@dataclass
class MockMaps:
    """The arrays of one mock MAPS file (no I/O; see `make_maps_arrays`).

    Maps are 2-D ``(ny, nx)`` in the DAP orientation; ``binid`` is
    ``(5, ny, nx)`` with the channels of ``BINID``.

    Attributes
    ----------
    x, y : numpy.ndarray
        Sky offsets (arcsec), ``x`` East, ``y`` North (``SPX_SKYCOO``).
    covered, lowcov : numpy.ndarray of bool
        Spaxels inside the bundle footprint, and its low-coverage rim.
    snr : numpy.ndarray
        Continuum S/N per spaxel (``SPX_SNR``).
    binid : numpy.ndarray of int
        Bin index per spaxel and channel, -1 where nothing was measured.
    stellar_vel, stellar_ivar, stellar_mask : numpy.ndarray
        ``STELLAR_VEL`` and its companions.
    stellar_model : numpy.ndarray
        The noise-free stellar velocity at each spaxel (before binning).
    stellar_sigma : numpy.ndarray
        ``STELLAR_SIGMA``.
    gas_vel, gas_ivar, gas_mask : numpy.ndarray
        The H-alpha channel of ``EMLINE_GVEL`` and its companions.
    gas_model : numpy.ndarray
        The noise-free gas velocity at each spaxel.
    gas_flux, gas_flux_ivar, gas_sigma : numpy.ndarray
        H-alpha ``EMLINE_GFLUX``, its inverse variance, ``EMLINE_GSIGMA``.
    mflux : numpy.ndarray
        Mean continuum flux per spaxel (``SPX_MFLUX``).
    defects : dict
        Boolean maps of where defects were placed, per field (``'stellar_'``
        or ``'gas_'`` prefix): ``_spikes``, ``_patches`` (detached islands)
        and ``_hole`` (the central hole of a depleted field, or the gaps
        between the patches of a patchy one).
    galaxy : MockGalaxy
        The truth these arrays were drawn from.
    seed : int
        The seed used.
    """

    x: np.ndarray
    y: np.ndarray
    covered: np.ndarray
    lowcov: np.ndarray
    snr: np.ndarray
    binid: np.ndarray
    stellar_vel: np.ndarray
    stellar_ivar: np.ndarray
    stellar_mask: np.ndarray
    stellar_model: np.ndarray
    stellar_sigma: np.ndarray
    gas_vel: np.ndarray
    gas_ivar: np.ndarray
    gas_mask: np.ndarray
    gas_model: np.ndarray
    gas_flux: np.ndarray
    gas_flux_ivar: np.ndarray
    gas_sigma: np.ndarray
    mflux: np.ndarray
    defects: dict
    galaxy: MockGalaxy
    seed: int

    def zeroed(self):
        """The same arrays with every masked spaxel's velocity set to 0.

        The DAP keeps the fitted values of flagged spaxels (failed fits, fits
        at a boundary) and stores 0 only where nothing was fitted; many users'
        arrays, and the real stellar maps of the development set, hold 0 at
        every masked spaxel instead. This gives that form: ``stellar_vel``
        and ``gas_vel`` are 0, and ``stellar_ivar`` and ``gas_ivar`` are 0,
        wherever the matching mask is non-zero. Masks, models and every other
        array are unchanged (copies of the changed arrays are made; this
        object is not modified).

        Returns
        -------
        MockMaps
        """
        out = {}
        for name in ("stellar", "gas"):
            masked = getattr(self, f"{name}_mask") != 0
            for kind in ("vel", "ivar"):
                out[f"{name}_{kind}"] = np.where(masked, 0.0, getattr(self, f"{name}_{kind}"))
        return replace(self, **out)


def _grid(shape):
    """Nominal spaxel offsets (arcsec): an exact lattice, East at column 0."""
    ny, nx = shape
    rows, cols = np.mgrid[0:ny, 0:nx]
    x = -(cols - (nx - 1) / 2.0) * SPAXEL_SIZE_ARCSEC
    y = (rows - (ny - 1) / 2.0) * SPAXEL_SIZE_ARCSEC
    return x, y


def _sky_offsets(shape, ra, dec):
    """Spaxel offsets as the DAP writes them in ``SPX_SKYCOO`` (arcsec, float32 values).

    The DAP deprojects the cube's gnomonic (TAN) WCS and takes ``x = (RA - RA0)
    cos(Dec0)``, ``y = Dec - Dec0`` (checked against the real file 7815-3702 to
    5e-7 arcsec), stored as float32. So the real offsets are not an exact lattice:
    the projection distorts the cells by up to ~1e-4 arcsec and float32 rounds
    each offset by ~1e-6 arcsec. That matters to triangulation-based fits: on an
    exact lattice four spaxels are co-circular in every cell and the Delaunay
    diagonals are arbitrary; on DAP offsets they are fixed by the data. The
    tangent point is the galaxy (``CRVAL`` = ``OBJRA``/``OBJDEC``).
    """
    u, v = _grid(shape)
    xi, eta = np.radians(u / 3600.0), np.radians(v / 3600.0)
    dec0 = np.radians(dec)
    # Inverse gnomonic projection about (ra, dec).
    denom = np.cos(dec0) - eta * np.sin(dec0)
    dra = np.arctan2(xi, denom)
    ddec = np.arctan2(np.sin(dec0) + eta * np.cos(dec0), np.hypot(xi, denom)) - dec0
    x = np.degrees(dra) * np.cos(dec0) * 3600.0
    y = np.degrees(ddec) * 3600.0
    return x.astype(np.float32).astype(float), y.astype(np.float32).astype(float)


def _hex_radius(x, y, rotation):
    """Distance-like measure equal to half the flat-to-flat diameter on a hexagon's edge.

    Flat sides face North and South, vertices East and West (as in real cubes).
    """
    t = np.radians(rotation)
    xr = x * np.cos(t) - y * np.sin(t)
    yr = x * np.sin(t) + y * np.cos(t)
    ay = np.abs(yr)
    return np.maximum(ay, 0.5 * ay + 0.5 * np.sqrt(3.0) * np.abs(xr))


def _elliptical_radius(x, y, pa, ba):
    t = np.radians(pa)
    major = x * np.sin(t) + y * np.cos(t)
    minor = -x * np.cos(t) + y * np.sin(t)
    return np.hypot(major, minor / ba), np.degrees(np.arctan2(minor / ba, major)) % 360.0


def _smooth_noise(rng, shape, scale):
    """A smooth random field of unit standard deviation (correlation ~``scale`` px)."""
    from scipy.ndimage import gaussian_filter

    field_ = gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
    return field_ / max(field_.std(), 1e-12)


def _voronoi_bins(snr, good, rng, target=10.0):
    """Stellar bins: single spaxels above ``target`` S/N, Voronoi-like cells below.

    Low-S/N spaxels are grouped around random seeds drawn with a density that
    makes each cell reach about ``target`` in S/N; bins are numbered by
    increasing distance from the centre.
    """
    from scipy.spatial import cKDTree

    ny, nx = snr.shape
    binid = np.full(snr.shape, -1, dtype=np.int64)
    rows, cols = np.nonzero(good)
    if rows.size == 0:
        return binid
    label = np.arange(rows.size)
    low = snr[rows, cols] < target
    if low.any():
        lr, lc = rows[low], cols[low]
        need = np.clip((target / np.maximum(snr[lr, lc], 1e-3)) ** 2, 1.0, 40.0)
        seeds = rng.random(lr.size) < 1.0 / need
        if not seeds.any():
            seeds[np.argmax(snr[lr, lc])] = True
        seed_idx = np.flatnonzero(seeds)
        tree = cKDTree(np.column_stack([lr[seed_idx], lc[seed_idx]]))
        _, nearest = tree.query(np.column_stack([lr, lc]))
        label[low] = rows.size + seed_idx[nearest]
    binid[rows, cols] = _rank_bins(label, rows, cols, snr.shape)
    return binid


def _rank_bins(label, rows, cols, shape):
    """Bin numbers ordered by the distance of each bin's nearest spaxel from the centre."""
    ny, nx = shape
    uniq, inverse = np.unique(label, return_inverse=True)
    r2 = (rows - (ny - 1) / 2.0) ** 2 + (cols - (nx - 1) / 2.0) ** 2
    order_key = np.full(uniq.size, np.inf)
    np.minimum.at(order_key, inverse, r2)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(order_key, kind="stable")] = np.arange(uniq.size)
    return rank[inverse]


_BIN_MAX = 250  # spaxels; the biggest bins of real VOR10 stellar maps hold ~100-250
_BIN_SIZE_POWER = 3.5
_BIN_LLOYD_STEPS = 2


def _bin_noise_factor(n):
    """Noise excess of ``n`` binned spaxels over their quadrature sum (`MockGalaxy.bin_model`).

    ``n ** (1/2 - 1/3.5)``: with it, a bin of ``(10 / s) ** 3.5`` spaxels of
    S/N ``s`` (the sizes `_voronoi_bins_calibrated` draws) reaches S/N 10.
    """
    return np.maximum(n, 1) ** (0.5 - 1.0 / _BIN_SIZE_POWER)


def _voronoi_bins_calibrated(snr, good, rng, target=10.0, max_size=_BIN_MAX):
    """Stellar bins sized as in real VOR10 maps (``bin_model='calibrated'``).

    Spaxels at or above ``target`` stay single. Below it, a spaxel of S/N
    ``s`` asks for a bin of ``(target / s) ** 3.5`` spaxels (at most
    ``max_size``): the law that, on mock S/N profiles, gives the spread of
    bin sizes of the 200 real VOR10 stellar maps of the development set (a
    stand-in for the DAP's covariance-corrected Voronoi binning). Bin
    centres are drawn with that density and regularised by two Lloyd steps;
    the low-S/N spaxels go to their nearest centre.
    """
    from scipy.spatial import cKDTree

    binid = np.full(snr.shape, -1, dtype=np.int64)
    rows, cols = np.nonzero(good)
    if rows.size == 0:
        return binid
    label = np.arange(rows.size)
    s = snr[rows, cols]
    low = s < target
    if low.any():
        lr, lc = rows[low], cols[low]
        need = np.clip((target / np.maximum(s[low], 1e-3)) ** _BIN_SIZE_POWER, 1.0, max_size)
        seeds = rng.random(lr.size) < 1.0 / need
        if not seeds.any():
            seeds[np.argmax(s[low])] = True
        points = np.column_stack([lr, lc]).astype(float)
        centres = points[seeds]
        # Lloyd steps with density need**-2: in 2-D the cells of a centroidal
        # tessellation have areas about density**-1/2, here ``need``.
        weight = need ** -2.0
        for _step in range(_BIN_LLOYD_STEPS):
            _, nearest = cKDTree(centres).query(points)
            wsum = np.bincount(nearest, weights=weight, minlength=len(centres))
            keep = wsum > 0
            sums = np.stack([np.bincount(nearest, weights=weight * points[:, k],
                                         minlength=len(centres)) for k in range(2)], axis=1)
            centres = sums[keep] / wsum[keep, None]
        _, nearest = cKDTree(centres).query(points)
        label[low] = rows.size + nearest
    binid[rows, cols] = _rank_bins(label, rows, cols, snr.shape)
    return binid


def _spaxel_ids(good):
    ids = np.full(good.shape, -1, dtype=np.int64)
    ids[good] = np.arange(int(good.sum()))
    return ids


def _field_model(gal, f, x, y, rng, r_bundle):
    """Noise-free velocity map and relative surface brightness of one field.

    Returns the velocity model, a surface-brightness factor in [0, 1] (zero
    where the field is not detected) and a boolean map of the hole or gaps.
    """
    inc = gal.inclination if f.inclination is None else f.inclination
    vsys = gal.vsys + f.vsys_offset
    twist_scale = max(r_bundle, 1.0)
    disc = disc_velocity(x, y, f.pa, inc, f.vmax, f.r_turn, vsys, f.pa_twist, twist_scale)
    light = np.ones_like(x)
    gaps = np.zeros(x.shape, dtype=bool)
    if f.kind == "noise":
        disc = vsys + 0.5 * f.noise_amplitude * _smooth_noise(
            rng, x.shape, f.noise_scale / SPAXEL_SIZE_ARCSEC)
    elif f.kind == "depleted":
        radius, _ = _elliptical_radius(x, y, f.pa, axis_ratio_from_inclination(inc))
        r_hole = f.hole_fraction * r_bundle
        light = 1.0 - np.exp(-((radius / max(r_hole, 1e-3)) ** 4))
        gaps = radius < r_hole
    elif f.kind == "patchy":
        blobs = _smooth_noise(rng, x.shape, 2.5)
        gaps = blobs < np.quantile(blobs, 1.0 - f.patch_fraction)
        light = np.where(gaps, 0.0, 1.0)
    elif f.kind == "two_component":
        pa2 = (f.pa + 180.0) % 360.0 if f.second_pa is None else f.second_pa
        dx, dy = f.second_offset
        second = disc_velocity(x - dx, y - dy, pa2, inc, f.vmax, f.r_turn,
                               vsys + f.second_vsys)
        w1 = np.exp(-np.hypot(x, y) / 3.0)
        w2 = f.second_weight * np.exp(-np.hypot(x - dx, y - dy) / 3.0)
        # Sharpened weights: each nucleus dominates its own side, blended between.
        disc = (w1**2 * disc + w2**2 * second) / (w1**2 + w2**2)
    elif f.kind == "absent":
        light = np.zeros_like(x)
        gaps = np.ones(x.shape, dtype=bool)
    if f.harmonic3 > 0 and f.kind != "absent":
        t = np.radians(f.pa)
        major = x * np.sin(t) + y * np.cos(t)
        minor = (-x * np.cos(t) + y * np.sin(t)) / max(np.cos(np.radians(inc)), 0.05)
        phi = np.arctan2(minor, major)
        rise = (2.0 / np.pi) * np.arctan(np.hypot(major, minor) / f.r_turn)
        disc = disc + f.harmonic3 * rise * np.cos(3.0 * phi)
    if f.irregular > 0 and f.kind != "absent":
        # Large-scale non-circular motions (drawn only when asked for, so that
        # fields without them keep their noise).
        disc = disc + f.irregular * _smooth_noise(rng, x.shape,
                                                  f.irregular_scale / SPAXEL_SIZE_ARCSEC)
    return disc, light, gaps


def _unit_average(values, weights, units, n_units):
    """Weighted mean of ``values`` over each unit (bin), broadcast back to spaxels."""
    sel = units >= 0
    wsum = np.bincount(units[sel], weights=weights[sel], minlength=n_units)
    vsum = np.bincount(units[sel], weights=(weights * values)[sel], minlength=n_units)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(wsum > 0, vsum / wsum, 0.0)
    return mean


def _measure(gal, f, x, y, units, snr_field, light, model, gaps, good, rng, r_bundle, name):
    """Binned, noisy velocities with mask and ivar for one field, defects included."""
    from scipy import ndimage

    shape = x.shape
    n_units = int(units.max()) + 1 if (units >= 0).any() else 0
    sel = units >= 0
    # S/N of each unit adds in quadrature over its spaxels.
    snr_unit = np.sqrt(np.bincount(units[sel], weights=(snr_field**2)[sel], minlength=n_units))
    if gal.bin_model == "calibrated":
        snr_unit /= _bin_noise_factor(np.bincount(units[sel], minlength=n_units))
    model_unit = _unit_average(model, np.maximum(snr_field, 1e-3) ** 2, units, n_units)
    err_unit = np.clip(f.noise * 10.0 / np.maximum(snr_unit, 1e-3), 0.1 * f.noise,
                       f.noise_amplitude)
    if gal.noise_correlation > 0 and n_units:
        # Correlated noise: each unit takes the value of a smooth unit-variance
        # field at its first spaxel, so that neighbouring small bins and
        # spaxels err alike and big bins independently.
        smooth = _smooth_noise(rng, shape, gal.noise_correlation / SPAXEL_SIZE_ARCSEC)
        flat = units.ravel()
        first = np.full(n_units, flat.size)
        np.minimum.at(first, flat[flat >= 0], np.flatnonzero(flat >= 0))
        vel_unit = model_unit + smooth.ravel()[first] * err_unit
    else:
        vel_unit = model_unit + rng.normal(0.0, 1.0, n_units) * err_unit
    # Where the field is not detected the fit returns noise about vsys.
    vsys = gal.vsys + f.vsys_offset
    light_unit = _unit_average(light, np.ones(shape), units, n_units)
    dark = light_unit < 0.5
    vel_unit[dark] = vsys + rng.normal(0.0, f.noise_amplitude, int(dark.sum()))
    err_unit[dark] = f.noise_amplitude
    unit_mask = np.zeros(n_units, dtype=np.int64)
    # Half of the undetected fits hit a boundary and are flagged.
    unit_mask[dark & (rng.random(n_units) < 0.5)] = _M_BOUND

    defects = {}
    usable_units = np.flatnonzero(~dark & (unit_mask == 0))
    if f.masked_fraction > 0 and usable_units.size:
        k = int(round(f.masked_fraction * usable_units.size))
        pick = rng.choice(usable_units, size=min(k, usable_units.size), replace=False)
        unit_mask[pick] = np.where(rng.random(pick.size) < 0.5, _M_BOUND, _M_MATH)
        vel_unit[pick] += rng.normal(0.0, f.noise_amplitude, pick.size)
        usable_units = np.setdiff1d(usable_units, pick)
    spikes = np.zeros(shape, dtype=bool)
    if f.n_spikes and usable_units.size:
        pick = rng.choice(usable_units, size=min(f.n_spikes, usable_units.size), replace=False)
        jump = rng.choice([-1.0, 1.0], pick.size) * rng.uniform(150, 450, pick.size)
        vel_unit[pick] = model_unit[pick] + jump
        spikes = np.isin(units, pick)

    vel = np.zeros(shape)
    ivar = np.zeros(shape)
    mask = np.zeros(shape, dtype=np.int64)
    vel[sel] = vel_unit[units[sel]]
    ivar[sel] = 1.0 / err_unit[units[sel]] ** 2
    mask[sel] = unit_mask[units[sel]]
    mask[good & ~sel] = _M_NOVALUE

    patches = np.zeros(shape, dtype=bool)
    if f.n_patches:
        patches, moat = _place_patches(f.n_patches, good & sel & (mask == 0) & ~spikes,
                                       units, rng)
        amp = f.vmax * np.sin(np.radians(gal.inclination if f.inclination is None
                                         else f.inclination))
        # Each island is offset from the disc as a whole (a spurious fit).
        islands, n_islands = ndimage.label(patches)
        for k in range(1, n_islands + 1):
            jump = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.2) * max(amp, 80.0)
            vel[islands == k] = model_unit[units[islands == k]] + jump
        mask[moat] = _M_MATH
    if f.kind == "absent":
        vel[sel] = 0.0
        ivar[sel] = 0.0
        mask[sel] = _M_NOVALUE
    defects[f"{name}_spikes"] = spikes
    defects[f"{name}_patches"] = patches
    defects[f"{name}_gaps"] = gaps & good
    return vel, ivar, mask, defects


def _place_patches(n, allowed, units, rng):
    """Islands of a few units near the edge of ``allowed``, cut off by a masked ring."""
    from scipy.ndimage import binary_dilation, binary_erosion

    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    patches = np.zeros(allowed.shape, dtype=bool)
    moat = np.zeros(allowed.shape, dtype=bool)
    # Candidates sit two to three spaxels inside the edge, so that the ring
    # separating them from the main field leaves the field itself intact.
    inner = binary_erosion(allowed, cross, iterations=2)
    edge = inner & ~binary_erosion(allowed, cross, iterations=4)
    for _ in range(n):
        cand = np.flatnonzero(edge & ~binary_dilation(patches | moat, cross, iterations=3))
        if cand.size == 0:
            break
        start = rng.choice(cand)
        blob = np.zeros(allowed.shape, dtype=bool)
        blob.flat[start] = True
        for _step in range(int(rng.integers(1, 6))):
            grow = binary_dilation(blob, cross) & inner & ~blob
            options = np.flatnonzero(grow)
            if options.size == 0:
                break
            blob.flat[rng.choice(options)] = True
        # Whole bins only, so binned values stay one per bin.
        blob = np.isin(units, np.unique(units[blob])) & allowed
        ring = binary_dilation(blob, cross) & ~blob
        patches |= blob
        moat |= ring
    moat &= ~patches
    return patches, moat


def make_maps_arrays(galaxy, seed=None):
    """Draw the arrays of a mock MAPS file (array level, no I/O).

    Parameters
    ----------
    galaxy : MockGalaxy
        The truth.
    seed : int, optional
        Seed of the noise; default ``galaxy.resolved_seed()``. The same
        galaxy and seed always give the same arrays.

    Returns
    -------
    MockMaps
    """
    from scipy import ndimage

    seed = galaxy.resolved_seed() if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    shape = galaxy.shape
    # The fields are drawn on the nominal lattice; the offsets reported are the DAP's
    # (they differ from it by < 1e-3 arcsec, far below the PSF).
    x, y = _grid(shape)
    sky_x, sky_y = _sky_offsets(shape, galaxy.ra, galaxy.dec)
    size = galaxy.bundle_size
    r_bundle = HEX_FLAT_DIAMETER[size] / 2.0

    # Footprint: a hexagon with a ragged low-coverage rim about two spaxels wide.
    h = _hex_radius(x, y, galaxy.hex_rotation) + rng.uniform(-0.3, 0.3, shape)
    covered = h <= r_bundle + 0.25
    # The jitter must not leave stray covered spaxels off the hexagon.
    labels, _ = ndimage.label(covered)
    covered = ndimage.binary_fill_holes(labels == labels[shape[0] // 2, shape[1] // 2])
    lowcov = covered & (h > r_bundle - 0.75)
    if galaxy.trim_vertices:
        # As in real maps: a rim 9 % of the radius wide, and the East and West
        # vertices lost beyond the flat-to-flat radius.
        t = np.radians(galaxy.hex_rotation)
        along = np.abs(x * np.cos(t) - y * np.sin(t))
        lowcov = covered & ((h > 0.91 * r_bundle) | (along > r_bundle - 0.25))
    inside = covered & ~lowcov

    # Continuum: exponential in elliptical radius about the photometric axis.
    pa_phot = galaxy.stellar.pa % 180.0
    r_ell, azimuth = _elliptical_radius(x, y, pa_phot, galaxy.axis_ratio)
    sn0 = max(galaxy.sn_center, 1.5)
    h_sn = galaxy.coverage * r_bundle / np.log(sn0)
    r_light = r_ell
    if galaxy.isophote_irregularity > 0:
        # Irregular isophotes: the S/N limit draws a ragged footprint.
        r_light = r_ell * np.maximum(
            1.0 + galaxy.isophote_irregularity * _smooth_noise(rng, shape, 4.0), 0.2)
    snr = sn0 * np.exp(-r_light / h_sn)
    if galaxy.sn_scatter > 0:
        snr = snr * 10.0 ** (galaxy.sn_scatter * _smooth_noise(rng, shape, 0.7))
    good = inside & (snr >= 1.0)
    if galaxy.sn_scatter > 0 or galaxy.isophote_irregularity > 0:
        # Real maps keep the few spaxels below the limit that the footprint
        # encloses (their bins absorb them): the scatter leaves a ragged edge
        # and detached specks, not holes.
        good = inside & ndimage.binary_fill_holes(snr >= 1.0)
    mflux = 0.05 * snr

    if galaxy.binning == "SPX":
        stellar_bins = _spaxel_ids(good)
    elif galaxy.bin_model == "calibrated":
        stellar_bins = _voronoi_bins_calibrated(snr, good, rng)
    else:
        stellar_bins = _voronoi_bins(snr, good, rng)
    spaxel_ids = _spaxel_ids(good)
    gas_bins = stellar_bins if galaxy.binning == "VOR10" else spaxel_ids
    binid = np.empty((5,) + shape, dtype=np.int64)
    binid[0] = binid[1] = stellar_bins
    binid[2] = binid[3] = binid[4] = gas_bins if galaxy.binning != "HYB10" else spaxel_ids

    defects = {}
    smodel, slight, sgaps = _field_model(galaxy, galaxy.stellar, x, y, rng, r_bundle)
    svel, sivar, smask, d = _measure(galaxy, galaxy.stellar, x, y, stellar_bins, snr * slight,
                                     slight, smodel, sgaps, good, rng, r_bundle, "stellar")
    defects.update(d)

    gmodel, glight, ggaps = _field_model(galaxy, galaxy.gas, x, y, rng, r_bundle)
    h_gas = max(galaxy.coverage, 0.8) * r_bundle / np.log(max(galaxy.sn_gas, 1.5) / 3.0 + 1.0)
    gprofile = np.exp(-r_ell / max(h_gas, 0.5))
    gsnr = galaxy.sn_gas * gprofile * glight
    gvel, givar, gmask, d = _measure(galaxy, galaxy.gas, x, y, gas_bins, gsnr, glight, gmodel,
                                     ggaps, good, rng, r_bundle, "gas")
    defects.update(d)
    defects["gas_hole"] = defects.pop("gas_gaps")
    defects["stellar_hole"] = defects.pop("stellar_gaps")

    # H-alpha flux (1e-17 erg/s/cm2/spaxel) with S/N gsnr; sigma maps.
    gflux = 5.0 * gprofile * glight
    flux_err = np.maximum(5.0 * gprofile / max(galaxy.sn_gas, 1.0), 1e-3)
    gflux = gflux + rng.normal(0.0, 1.0, shape) * flux_err
    gflux_ivar = 1.0 / flux_err**2
    ssig = 60.0 + 90.0 * np.exp(-r_ell / 3.0)
    ssig = ssig + rng.normal(0.0, 5.0, shape)
    gsig = 30.0 + 20.0 * np.exp(-r_ell / 3.0) + rng.normal(0.0, 3.0, shape)

    # The DAP writes zeros (and ivar 0) outside the footprint and where nothing was fitted.
    outside_mask = np.where(~covered, _M_NOCOV, np.where(lowcov, _M_LOWCOV, _M_NOVALUE))
    for vel, ivar, mask in ((svel, sivar, smask), (gvel, givar, gmask)):
        off = ~good
        vel[off] = 0.0
        ivar[off] = 0.0
        mask[off] = outside_mask[off]
        nov = (mask & (1 << MASK_BITS["NOVALUE"])) != 0
        vel[nov] = 0.0
        ivar[nov] = 0.0
    for arr in (gflux, gflux_ivar, gsig, ssig, mflux):
        arr[~good] = 0.0
    gflux_ivar[(gmask & (1 << MASK_BITS["NOVALUE"])) != 0] = 0.0
    binid[:, ~good] = -1

    return MockMaps(
        x=sky_x, y=sky_y, covered=covered, lowcov=lowcov, snr=np.where(covered, snr, 0.0),
        binid=binid, stellar_vel=svel, stellar_ivar=sivar, stellar_mask=smask,
        stellar_model=smodel, stellar_sigma=ssig, gas_vel=gvel, gas_ivar=givar,
        gas_mask=gmask, gas_model=gmodel, gas_flux=gflux, gas_flux_ivar=gflux_ivar,
        gas_sigma=gsig, mflux=mflux, defects=defects, galaxy=galaxy, seed=seed,
    )


# -- FITS --------------------------------------------------------------------------------------
def _channel_key(layout, prefix, index, n_channels):
    """Header key of channel ``index`` (1-based): DR15-era files zero-pad only long lists."""
    if layout == "DR15" and n_channels >= 10:
        return f"{prefix}{LAYOUTS['DR15']['channel_key'][1:].format(index)}"
    return f"{prefix}{index:d}"


def _emline_names(layout, summed):
    names = list(EMLINE_CHANNELS[layout])
    if summed:
        # Summed-flux extensions report the [OII] doublet as one line.
        names[0] = "OIId-3728"
    return names


def _channels(name, layout):
    """Channel names (and per-channel units, or None) of an extension, or (None, None)."""
    base = name.removesuffix("_IVAR").removesuffix("_MASK")
    if base in ("SPX_SKYCOO",):
        return ["On-sky X", "On-sky Y"], None
    if base == "BIN_LWSKYCOO":
        return ["Lum. weighted on-sky X", "Lum. weighted on-sky Y"], None
    if base in ("SPX_ELLCOO", "BIN_LWELLCOO"):
        lw = "Lum. weighted " if base.startswith("BIN") else ""
        names = [f"{lw}elliptical radius".capitalize(), "R/Re"]
        units = ["arcsec", ""]
        if layout == "DR17":
            names.append("R h/kpc")
            units.append("kpc/h")
        names.append(f"{lw}elliptical azimuth".capitalize())
        units.append("degrees")
        return names, units
    if base == "BINID":
        return list(BINID_CHANNELS), None
    if base == "STELLAR_SIGMACORR" and layout == "DR17":
        return ["resolution difference", "fit"], None
    if base == "STELLAR_CONT_FRESID":
        return ["68th percentile", "99th percentile"], None
    if base in ("STELLAR_FOM", "EMLINE_FOM"):
        return list(_FOM_CHANNELS), None
    if base.startswith("EMLINE_"):
        return _emline_names(layout, summed=base.startswith("EMLINE_S")), None
    if base.startswith("SPECINDEX"):
        names = [c[0] for c in _SPECINDEX]
        if name == base and not base.endswith(("_CORR", "_WGT", "_WGT_MODEL")):
            return names, [c[1] for c in _SPECINDEX]
        if name.endswith("_IVAR") and base in ("SPECINDEX", "SPECINDEX_BF"):
            return names, [f"({c[1]})^{{-2}}" if c[1] else "" for c in _SPECINDEX]
        return names, None
    return None, None


_BUNITS = {
    "SPX_SKYCOO": "arcsec", "BIN_LWSKYCOO": "arcsec", "SPX_MFLUX": _FLUXD_UNIT,
    "BIN_MFLUX": _FLUXD_UNIT, "BIN_AREA": "arcsec^2", "STELLAR_VEL": "km/s",
    "STELLAR_SIGMA": "km/s", "STELLAR_SIGMACORR": "km/s", "EMLINE_SFLUX": _FLUX_UNIT,
    "EMLINE_GFLUX": _FLUX_UNIT, "EMLINE_SEW": "ang", "EMLINE_GEW": "ang",
    "EMLINE_SEW_CNT": _FLUXD_UNIT, "EMLINE_GEW_CNT": _FLUXD_UNIT, "EMLINE_GVEL": "km/s",
    "EMLINE_GSIGMA": "km/s", "EMLINE_INSTSIGMA": "km/s", "EMLINE_TPLSIGMA": "km/s",
    "EMLINE_GA": _FLUXD_UNIT,
}


def _wcs_cards(galaxy, shape, n_axes):
    ny, nx = shape
    cards = [
        ("WCSAXES", n_axes, "Number of coordinate axes"),
        ("CRPIX1", (nx + 1) / 2.0, "Pixel coordinate of reference point"),
        ("CRPIX2", (ny + 1) / 2.0, "Pixel coordinate of reference point"),
    ]
    if n_axes == 3:
        cards.append(("CRPIX3", 1.0, "Pixel coordinate of reference point"))
    cards += [
        # East is at column 0: RA decreases with the column index.
        ("PC1_1", -SPAXEL_SIZE_ARCSEC / 3600.0, "Coordinate transformation matrix element"),
        ("PC2_2", SPAXEL_SIZE_ARCSEC / 3600.0, "Coordinate transformation matrix element"),
        ("CDELT1", 1.0, "[deg] Coordinate increment at reference point"),
        ("CDELT2", 1.0, "[deg] Coordinate increment at reference point"),
    ]
    if n_axes == 3:
        cards.append(("CDELT3", 1.0, "Coordinate increment at reference point"))
    cards += [
        ("CUNIT1", "deg", "Units of coordinate increment and value"),
        ("CUNIT2", "deg", "Units of coordinate increment and value"),
        ("CTYPE1", "RA---TAN", "Right ascension, gnomonic projection"),
        ("CTYPE2", "DEC--TAN", "Declination, gnomonic projection"),
        ("CRVAL1", float(galaxy.ra), "[deg] Coordinate value at reference point"),
        ("CRVAL2", float(galaxy.dec), "[deg] Coordinate value at reference point"),
    ]
    if n_axes == 3:
        cards.append(("CRVAL3", 1.0, "Coordinate value at reference point"))
    cards += [
        ("LONPOLE", 180.0, "[deg] Native longitude of celestial pole"),
        ("LATPOLE", float(galaxy.dec), "[deg] Native latitude of celestial pole"),
        ("RADESYS", "FK5", "Equatorial coordinate system"),
        ("EQUINOX", 2000.0, "[yr] Equinox of equatorial coordinates"),
        ("MJD-OBS", 57000.0, "[d] MJD for DATE-OBS"),
        ("DATE-OBS", "2014-12-09", "Date of median exposure"),
    ]
    if n_axes == 3:
        cards += [("CTYPE3", "", "Undefined type"), ("CUNIT3", "", "Undefined units")]
    return cards


def _primary_header(galaxy, layout, daptype, nbins, seed):
    info = LAYOUTS[layout]
    binkey, template = daptype.split("-", 1)
    plate, ifu = galaxy.plate, galaxy.ifudesign
    pa_phot = galaxy.stellar.pa % 180.0
    hdr = fits.Header()
    cards = [
        ("AUTHOR", "kinmisalign.mock", "Synthetic MaNGA DAP MAPS file"),
        ("VERSDRP2", info["versdrp3"], "MaNGA DRP version (2d processing)"),
        ("VERSDRP3", info["versdrp3"], "MaNGA DRP Version (3d processing)"),
        ("MASKNAME", "MANGA_DAPPIXMASK", "Bits in sdssMaskbits.par used by mask extension"),
        ("TELESCOP", "SDSS 2.5-M", "Sloan Digital Sky Survey"),
        ("INSTRUME", "MaNGA", "SDSS-IV MaNGA IFU"),
        ("SRVYMODE", "MaNGA dither", "Survey leading this observation and its mode"),
        ("EQUINOX", 2000.0, ""),
        ("RADESYS", "FK5", ""),
        ("NEXP", 9, "Total number of exposures"),
        ("EXPTIME", 8100.0, "Total exposure time (seconds)"),
        ("MJDMED", 57000, "MJD of median exposure"),
        ("DATE-OBS", "2014-12-09", "Date of median exposure"),
        ("MNGTARG1", 2080, "manga_target1 maskbit"),
        ("MNGTARG2", 0, "manga_target2 maskbit"),
        ("MNGTARG3", 0, "manga_target3 maskbit"),
        ("IFURA", float(galaxy.ra), "IFU R.A. (J2000 deg.)"),
        ("IFUDEC", float(galaxy.dec), "IFU Dec. (J2000 deg.)"),
        ("OBJRA", float(galaxy.ra), "Object R.A. (J2000 deg.)"),
        ("OBJDEC", float(galaxy.dec), "Object Dec. (J2000 deg.)"),
        ("PLATEID", plate, "Current plate"),
        ("IFUDSGN", int(ifu), "ifuDesign"),
        ("PLATEIFU", galaxy.plateifu, "PLATEID-ifuDesign"),
        ("MANGAID", galaxy.mangaid, "MaNGA ID number"),
        ("DRP3QUAL", 0, "DRP-3d quality bitmask"),
        ("EBVGAL", 0.03, "Galactic reddening E(B-V)"),
        ("RFWHM", 2.5, "Reconstructed FWHM in r-band (arcsec)"),
        ("VERSDAP", info["versdap"], "MaNGA DAP version"),
        ("DAPTYPE", daptype, "DAP analysis method"),
        ("DAPFRMT", "MAPS", "DAP data file format"),
        ("ECOOPA", round(pa_phot, 3), "Position angle for ellip. coo"),
        ("ECOOELL", round(1.0 - galaxy.axis_ratio, 4), "Ellipticity (1-b/a) for ellip. coo"),
        ("REFF", float(galaxy.reff), "Effective radius (arcsec)"),
        ("BINKEY", binkey, "Spectal binning method keyword"),
        ("NBINS", int(nbins), "Number of unique spatial bins"),
        # Marvin's local mode takes the template from SCKEY and matches it to its
        # datamodel's template names, which are the DAPTYPE suffixes.
        ("SCKEY", template, "Stellar-continuum model keyword"),
        ("SCINPVEL", round(galaxy.redshift * 299792.458, 3), "Initial guess velocity"),
        ("DAPQUAL", 0, "DAP quality bitmask"),
        # Truth, for tests and benchmarks (readers ignore unknown keys).
        ("MOCK", True, "Synthetic file written by kinmisalign.mock"),
        ("MKSEED", int(seed), "Seed of the mock noise"),
        ("MKINC", float(galaxy.inclination), "[deg] True inclination"),
        ("MKVSYS", float(galaxy.vsys), "[km/s] True systemic velocity"),
        ("MKPASTEL", float(galaxy.stellar.pa), "[deg] True stellar PA (receding side)"),
        ("MKPAGAS", float(galaxy.gas.pa), "[deg] True gas PA (receding side)"),
        ("MKKSTEL", galaxy.stellar.kind, "Kind of stellar field"),
        ("MKKGAS", galaxy.gas.kind, "Kind of gas field"),
        ("MKQSTEL", galaxy.quality("stellar"), "Expert-like stellar quality 0/1/2"),
        ("MKQGAS", galaxy.quality("gas"), "Expert-like gas quality 0/1/2"),
    ]
    for key, value, comment in cards:
        hdr[key] = (value, comment)
    return hdr


def _payloads(m, layout):
    """Data array of every extension of the layout, by name."""
    gal = m.galaxy
    shape = m.x.shape
    good = m.binid[1] >= 0
    f32 = np.float32
    base_mask = np.where(good, 0, m.stellar_mask).astype(np.int32)
    sbins = m.binid[1]
    n_sbins = int(sbins.max()) + 1 if good.any() else 0
    weight = np.maximum(m.snr, 1e-3) ** 2

    def per_bin(values):
        mean = _unit_average(values, weight, sbins, n_sbins)
        out = np.zeros(shape)
        out[good] = mean[sbins[good]]
        return out

    def cube(vector, plane, dtype=f32):
        return (np.asarray(vector, dtype=float)[:, None, None] * plane[None]).astype(dtype)

    def stack_mask(mask, n):
        return np.repeat(mask[None].astype(np.int32), n, axis=0)

    r_ell, az = _elliptical_radius(m.x, m.y, gal.stellar.pa % 180.0, gal.axis_ratio)
    r_ell, az = np.where(m.covered, r_ell, 0.0), np.where(m.covered, az, 0.0)
    ell = [r_ell, r_ell / gal.reff]
    if layout == "DR17":
        ell.append(r_ell * gal.redshift * 299792.458 / 100.0 / 206.264806)
    ell.append(az)
    npix = np.bincount(sbins[good], minlength=n_sbins) if n_sbins else np.zeros(0)
    area = np.zeros(shape)
    area[good] = 0.25 * npix[sbins[good]]
    bin_snr = np.zeros(shape)
    if n_sbins:
        snr_bin = np.sqrt(np.bincount(sbins[good], weights=m.snr[good] ** 2, minlength=n_sbins))
        if gal.bin_model == "calibrated":
            snr_bin /= _bin_noise_factor(npix)
        bin_snr[good] = snr_bin[sbins[good]]
    mflux_ivar = np.where(m.mflux > 0, (m.snr / np.maximum(m.mflux, 1e-6)) ** 2, 0.0)
    sig_ivar = np.where(good & (m.stellar_mask == 0), 1.0 / 10.0**2, 0.0)
    on = good.astype(float)

    emn = len(EMLINE_CHANNELS[layout])
    gratio, sratio = (
        np.array([_LINE_RATIOS.get(c, _DEFAULT_LINE_RATIO) for c in _emline_names(layout, s)])
        for s in (False, True)
    )
    cont = np.where(good, np.maximum(m.mflux, 1e-3), 0.0)
    ew = np.where(good, m.gas_flux / np.maximum(cont, 1e-3), 0.0)
    gmask = stack_mask(m.gas_mask, emn)
    gas_on = np.where(m.gas_mask & (1 << MASK_BITS["NOVALUE"]), 0.0, on)
    nidx = len(_SPECINDEX)
    idx_value = np.array([c[2] for c in _SPECINDEX])
    idx_ivar = 1.0 / (0.1 * np.abs(idx_value) + 0.01) ** 2

    p = {
        "SPX_SKYCOO": np.stack([m.x, m.y]).astype(f32),
        "SPX_ELLCOO": np.stack(ell).astype(f32),
        "SPX_MFLUX": m.mflux.astype(f32),
        "SPX_MFLUX_IVAR": mflux_ivar.astype(f32),
        "SPX_SNR": m.snr.astype(f32),
        "BINID": m.binid.astype(np.int32),
        "BIN_LWSKYCOO": np.stack([per_bin(m.x), per_bin(m.y)]).astype(f32),
        "BIN_LWELLCOO": np.stack([per_bin(c) for c in ell]).astype(f32),
        "BIN_AREA": area.astype(f32),
        "BIN_FAREA": on.astype(f32),
        "BIN_MFLUX": per_bin(m.mflux).astype(f32),
        "BIN_MFLUX_IVAR": np.where(good, mflux_ivar, 0.0).astype(f32),
        "BIN_MFLUX_MASK": base_mask,
        "BIN_SNR": bin_snr.astype(f32),
        "STELLAR_VEL": m.stellar_vel.astype(f32),
        "STELLAR_VEL_IVAR": m.stellar_ivar.astype(f32),
        "STELLAR_VEL_MASK": m.stellar_mask.astype(np.int32),
        "STELLAR_SIGMA": per_bin(m.stellar_sigma).astype(f32),
        "STELLAR_SIGMA_IVAR": sig_ivar.astype(f32),
        "STELLAR_SIGMA_MASK": m.stellar_mask.astype(np.int32),
        "STELLAR_SIGMACORR": (cube([20.0, 15.0], on) if layout == "DR17"
                              else (20.0 * on).astype(f32)),
        "STELLAR_CONT_FRESID": cube([0.03, 0.1], on),
        "STELLAR_CONT_RCHI2": (1.1 * on).astype(f32),
        "STELLAR_FOM": cube(_FOM_VALUES, on),
        "EMLINE_SFLUX": cube(sratio, m.gas_flux),
        "EMLINE_SFLUX_IVAR": cube(1.0 / sratio**2, m.gas_flux_ivar),
        "EMLINE_SFLUX_MASK": gmask,
        "EMLINE_SEW": cube(sratio, ew),
        "EMLINE_SEW_CNT": cube(np.ones(emn), cont),
        "EMLINE_SEW_IVAR": cube(1.0 / sratio**2, np.where(ew != 0, 1.0, 0.0) * gas_on),
        "EMLINE_SEW_MASK": gmask,
        "EMLINE_GFLUX": cube(gratio, m.gas_flux),
        "EMLINE_GFLUX_IVAR": cube(1.0 / gratio**2, m.gas_flux_ivar),
        "EMLINE_GFLUX_MASK": gmask,
        "EMLINE_GEW": cube(gratio, ew),
        "EMLINE_GEW_CNT": cube(np.ones(emn), cont),
        "EMLINE_GEW_IVAR": cube(1.0 / gratio**2, np.where(ew != 0, 1.0, 0.0) * gas_on),
        "EMLINE_GEW_MASK": gmask,
        # The DAP ties the velocities of all lines: every channel holds the same map.
        "EMLINE_GVEL": cube(np.ones(emn), m.gas_vel),
        "EMLINE_GVEL_IVAR": cube(np.ones(emn), m.gas_ivar),
        "EMLINE_GVEL_MASK": gmask,
        "EMLINE_GSIGMA": cube(np.ones(emn), m.gas_sigma),
        "EMLINE_GSIGMA_IVAR": cube(np.ones(emn), gas_on / 5.0**2),
        "EMLINE_GSIGMA_MASK": gmask,
        "EMLINE_INSTSIGMA": cube(np.linspace(80.0, 60.0, emn), on),
        "EMLINE_TPLSIGMA": cube(np.linspace(60.0, 45.0, emn), on),
        "EMLINE_GA": cube(gratio, 0.1 * m.gas_flux),
        "EMLINE_GANR": cube(gratio, np.sqrt(np.maximum(m.gas_flux_ivar, 0.0)) * m.gas_flux),
        "EMLINE_FOM": cube(_FOM_VALUES, on),
        "EMLINE_LFOM": cube(np.ones(emn), gas_on),
    }
    idx_mask = stack_mask(base_mask, nidx)
    for prefix in ("SPECINDEX", "SPECINDEX_BF"):
        p[prefix] = cube(idx_value, on)
        p[f"{prefix}_IVAR"] = cube(idx_ivar, on)
        p[f"{prefix}_MASK"] = idx_mask
        p[f"{prefix}_CORR"] = cube(np.ones(nidx), on)
        p[f"{prefix}_MODEL"] = cube(idx_value, on)
    p["SPECINDEX_WGT"] = cube(np.ones(nidx), cont)
    p["SPECINDEX_WGT_IVAR"] = cube(np.ones(nidx), on * 100.0)
    p["SPECINDEX_WGT_MASK"] = idx_mask
    p["SPECINDEX_WGT_CORR"] = cube(np.ones(nidx), on)
    p["SPECINDEX_WGT_MODEL"] = cube(np.ones(nidx), cont)
    return p


@functools.lru_cache(maxsize=512)
def _static_cards(name, layout, ndim, n_channels):
    """Header cards of an extension that do not depend on the galaxy (cached).

    Building `~astropy.io.fits.Card` objects dominates the cost of writing a
    file, so the cards are made once per extension and layout and reused.
    """
    names = MAPS_EXTENSIONS[layout]
    cards = [("AUTHOR", "kinmisalign.mock", ""), ("MASKNAME", "MANGA_DAPPIXMASK", "")]
    channels, units = _channels(name, layout)
    if channels is not None:
        if ndim != 3 or n_channels != len(channels):
            raise RuntimeError(f"{name}: {len(channels)} channels for {n_channels} planes")
        for i, cname in enumerate(channels, start=1):
            cards.append((_channel_key(layout, "C", i, len(channels)), cname,
                          f"Data in channel {i}"))
            if units is not None:
                cards.append((_channel_key(layout, "U", i, len(channels)), units[i - 1],
                              f"Units of data in channel {i}"))
    is_ivar = name.endswith("_IVAR") and name[:-5] in names
    is_mask = name.endswith("_MASK") and name[:-5] in names
    base = name[:-5] if (is_ivar or is_mask) else name
    bunit = _BUNITS.get(base)
    if bunit is not None and not is_mask:
        cards.append(("BUNIT", f"({bunit})^{{-2}}" if is_ivar else bunit, "Unit of pixel value"))
    cards += [("HDUCLASS", "SDSS", "SDSS format class"), ("HDUCLAS1", "CUBE", "Data format")]
    if is_ivar:
        cards += [("HDUCLAS2", "ERROR", ""),
                  ("HDUCLAS3", "INVMSE", "Value is inverse mean-square error"),
                  ("SCIDATA", base, "Associated data extension")]
        if f"{base}_MASK" in names:
            cards.append(("QUALDATA", f"{base}_MASK", "Associated quality extension"))
    elif is_mask:
        cards += [("HDUCLAS2", "QUALITY", ""), ("HDUCLAS3", "FLAG32BIT", "32-bit quality flags"),
                  ("SCIDATA", base, "Associated data extension")]
        if f"{base}_IVAR" in names:
            cards.append(("ERRDATA", f"{base}_IVAR", "Associated inv. variance extension"))
    else:
        cards.append(("HDUCLAS2", "DATA", ""))
        if f"{name}_IVAR" in names:
            cards.append(("ERRDATA", f"{name}_IVAR", "Associated inv. variance extension"))
        if f"{name}_MASK" in names:
            cards.append(("QUALDATA", f"{name}_MASK", "Associated quality extension"))
    cards.append(("EXTNAME", name, "extension name"))
    return tuple(fits.Card(*c) for c in cards)


def _ext_header(name, data, layout, wcs_cards):
    n_channels = data.shape[0] if data.ndim == 3 else 0
    cards = wcs_cards[data.ndim] + _static_cards(name, layout, data.ndim, n_channels)
    # ImageHDU copies the header's cards, so the cached ones are never modified.
    return fits.Header(list(cards))


def maps_hdulist(source, layout="DR17", daptype=None, seed=None):
    """Build the HDU list of a mock MAPS file in memory.

    Parameters
    ----------
    source : MockGalaxy or MockMaps
        The truth (arrays are drawn with ``seed``), or arrays already drawn.
    layout : {'DR17', 'DR15'}, optional
        DAP data model: DR17 (DAP 3.1.0, 63 HDUs, 35 emission lines, ``C24``
        is H-alpha) or DR15 (DAP 2.2.1, 48 HDUs, 22 lines, zero-padded
        ``C19``).
    daptype : str, optional
        DAPTYPE; default the galaxy's binning with the layout's templates,
        e.g. ``'HYB10-MILESHC-MASTARSSP'`` or ``'HYB10-GAU-MILESHC'``.
    seed : int, optional
        Seed when ``source`` is a `MockGalaxy`.

    Returns
    -------
    astropy.io.fits.HDUList
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, not {layout!r}")
    m = source if isinstance(source, MockMaps) else make_maps_arrays(source, seed=seed)
    galaxy = m.galaxy
    if daptype is None:
        daptype = _daptype(galaxy.binning, layout)
    names = MAPS_EXTENSIONS[layout]
    payload = _payloads(m, layout)
    nbins = int(m.binid[1].max()) + 1
    hdus = [fits.PrimaryHDU(header=_primary_header(galaxy, layout, daptype, nbins, m.seed))]
    shape = m.x.shape
    wcs_cards = {n: tuple(fits.Card(*c) for c in _wcs_cards(galaxy, shape, n)) for n in (2, 3)}
    for name in names:
        data = payload[name]
        hdus.append(fits.ImageHDU(data=data, header=_ext_header(name, data, layout, wcs_cards)))
    return fits.HDUList(hdus)


def _daptype(binning, layout):
    template = LAYOUTS[layout]["daptype"].split("-", 1)[1]
    return f"{binning}-{template}"


def maps_filename(plateifu, daptype):
    """Survey file name ``manga-<plate>-<ifu>-MAPS-<DAPTYPE>.fits.gz``.

    Parameters
    ----------
    plateifu, daptype : str

    Returns
    -------
    str
    """
    plate, ifu = _split_plateifu(plateifu)
    return f"manga-{plate}-{ifu}-MAPS-{daptype}.fits.gz"


def write_maps(galaxy, path, layout="DR17", seed=None, *, daptype=None, tree=False,
               overwrite=False, compresslevel=3):
    """Write a mock MAPS file.

    Parameters
    ----------
    galaxy : MockGalaxy or MockMaps
        The truth, or arrays already drawn with `make_maps_arrays`.
    path : str or path-like
        A directory (the survey file name is made up inside it) or a file
        path ending in ``.fits.gz`` or ``.fits``.
    layout : {'DR17', 'DR15'}, optional
        DAP data model (see `maps_hdulist`).
    seed : int, optional
        Seed of the noise; default ``galaxy.resolved_seed()``.
    daptype : str, optional
        DAPTYPE of the file; default from the binning and layout.
    tree : bool, optional
        When ``path`` is a directory, write into the survey's layout
        ``<DAPTYPE>/<plate>/<ifu>/`` below it.
    overwrite : bool, optional
        Replace an existing file; without it an existing file is an error.
    compresslevel : int, optional
        gzip level, 1 (fast) to 9 (small).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    m = galaxy if isinstance(galaxy, MockMaps) else make_maps_arrays(galaxy, seed=seed)
    if daptype is None:
        daptype = _daptype(m.galaxy.binning, layout)
    path = Path(path)
    if path.suffix not in (".gz", ".fits"):
        if tree:
            plate, ifu = _split_plateifu(m.galaxy.plateifu)
            path = path / daptype / str(plate) / str(ifu)
        path = path / maps_filename(m.galaxy.plateifu, daptype)
    from ._files import publish, refuse_existing

    if not overwrite:
        refuse_existing([path])
    path.parent.mkdir(parents=True, exist_ok=True)
    hdul = maps_hdulist(m, layout=layout, daptype=daptype)
    # Write beside the target and rename, so readers never see half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix == ".gz":
            # mtime=0 keeps the bytes identical for identical content.
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                       compresslevel=compresslevel,
                                                       filename="") as fh:
                # Verification costs more than the rest; the tests verify mock files.
                hdul.writeto(fh, output_verify="ignore")
        else:
            hdul.writeto(tmp, output_verify="ignore")
        publish(tmp, path, overwrite)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# -- the realistic mix -------------------------------------------------------------------------
def _draw_hist(rng, edges, fractions):
    p = np.asarray(fractions, dtype=float)
    k = rng.choice(p.size, p=p / p.sum())
    return rng.uniform(edges[k], edges[k + 1])


def _ba_bin(ba):
    return int(np.clip(np.searchsorted(_BA_EDGES, ba, side="right") - 1, 0, 4))


def _usable_field(rng, pa, vmax, inclination, messy, noise_range, gas):
    """A rotating field that the quality rules call clean or messy."""
    amp = vmax * np.sin(np.radians(inclination))
    if amp < 15.0:  # nearly face-on: only a fast rotator stays measurable
        vmax = 15.0 / max(np.sin(np.radians(inclination)), 0.05)
        amp = 15.0
    lo, hi = noise_range[messy]
    noise = float(np.clip(rng.uniform(lo, hi), 1.0, amp / (3.0 if messy else 6.5)))
    kw = dict(pa=pa, vmax=float(vmax), noise=noise, r_turn=float(rng.uniform(0.7, 4.0)),
              noise_amplitude=float(rng.uniform(20.0, 60.0)))
    if not messy:
        kw.update(n_spikes=int(rng.random() < 0.3), masked_fraction=float(rng.uniform(0, 0.03)),
                  pa_twist=float(rng.uniform(-5.0, 5.0)))
        return FieldModel(**kw)
    kind = "regular"
    if gas:
        kind = rng.choice(["regular", "depleted", "patchy"], p=[0.6, 0.25, 0.15])
    kw.update(kind=str(kind), hole_fraction=float(rng.uniform(0.15, 0.45)),
              patch_fraction=float(rng.uniform(0.5, 0.8)))
    # At least one defect that makes an expert call the field messy.
    flags = rng.random(4) < 0.45
    if kind == "regular" and not flags.any():
        flags[rng.integers(4)] = True
    kw["n_spikes"] = int(rng.integers(2, 7)) if flags[0] else int(rng.random() < 0.5)
    kw["n_patches"] = int(rng.integers(1, 3)) if flags[1] else 0
    kw["masked_fraction"] = float(rng.uniform(0.06, 0.15) if flags[2] else rng.uniform(0, 0.04))
    kw["pa_twist"] = float(rng.choice([-1, 1]) * rng.uniform(12, 30) if flags[3]
                           else rng.uniform(-5, 5))
    return FieldModel(**kw)


def _unusable_field(rng, pa, vmax, gas, reason=None):
    """A field that the quality rules call unusable, of a kind the experts reported."""
    common = dict(pa=pa, vmax=float(vmax), r_turn=float(rng.uniform(0.7, 4.0)),
                  noise_amplitude=float(rng.uniform(15.0, 50.0)),
                  n_spikes=int(rng.integers(0, 4)), n_patches=int(rng.random() < 0.3),
                  masked_fraction=float(rng.uniform(0.0, 0.1)))
    if gas:
        drawn = rng.choice(list(GAS_UNUSABLE_REASONS), p=list(GAS_UNUSABLE_REASONS.values()))
        reason = drawn if reason is None else reason
        if reason == "depletion":
            if rng.random() < 0.5:
                return FieldModel(kind="absent", **common)
            return FieldModel(kind="depleted", hole_fraction=float(rng.uniform(0.6, 0.9)),
                              noise=float(rng.uniform(3, 10)), **common)
        if reason == "no_rotation":
            return FieldModel(kind="noise", noise=float(rng.uniform(5, 20)), **common)
        if reason == "biased":
            return FieldModel(kind="patchy", patch_fraction=float(rng.uniform(0.1, 0.3)),
                              noise=float(rng.uniform(3, 10)), **common)
        return FieldModel(kind="two_component", noise=float(rng.uniform(3, 10)),
                          second_pa=float(rng.uniform(0, 360)),
                          second_offset=tuple(rng.uniform(-5, 5, 2)),
                          second_vsys=float(rng.uniform(-150, 150)),
                          second_weight=float(rng.uniform(0.5, 1.5)), **common)
    kind = rng.choice(["noise", "two_component", "weak"], p=[0.8, 0.1, 0.1])
    if kind == "two_component":
        return FieldModel(kind="two_component", noise=float(rng.uniform(5, 15)),
                          second_pa=float(rng.uniform(0, 360)),
                          second_offset=tuple(rng.uniform(-5, 5, 2)),
                          second_vsys=float(rng.uniform(-150, 150)),
                          second_weight=float(rng.uniform(0.5, 1.5)), **common)
    if kind == "weak":
        # A slow rotator: a disc too weak to stand out of the noise.
        common["vmax"] = float(rng.uniform(5.0, 20.0))
        return FieldModel(kind="regular", noise=float(rng.uniform(15, 30)), **common)
    return FieldModel(kind="noise", noise=float(rng.uniform(8, 25)), **common)


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# Real style (calibrated on the 200 real VOR10 stellar maps of the development set): the
# stellar amplitude-to-noise ratio per quality (log-uniform range), the galaxy's central
# S/N per quality (lognormal: log median, sigma), the sub-kinds of messy and unusable
# stellar fields, and the S/N limit of the footprint in bundle radii (lognormal).
_REAL_RATIO = {2: (6.1, 30.0), 1: (2.8, 5.9), 0: (0.6, 2.2)}
_REAL_SN_CENTER = {2: (np.log(70.0), 0.7), 1: (np.log(25.0), 0.7), 0: (np.log(20.0), 0.55)}
_REAL_COVERAGE = (np.log(0.95), 0.18)
_REAL_CLEAN_IRREGULAR = 0.08
_REAL_CLEAN_HARMONIC3 = 0.12
_REAL_MESSY_KINDS = {"low_sn": 0.45, "irregular": 0.15, "defects": 0.25, "warp": 0.15}
_REAL_UNUSABLE_KINDS = {"weak": 0.5, "irregular": 0.25, "structure": 0.15, "merger": 0.10}


def _real_stellar_field(rng, quality, pa, inclination):
    """A stellar field of the given expert quality, as real VOR10 maps show them.

    The velocity error of a bin (``noise``, at S/N 10: the DAP bins to S/N 10,
    so most bins carry about this error) and the projected rotation
    amplitude are drawn together so that their ratio places the field
    relative to the experts' boundaries (`MockGalaxy.quality`): clean discs
    stand well above the noise, messy ones are slow or weak, or disturbed,
    and unusable ones are weak rotators near the noise, dominated by
    irregular large-scale motions, slow rotators with only irregular
    structure, or mergers.

    Returns the field and the galaxy's central continuum S/N.
    """
    sini = max(np.sin(np.radians(inclination)), 0.05)
    noise = float(np.exp(rng.normal(np.log(12.0), 0.3)))
    kw = dict(pa=pa, r_turn=float(rng.uniform(0.7, 4.0)),
              noise_amplitude=float(max(rng.uniform(20.0, 60.0), 3.0 * noise)),
              n_spikes=int(rng.random() < 0.15),
              masked_fraction=float(rng.uniform(0.0, 0.01) if rng.random() < 0.15 else 0.0),
              pa_twist=float(rng.uniform(-5.0, 5.0)))
    if quality == 0 and rng.random() < 0.4:
        # Failed fits of faint galaxies leave holes of a bin or two.
        kw["masked_fraction"] = float(rng.uniform(0.005, 0.03))
    sub = None
    if quality == 1:
        sub = str(rng.choice(list(_REAL_MESSY_KINDS), p=list(_REAL_MESSY_KINDS.values())))
    elif quality == 0:
        sub = str(rng.choice(list(_REAL_UNUSABLE_KINDS), p=list(_REAL_UNUSABLE_KINDS.values())))
    lo, hi = _REAL_RATIO[quality]
    if sub in ("irregular", "defects", "warp"):
        lo, hi = (6.5, 25.0) if quality == 1 else (1.5, 6.0)
    ratio = _log_uniform(rng, lo, hi)
    amp = ratio * noise
    if amp > 400.0 * sini:  # nearly face-on: the amplitude sets the noise
        amp = 400.0 * sini
        noise = amp / ratio
    kw.update(vmax=float(amp / sini), noise=float(noise))
    if sub == "irregular":
        share = rng.uniform(0.22, 0.45) if quality == 1 else rng.uniform(0.8, 1.6)
        kw.update(irregular=float(share * amp), irregular_scale=float(rng.uniform(2.0, 5.0)))
    elif sub == "defects":
        kw.update(n_spikes=int(rng.integers(2, 6)), n_patches=int(rng.random() < 0.4),
                  masked_fraction=float(rng.uniform(0.06, 0.12) if rng.random() < 0.3
                                        else rng.uniform(0.0, 0.01)))
    elif sub == "warp":
        kw["pa_twist"] = float(rng.choice([-1.0, 1.0]) * rng.uniform(12.0, 30.0))
    elif quality == 2:
        # Bars, spiral arms, small non-circular motions: below the messy limit.
        kw.update(irregular=float(rng.uniform(0.0, _REAL_CLEAN_IRREGULAR) * amp),
                  irregular_scale=float(rng.uniform(2.0, 5.0)),
                  harmonic3=float(rng.uniform(0.0, _REAL_CLEAN_HARMONIC3) * amp))
    elif sub == "weak" and rng.random() < 0.6:
        kw.update(irregular=float(rng.uniform(0.3, 1.2) * noise),
                  irregular_scale=float(rng.uniform(2.0, 5.0)))
    elif sub == "structure":
        kw.update(kind="noise", noise_scale=float(rng.uniform(2.0, 6.0)),
                  noise_amplitude=float(2.0 * rng.uniform(1.0, 5.0) * noise))
    elif sub == "merger":
        kw.update(kind="two_component", second_pa=float(rng.uniform(0.0, 360.0)),
                  second_offset=tuple(rng.uniform(-5.0, 5.0, 2)),
                  second_vsys=float(rng.uniform(-150.0, 150.0)),
                  second_weight=float(rng.uniform(0.5, 1.5)))
    mu, sigma = _REAL_SN_CENTER[quality]
    sn_center = float(np.clip(np.exp(rng.normal(mu, sigma)), 2.0, 150.0))
    return FieldModel(**kw), sn_center


def _random_galaxy_real(rng, bundle_size, binning, plateifu, mangaid, inc, usable_stellar,
                        usable_gas, dpa, messy, gas_reason):
    """The rest of `random_galaxy` for ``style='real'``."""
    # Discs seen exactly face-on would make the drawn amplitudes unreachable.
    inc = max(inc, 5.0)
    pa_s = float(rng.uniform(0.0, 360.0))
    quality_s = 0
    if usable_stellar:
        messy_s = rng.random() < MESSY_FRACTION["stellar"]
        messy_s = messy_s if messy is None else bool(messy)
        quality_s = 1 if messy_s else 2
    stellar, sn_center = _real_stellar_field(rng, quality_s, pa_s, inc)

    if dpa is None:
        dpa = _draw_hist(rng, *DPA_HISTOGRAM)
    pa_g = (pa_s + rng.choice([-1.0, 1.0]) * float(dpa)) % 360.0
    if not stellar.rotates:
        pa_g = float(rng.uniform(0.0, 360.0))
    vmax_g = float(np.clip(max(stellar.vmax, 80.0) * rng.uniform(1.1, 1.5), 60.0, 350.0))
    if usable_gas:
        messy_g = rng.random() < MESSY_FRACTION["gas"]
        messy_g = messy_g if messy is None else bool(messy)
        gas = _usable_field(rng, pa_g, vmax_g, inc, messy_g, {False: (1.5, 5), True: (5, 12)},
                            gas=True)
    else:
        gas = _unusable_field(rng, pa_g, vmax_g, gas=True, reason=gas_reason)

    # Footprints: most galaxies end at their S/N limit inside the hexagon
    # (ellipses, made ragged by the isophotes and the S/N scatter). The limit
    # scales with the galaxy (and so with the bundle chosen for it) and with
    # its brightness; a PSF-blurred small galaxy fills a small bundle (real
    # 19-fibre maps hardly ever end inside the hexagon).
    scale = (HEX_FLAT_DIAMETER[127] / HEX_FLAT_DIAMETER[bundle_size]) ** 0.4
    coverage = float(np.clip(np.exp(rng.normal(*_REAL_COVERAGE)) * scale
                             * (sn_center / 30.0) ** 0.1, 0.4, 4.0))
    return MockGalaxy(
        plateifu=plateifu, mangaid=mangaid, inclination=inc,
        vsys=float(rng.normal(0.0, 15.0)), redshift=float(rng.uniform(0.01, 0.15)),
        ra=float(rng.uniform(0.0, 360.0)), dec=float(np.degrees(np.arcsin(rng.uniform(-0.2, 1.0)))),
        reff=float(rng.uniform(2.0, 10.0)), coverage=float(coverage),
        sn_center=sn_center, sn_gas=float(rng.uniform(20.0, 60.0)),
        binning=binning, map_size=int(rng.choice(MAP_SIZES[bundle_size])),
        hex_rotation=float(rng.uniform(-4.0, 4.0)), seed=int(rng.integers(2**31 - 1)),
        stellar=stellar, gas=gas, bin_model="calibrated", trim_vertices=True,
        isophote_irregularity=float(rng.uniform(0.02, 0.12)),
        sn_scatter=float(rng.uniform(0.02, 0.1)),
        noise_correlation=float(rng.uniform(0.4, 1.0)),
    )



def random_galaxy(rng=None, *, bundle_size=None, binning="HYB10", plateifu=None, mangaid=None,
                  usable_stellar=None, usable_gas=None, dpa=None, messy=None, gas_reason=None,
                  style="survey"):
    """Draw a mock galaxy from the realistic mix of MaNGA observations.

    Bundle sizes, axis ratios (hence inclinations), the fractions of unusable
    and messy fields per bundle size and axis ratio, the reasons gas is
    unusable and the misalignment distribution follow the expert
    classifications of Duckworth et al. (2020) (module constants). Usable
    fields are built so that `MockGalaxy.quality` reproduces the drawn
    class.

    Parameters
    ----------
    rng : numpy.random.Generator or int, optional
        Random generator or seed.
    bundle_size : int, optional
        Force a bundle size.
    binning : {'HYB10', 'VOR10', 'SPX'}, optional
        Binning of the mock DAP run.
    plateifu, mangaid : str, optional
        Identifiers; drawn when omitted.
    usable_stellar, usable_gas : bool, optional
        Force the usability of a field (e.g. to balance a training set).
    dpa : float, optional
        Force the stellar-gas misalignment (deg, 0-180) of a galaxy whose two
        fields rotate.
    messy : bool, optional
        Force usable fields to be messy (quality 1) or clean (quality 2).
    gas_reason : str, optional
        Force the reason an unusable gas field is unusable, one of
        `GAS_UNUSABLE_REASONS` (``'depletion'`` makes a gas-poor galaxy).
    style : {'survey', 'real'}, optional
        ``'survey'`` (the default, unchanged): the original mix, in which
        unusable stellar fields are mostly noise at normal S/N and most
        footprints fill the hexagon. ``'real'``: stellar fields, bins and
        footprints drawn to look like real expert-labelled VOR10 maps (the
        200 real stellar maps of the development set): the class decides the
        stellar field's amplitude-to-noise ratio and kind (see
        `MockGalaxy.quality`) and the galaxy's central S/N (unusable and messy
        fields are fainter), bins are sized by the S/N as in real maps
        (``bin_model='calibrated'``), footprints mostly end at the S/N limit
        inside the hexagon, with ragged edges and specks
        (``isophote_irregularity``, ``sn_scatter``, ``trim_vertices``), and
        the velocity noise of neighbouring spaxels is correlated
        (``noise_correlation``). The fractions of unusable and messy fields,
        the gas fields (all their kinds) and the misalignments are drawn as
        in ``'survey'``. Both styles are deterministic for a given ``rng``;
        they draw different sequences.

    Returns
    -------
    MockGalaxy
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    if gas_reason is not None and gas_reason not in GAS_UNUSABLE_REASONS:
        raise ValueError(f"gas_reason must be one of {tuple(GAS_UNUSABLE_REASONS)}, "
                         f"not {gas_reason!r}")
    rng = np.random.default_rng(rng)
    sizes = np.array(BUNDLE_SIZES)
    if bundle_size is None:
        p = np.array([BUNDLE_FRACTIONS[s] for s in BUNDLE_SIZES])
        bundle_size = int(rng.choice(sizes, p=p / p.sum()))
    if bundle_size not in BUNDLE_SIZES:
        raise ValueError(f"bundle_size must be one of {BUNDLE_SIZES}, not {bundle_size}")
    ifu = int(rng.choice(IFU_DESIGNS[bundle_size]))
    if plateifu is None:
        plateifu = f"{int(rng.integers(7443, 12706))}-{ifu}"
    if mangaid is None:
        mangaid = f"1-{int(rng.integers(1000, 700000))}"

    ba = max(_draw_hist(rng, *AXIS_RATIO_HISTOGRAM), 0.12)
    inc = float(inclination_from_axis_ratio(ba))
    k = _ba_bin(ba)
    p_bad_s = (STELLAR_UNUSABLE_BY_AXIS_RATIO[k] * STELLAR_UNUSABLE_BY_BUNDLE[bundle_size]
               / _STELLAR_UNUSABLE_ALL)
    if usable_stellar is None:
        usable_stellar = rng.random() >= np.clip(p_bad_s, 0.02, 0.9)
    if usable_gas is None:
        if usable_stellar:
            p_bad_g = (_GAS_UNUSABLE_GIVEN_STELLAR_USABLE
                       * GAS_UNUSABLE_BY_AXIS_RATIO[k] / _GAS_UNUSABLE_ALL
                       * GAS_UNUSABLE_BY_BUNDLE[bundle_size] / _GAS_UNUSABLE_ALL)
            usable_gas = rng.random() >= np.clip(p_bad_g, 0.02, 0.9)
        else:
            usable_gas = rng.random() < _GAS_USABLE_GIVEN_STELLAR_UNUSABLE

    if style == "real":
        return _random_galaxy_real(rng, bundle_size, binning, plateifu, mangaid, inc,
                                   usable_stellar, usable_gas, dpa, messy, gas_reason)
    pa_s = float(rng.uniform(0.0, 360.0))
    vmax_s = float(rng.uniform(80.0, 250.0))
    if usable_stellar:
        messy_s = rng.random() < MESSY_FRACTION["stellar"]
        messy_s = messy_s if messy is None else bool(messy)
        stellar = _usable_field(rng, pa_s, vmax_s, inc, messy_s, {False: (3, 8), True: (8, 16)},
                                gas=False)
    else:
        stellar = _unusable_field(rng, pa_s, vmax_s, gas=False)

    if dpa is None:
        dpa = _draw_hist(rng, *DPA_HISTOGRAM)
    pa_g = (pa_s + rng.choice([-1.0, 1.0]) * float(dpa)) % 360.0
    if not stellar.rotates:
        pa_g = float(rng.uniform(0.0, 360.0))
    vmax_g = float(np.clip(stellar.vmax * rng.uniform(1.1, 1.5), 60.0, 350.0))
    if usable_gas:
        messy_g = rng.random() < MESSY_FRACTION["gas"]
        messy_g = messy_g if messy is None else bool(messy)
        gas = _usable_field(rng, pa_g, vmax_g, inc, messy_g, {False: (1.5, 5), True: (5, 12)},
                            gas=True)
    else:
        gas = _unusable_field(rng, pa_g, vmax_g, gas=True, reason=gas_reason)

    coverage = rng.uniform(0.6, 0.95) if rng.random() < 0.1 else rng.uniform(1.0, 1.6)
    return MockGalaxy(
        plateifu=plateifu, mangaid=mangaid, inclination=inc,
        vsys=float(rng.normal(0.0, 15.0)), redshift=float(rng.uniform(0.01, 0.15)),
        ra=float(rng.uniform(0.0, 360.0)), dec=float(np.degrees(np.arcsin(rng.uniform(-0.2, 1.0)))),
        reff=float(rng.uniform(2.0, 10.0)), coverage=float(coverage),
        sn_center=float(rng.uniform(15.0, 60.0)), sn_gas=float(rng.uniform(20.0, 60.0)),
        binning=binning, map_size=int(rng.choice(MAP_SIZES[bundle_size])),
        hex_rotation=float(rng.uniform(-4.0, 4.0)), seed=int(rng.integers(2**31 - 1)),
        stellar=stellar, gas=gas,
    )


_CATALOGUE_UNITS = {
    "INCLINATION_TRUE": u.deg, "PA_STELLAR_TRUE": u.deg, "PA_GAS_TRUE": u.deg,
    "DPA_TRUE": u.deg, "VSYS_TRUE": u.km / u.s, "VMAX_STELLAR_TRUE": u.km / u.s,
    "VMAX_GAS_TRUE": u.km / u.s, "NOISE_STELLAR": u.km / u.s, "NOISE_GAS": u.km / u.s,
}
_CATALOGUE_DESCRIPTIONS = {
    "PA_STELLAR_TRUE": "True stellar kinematic PA, East of North to the receding side "
                       "(masked when the stars show no disc)",
    "PA_GAS_TRUE": "True gas kinematic PA, East of North to the receding side "
                   "(masked when the gas shows no disc)",
    "DPA_TRUE": "True stellar-gas misalignment in [0, 180] (masked when either PA is undefined)",
    "QUALITY_STELLAR_TRUE": "Expert-like quality of the stellar field: 0 don't use, 1 messy, "
                            "2 clean",
    "QUALITY_GAS_TRUE": "Expert-like quality of the gas field: 0 don't use, 1 messy, 2 clean",
    "USABLE_STELLAR_TRUE": "Expert-like usability of the stellar field (quality >= 1)",
    "USABLE_GAS_TRUE": "Expert-like usability of the gas field (quality >= 1)",
    "KIND_STELLAR": "Kind of stellar field (see kinmisalign.mock.FieldModel)",
    "KIND_GAS": "Kind of gas field (see kinmisalign.mock.FieldModel)",
    "FILENAME": "MAPS file, relative to the catalogue directory",
}


def make_mock_catalogue(directory, n, seed=0, layout="DR17", *, tree=False, binning="HYB10",
                        repeat_fraction=0.03, compresslevel=3, overwrite=False, **kwargs):
    """Write ``n`` mock MAPS files of a realistic mix and return their truth table.

    Parameters
    ----------
    directory : str or path-like
        Where the files go (created if needed).
    n : int
        Number of observations (files).
    seed : int, optional
        Seed of the whole catalogue.
    layout : {'DR17', 'DR15'}, optional
        DAP data model of the files.
    tree : bool, optional
        Write into the survey's ``<DAPTYPE>/<plate>/<ifu>/`` directories.
    binning : {'HYB10', 'VOR10', 'SPX'}, optional
        Binning of the mock DAP run.
    repeat_fraction : float, optional
        Fraction of observations that re-observe an earlier galaxy (same
        MANGAID and truth, new PLATEIFU and noise), as MaNGA repeats do.
    compresslevel : int, optional
        gzip level of the files.
    overwrite : bool, optional
        Replace existing files; without it an existing file is an error.
    **kwargs
        Passed to `random_galaxy` (``usable_stellar``, ``bundle_size``, ...).

    Returns
    -------
    astropy.table.Table
        One row per file: ``PLATEIFU``, ``MANGAID``, ``FILENAME`` and the truth
        columns of `MockGalaxy.truth` (``PA_STELLAR_TRUE``, ``DPA_TRUE``,
        ``USABLE_GAS_TRUE``, ...), with units and descriptions.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seen, galaxies, rows = set(), [], []
    daptype = _daptype(binning, layout)
    for _ in range(int(n)):
        for _attempt in range(1000):
            if galaxies and rng.random() < repeat_fraction:
                first = galaxies[rng.integers(len(galaxies))]
                ifu = int(rng.choice(IFU_DESIGNS[first.bundle_size]))
                galaxy = replace(first, plateifu=f"{int(rng.integers(7443, 12706))}-{ifu}",
                                 seed=int(rng.integers(2**31 - 1)))
            else:
                galaxy = random_galaxy(rng, binning=binning, **kwargs)
            if galaxy.plateifu not in seen:
                break
        seen.add(galaxy.plateifu)
        galaxies.append(galaxy)
        path = write_maps(galaxy, directory, layout=layout, tree=tree,
                          compresslevel=compresslevel, overwrite=overwrite)
        row = galaxy.truth()
        row["DAPTYPE"] = daptype
        row["FILENAME"] = path.relative_to(directory).as_posix()
        rows.append(row)
    names = list(rows[0]) if rows else list(MockGalaxy().truth()) + ["DAPTYPE", "FILENAME"]
    table = Table(meta={"MOCK": True, "LAYOUT": layout, "SEED": seed, "DAPTYPE": daptype})
    for name in names:
        values = [r[name] for r in rows]
        if name in ("PA_STELLAR_TRUE", "PA_GAS_TRUE", "DPA_TRUE"):
            arr = np.array(values, dtype=float)
            col = MaskedColumn(np.nan_to_num(arr, nan=0.0), mask=~np.isfinite(arr), name=name)
        else:
            col = Column(values, name=name)
        if name in _CATALOGUE_UNITS:
            col.unit = _CATALOGUE_UNITS[name]
        col.description = _CATALOGUE_DESCRIPTIONS.get(name)
        table[name] = col
    return table
