"""Write small TensorFlow tensor-bundle checkpoints in pure python, for the reader's tests.

Independent of the reader under test: its own bit-by-bit CRC-32C, protobuf
encoder and LevelDB table builder. Options alter single fields, so tests can
make hostile files that are otherwise well formed (valid checksums).
"""

import numpy as np

__all__ = ["write_bundle", "crc32c_bitwise", "mask", "varint", "table_bytes", "DTYPE_ENUMS"]

MAGIC = 0xDB4775248B80FB57
DTYPE_ENUMS = {
    "float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "object": 7,
    "complex64": 8, "int64": 9, "bool": 10, "uint16": 17, "complex128": 18, "float16": 19,
    "uint32": 22, "uint64": 23,
}


def crc32c_bitwise(data, crc=0):
    """CRC-32C, one bit at a time (slow, obviously right)."""
    crc ^= 0xFFFFFFFF
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mask(crc):
    """LevelDB's masked CRC."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(value):
    """Protobuf/LevelDB base-128 varint (negative values as 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, wire, payload):
    tag = varint(number << 3 | wire)
    if wire == 0:
        return tag + varint(payload)
    if wire == 2:
        return tag + varint(len(payload)) + payload
    if wire == 5:
        return tag + payload.to_bytes(4, "little")
    raise ValueError(wire)


def _entry_proto(entry):
    shape = b"".join(_field(2, 2, _field(1, 0, size) if size else b"")
                     for size in entry["shape"])
    out = _field(1, 0, entry["dtype"]) + _field(2, 2, shape)
    for number, key in ((3, "shard_id"), (4, "offset"), (5, "size")):
        if entry[key]:
            out += _field(number, 0, entry[key])
    out += _field(6, 5, entry["crc32c"])
    if entry.get("sliced"):
        out += _field(7, 2, b"")
    return out


def _header_proto(num_shards, byteorder, min_consumer):
    version = _field(1, 0, 1) + (_field(2, 0, min_consumer) if min_consumer else b"")
    return (_field(1, 0, num_shards) + (_field(2, 0, 1) if byteorder == ">" else b"")
            + _field(3, 2, version))


def _block(entries, restart_interval):
    out, restarts, previous = bytearray(), [], b""
    for count, (key, value) in enumerate(entries):
        shared = 0
        if count % restart_interval:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        previous = key
    restarts = restarts or [0]
    for restart in restarts:
        out += restart.to_bytes(4, "little")
    return bytes(out + len(restarts).to_bytes(4, "little"))


def table_bytes(entries, *, block_size=4096, restart_interval=16, compression=0):
    """A LevelDB table of (key, value) pairs, in the order given.

    Each data block is closed once it holds ``block_size`` bytes of entries;
    its index key is its last key.
    """
    out = bytearray()

    def emit(contents):
        handle = varint(len(out)) + varint(len(contents))
        trailer = bytes([compression])
        out.extend(contents + trailer
                   + mask(crc32c_bitwise(trailer, crc32c_bitwise(contents))).to_bytes(4, "little"))
        return handle

    index, pending, pending_size = [], [], 0
    for key, value in entries:
        pending.append((key, value))
        pending_size += len(key) + len(value)
        if pending_size >= block_size:
            index.append((key, emit(_block(pending, restart_interval))))
            pending, pending_size = [], 0
    if pending:
        index.append((pending[-1][0], emit(_block(pending, restart_interval))))
    metaindex_handle = emit(_block([], 1))
    index_handle = emit(_block(index, 1))
    footer = (metaindex_handle + index_handle).ljust(40, b"\0") + MAGIC.to_bytes(8, "little")
    return bytes(out + footer)


def _tensor_bytes(array, byteorder):
    if array.dtype == object:
        order = "little" if byteorder == "<" else "big"
        strings = [bytes(item) for item in array.ravel()]
        lengths = b"".join(varint(len(item)) for item in strings)
        crc = crc32c_bitwise(b"".join(len(item).to_bytes(4, order) for item in strings))
        checksum = mask(crc).to_bytes(4, order)
        crc = crc32c_bitwise(checksum + b"".join(strings), crc)
        return lengths + checksum + b"".join(strings), crc
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(byteorder)).tobytes()
    return data, crc32c_bitwise(data)


def write_bundle(prefix, tensors, *, num_shards=1, shard_of=None, byteorder="<",
                 overrides=None, header=True, min_consumer=0, sort=True, block_size=4096,
                 restart_interval=16, compression=0):
    """Write a tensor-bundle checkpoint ``<prefix>.index``, ``<prefix>.data-*``.

    Parameters
    ----------
    prefix : pathlib.Path
    tensors : dict
        Name to numpy array (object arrays of bytes for DT_STRING).
    num_shards : int
        Number of data files; ``shard_of`` maps names to their file (default 0).
    byteorder : {'<', '>'}
    overrides : dict
        Name to a dict of entry fields written instead of the true ones
        (dtype, shape, shard_id, offset, size, crc32c, sliced).
    header, min_consumer, sort, block_size, restart_interval, compression
        Table and header options (``header=False`` omits the header entry,
        ``sort=False`` keeps the order given).

    Returns
    -------
    dict
        ``'index'`` and ``'data'`` (list by shard) paths.
    """
    shard_of = shard_of or {}
    overrides = overrides or {}
    data = [bytearray() for _ in range(num_shards)]
    entries = []
    for name, array in tensors.items():
        array = np.asarray(array)
        shard = shard_of.get(name, 0)
        raw, crc = _tensor_bytes(array, byteorder)
        entry = {"dtype": DTYPE_ENUMS[array.dtype.name], "shape": array.shape,
                 "shard_id": shard, "offset": len(data[shard]), "size": len(raw),
                 "crc32c": mask(crc)}
        entry.update(overrides.get(name, {}))
        data[shard] += raw
        entries.append((name.encode(), _entry_proto(entry)))
    if sort:
        entries.sort()
    if header:
        entries.insert(0, (b"", _header_proto(num_shards, byteorder, min_consumer)))
    index_path = prefix.with_name(prefix.name + ".index")
    index_path.write_bytes(table_bytes(entries, block_size=block_size,
                                       restart_interval=restart_interval,
                                       compression=compression))
    data_paths = []
    for shard, contents in enumerate(data):
        path = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{num_shards:05d}")
        path.write_bytes(bytes(contents))
        data_paths.append(path)
    return {"index": index_path, "data": data_paths}
