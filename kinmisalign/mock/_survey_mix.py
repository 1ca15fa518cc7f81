"""The realistic mix of MaNGA observations (Duckworth et al. 2020 expert labels) and its draws."""

import os

import numpy as np
from astropy.table import Table

from ._instrument import BUNDLE_SIZES, HEX_FLAT_DIAMETER, IFU_DESIGNS, MAP_SIZES
from ._kinematics import inclination_from_axis_ratio
from ._truth import FieldModel, MockGalaxy

__all__ = [
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
    "random_galaxy",
    "derive_survey_mix",
]

STYLES = ("survey", "real")
"""Styles of `random_galaxy`: ``'survey'`` (the original mix) and ``'real'``."""

# -- the realistic mix (Duckworth et al. 2020 expert labels, MPL-7; see derive_survey_mix) ----
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
_GAS_UNUSABLE_GIVEN_STELLAR_USABLE = 0.190  # 695 of the 3,660 with usable stars
_GAS_USABLE_GIVEN_STELLAR_UNUSABLE = 0.032  # 30 of the 927 with unusable stars

GAS_UNUSABLE_REASONS = {"depletion": 0.55, "no_rotation": 0.20, "biased": 0.19, "other": 0.06}
"""Experts' notes on unusable gas when the stars were usable (n = 695)."""

MESSY_FRACTION = {"stellar": 0.324, "gas": 0.271}
"""Fraction of usable fields judged messy (quality 1) rather than clean (2)."""

DPA_HISTOGRAM = (
    (0.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 150.0, 170.0, 180.0),
    (0.6762, 0.1457, 0.0546, 0.0391, 0.0196, 0.0159, 0.0152, 0.0159, 0.0178),
)
"""Bin edges (deg) and fractions of the expert misalignment of galaxies with both
fields usable (n = 2,965): 12.2 % above 30 deg, 3.4 % above 150 deg."""


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


# Columns of the public expert-classification table that the mix is derived from.
_CLASSIFICATION_COLUMNS = ("stel_qual", "halpha_qual", "halpha_notes", "ifudesignsize",
                           "nsa_elpetro_ba", "pa_offset", "stellar_pa")
# halpha_notes codes of unusable gas, in the order of GAS_UNUSABLE_REASONS (0: no note).
_GAS_NOTE_CODES = {"depletion": 1, "no_rotation": 2, "biased": 3, "other": 0}


def _fraction(selected):
    """Fraction of True in ``selected`` (NaN when it is empty)."""
    return np.count_nonzero(selected) / selected.size if selected.size else np.nan


def _histogram_fractions(values, edges):
    """Fraction of ``values`` in each bin (NaN for no values)."""
    counts, _ = np.histogram(values, bins=edges)
    total = counts.sum()
    return [c / total if total else np.nan for c in counts]


def _rounded(values, decimals, distribution=False):
    """Values rounded as the module writes them; a distribution's last entry takes up the
    rounding, so that the fractions sum to 1."""
    out = [round(float(v), decimals) for v in values]
    if distribution:
        out[-1] = round(1.0 - sum(out[:-1]), decimals)
    return out


def derive_survey_mix(classifications):
    """The constants of the realistic mix, recomputed from the expert classifications.

    The numbers that `random_galaxy` draws from (`BUNDLE_FRACTIONS`,
    `AXIS_RATIO_HISTOGRAM`, the unusable and messy fractions, the reasons gas
    is unusable and `DPA_HISTOGRAM`) are counted in the public table of
    Duckworth et al. (2020) (MPL-7, v0.1, 4,589 observations; rows whose
    quality is not 0, 1 or 2 are left out) and rounded as the module writes
    them: fractions to 3 decimals, the reasons to 2 and the misalignment
    histogram to 4; the entries of a distribution (bundle sizes, axis-ratio
    histogram, reasons, misalignment histogram) are rounded so that they sum
    to 1, the last entry taking up the rounding. The histograms use the
    module's bin edges.

    Parameters
    ----------
    classifications : str, path-like or `~astropy.table.Table`
        The table (``mpl7-pa-classifications-v0_1-drpall.csv``), or a table
        with its columns ``stel_qual``, ``halpha_qual``, ``halpha_notes``,
        ``ifudesignsize``, ``nsa_elpetro_ba``, ``pa_offset`` and
        ``stellar_pa``.

    Returns
    -------
    dict
        By name of the module constant, in the same form: ``BUNDLE_FRACTIONS``,
        ``AXIS_RATIO_HISTOGRAM``, ``STELLAR_UNUSABLE_BY_AXIS_RATIO``,
        ``GAS_UNUSABLE_BY_AXIS_RATIO``, ``STELLAR_UNUSABLE_BY_BUNDLE``,
        ``GAS_UNUSABLE_BY_BUNDLE``, ``GAS_UNUSABLE_REASONS``,
        ``MESSY_FRACTION``, ``DPA_HISTOGRAM``, and the overall fractions
        ``STELLAR_UNUSABLE_ALL``, ``GAS_UNUSABLE_ALL``,
        ``GAS_UNUSABLE_GIVEN_STELLAR_USABLE`` and
        ``GAS_USABLE_GIVEN_STELLAR_UNUSABLE`` that `random_galaxy` uses to
        combine them.

    Raises
    ------
    ValueError
        When a column is missing, or no row has a valid quality.
    """
    if isinstance(classifications, (str, os.PathLike)):
        classifications = Table.read(classifications, format="ascii.csv")
    missing = [c for c in _CLASSIFICATION_COLUMNS if c not in classifications.colnames]
    if missing:
        raise ValueError(f"the classification table has no column(s) {', '.join(missing)}")
    stel = np.asarray(classifications["stel_qual"])
    gas = np.asarray(classifications["halpha_qual"])
    valid = np.isin(stel, (0, 1, 2)) & np.isin(gas, (0, 1, 2))
    if not valid.any():
        raise ValueError("no row of the classification table has qualities 0, 1 or 2")
    table, stel, gas = classifications[valid], stel[valid], gas[valid]
    size = np.asarray(table["ifudesignsize"])
    ba = np.asarray(table["nsa_elpetro_ba"], dtype=float)
    notes = np.asarray(table["halpha_notes"])
    dpa = np.asarray(table["pa_offset"], dtype=float)
    usable_s, usable_g = stel >= 1, gas >= 1

    known_ba = np.isfinite(ba) & (ba > 0)
    ba_bin = np.searchsorted(_BA_EDGES, ba, side="right") - 1
    # Rows without PAs (stellar_pa 0) have no misalignment.
    both = usable_s & usable_g & np.isfinite(dpa) & (np.asarray(table["stellar_pa"]) != 0)
    reasons = notes[usable_s & ~usable_g]

    def by_ba(unusable):
        return tuple(_rounded([_fraction(unusable[known_ba & (ba_bin == k)])
                               for k in range(len(_BA_EDGES) - 1)], 3))

    def by_bundle(unusable):
        return dict(zip(BUNDLE_SIZES, _rounded([_fraction(unusable[size == b])
                                                for b in BUNDLE_SIZES], 3), strict=True))

    (stellar_all, gas_all, gas_given_s, gas_given_not_s, messy_s, messy_g) = _rounded([
        _fraction(~usable_s), _fraction(~usable_g), _fraction(~usable_g[usable_s]),
        _fraction(usable_g[~usable_s]), _fraction(stel[usable_s] == 1),
        _fraction(gas[usable_g] == 1)], 3)
    return {
        "BUNDLE_FRACTIONS": dict(zip(BUNDLE_SIZES, _rounded(
            [_fraction(size == b) for b in BUNDLE_SIZES], 3, distribution=True), strict=True)),
        "AXIS_RATIO_HISTOGRAM": (AXIS_RATIO_HISTOGRAM[0], tuple(_rounded(
            _histogram_fractions(ba[known_ba], AXIS_RATIO_HISTOGRAM[0]), 3, distribution=True))),
        "STELLAR_UNUSABLE_BY_AXIS_RATIO": by_ba(~usable_s),
        "GAS_UNUSABLE_BY_AXIS_RATIO": by_ba(~usable_g),
        "STELLAR_UNUSABLE_BY_BUNDLE": by_bundle(~usable_s),
        "GAS_UNUSABLE_BY_BUNDLE": by_bundle(~usable_g),
        "STELLAR_UNUSABLE_ALL": stellar_all,
        "GAS_UNUSABLE_ALL": gas_all,
        "GAS_UNUSABLE_GIVEN_STELLAR_USABLE": gas_given_s,
        "GAS_USABLE_GIVEN_STELLAR_UNUSABLE": gas_given_not_s,
        "GAS_UNUSABLE_REASONS": dict(zip(_GAS_NOTE_CODES, _rounded(
            [_fraction(reasons == code) for code in _GAS_NOTE_CODES.values()], 2,
            distribution=True), strict=True)),
        "MESSY_FRACTION": {"stellar": messy_s, "gas": messy_g},
        "DPA_HISTOGRAM": (DPA_HISTOGRAM[0], tuple(_rounded(
            _histogram_fractions(dpa[both], DPA_HISTOGRAM[0]), 4, distribution=True))),
    }
