"""Constants of the MaNGA DAP MAPS data model (DR15-era and DR17 layouts).

Shared by the reader (:mod:`kinmisalign.maps`) and the mock generator
(:mod:`kinmisalign.mock`); neither imports the other.
"""

__all__ = [
    "MASK_BITS",
    "DONOTUSE",
    "ANY_BIT",
    "HALPHA_CHANNEL",
    "STELLAR_VEL_EXT",
    "GAS_VEL_EXT",
    "SKYCOO_EXT",
    "BINID_EXT",
    "EMLINE_CHANNELS",
    "LAYOUTS",
    "SPAXEL_SIZE_ARCSEC",
    "BINID_CHANNELS",
    "MAPS_EXTENSIONS",
    "maskbits_value",
    "META_KEYS",
    "primary_meta",
    "SPEED_OF_LIGHT_KMS",
]

# MANGA_DAPPIXMASK bit numbers.
MASK_BITS = {
    "NOCOV": 0,
    "LOWCOV": 1,
    "DEADFIBER": 2,
    "FORESTAR": 3,
    "NOVALUE": 4,
    "UNRELIABLE": 5,
    "MATHERROR": 6,
    "FITFAILED": 7,
    "NEARBOUND": 8,
    "NOCORRECTION": 9,
    "MULTICOMP": 10,
    "DONOTUSE": 30,
}
# Python ints: ``2**np.int16(30)`` overflows to 0 under numpy 2 promotion rules.
DONOTUSE = 1 << MASK_BITS["DONOTUSE"]
ANY_BIT = 0xFFFFFFFF

HALPHA_CHANNEL = "Ha-6564"
STELLAR_VEL_EXT = "STELLAR_VEL"
GAS_VEL_EXT = "EMLINE_GVEL"
SKYCOO_EXT = "SPX_SKYCOO"
BINID_EXT = "BINID"
SPAXEL_SIZE_ARCSEC = 0.5
# km/s, exact (astropy.constants would slow the import). A velocity map value at or above
# it is a corrupted value, never a measurement.
SPEED_OF_LIGHT_KMS = 299792.458

# Emission-line channel names of the Gaussian-fit extensions (EMLINE_G*).
EMLINE_CHANNELS = {
    "DR15": [
        "OII-3727", "OII-3729", "Hthe-3798", "Heta-3836", "NeIII-3869", "Hzet-3890",
        "NeIII-3968", "Heps-3971", "Hdel-4102", "Hgam-4341", "HeII-4687", "Hb-4862",
        "OIII-4960", "OIII-5008", "HeI-5877", "OI-6302", "OI-6365", "NII-6549",
        "Ha-6564", "NII-6585", "SII-6718", "SII-6732",
    ],
    "DR17": [
        "OII-3727", "OII-3729", "H12-3751", "H11-3771", "Hthe-3798", "Heta-3836",
        "NeIII-3869", "HeI-3889", "Hzet-3890", "NeIII-3968", "Heps-3971", "Hdel-4102",
        "Hgam-4341", "HeII-4687", "Hb-4862", "OIII-4960", "OIII-5008", "NI-5199",
        "NI-5201", "HeI-5877", "OI-6302", "OI-6365", "NII-6549", "Ha-6564", "NII-6585",
        "SII-6718", "SII-6732", "HeI-7067", "ArIII-7137", "ArIII-7753", "Peta-9017",
        "SIII-9071", "Pzet-9231", "SIII-9533", "Peps-9548",
    ],
}

# Per layout: the channel-key format (DR15-era files zero-pad C01..C22 in
# multi-channel extensions) and the default DAPTYPE and versions.
LAYOUTS = {
    "DR15": {
        "channel_key": "C{:02d}",
        "daptype": "HYB10-GAU-MILESHC",
        "versdrp3": "v2_4_3",
        "versdap": "2.2.1",
    },
    "DR17": {
        "channel_key": "C{:d}",
        "daptype": "HYB10-MILESHC-MASTARSSP",
        "versdrp3": "v3_1_1",
        "versdap": "3.1.0",
    },
}

# Channels of the BINID extension (the same in both layouts).
BINID_CHANNELS = [
    "Binned spectra", "Stellar continua", "Em. line moments", "Em. line models",
    "Spectral indices",
]

# The image extensions of a MAPS file, in file order, per layout (the primary
# HDU comes first). DR15: DAP 2.2; DR17: DAP 3.1, which adds figures of merit,
# Gaussian amplitudes, equivalent-width continua and the BF/WGT spectral indices.
_EMLINE_DR15 = [
    f"EMLINE_{q}{s}" for q in ("SFLUX", "SEW", "GFLUX", "GEW", "GVEL", "GSIGMA")
    for s in ("", "_IVAR", "_MASK")
] + ["EMLINE_INSTSIGMA", "EMLINE_TPLSIGMA"]
_EMLINE_DR17 = [
    "EMLINE_SFLUX", "EMLINE_SFLUX_IVAR", "EMLINE_SFLUX_MASK",
    "EMLINE_SEW", "EMLINE_SEW_CNT", "EMLINE_SEW_IVAR", "EMLINE_SEW_MASK",
    "EMLINE_GFLUX", "EMLINE_GFLUX_IVAR", "EMLINE_GFLUX_MASK",
    "EMLINE_GEW", "EMLINE_GEW_CNT", "EMLINE_GEW_IVAR", "EMLINE_GEW_MASK",
    "EMLINE_GVEL", "EMLINE_GVEL_IVAR", "EMLINE_GVEL_MASK",
    "EMLINE_GSIGMA", "EMLINE_GSIGMA_IVAR", "EMLINE_GSIGMA_MASK",
    "EMLINE_INSTSIGMA", "EMLINE_GA", "EMLINE_GANR", "EMLINE_FOM", "EMLINE_LFOM",
]
_COMMON_HEAD = [
    "SPX_SKYCOO", "SPX_ELLCOO", "SPX_MFLUX", "SPX_MFLUX_IVAR", "SPX_SNR", "BINID",
    "BIN_LWSKYCOO", "BIN_LWELLCOO", "BIN_AREA", "BIN_FAREA", "BIN_MFLUX",
    "BIN_MFLUX_IVAR", "BIN_MFLUX_MASK", "BIN_SNR",
    "STELLAR_VEL", "STELLAR_VEL_IVAR", "STELLAR_VEL_MASK",
    "STELLAR_SIGMA", "STELLAR_SIGMA_IVAR", "STELLAR_SIGMA_MASK", "STELLAR_SIGMACORR",
]
MAPS_EXTENSIONS = {
    "DR15": _COMMON_HEAD + ["STELLAR_CONT_FRESID", "STELLAR_CONT_RCHI2"] + _EMLINE_DR15 + [
        "SPECINDEX", "SPECINDEX_IVAR", "SPECINDEX_MASK", "SPECINDEX_CORR",
    ],
    "DR17": _COMMON_HEAD + ["STELLAR_FOM"] + _EMLINE_DR17 + [
        "SPECINDEX", "SPECINDEX_IVAR", "SPECINDEX_MASK", "SPECINDEX_CORR", "SPECINDEX_MODEL",
        "SPECINDEX_BF", "SPECINDEX_BF_IVAR", "SPECINDEX_BF_MASK", "SPECINDEX_BF_CORR",
        "SPECINDEX_BF_MODEL",
        "SPECINDEX_WGT", "SPECINDEX_WGT_IVAR", "SPECINDEX_WGT_MASK", "SPECINDEX_WGT_CORR",
        "SPECINDEX_WGT_MODEL",
    ],
}


def maskbits_value(maskbits):
    """Integer bitmask for a ``maskbits`` choice.

    Parameters
    ----------
    maskbits : {'any', 'donotuse'} or int
        ``'any'`` flags a spaxel with any bit set, ``'donotuse'`` only with
        DONOTUSE (bit 30); an int is used as the bitmask itself.

    Returns
    -------
    int
    """
    if isinstance(maskbits, str):
        key = maskbits.lower()
        if key == "any":
            return ANY_BIT
        if key == "donotuse":
            return DONOTUSE
        raise ValueError(f"maskbits must be 'any', 'donotuse' or an int bitmask, not {maskbits!r}")
    if isinstance(maskbits, bool) or not isinstance(maskbits, int) and not hasattr(
        maskbits, "__index__"
    ):
        raise TypeError(f"maskbits must be 'any', 'donotuse' or an int bitmask, not {maskbits!r}")
    value = int(maskbits)
    if value < 0:
        raise ValueError(f"maskbits must be a non-negative bitmask, not {value}")
    return value


# Primary-header keys copied into MapsData.meta when present.
META_KEYS = (
    "PLATEIFU", "MANGAID", "PLATEID", "IFUDSGN", "DAPTYPE", "DAPFRMT", "VERSDRP3", "VERSDAP",
    "OBJRA", "OBJDEC", "ECOOPA", "ECOOELL", "REFF", "DAPQUAL", "DRP3QUAL",
)


def primary_meta(header, line):
    """``MapsData.meta`` from a MAPS primary header: the `META_KEYS` present, and the line.

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or dict
        The primary header (read from the file, or as Marvin gives it).
    line : str
        The emission line of the gas field, kept as ``LINE``.

    Returns
    -------
    dict
    """
    meta = {}
    for key in META_KEYS:
        if key in header:
            value = header[key]
            meta[key] = value.strip() if isinstance(value, str) else value
    meta["LINE"] = line
    return meta
