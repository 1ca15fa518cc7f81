"""Observation keys and MAPS file names: the one place that checks, builds and parses them.

Keys are untrusted input (catalogue rows, command lines, file names found on
disk): `validate_plateifu` and `validate_daptype` accept only the survey's
own forms, `maps_filename` builds a survey file name from checked keys only,
and `parse_maps_filename` reads the keys back from a name it could have built
(anything else gives None). Everything that names or finds MAPS files (the
sources, the command line, the classifier's dataset building) goes through
these functions; `kinmisalign.sources` makes them public.
"""

import re

__all__ = ["validate_plateifu", "validate_daptype", "maps_filename", "parse_maps_filename"]

# [0-9] rather than \d: \d also matches non-ASCII digits ('٧٨١٥'), which must
# never reach a file name. fullmatch, because '$' also matches before a '\n'.
_PLATEIFU = r"[0-9]{4,5}-[0-9]{3,5}"
# DAPTYPEs are dash-separated upper-case words: HYB10-MILESHC-MASTARSSP, VOR10-GAU-MILESHC.
_DAPTYPE = r"[A-Z0-9]+(?:-[A-Z0-9]+)*"
_PLATEIFU_RE = re.compile(_PLATEIFU)
_DAPTYPE_RE = re.compile(_DAPTYPE)
# The survey's name, exactly as maps_filename builds it (gzipped or not).
_MAPS_NAME_RE = re.compile(rf"manga-({_PLATEIFU})-MAPS-({_DAPTYPE})\.fits(?:\.gz)?")
_MAX_KEY = 64  # longer keys are refused before any pattern matching


def _short(value):
    """A bounded repr for error messages (keys can be arbitrarily long)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_text(key, what):
    # FITS string columns give bytes (numpy.bytes_ is a bytes subclass).
    if isinstance(key, bytes):
        try:
            key = key.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"{what} {_short(key)} is not ASCII") from None
    if not isinstance(key, str):
        # Masked catalogue entries, numbers, None: never guess a key from them.
        raise ValueError(f"{what} must be a string, not {type(key).__name__} {_short(key)}")
    # Only spaces, the padding of fixed-width (FITS) strings: a newline, tab or NUL
    # in a key is a sign of tampering, not padding.
    key = key.strip(" ")
    if len(key) > _MAX_KEY:
        raise ValueError(f"{what} is too long ({len(key)} characters): {_short(key)}")
    return key


def validate_plateifu(key):
    """Check an observation key and return it in canonical form.

    Parameters
    ----------
    key : str or bytes
        A plateifu such as ``'7815-3702'``; surrounding spaces (FITS string
        padding) are removed and bytes are decoded as ASCII. Any other
        character (newline, tab, NUL, non-ASCII digits) makes it invalid.

    Returns
    -------
    str
        The stripped key, ``<plate>-<ifudesign>`` with 4–5 and 3–5 ASCII
        digits.

    Raises
    ------
    ValueError
        When the key is not a string, is too long or has any other form
        (path separators, ``..``, percent escapes, NUL bytes, query strings,
        ...); the message names the problem.
    """
    text = _as_text(key, "plateifu")
    if not text:
        raise ValueError("plateifu is empty")
    if not _PLATEIFU_RE.fullmatch(text):
        raise ValueError(f"plateifu must look like '7815-3702' (plate-ifudesign, digits only), "
                         f"not {_short(text)}")
    return text


def validate_daptype(daptype):
    """Check a DAP analysis type and return it stripped.

    Parameters
    ----------
    daptype : str or bytes
        E.g. ``'HYB10-MILESHC-MASTARSSP'`` (DR17) or ``'HYB10-GAU-MILESHC'``
        (DR15).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When it is not made of dash-separated upper-case letters and digits.
    """
    text = _as_text(daptype, "DAPTYPE")
    if not _DAPTYPE_RE.fullmatch(text):
        raise ValueError(f"DAPTYPE must look like 'HYB10-MILESHC-MASTARSSP', not {_short(text)}")
    return text


def maps_filename(plateifu, daptype, *, gzip=True):
    """Survey file name of the MAPS file of an observation, from checked keys.

    Parameters
    ----------
    plateifu, daptype : str or bytes
        Checked with `validate_plateifu` and `validate_daptype`.
    gzip : bool, optional
        Name of the gzipped file (``.fits.gz``, as the survey serves it) or
        of the uncompressed one (``.fits``).

    Returns
    -------
    str
        ``manga-<plate>-<ifu>-MAPS-<DAPTYPE>.fits.gz`` (or ``.fits``).

    Raises
    ------
    ValueError
        When a key is invalid.

    Examples
    --------
    >>> maps_filename("7815-3702", "HYB10-MILESHC-MASTARSSP")
    'manga-7815-3702-MAPS-HYB10-MILESHC-MASTARSSP.fits.gz'
    >>> parse_maps_filename(maps_filename("7815-3702", "VOR10-GAU-MILESHC", gzip=False))
    ('7815-3702', 'VOR10-GAU-MILESHC')
    """
    plateifu = validate_plateifu(plateifu)
    daptype = validate_daptype(daptype)
    return f"manga-{plateifu}-MAPS-{daptype}.fits{'.gz' if gzip else ''}"


def parse_maps_filename(name):
    """The observation key and DAPTYPE that a MAPS file name holds.

    The inverse of `maps_filename`: only names it could have built are read,
    so the keys returned always pass `validate_plateifu` and
    `validate_daptype`.

    Parameters
    ----------
    name : str
        A file's base name (no directory), e.g. from `os.scandir`.

    Returns
    -------
    tuple of str or None
        ``(plateifu, daptype)``, or None when ``name`` is not a survey MAPS
        file name: another file, a name with a directory part, a key of
        another form (non-ASCII digits, lower-case DAPTYPE, ...).
    """
    if not isinstance(name, str) or len(name) > 2 * _MAX_KEY + 20:
        return None
    match = _MAPS_NAME_RE.fullmatch(name)
    return (match.group(1), match.group(2)) if match else None
