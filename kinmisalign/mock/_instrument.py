"""The MaNGA instrument as the mocks draw it: fibre bundles, IFU designs, footprints, map sizes."""

__all__ = [
    "BUNDLE_SIZES",
    "IFU_DESIGNS",
    "HEX_FLAT_DIAMETER",
    "MAP_SIZES",
    "BINNINGS",
    "split_plateifu",
]

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

BINNINGS = ("HYB10", "VOR10", "SPX")
"""Binning schemes: hybrid (binned stars, per-spaxel gas), Voronoi (both binned), none."""


def split_plateifu(plateifu):
    """Plate and IFU design numbers of a plate-IFU name.

    Parameters
    ----------
    plateifu : str
        ``'<plate>-<ifudesign>'``, e.g. ``'7815-3702'``.

    Returns
    -------
    (int, int)
        Plate and IFU design.

    Raises
    ------
    ValueError
        When ``plateifu`` is not two integers joined by a hyphen.
    """
    try:
        plate, ifu = str(plateifu).strip().split("-")
        return int(plate), int(ifu)
    except ValueError:
        raise ValueError(f"plateifu must look like '7815-3702', not {plateifu!r}") from None
