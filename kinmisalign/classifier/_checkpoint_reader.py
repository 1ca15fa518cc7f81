"""Read TensorFlow 2 checkpoints (tensor bundles) with numpy alone.

A checkpoint ``<prefix>`` is an index file ``<prefix>.index`` and data files
``<prefix>.data-SSSSS-of-NNNNN``. The index is a LevelDB table (an "SSTable")
that maps each tensor name to a ``BundleEntryProto`` protobuf (data type,
shape, data file, offset, size and masked CRC-32C of the tensor's bytes); its
empty key holds the ``BundleHeaderProto`` (number of data files, byte order,
format version). A table is a sequence of blocks, each followed by a 5-byte
trailer (compression type and masked CRC-32C), with an index block pointing at
the data blocks and a 48-byte footer pointing at the index block and ending in
the magic number ``0xdb4775248b80fb57``. Keys in a block are stored as the
length of the prefix shared with the previous key and the rest.

Everything is checked before use (the reader is meant for downloaded files):
magic number, checksums of the index blocks and of every tensor read, that
blocks, entries and tensors lie inside their files, that shapes agree with
sizes, that keys are sorted, and limits on the number of tensors and the size
of the index. A problem raises `TensorBundleError` naming the file and the
problem.
"""

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import KinmisalignError

__all__ = ["TensorBundleError", "TensorInfo", "CheckpointReader", "list_tensors",
           "read_checkpoint", "crc32c", "mask_crc32c", "unmask_crc32c",
           "MAX_TENSORS", "MAX_INDEX_BYTES"]

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles padded to 40 bytes, then the magic number
BLOCK_TRAILER_SIZE = 5  # compression type, masked CRC-32C
BUNDLE_VERSION = 1  # the version of the format this reader implements

MAX_TENSORS = 200_000
"""More entries than this in an index are refused (real models hold thousands at most)."""
MAX_INDEX_BYTES = 256 * 2**20
"""A larger index file is refused."""
MAX_DIMS = 254  # TensorFlow's own limit on the rank of a tensor
MAX_SHARDS = 99_999  # data file names number the shards with five digits

# TensorFlow's DataType enum (tensorflow/core/framework/types.proto): those numpy can hold.
_DTYPES = {
    1: ("DT_FLOAT", "float32"), 2: ("DT_DOUBLE", "float64"), 3: ("DT_INT32", "int32"),
    4: ("DT_UINT8", "uint8"), 5: ("DT_INT16", "int16"), 6: ("DT_INT8", "int8"),
    7: ("DT_STRING", "object"), 8: ("DT_COMPLEX64", "complex64"), 9: ("DT_INT64", "int64"),
    10: ("DT_BOOL", "bool"), 17: ("DT_UINT16", "uint16"), 18: ("DT_COMPLEX128", "complex128"),
    19: ("DT_HALF", "float16"), 22: ("DT_UINT32", "uint32"), 23: ("DT_UINT64", "uint64"),
}
# ... and those it cannot, named in the error.
_UNSUPPORTED_DTYPES = {
    0: "DT_INVALID", 11: "DT_QINT8", 12: "DT_QUINT8", 13: "DT_QINT32", 14: "DT_BFLOAT16",
    15: "DT_QINT16", 16: "DT_QUINT16", 20: "DT_RESOURCE", 21: "DT_VARIANT",
    24: "DT_FLOAT8_E5M2", 25: "DT_FLOAT8_E4M3FN",
}
DT_STRING = 7


class TensorBundleError(KinmisalignError, ValueError):
    """A TensorFlow checkpoint file is damaged, malformed or of an unsupported kind."""


class _Malformed(Exception):
    """A parsing problem; the reader adds the file name (`TensorBundleError`)."""


# --- CRC-32C (Castagnoli), as LevelDB and TensorFlow use it -----------------------------------

_CRC_POLY = 0x82F63B78  # Castagnoli polynomial, bit-reversed
_CRC_MASK_DELTA = 0xA282EAD8


def _crc_table():
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_CRC_POLY), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _crc_table()
_CRC_TABLE_LIST = _CRC_TABLE.tolist()
_LANE_THRESHOLD = 1 << 14  # below this many bytes the byte-by-byte loop is fast enough


def _crc_bytewise(register, data):
    table = _CRC_TABLE_LIST
    for byte in bytes(data):
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


@functools.lru_cache(maxsize=16)
def _zero_shift_tables(length):
    """Tables of the (linear) effect of ``length`` zero bytes on the CRC register, by byte."""
    images = np.uint32(1) << np.arange(32, dtype=np.uint32)  # the register's basis vectors
    for _ in range(length):
        images = _CRC_TABLE[images & 0xFF] ^ (images >> 8)
    bit_set = ((np.arange(256)[:, np.newaxis] >> np.arange(8)) & 1).astype(bool)
    return tuple(
        np.bitwise_xor.reduce(np.where(bit_set, images[8 * k:8 * k + 8], np.uint32(0)),
                              axis=1).astype(np.uint32).tolist()
        for k in range(4))


def _crc_update(register, data):
    """The CRC register after ``data``.

    A register update is linear in register and data, so long inputs are cut
    into equal lanes that numpy runs side by side (all but the first from a
    zero register); the lane results are then chained, each shifted by one
    lane length of zero bytes.
    """
    size = len(data)
    if size < _LANE_THRESHOLD:
        return _crc_bytewise(register, data)
    lane_length = math.isqrt(size)
    n_lanes = size // lane_length
    head = np.frombuffer(data, dtype=np.uint8, count=n_lanes * lane_length)
    columns = np.ascontiguousarray(head.reshape(n_lanes, lane_length).T)
    registers = np.zeros(n_lanes, dtype=np.uint32)
    registers[0] = register
    for column in columns:
        registers = _CRC_TABLE[(registers ^ column) & 0xFF] ^ (registers >> 8)
    shift0, shift1, shift2, shift3 = _zero_shift_tables(lane_length)
    register = 0
    for lane in registers.tolist():
        register = (shift0[register & 0xFF] ^ shift1[(register >> 8) & 0xFF]
                    ^ shift2[(register >> 16) & 0xFF] ^ shift3[register >> 24] ^ lane)
    return _crc_bytewise(register, memoryview(data)[n_lanes * lane_length:])


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli) of ``data``, continuing ``crc`` (LevelDB's ``crc32c::Extend``).

    Parameters
    ----------
    data : bytes-like
    crc : int, optional
        CRC-32C of the preceding bytes.

    Returns
    -------
    int
    """
    return _crc_update(crc ^ 0xFFFFFFFF, data) ^ 0xFFFFFFFF


def mask_crc32c(crc):
    """A CRC as LevelDB and TensorFlow store it (rotated, plus a constant).

    Parameters
    ----------
    crc : int

    Returns
    -------
    int
    """
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def unmask_crc32c(masked):
    """Inverse of `mask_crc32c`.

    Parameters
    ----------
    masked : int

    Returns
    -------
    int
    """
    rotated = (masked - _CRC_MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


# --- protobuf wire format ----------------------------------------------------------------------

def _varint(buf, pos, end, what):
    result = 0
    for shift in range(0, 70, 7):
        if pos >= end:
            raise _Malformed(f"truncated varint in {what}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >> 64:
                raise _Malformed(f"varint of more than 64 bits in {what}")
            return result, pos
    raise _Malformed(f"varint longer than 10 bytes in {what}")


def _signed64(value):
    return value - (1 << 64) if value >> 63 else value


def _fields(buf, what):
    """(field number, wire type, value) of a protobuf message, in order."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos, end, what)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed(f"field number 0 in {what}")
        if wire == 0:
            value, pos = _varint(buf, pos, end, what)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise _Malformed(f"truncated fixed-width field {number} in {what}")
            value = int.from_bytes(buf[pos:pos + width], "little")
            pos += width
        elif wire == 2:
            length, pos = _varint(buf, pos, end, what)
            if length > end - pos:
                raise _Malformed(f"field {number} of {length} bytes runs past the end of {what}")
            value = bytes(buf[pos:pos + length])
            pos += length
        else:
            raise _Malformed(f"unsupported wire type {wire} (field {number}) in {what}")
        yield number, wire, value


def _expect_wire(number, wire, expected, what):
    if wire != expected:
        raise _Malformed(f"field {number} of {what} has wire type {wire}, expected {expected}")


def _parse_shape(buf, what):
    shape = []
    for number, wire, value in _fields(buf, what):
        if number == 2:  # repeated Dim {int64 size = 1; string name = 2}
            _expect_wire(number, wire, 2, what)
            size = 0
            for dim_number, dim_wire, dim_value in _fields(value, what):
                if dim_number == 1:
                    _expect_wire(dim_number, dim_wire, 0, what)
                    size = _signed64(dim_value)
            if size < 0:
                raise _Malformed(f"dimension of unknown or negative size {size} in {what}")
            shape.append(size)
            if len(shape) > MAX_DIMS:
                raise _Malformed(f"more than {MAX_DIMS} dimensions in {what}")
        elif number == 3 and value:  # unknown_rank
            raise _Malformed(f"shape of unknown rank in {what}")
    return tuple(shape)


@dataclass(frozen=True)
class TensorInfo:
    """Where and what one tensor of a checkpoint is.

    Attributes
    ----------
    dtype_name : str
        TensorFlow's name of the data type, e.g. ``'DT_FLOAT'``.
    dtype : numpy.dtype or None
        The numpy data type it is read as (``object``, holding `bytes`, for
        ``DT_STRING``), or None when numpy cannot hold it.
    shape : tuple of int
    shard_id : int
        Number of its data file.
    offset, size : int
        Its bytes in the data file.
    masked_crc32c : int
        The checksum of those bytes, masked as stored.
    """

    dtype_name: str
    dtype: object
    shape: tuple
    shard_id: int
    offset: int
    size: int
    masked_crc32c: int


def _parse_entry(buf, name):
    what = f"the entry of tensor {name!r}"
    dtype_enum, shape, shard_id, offset, size, masked = 0, (), 0, 0, 0, 0
    for number, wire, value in _fields(buf, what):
        if number == 1:
            _expect_wire(number, wire, 0, what)
            dtype_enum = _signed64(value)
        elif number == 2:
            _expect_wire(number, wire, 2, what)
            shape = shape + _parse_shape(value, what)  # repeated messages merge
            if len(shape) > MAX_DIMS:
                raise _Malformed(f"more than {MAX_DIMS} dimensions in {what}")
        elif number == 3:
            _expect_wire(number, wire, 0, what)
            shard_id = _signed64(value)
        elif number == 4:
            _expect_wire(number, wire, 0, what)
            offset = _signed64(value)
        elif number == 5:
            _expect_wire(number, wire, 0, what)
            size = _signed64(value)
        elif number == 6:
            _expect_wire(number, wire, 5, what)
            masked = value
        elif number == 7:
            raise _Malformed(f"tensor {name!r} is partitioned (saved in slices), which this "
                             "reader does not support")
    if offset < 0 or size < 0:
        raise _Malformed(f"negative offset {offset} or size {size} in {what}")
    if dtype_enum in _DTYPES:
        dtype_name, numpy_name = _DTYPES[dtype_enum]
        dtype = np.dtype(numpy_name)
    else:
        dtype_name, dtype = _dtype_name(dtype_enum), None
    if dtype is not None and dtype_enum != DT_STRING:
        expected = math.prod(shape) * dtype.itemsize
        if expected != size:
            raise _Malformed(f"tensor {name!r}: shape {shape} of {dtype_name} needs {expected} "
                             f"bytes but its entry says {size}")
    return TensorInfo(dtype_name, dtype, shape, shard_id, offset, size, masked)


def _dtype_name(dtype_enum):
    if dtype_enum in _UNSUPPORTED_DTYPES:
        return _UNSUPPORTED_DTYPES[dtype_enum]
    if dtype_enum > 100 and dtype_enum - 100 in _DTYPES:  # reference types (TF 1 graphs)
        return _DTYPES[dtype_enum - 100][0] + "_REF"
    return f"DataType {dtype_enum}"


def _parse_header(buf):
    what = "the bundle header"
    num_shards, endianness, min_consumer, bad_consumers = 0, 0, 0, []
    for number, wire, value in _fields(buf, what):
        if number == 1:
            _expect_wire(number, wire, 0, what)
            num_shards = _signed64(value)
        elif number == 2:
            _expect_wire(number, wire, 0, what)
            endianness = _signed64(value)
        elif number == 3:  # VersionDef {producer = 1; min_consumer = 2; bad_consumers = 3}
            _expect_wire(number, wire, 2, what)
            for version_number, version_wire, version_value in _fields(value, what):
                if version_number == 2 and version_wire == 0:
                    min_consumer = _signed64(version_value)
                elif version_number == 3 and version_wire == 0:
                    bad_consumers.append(_signed64(version_value))
                elif version_number == 3 and version_wire == 2:  # packed
                    pos = 0
                    while pos < len(version_value):
                        item, pos = _varint(version_value, pos, len(version_value), what)
                        bad_consumers.append(_signed64(item))
    if not 1 <= num_shards <= MAX_SHARDS:
        raise _Malformed(f"the header gives {num_shards} data files (1 to {MAX_SHARDS} allowed)")
    if endianness not in (0, 1):
        raise _Malformed(f"unknown byte order {endianness} in the header")
    if min_consumer > BUNDLE_VERSION or BUNDLE_VERSION in bad_consumers:
        raise _Malformed(f"the checkpoint needs a reader of format version {min_consumer} or "
                         f"later (this one reads version {BUNDLE_VERSION})")
    return num_shards, "<" if endianness == 0 else ">"


# --- LevelDB table -----------------------------------------------------------------------------

def _block_handle(buf, pos, end, what):
    offset, pos = _varint(buf, pos, end, what)
    size, pos = _varint(buf, pos, end, what)
    return (offset, size), pos


def _read_block(raw, handle, what):
    offset, size = handle
    limit = len(raw) - FOOTER_SIZE
    if offset + size + BLOCK_TRAILER_SIZE > limit:
        raise _Malformed(f"{what} at bytes {offset} to {offset + size + BLOCK_TRAILER_SIZE} "
                         f"lies outside the table ({limit} bytes before the footer): "
                         "truncated or damaged")
    end = offset + size
    contents = raw[offset:end]
    stored = int.from_bytes(raw[end + 1:end + BLOCK_TRAILER_SIZE], "little")
    actual = crc32c(raw[end:end + 1], crc32c(contents))  # the type byte is checksummed too
    if unmask_crc32c(stored) != actual:
        raise _Malformed(f"checksum mismatch in {what} (bytes {offset} to {end}): damaged")
    compression = raw[end]
    if compression == 1:
        raise _Malformed(f"{what} is Snappy-compressed, which this reader does not support "
                         "(TensorFlow writes checkpoint indexes uncompressed)")
    if compression != 0:
        raise _Malformed(f"unknown compression type {compression} of {what}")
    return contents


def _block_entries(block, what):
    """The (key, value) pairs of a table block, checking its restart points."""
    if len(block) < 4:
        raise _Malformed(f"{what} is shorter than its restart count")
    n_restarts = int.from_bytes(block[-4:], "little")
    entries_end = len(block) - 4 - 4 * n_restarts
    if n_restarts < 1 or entries_end < 0:
        raise _Malformed(f"{what} has an impossible restart count {n_restarts}")
    restarts = np.frombuffer(block, dtype="<u4", count=n_restarts, offset=entries_end).tolist()
    entries, fresh_starts = [], set()
    pos, key = 0, b""
    while pos < entries_end:
        start = pos
        shared, pos = _varint(block, pos, entries_end, what)
        unshared, pos = _varint(block, pos, entries_end, what)
        value_length, pos = _varint(block, pos, entries_end, what)
        if shared > len(key):
            raise _Malformed(f"an entry of {what} shares {shared} bytes with a "
                             f"{len(key)}-byte key")
        if unshared + value_length > entries_end - pos:
            raise _Malformed(f"an entry of {what} runs past the end of the block")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + value_length]))
        pos += value_length
        if shared == 0:
            fresh_starts.add(start)
    if entries and not set(restarts) <= fresh_starts or not entries and restarts != [0]:
        raise _Malformed(f"{what} has restart points that are not at the start of a full key")
    return entries


def _read_table(raw, max_entries):
    """All (key, value) pairs of a LevelDB table, in order (at most ``max_entries``)."""
    if len(raw) < FOOTER_SIZE:
        raise _Malformed(f"the file has {len(raw)} bytes, fewer than the {FOOTER_SIZE}-byte "
                         "table footer: truncated or not a checkpoint index")
    footer = raw[-FOOTER_SIZE:]
    magic = int.from_bytes(footer[-8:], "little")
    if magic != TABLE_MAGIC:
        raise _Malformed(f"bad magic number {magic:#018x} (expected {TABLE_MAGIC:#018x}): "
                         "truncated or not a TensorFlow checkpoint index")
    _, pos = _block_handle(footer, 0, FOOTER_SIZE - 8, "the footer")  # meta index: unused
    index_handle, _ = _block_handle(footer, pos, FOOTER_SIZE - 8, "the footer")
    index = _read_block(raw, index_handle, "the index block")
    entries = []
    for block_number, (separator, handle_bytes) in enumerate(
            _block_entries(index, "the index block")):
        what = f"data block {block_number}"
        handle, end = _block_handle(handle_bytes, 0, len(handle_bytes), "the index block")
        if end != len(handle_bytes):
            raise _Malformed("the index block holds a malformed block handle")
        for key, value in _block_entries(_read_block(raw, handle, what), what):
            if entries and key <= entries[-1][0]:
                raise _Malformed(f"keys out of order in {what}: {key!r} after {entries[-1][0]!r}")
            if key > separator:
                raise _Malformed(f"key {key!r} of {what} lies beyond its index entry")
            entries.append((key, value))
            if len(entries) > max_entries:
                raise _Malformed(f"more than {max_entries - 1} tensors (kinmisalign's limit, "
                                 "MAX_TENSORS): not a model checkpoint")
    return entries


# --- the reader --------------------------------------------------------------------------------

def _data_path(index_path, shard_id, num_shards):
    name = index_path.name.removesuffix(".index")
    return index_path.with_name(f"{name}.data-{shard_id:05d}-of-{num_shards:05d}")


class CheckpointReader:
    """A TensorFlow 2 checkpoint (tensor bundle), read with numpy.

    The index is read and checked on creation; tensors are read from the data
    files on request.

    Parameters
    ----------
    index_path : path-like
        ``<prefix>.index``.
    data_paths : sequence of path-like, optional
        The data files by shard number; default: ``<prefix>.data-SSSSS-of-NNNNN``
        beside the index (separate paths serve e.g. a download cache, which
        does not keep the files' names).

    Raises
    ------
    TensorBundleError
        The index is damaged, malformed or of an unsupported kind.
    """

    def __init__(self, index_path, data_paths=None):
        self.index_path = Path(index_path)
        try:
            with open(self.index_path, "rb") as fh:
                raw = fh.read(MAX_INDEX_BYTES + 1)
        except IsADirectoryError:
            raise TensorBundleError(f"{self.index_path} is a directory, not a checkpoint index "
                                    "(give <prefix>.index, e.g. variables/variables.index)") \
                from None
        if len(raw) > MAX_INDEX_BYTES:
            raise self._error(f"index larger than {MAX_INDEX_BYTES} bytes (kinmisalign's limit, "
                              "MAX_INDEX_BYTES): not a model checkpoint")
        try:
            entries = _read_table(memoryview(raw), MAX_TENSORS + 1)  # + 1: the header
            if not entries or entries[0][0] != b"":
                raise _Malformed("no bundle header (the entry with the empty key)")
            self.num_shards, self.byteorder = _parse_header(entries[0][1])
            self.tensors = {}
            for key, value in entries[1:]:
                try:
                    name = bytes(key).decode("utf-8")
                except UnicodeDecodeError:
                    raise _Malformed(f"tensor name {bytes(key)!r} is not UTF-8") from None
                info = _parse_entry(value, name)
                if not 0 <= info.shard_id < self.num_shards:
                    raise _Malformed(f"tensor {name!r} is in data file {info.shard_id}, but the "
                                     f"checkpoint has {self.num_shards}")
                self.tensors[name] = info
        except _Malformed as exc:
            raise self._error(str(exc)) from None
        if data_paths is None:
            data_paths = [_data_path(self.index_path, shard, self.num_shards)
                          for shard in range(self.num_shards)]
        self.data_paths = [Path(path) for path in data_paths]
        if len(self.data_paths) != self.num_shards:
            raise self._error(f"{len(self.data_paths)} data files given, but the checkpoint has "
                              f"{self.num_shards}")

    def _error(self, problem, path=None):
        return TensorBundleError(f"{path or self.index_path}: {problem}")

    def read(self, names=None):
        """Tensors of the checkpoint.

        Parameters
        ----------
        names : iterable of str, optional
            Which tensors; default all.

        Returns
        -------
        dict
            Name to `numpy.ndarray` (native byte order, writable; ``DT_STRING``
            tensors as object arrays of `bytes`).

        Raises
        ------
        KeyError
            A name is not in the checkpoint.
        TensorBundleError
            A tensor is of an unsupported data type, lies outside its data file
            or does not match its checksum.
        FileNotFoundError
            A data file is missing.
        """
        names = list(self.tensors) if names is None else list(names)
        missing = [name for name in names if name not in self.tensors]
        if missing:
            raise KeyError(f"{', '.join(map(repr, missing))} not in checkpoint {self.index_path} "
                           f"(it holds {len(self.tensors)} tensors)")
        for name in names:
            info = self.tensors[name]
            if info.dtype is None:
                raise self._error(f"tensor {name!r} has data type {info.dtype_name}, which this "
                                  "reader does not support (supported: "
                                  f"{', '.join(dtype for dtype, _ in _DTYPES.values())})")
        arrays = {}
        for shard in sorted({self.tensors[name].shard_id for name in names}):
            path = self.data_paths[shard]
            if not path.is_file():
                raise FileNotFoundError(f"data file {path} of checkpoint {self.index_path} "
                                        "not found")
            with open(path, "rb") as fh:
                file_size = fh.seek(0, 2)
                for name in names:
                    info = self.tensors[name]
                    if info.shard_id == shard:
                        arrays[name] = self._read_tensor(fh, path, file_size, name, info)
        return {name: arrays[name] for name in names}

    def _read_tensor(self, fh, path, file_size, name, info):
        end = info.offset + info.size
        if end > file_size:
            raise self._error(f"tensor {name!r} at bytes {info.offset} to {end} lies outside the "
                              f"data file ({file_size} bytes): truncated or damaged", path)
        fh.seek(info.offset)
        raw = fh.read(info.size)
        if len(raw) != info.size:
            raise self._error(f"could not read the {info.size} bytes of tensor {name!r}", path)
        if info.dtype_name == "DT_STRING":
            try:
                array, crc = _decode_strings(raw, info.shape, self.byteorder)
            except _Malformed as exc:
                raise self._error(f"tensor {name!r}: {exc}", path) from None
        else:
            stored = info.dtype.newbyteorder(self.byteorder)
            array = np.frombuffer(raw, dtype=stored).reshape(info.shape).astype(info.dtype)
            crc = crc32c(raw)
        if crc != unmask_crc32c(info.masked_crc32c):
            raise self._error(f"checksum mismatch in tensor {name!r} (bytes {info.offset} to "
                              f"{end}): damaged", path)
        return array


def _decode_strings(raw, shape, byteorder):
    """A DT_STRING tensor and its checksum.

    Stored as varint lengths, a masked checksum of the lengths, the strings;
    the tensor's checksum covers the lengths as 4-byte integers (8-byte from
    4 GiB on; not as stored), the lengths' checksum and the strings.
    """
    count = math.prod(shape)
    if count > len(raw):  # each length takes at least one byte
        raise _Malformed(f"{count} strings cannot fit in {len(raw)} bytes")
    order = "little" if byteorder == "<" else "big"
    lengths, pos = [], 0
    for _ in range(count):
        length, pos = _varint(raw, pos, len(raw), "the string lengths")
        lengths.append(length)
    if pos + 4 + sum(lengths) != len(raw):
        raise _Malformed(f"string lengths add up to {sum(lengths)} bytes but "
                         f"{len(raw) - pos - 4} are stored")
    crc = crc32c(b"".join(length.to_bytes(4 if length <= 0xFFFFFFFF else 8, order)
                          for length in lengths))
    if unmask_crc32c(int.from_bytes(raw[pos:pos + 4], order)) != crc:
        raise _Malformed("checksum mismatch in the string lengths: damaged")
    crc = crc32c(raw[pos:], crc)  # the lengths' checksum and the strings
    pos += 4
    strings = np.empty(count, dtype=object)
    for index, length in enumerate(lengths):
        strings[index] = raw[pos:pos + length]
        pos += length
    return strings.reshape(shape), crc


def _index_path(prefix):
    prefix = Path(prefix)
    if prefix.is_dir():
        raise TensorBundleError(f"{prefix} is a directory: give the checkpoint's prefix (the "
                                "path of its .index file without '.index', e.g. "
                                "variables/variables)")
    return prefix.with_name(prefix.name + ".index")


def list_tensors(prefix):
    """What a checkpoint holds.

    Parameters
    ----------
    prefix : path-like
        The checkpoint's prefix: ``<prefix>.index`` is its index file.

    Returns
    -------
    dict
        Tensor name to `TensorInfo`, in the index's (sorted) order.
    """
    return dict(CheckpointReader(_index_path(prefix)).tensors)


def read_checkpoint(prefix, names=None):
    """Tensors of a TensorFlow 2 checkpoint, read and checked with numpy alone.

    Parameters
    ----------
    prefix : path-like
        The checkpoint's prefix: ``<prefix>.index`` and
        ``<prefix>.data-SSSSS-of-NNNNN`` are its files.
    names : iterable of str, optional
        Which tensors; default all.

    Returns
    -------
    dict
        Tensor name to `numpy.ndarray`.

    Raises
    ------
    TensorBundleError
        A file is damaged, malformed or of an unsupported kind (the message
        names the file and the problem).
    """
    return CheckpointReader(_index_path(prefix)).read(names)
