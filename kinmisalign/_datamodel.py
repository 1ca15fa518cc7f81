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
    "maskbits_value",
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
