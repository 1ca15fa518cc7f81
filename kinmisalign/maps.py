"""Reading MaNGA DAP MAPS files (DR15-era and DR17 data models)."""

import gzip
import io
import math
import os
import re
import warnings
import zlib

import numpy as np
from astropy import units as u
from astropy.io import fits

from ._datamodel import (
    BINID_EXT,
    GAS_VEL_EXT,
    HALPHA_CHANNEL,
    SKYCOO_EXT,
    STELLAR_VEL_EXT,
    primary_meta,
)
from .exceptions import MapsFormatError
from .fields import MapsData, VelocityField

__all__ = ["read_maps", "channel_names"]

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


class _MissingChannelError(MapsFormatError):
    """A multi-channel extension has no channel of the requested name."""


def _channel_index(header, name, extname, source):
    names = channel_names(header)
    if name not in names:
        listed = ", ".join(n for n in names if n) or "none"
        raise _MissingChannelError(f"{source}: extension {extname} has no channel named "
                                   f"{name!r} (channels: {listed})")
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
_END_CARD = b"END" + b" " * 77
# The extensions read_maps needs; their QUALDATA/ERRDATA companions are added as found.
_NEEDED = (SKYCOO_EXT, BINID_EXT, STELLAR_VEL_EXT, GAS_VEL_EXT)
# Deflate expands data at most 1032-fold: a gzip trailer claiming more is not believed.
_MAX_GZIP_RATIO = 1032

# Matched at a card boundary, these find the next card whose keyword starts with END, or is a
# structural one (with its value field): regular expressions step from card to card far
# faster than a Python loop over the cards.
_END_KEYWORD = re.compile(rb"(?:.{80})*?END", re.DOTALL)
_STRUCTURAL = re.compile(
    rb"(?:.{80})*?(BITPIX|NAXIS\d{0,3}|PCOUNT|GCOUNT|GROUPS|EXTNAME|QUALDATA|ERRDATA) *= (.{70})",
    re.DOTALL)
_KEYWORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_STRING_VALUE = re.compile(rb" *'((?:[^']|'')*)'")
_INTEGER_VALUE = re.compile(rb" *([-+]?[0-9]+) *(?:/.*)?", re.DOTALL)


class _Content:
    """A file in memory held as consecutive byte strings, sliced as if joined.

    `_decompress` gives a gzipped file as its first block and the rest, and joining
    them would copy the whole file; slices within one piece are memoryviews of it.

    Parameters
    ----------
    *pieces : bytes
        The file's bytes, in order.
    """

    def __init__(self, *pieces):
        self._pieces = [memoryview(piece) for piece in pieces if len(piece)]
        self._starts = []
        size = 0
        for piece in self._pieces:
            self._starts.append(size)
            size += len(piece)
        self._size = size

    def __len__(self):
        return self._size

    def __getitem__(self, key):
        """Bytes ``start:stop`` as a memoryview, a copy only when they span two pieces."""
        start, stop, step = key.indices(self._size)
        if step != 1:
            raise ValueError("only contiguous slices of a file's bytes")
        parts = []
        for first, piece in zip(self._starts, self._pieces, strict=True):
            lo, hi = max(start, first), min(stop, first + len(piece))
            if lo < hi:
                parts.append(piece[lo - first:hi - first])
        if len(parts) == 1:
            return parts[0]
        return memoryview(b"".join(parts))

    def tobytes(self):
        """The whole file as one bytes object (a copy)."""
        return b"".join(self._pieces)


def _card_value(value):
    """The value (columns 11 to 80 of a card image) as str or int, None when neither."""
    match = _STRING_VALUE.match(value)
    if match:
        return match.group(1).replace(b"''", b"'").decode("ascii", "replace").rstrip()
    match = _INTEGER_VALUE.fullmatch(value)
    return int(match.group(1)) if match else None


def _header(buffer, start):
    """The header starting at ``start``: its blocks up to the one with the END card.

    Parameters
    ----------
    buffer : bytes, memoryview or `_Content`
        The file.
    start : int
        Offset of the header.

    Returns
    -------
    (bytes, int) or None
        The header's blocks and the offset of its END card in them; None when there is
        no END card before the end of the file, or when it is not a plain one (astropy
        mends those, with a warning: the file is then left to it).
    """
    blocks = (len(buffer) - start) // _BLOCK
    length, card = 4, 0
    while True:
        header = bytes(buffer[start:start + min(length, blocks) * _BLOCK])
        match = _END_KEYWORD.match(header, card)
        while match:
            card = match.end() - 3
            if header[card:card + _CARD] == _END_CARD:
                return header[:(card // _BLOCK + 1) * _BLOCK], card
            if header[card + 3] not in _KEYWORD_BYTES:
                return None
            # A keyword that only starts with END (ENDTIME, ...).
            match = _END_KEYWORD.match(header, card + _CARD)
        if length >= blocks:
            return None
        card, length = len(header), length * 4


def _scan_hdus(buffer):
    """Offsets, sizes and names of the HDUs of a FITS file held in memory.

    Reads only the structural keywords of each header. Returns None when anything
    is not plain (random groups, a missing END, a size past the end of the data),
    so that the caller hands the whole file to astropy instead.

    Parameters
    ----------
    buffer : bytes, memoryview or `_Content`
        The file.

    Returns
    -------
    list of (start, data, stop, cards) or None
        Per HDU: the offsets of its header, its data and its end, and a dict of its
        structural keywords (str or int values; None when unreadable).
    """
    hdus, start, size = [], 0, len(buffer)
    while start < size:
        found = _header(buffer, start)
        if found is None:
            return None
        header, end_card = found
        cards = {}
        match = _STRUCTURAL.match(header, 0, end_card)
        while match:
            at = match.start(1)
            if match.start(2) - at == 10:
                cards.setdefault(match.group(1).decode("ascii"), _card_value(match.group(2)))
            match = _STRUCTURAL.match(header, at + _CARD, end_card)
        naxis, bitpix = cards.get("NAXIS"), cards.get("BITPIX")
        if not isinstance(naxis, int) or bitpix not in (8, 16, 32, 64, -32, -64):
            return None
        if "GROUPS" in cards:
            return None
        pcount, gcount = cards.get("PCOUNT", 0), cards.get("GCOUNT", 1)
        if naxis:
            dims = [cards.get(f"NAXIS{i}") for i in range(1, naxis + 1)]
            if not all(isinstance(n, int) and n >= 0 for n in dims + [pcount, gcount]):
                return None
            nbytes = abs(bitpix) // 8 * gcount * (math.prod(dims) + pcount)
        else:
            nbytes = 0
        end = start + len(header)
        stop = end + -(-nbytes // _BLOCK) * _BLOCK
        if stop > size:
            return None
        hdus.append((start, end, stop, cards))
        start = stop
    return hdus


def _hdu_name(cards):
    """The name an HDU is looked up by: its scanned EXTNAME, stripped, in upper case."""
    return str(cards.get("EXTNAME") or "").strip().upper()


def _needed_hdus(buffer, hdus):
    """A FITS file holding only the primary HDU and the extensions read_maps uses.

    astropy parses every header it passes on the way to a named extension; a MAPS
    file has 40 to 60 extensions and read_maps needs about nine, so skipping the
    others by their sizes roughly halves the reading time.

    Parameters
    ----------
    buffer : bytes, memoryview or `_Content`
        The file.
    hdus : list
        Its HDUs, from `_scan_hdus`.

    Returns
    -------
    bytes
    """
    names = [_hdu_name(cards) for *_, cards in hdus]
    wanted = set(_NEEDED)
    for name, (*_, cards) in zip(names, hdus, strict=True):
        if name in _NEEDED:
            for key, suffix in (("QUALDATA", "MASK"), ("ERRDATA", "IVAR")):
                companion = cards.get(key)
                companion = companion if isinstance(companion, str) else f"{name}_{suffix}"
                wanted.add(companion.strip().upper())
    keep = [0] + [i for i in range(1, len(hdus)) if names[i] in wanted]
    return b"".join(buffer[hdus[i][0]:hdus[i][2]] for i in keep)


def _decompress(source):
    """The decompressed content of a gzip file, or None when the file is not gzipped.

    One pass with zlib, which checks the CRC-32 and length of the trailer, into a
    buffer of the size the trailer gives (the first block apart): no growing and no
    final copy, which together cost as much as the decompression itself. A stream
    zlib does not read cleanly as one member (several members, damage, a cut) is read
    by the gzip module, as before, which also raises the errors.

    Parameters
    ----------
    source : str
        Path of the file.

    Returns
    -------
    `_Content` or None
    """
    with open(source, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return None
        fh.seek(0)
        data = fh.read()
    inflater = zlib.decompressobj(wbits=31)  # 16 + 15: one gzip member
    try:
        # decompress() stops after the first block and leaves the rest of the input to
        # flush(), the one call that takes an output size: the length in the trailer.
        head = inflater.decompress(data, _BLOCK)
        size = int.from_bytes(data[-4:], "little") - len(head)
        rest = inflater.flush(size if 0 < size <= _MAX_GZIP_RATIO * len(data)
                              else zlib.DEF_BUF_SIZE)
    except zlib.error:
        pass
    else:
        # flush() does not raise on damage: only a stream read to its end is whole.
        if inflater.eof and not inflater.unused_data.lstrip(b"\0"):
            return _Content(head, rest)
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as fh:
        return _Content(fh.read())


_IMAGE_DTYPES = {8: np.dtype("u1"), 16: np.dtype(">i2"), 32: np.dtype(">i4"),
                 64: np.dtype(">i8"), -32: np.dtype(">f4"), -64: np.dtype(">f8")}


# The first card of a primary HDU and of an image extension, in fixed format.
_PRIMARY_CARD = "SIMPLE  =                    T"
_IMAGE_CARD = "XTENSION= 'IMAGE   '"


class _NotPlain(Exception):
    """An HDU that astropy may read otherwise than as a raw image (scaled, a table, ...)."""


class _Image:
    """What read_maps uses of an HDU (name, header, data), as astropy's HDU gives them."""

    __slots__ = ("name", "header", "data")

    def __init__(self, name, header, data):
        self.name, self.header, self.data = name, header, data


class _Images:
    """The HDUs of a scanned file, looked up like an HDUList, without astropy's HDUs.

    An HDU is built when first asked for: its header parsed by `~astropy.io.fits.Header`
    and its data a big-endian view of the file's bytes, which is what astropy gives for
    a plain image. Anything else raises `_NotPlain`, and the file goes to astropy.

    Parameters
    ----------
    content : `_Content`
        The file.
    hdus : list
        Its HDUs, from `_scan_hdus`.
    """

    def __init__(self, content, hdus):
        self._content, self._hdus, self._built = content, hdus, {}
        self._index = {}
        for index, (*_, cards) in enumerate(hdus):
            self._index.setdefault(_hdu_name(cards), index)
        self._index["PRIMARY"] = 0  # as in astropy, whatever the first HDU's EXTNAME

    def __contains__(self, name):
        return name.strip().upper() in self._index

    def __getitem__(self, key):
        index = key if isinstance(key, int) else self._index.get(key.strip().upper())
        if index is None:
            raise KeyError(f"Extension {key!r} not found.")
        if index not in self._built:
            self._built[index] = self._build(index)
        return self._built[index]

    def _build(self, index):
        start, data_start, stop, cards = self._hdus[index]
        try:
            text = bytes(self._content[start:data_start]).decode("ascii")
        except UnicodeDecodeError:
            raise _NotPlain(index) from None
        header = fits.Header.fromstring(text)
        # The BITPIX and NAXISn of the scan are those astropy reads: the same cards, the
        # first of each keyword. Images only, starting as the standard writes them, and
        # nothing that scales or offsets the values.
        dims = [cards[f"NAXIS{i}"] for i in range(1, cards["NAXIS"] + 1)]
        if (not text.startswith(_PRIMARY_CARD if index == 0 else _IMAGE_CARD)
                or cards.get("PCOUNT", 0) != 0 or cards.get("GCOUNT", 1) != 1 or 0 in dims
                or any(key in header for key in ("GROUPS", "BSCALE", "BZERO", "BLANK"))):
            raise _NotPlain(index)
        data = None
        if dims:
            dtype = _IMAGE_DTYPES[cards["BITPIX"]]
            view = self._content[data_start:data_start + math.prod(dims) * dtype.itemsize]
            data = np.frombuffer(view, dtype=dtype).reshape(dims[::-1])
        name = str(header.get("EXTNAME", "PRIMARY" if index == 0 else ""))
        return _Image(name, header, data)


def _read_file(source, line, maskbits, line_required):
    """read_maps of a file: gzip decompressed in memory, plain images read directly.

    astropy reads the extensions it is asked for lazily, seeking back and forth; on a
    gzip stream every backward seek decompresses again from the start, so one pass
    into memory is faster (and checks the whole stream). Building astropy's HDUs for
    the needed extensions then costs twice as much as taking plain images straight
    from the bytes (`_Images`); a file that is not that simple is left to astropy.
    """
    content = _decompress(source)
    if content is None:
        fileobj = source
    else:
        hdus = _scan_hdus(content)
        if hdus is None:
            fileobj = io.BytesIO(content.tobytes())
        else:
            try:
                return _read_hdul(_Images(content, hdus), source, line, maskbits,
                                  line_required)
            except _NotPlain:
                fileobj = io.BytesIO(_needed_hdus(content, hdus))
    with fits.open(fileobj, memmap=False, lazy_load_hdus=True) as hdul:
        return _read_hdul(hdul, source, line, maskbits, line_required)


def _as_format_error(exc, source):
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)) or "gzip" in str(exc).lower():
        return MapsFormatError(f"{source} is a truncated or corrupt gzip file ({exc})")
    if "truncated" in str(exc).lower():
        return MapsFormatError(f"{source} is truncated ({exc})")
    return MapsFormatError(f"{source} is not a readable FITS file ({exc})")


def read_maps(path, *, line=HALPHA_CHANNEL, maskbits=None, line_required=True):
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
    line_required : bool, optional
        When False, a file whose ``EMLINE_GVEL`` has no channel ``line`` is
        read all the same: ``gas`` is None and ``gas_problem`` says why (a
        batch run keeps the stellar field of such a file). Default True: such
        a file raises `~kinmisalign.MapsFormatError`.

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

    Examples
    --------
    Read a MAPS file written by `kinmisalign.mock` (a survey file is read the same
    way):

    >>> import tempfile
    >>> from kinmisalign.mock import FieldModel, MockGalaxy, write_maps
    >>> galaxy = MockGalaxy(plateifu="8000-3703", inclination=55,
    ...                     stellar=FieldModel(pa=30.0, vmax=160.0, noise=6.0),
    ...                     gas=FieldModel(pa=250.0, vmax=200.0, noise=4.0))
    >>> from kinmisalign import read_maps
    >>> path = write_maps(galaxy, tempfile.mkdtemp(), seed=1)
    >>> path.name
    'manga-8000-3703-MAPS-HYB10-MILESHC-MASTARSSP.fits.gz'
    >>> maps = read_maps(path)
    >>> maps
    <MapsData 8000-3703 (HYB10-MILESHC-MASTARSSP): stellar 764 / gas 764 usable spaxels>
    >>> maps.stellar.velocity.shape, maps.stellar.velocity.unit
    ((43, 43), Unit("km / s"))
    """
    if isinstance(path, fits.HDUList):
        return _read_hdul(path, path.filename() or "HDUList", line, maskbits, line_required)
    source = _check_path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            maps = _read_file(source, line, maskbits, line_required)
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


def _read_hdul(hdul, source, line, maskbits, line_required=True):
    """MapsData from an HDUList or `_Images`: HDUs by name (and the primary as 0) with
    ``name``, ``header`` and ``data``; the data-model rules and errors are all here."""
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
    gas_problem = None
    try:
        gas = _read_field(hdul, GAS_VEL_EXT, line, shape, x, y, binids["gas"], "gas", maskbits,
                          source)
    except _MissingChannelError as exc:
        if line_required:
            raise
        gas, gas_problem = None, str(exc)

    return MapsData(stellar, gas, meta=primary_meta(header, line), header=header.copy(),
                    path=source, gas_problem=gas_problem)
