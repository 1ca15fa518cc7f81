"""The MAPS file writer: mock arrays as a gzipped DAP MAPS file of the DR17 or DR15 data model."""

import functools
import gzip
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from .. import _filenames
from .._datamodel import (
    BINID_CHANNELS,
    EMLINE_CHANNELS,
    LAYOUTS,
    MAPS_EXTENSIONS,
    MASK_BITS,
    SPAXEL_SIZE_ARCSEC,
)
from ._arrays import MockMaps, make_maps_arrays
from ._binning import bin_noise_factor, unit_average
from ._instrument import split_plateifu
from ._kinematics import elliptical_radius

__all__ = ["maps_hdulist", "default_daptype", "maps_filename", "write_maps"]

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
        mean = unit_average(values, weight, sbins, n_sbins)
        out = np.zeros(shape)
        out[good] = mean[sbins[good]]
        return out

    def cube(vector, plane, dtype=f32):
        return (np.asarray(vector, dtype=float)[:, None, None] * plane[None]).astype(dtype)

    def stack_mask(mask, n):
        return np.repeat(mask[None].astype(np.int32), n, axis=0)

    r_ell, az = elliptical_radius(m.x, m.y, gal.stellar.pa % 180.0, gal.axis_ratio)
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
            snr_bin /= bin_noise_factor(npix)
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
        daptype = default_daptype(galaxy.binning, layout)
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


def default_daptype(binning, layout="DR17"):
    """DAPTYPE of a mock DAP run: the binning with the layout's templates.

    Parameters
    ----------
    binning : {'HYB10', 'VOR10', 'SPX'}
        Binning scheme (the ``binning`` of a `MockGalaxy`).
    layout : {'DR17', 'DR15'}, optional
        DAP data model.

    Returns
    -------
    str
        E.g. ``'HYB10-MILESHC-MASTARSSP'`` (DR17) or ``'VOR10-GAU-MILESHC'`` (DR15).

    Examples
    --------
    >>> from kinmisalign.mock import default_daptype
    >>> default_daptype("VOR10", "DR15")
    'VOR10-GAU-MILESHC'
    """
    template = LAYOUTS[layout]["daptype"].split("-", 1)[1]
    return f"{binning}-{template}"


def maps_filename(plateifu, daptype):
    """Survey file name ``manga-<plate>-<ifu>-MAPS-<DAPTYPE>.fits.gz`` of a mock observation.

    The same name as `kinmisalign.sources.maps_filename` gives (built in one place).

    Parameters
    ----------
    plateifu, daptype : str

    Returns
    -------
    str
    """
    return _filenames.maps_filename(plateifu, daptype)


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
        daptype = default_daptype(m.galaxy.binning, layout)
    path = Path(path)
    if path.suffix not in (".gz", ".fits"):
        if tree:
            plate, ifu = split_plateifu(m.galaxy.plateifu)
            path = path / daptype / str(plate) / str(ifu)
        path = path / maps_filename(m.galaxy.plateifu, daptype)
    from .._files import publish, refuse_existing

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
