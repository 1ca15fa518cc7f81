"""Reading MaNGA DAP MAPS files (DR15-era and DR17 data models)."""

import gzip
import io
import os
import re
import warnings
import zlib

import numpy as np
from astropy import units as u
from astropy.io import fits

from ._datamodel import BINID_EXT, GAS_VEL_EXT, HALPHA_CHANNEL, SKYCOO_EXT, STELLAR_VEL_EXT
from .exceptions import MapsFormatError
from .fields import MapsData, VelocityField

__all__ = ["read_maps", "channel_names"]

# Primary-header keys copied into MapsData.meta when present.
_META_KEYS = (
    "PLATEIFU", "MANGAID", "PLATEID", "IFUDSGN", "DAPTYPE", "DAPFRMT", "VERSDRP3", "VERSDAP",
    "OBJRA", "OBJDEC", "ECOOPA", "ECOOELL", "REFF", "DAPQUAL", "DRP3QUAL",
)
_CHANNEL_KEY = re.compile(r"^C(\d+)$")
# BINID channels holding the bins of each field.
_BINID_CHANNELS = {"stellar": "Stellar continua", "gas": "Em. line models"}


def channel_names(header):
    """Channel names of a multi-channel DAP extension, in channel order.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        Header with keys ``C1``, ``C2``, ... (or zero-padded ``C01``, ...).

    Returns
    -------
    list of str
        Stripped names; channel ``n`` (1-based) is element ``n - 1``.
    """
    found = {}
    for key in header:
        match = _CHANNEL_KEY.match(key)
        if match:
            found[int(match.group(1))] = str(header[key]).strip()
    if not found:
        return []
    return [found.get(i, "") for i in range(1, max(found) + 1)]


def _channel_index(header, name, extname, source):
    names = channel_names(header)
    if name not in names:
        listed = ", ".join(n for n in names if n) or "none"
        raise MapsFormatError(f"{source}: extension {extname} has no channel named {name!r} "
                              f"(channels: {listed})")
    return names.index(name)


def _hdu(hdul, extname, source):
    try:
        return hdul[extname]
    except KeyError:
        raise MapsFormatError(f"{source}: missing extension {extname}") from None


def _companion(hdul, data_hdu, key, suffix, source):
    """The mask (QUALDATA) or inverse-variance (ERRDATA) extension of a data extension."""
    name = data_hdu.header.get(key)
    name = str(name).strip() if name else f"{data_hdu.name}_{suffix}"
    return _hdu(hdul, name, source)


def _unit(header, default, extname, source):
    bunit = str(header.get("BUNIT", "")).strip()
    if not bunit:
        return default
    try:
        return u.Unit(bunit)
    except ValueError:
        raise MapsFormatError(f"{source}: extension {extname} has an unreadable BUNIT "
                              f"{bunit!r}") from None


def _plane(hdu, index, shape, source):
    """One 2-D plane of a data extension, checked against the map shape."""
    data = hdu.data
    if data is None:
        raise MapsFormatError(f"{source}: extension {hdu.name} has no data")
    if index is not None:
        if data.ndim != 3 or index >= data.shape[0]:
            raise MapsFormatError(f"{source}: extension {hdu.name} has shape {data.shape}, "
                                  f"expected a cube with channel {index + 1}")
        data = data[index]
    if data.shape != shape:
        raise MapsFormatError(f"{source}: extension {hdu.name} has map shape {data.shape}, "
                              f"expected {shape} like {SKYCOO_EXT}")
    if data.dtype.kind not in "biuf":
        raise MapsFormatError(f"{source}: extension {hdu.name} holds non-numeric data "
                              f"({data.dtype})")
    return np.array(data, dtype=data.dtype.newbyteorder("="))


def _read_field(hdul, extname, channel, shape, x, y, binid, name, maskbits, source):
    hdu = _hdu(hdul, extname, source)
    index = None if channel is None else _channel_index(hdu.header, channel, extname, source)
    vunit = _unit(hdu.header, u.km / u.s, extname, source)
    if not vunit.is_equivalent(u.km / u.s):
        raise MapsFormatError(f"{source}: extension {extname} has unit {vunit}, not a velocity")
    velocity = _plane(hdu, index, shape, source).astype(np.float64) * vunit
    mask_hdu = _companion(hdul, hdu, "QUALDATA", "MASK", source)
    mask = _plane(mask_hdu, index, shape, source)
    if mask.dtype.kind not in "iu":
        raise MapsFormatError(f"{source}: mask extension {mask_hdu.name} is not integer")
    ivar_hdu = _companion(hdul, hdu, "ERRDATA", "IVAR", source)
    ivar = _plane(ivar_hdu, index, shape, source).astype(np.float64) / vunit**2
    return VelocityField(
        x, y, velocity, ivar=ivar, mask=mask, maskbits=maskbits, binid=binid, name=name,
        meta={"extension": extname, "channel": channel},
    )


def _check_path(path):
    """Refuse missing, empty or directory paths with a clear error."""
    source = os.fspath(path)
    if not os.path.exists(source):
        raise FileNotFoundError(f"MAPS file not found: {source}")
    if os.path.isdir(source):
        raise MapsFormatError(f"{source} is a directory, not a MAPS file")
    if os.path.getsize(source) == 0:
        raise MapsFormatError(f"{source} is empty")
    return source


# What astropy and gzip raise on files that are not FITS, not gzip, or cut short.
_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError, TypeError)


_BLOCK = 2880
_CARD = 80
# The extensions read_maps needs; their QUALDATA/ERRDATA companions are added as found.
_NEEDED = (SKYCOO_EXT, BINID_EXT, STELLAR_VEL_EXT, GAS_VEL_EXT)


def _card_value(card):
    """Value of a FITS card image as str or int, None when it is neither."""
    text = card[10:].decode("ascii", "replace")
    if text.lstrip().startswith("'"):
        text = text.lstrip()[1:]
        value, i = [], 0
        while i < len(text):
            if text[i] == "'":
                if text[i + 1:i + 2] == "'":  # an escaped quote
                    value.append("'")
                    i += 2
                    continue
                return "".join(value).rstrip()
            value.append(text[i])
            i += 1
        return None
    try:
        return int(text.split("/", 1)[0])
    except ValueError:
        return None


def _scan_hdus(buffer):
    """Offsets, sizes and names of the HDUs of a FITS file held in memory.

    Reads only the structural keywords of each header. Returns None when anything
    is not plain (random groups, a missing END, a size past the end of the data),
    so that the caller hands the whole file to astropy instead.
    """
    keys = {b"BITPIX  ", b"NAXIS   ", b"PCOUNT  ", b"GCOUNT  ", b"EXTNAME ", b"QUALDATA",
            b"ERRDATA ", b"GROUPS  "}
    hdus, start, size = [], 0, len(buffer)
    while start < size:
        cards, pos, end = {}, start, None
        while end is None:
            if pos + _BLOCK > size:
                return None
            block = buffer[pos:pos + _BLOCK]
            pos += _BLOCK
            for i in range(0, _BLOCK, _CARD):
                card = block[i:i + _CARD]
                key = card[:8]
                if key == b"END     ":
                    end = pos
                    break
                if card[8:10] == b"= " and (key in keys or key.startswith(b"NAXIS")):
                    cards[key.rstrip().decode("ascii")] = _card_value(card)
        naxis, bitpix = cards.get("NAXIS"), cards.get("BITPIX")
        if not isinstance(naxis, int) or bitpix not in (8, 16, 32, 64, -32, -64):
            return None
        if cards.get("GROUPS") is not None:
            return None
        if naxis:
            dims = [cards.get(f"NAXIS{i}") for i in range(1, naxis + 1)]
            if not all(isinstance(n, int) and n >= 0 for n in dims):
                return None
            nelem = int(np.prod(dims, dtype=np.int64)) + int(cards.get("PCOUNT") or 0)
            nbytes = abs(bitpix) // 8 * int(cards.get("GCOUNT") or 1) * nelem
        else:
            nbytes = 0
        stop = end + -(-nbytes // _BLOCK) * _BLOCK
        if stop > size:
            return None
        hdus.append((start, stop, cards))
        start = stop
    return hdus


def _needed_hdus(buffer):
    """A FITS file holding only the primary HDU and the extensions read_maps uses.

    astropy parses every header it passes on the way to a named extension; a MAPS
    file has 40 to 60 extensions and read_maps needs about nine, so skipping the
    others by their sizes roughly halves the reading time. Returns the whole
    buffer when the file cannot be scanned simply.
    """
    hdus = _scan_hdus(buffer)
    if not hdus:
        return buffer
    names = [str(cards.get("EXTNAME") or "").strip().upper() for _, _, cards in hdus]
    wanted = set(_NEEDED)
    for name, (_, _, cards) in zip(names, hdus, strict=True):
        if name in _NEEDED:
            for key, suffix in (("QUALDATA", "MASK"), ("ERRDATA", "IVAR")):
                companion = cards.get(key)
                companion = companion if isinstance(companion, str) else f"{name}_{suffix}"
                wanted.add(companion.strip().upper())
    keep = [0] + [i for i in range(1, len(hdus)) if names[i] in wanted]
    return b"".join(buffer[hdus[i][0]:hdus[i][1]] for i in keep)


def _file_object(source):
    """The file, or for gzip its decompressed needed extensions in memory.

    astropy reads the extensions it is asked for lazily, seeking back and forth; on a
    gzip stream every backward seek decompresses again from the start, so one pass
    into memory is faster (and checks the whole stream).
    """
    with open(source, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if not gzipped:
        return source
    with gzip.open(source, "rb") as fh:
        return io.BytesIO(_needed_hdus(fh.read()))


def _as_format_error(exc, source):
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)) or "gzip" in str(exc).lower():
        return MapsFormatError(f"{source} is a truncated or corrupt gzip file ({exc})")
    if "truncated" in str(exc).lower():
        return MapsFormatError(f"{source} is truncated ({exc})")
    return MapsFormatError(f"{source} is not a readable FITS file ({exc})")


def read_maps(path, *, line=HALPHA_CHANNEL, maskbits=None):
    """Read the stellar and gas velocity fields of a DAP MAPS file.

    Works with the DR15-era and DR17 data models: the emission-line channel
    is looked up by name (header keys ``C<n>``), and the mask and
    inverse-variance companions of each velocity extension through its
    ``QUALDATA`` and ``ERRDATA`` header keys.

    Parameters
    ----------
    path : str, path-like or `~astropy.io.fits.HDUList`
        A ``manga-<plate>-<ifu>-MAPS-<DAPTYPE>.fits[.gz]`` file, or an open
        HDU list.
    line : str, optional
        Emission-line channel of ``EMLINE_GVEL`` for the gas field
        (default ``'Ha-6564'``, H-alpha).
    maskbits : {'any', 'donotuse'} or int, optional
        Which DAP mask bits make a spaxel unusable; default ``conf.maskbits``.

    Returns
    -------
    `~kinmisalign.MapsData`
        ``stellar`` and ``gas`` `~kinmisalign.VelocityField` maps (velocity
        in km/s, inverse variance, mask bits, bin indices and sky-right
        offsets from ``SPX_SKYCOO``) and ``meta`` with PLATEIFU, MANGAID,
        DAPTYPE, versions and the photometric ellipse (ECOOPA, ECOOELL).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    `~kinmisalign.MapsFormatError`
        When the file is not a readable FITS file, is truncated, or lacks an
        extension, a channel or a shape that the data model requires.
    """
    if isinstance(path, fits.HDUList):
        return _read_hdul(path, path.filename() or "HDUList", line, maskbits)
    source = _check_path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(_file_object(source), memmap=False, lazy_load_hdus=True) as hdul:
                maps = _read_hdul(hdul, source, line, maskbits)
    except MapsFormatError as exc:
        damage = _damage(caught)
        if damage is None:
            raise
        # A file cut short loses its last extensions: name the cause, not the first one missing.
        raise MapsFormatError(f"{source} is truncated or corrupt ({damage})") from exc
    except _READ_ERRORS as exc:
        raise _as_format_error(exc, source) from exc
    damage = _damage(caught)
    if damage is not None:
        raise MapsFormatError(f"{source} is truncated or corrupt ({damage})")
    return maps


def _damage(caught):
    """The first warning astropy gave about a truncated or corrupt file, or None."""
    for warning in caught:
        text = str(warning.message)
        if "truncated" in text.lower() or "corrupt" in text.lower():
            return text
    return None


def _read_hdul(hdul, source, line, maskbits):
    header = hdul[0].header
    skycoo_hdu = _hdu(hdul, SKYCOO_EXT, source)
    skycoo = skycoo_hdu.data
    if skycoo is None or skycoo.ndim != 3 or skycoo.shape[0] != 2:
        shape = None if skycoo is None else skycoo.shape
        raise MapsFormatError(f"{source}: {SKYCOO_EXT} must be a 2-channel map, not {shape}")
    shape = skycoo.shape[1:]
    xunit = _unit(skycoo_hdu.header, u.arcsec, SKYCOO_EXT, source)
    x = np.asarray(skycoo[0], dtype=np.float64) * xunit
    y = np.asarray(skycoo[1], dtype=np.float64) * xunit

    binids = {"stellar": None, "gas": None}
    if BINID_EXT in hdul:
        binid_hdu = hdul[BINID_EXT]
        names = channel_names(binid_hdu.header)
        for key, wanted in _BINID_CHANNELS.items():
            if wanted in names:
                binids[key] = _plane(binid_hdu, names.index(wanted), shape, source)

    stellar = _read_field(hdul, STELLAR_VEL_EXT, None, shape, x, y, binids["stellar"],
                          "stellar", maskbits, source)
    gas = _read_field(hdul, GAS_VEL_EXT, line, shape, x, y, binids["gas"], "gas", maskbits,
                      source)

    return MapsData(stellar, gas, meta=_maps_meta(header, line), header=header.copy(),
                    path=source)


def _maps_meta(header, line):
    """MapsData.meta from a MAPS primary header: the _META_KEYS present, and the line."""
    meta = {}
    for key in _META_KEYS:
        if key in header:
            value = header[key]
            meta[key] = value.strip() if isinstance(value, str) else value
    meta["LINE"] = line
    return meta
