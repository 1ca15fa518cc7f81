"""The truth model: the parameters of a mock observation and of its two velocity fields."""

import zlib
from dataclasses import dataclass, field

import numpy as np

from ._instrument import BINNINGS, BUNDLE_SIZES, MAP_SIZES, split_plateifu
from ._kinematics import axis_ratio_from_inclination

__all__ = ["FIELD_KINDS", "BIN_MODELS", "FieldModel", "MockGalaxy"]

FIELD_KINDS = ("regular", "noise", "depleted", "patchy", "two_component", "absent")
"""Kinds of velocity field; see `FieldModel`."""

BIN_MODELS = ("simple", "calibrated")
"""How Voronoi bins are drawn; see `MockGalaxy`."""


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
        plate, ifu = split_plateifu(self.plateifu)
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
        return split_plateifu(self.plateifu)[0]

    @property
    def ifudesign(self):
        """IFU design number."""
        return split_plateifu(self.plateifu)[1]

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
