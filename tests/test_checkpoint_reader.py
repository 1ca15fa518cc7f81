"""The numpy reader of TensorFlow checkpoints: round trips, hostile files, TensorFlow itself.

Checkpoints are written by the pure-python writer in ``_tensor_bundle``; where
TensorFlow is installed it checks that writer, and the reader against
``tf.train.load_checkpoint`` on the published network and on checkpoints
TensorFlow writes.
"""

import os
import shutil
import sys

import numpy as np
import pytest
from _tensor_bundle import crc32c_bitwise, mask, table_bytes, varint, write_bundle

from kinmisalign.classifier import UsabilityModel, load_model
from kinmisalign.classifier import _checkpoint_reader as reader
from kinmisalign.classifier._checkpoint_reader import (
    CheckpointReader,
    TensorBundleError,
    crc32c,
    list_tensors,
    mask_crc32c,
    read_checkpoint,
    unmask_crc32c,
)
from kinmisalign.classifier._published import PUBLISHED_MODELS, check_inputs

RNG = np.random.default_rng(2020)


def _sample_tensors():
    tensors = {
        "dense/kernel": RNG.normal(size=(7, 5)).astype(np.float32),
        "dense/bias": RNG.normal(size=5).astype(np.float32),
        "double": RNG.normal(size=(2, 3, 4)),
        "counts": RNG.integers(-2**31, 2**31, size=9).astype(np.int32),
        "iter": np.int64(-123456789012),
        "bytes": RNG.integers(0, 256, size=6).astype(np.uint8),
        "small": np.array([-3, 4], dtype=np.int8),
        "short": np.array([-300, 400], dtype=np.int16),
        "ushort": np.array([60000], dtype=np.uint16),
        "uint": np.array([4_000_000_000], dtype=np.uint32),
        "ulong": np.array([2**64 - 1], dtype=np.uint64),
        "flags": np.array([[True, False], [False, True]]),
        "half": np.array([1.5, -2.25], dtype=np.float16),
        "complex": np.array([1 + 2j, -3j], dtype=np.complex64),
        "complex128": np.array([[0.5 - 1j]], dtype=np.complex128),
        "empty": np.zeros((3, 0, 2), dtype=np.float32),
        "scalar": np.float32(0.125),
        "names": np.array([b"kernel", b"", "\u00e9".encode()], dtype=object),
        "graph": np.array(b"\x00\x01" * 40, dtype=object),
    }
    return {name: np.asarray(value) for name, value in tensors.items()}


def _assert_same(actual, expected):
    assert set(actual) == set(expected)
    for name, value in expected.items():
        assert actual[name].dtype == value.dtype, name
        assert actual[name].shape == value.shape, name
        assert np.array_equal(actual[name], value), name
        assert actual[name].flags.writeable, name


# --- CRC-32C ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),  # RFC 3720, B.4
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (b"", 0),
])
def test_crc32c_known_values(data, expected):
    assert crc32c(data) == expected
    assert crc32c_bitwise(data) == expected


@pytest.mark.parametrize("size", [1, 1000, 2**14 - 1, 2**14, 2**14 + 1, 40_009, 2**16])
def test_crc32c_lanes_match_bitwise(size):
    # From 16 KiB on, lanes run side by side; the result must not depend on it.
    data = RNG.integers(0, 256, size=size).astype(np.uint8).tobytes()
    assert crc32c(data) == crc32c_bitwise(data)
    cut = size // 3
    assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)


def test_crc_mask_round_trip():
    assert mask_crc32c(0) == 0xA282EAD8
    for crc in [0, 1, 0xFFFFFFFF, 0x12345678, 0x80000000]:
        assert mask_crc32c(crc) == mask(crc)
        assert unmask_crc32c(mask_crc32c(crc)) == crc


# --- round trips -----------------------------------------------------------------------------

def test_round_trip_all_dtypes(tmp_path):
    tensors = _sample_tensors()
    write_bundle(tmp_path / "ckpt", tensors)
    _assert_same(read_checkpoint(tmp_path / "ckpt"), tensors)
    info = list_tensors(tmp_path / "ckpt")
    assert list(info) == sorted(tensors)  # the index's order
    assert info["dense/kernel"].dtype_name == "DT_FLOAT"
    assert info["dense/kernel"].shape == (7, 5) and info["dense/kernel"].size == 140
    assert info["names"].dtype_name == "DT_STRING" and info["names"].dtype == object
    assert info["scalar"].shape == ()


def test_round_trip_many_blocks_and_restarts(tmp_path):
    # Small blocks and restart points every 3 keys: many data blocks, shared key prefixes.
    tensors = {f"layer_with_weights-{i}/kernel/.ATTRIBUTES/VARIABLE_VALUE":
               np.full((i % 5, 2), i, dtype=np.float32) for i in range(300)}
    write_bundle(tmp_path / "ckpt", tensors, block_size=200, restart_interval=3)
    _assert_same(read_checkpoint(tmp_path / "ckpt"), tensors)


def test_round_trip_big_endian_and_shards(tmp_path):
    tensors = _sample_tensors()
    names = sorted(tensors)
    shard_of = {name: index % 3 for index, name in enumerate(names)}
    paths = write_bundle(tmp_path / "ckpt", tensors, num_shards=3, shard_of=shard_of,
                         byteorder=">")
    assert len(paths["data"]) == 3
    result = read_checkpoint(tmp_path / "ckpt")
    _assert_same(result, tensors)
    assert all(array.dtype.isnative for array in result.values())


def test_read_some_and_unknown_names(tmp_path):
    tensors = _sample_tensors()
    write_bundle(tmp_path / "ckpt", tensors)
    result = read_checkpoint(tmp_path / "ckpt", ["dense/bias", "iter"])
    assert list(result) == ["dense/bias", "iter"]
    _assert_same(result, {name: tensors[name] for name in result})
    with pytest.raises(KeyError, match="'nope' not in checkpoint"):
        read_checkpoint(tmp_path / "ckpt", ["dense/bias", "nope"])


def test_data_files_given_separately(tmp_path):
    # As in a download cache: files not named after the prefix.
    tensors = _sample_tensors()
    paths = write_bundle(tmp_path / "ckpt", tensors)
    index = paths["index"].rename(tmp_path / "abc")
    data = paths["data"][0].rename(tmp_path / "def")
    _assert_same(CheckpointReader(index, [data]).read(), tensors)
    with pytest.raises(TensorBundleError, match="2 data files given, but the checkpoint has 1"):
        CheckpointReader(index, [data, data])


# --- hostile files ---------------------------------------------------------------------------

def _written(tmp_path, **options):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
               "b": np.arange(4, dtype=np.int64),
               "s": np.array([b"xy", b"z"], dtype=object)}
    tensors.update(options.pop("tensors", {}))
    return write_bundle(tmp_path / "ckpt", tensors, **options)


def _refused(prefix, match, path, names=None):
    with pytest.raises(TensorBundleError, match=match) as info:
        read_checkpoint(prefix, names)
    assert str(path) in str(info.value)  # the message names the file
    assert isinstance(info.value, ValueError)


def _edit(path, edit):
    data = bytearray(path.read_bytes())
    edit(data)
    path.write_bytes(bytes(data))


def test_bad_magic(tmp_path):
    paths = _written(tmp_path)
    _edit(paths["index"], lambda data: data.__setitem__(-1, data[-1] ^ 0xFF))
    _refused(tmp_path / "ckpt", "bad magic number", paths["index"])


def test_not_a_checkpoint_and_truncated_index(tmp_path):
    paths = _written(tmp_path)
    index = paths["index"]
    full = index.read_bytes()
    index.write_bytes(full[:30])
    _refused(tmp_path / "ckpt", "fewer than the 48-byte table footer: truncated", index)
    index.write_bytes(b"")
    _refused(tmp_path / "ckpt", "fewer than the 48-byte", index)
    index.write_bytes(full[:-100])  # the magic number is gone
    _refused(tmp_path / "ckpt", "bad magic number", index)
    index.write_bytes(os.urandom(500))
    _refused(tmp_path / "ckpt", "bad magic number", index)
    # The footer kept, a block cut out: the handles point past the remaining bytes.
    index.write_bytes(full[60:])
    _refused(tmp_path / "ckpt", "lies outside the table", index)


def test_corrupt_index_block(tmp_path):
    paths = _written(tmp_path)
    _edit(paths["index"], lambda data: data.__setitem__(12, data[12] ^ 0x01))
    _refused(tmp_path / "ckpt", "checksum mismatch in data block 0", paths["index"])


def test_corrupt_index_block_handle(tmp_path):
    paths = _written(tmp_path)
    index = paths["index"]
    full = index.read_bytes()
    footer = (varint(0) + varint(8) + varint(10**9) + varint(20)).ljust(40, b"\0") + full[-8:]
    index.write_bytes(full[:-48] + footer)
    _refused(tmp_path / "ckpt", "the index block at bytes 1000000000 .* lies outside", index)


def test_corrupt_tensor_data(tmp_path):
    paths = _written(tmp_path)
    data = paths["data"][0]
    _edit(data, lambda raw: raw.__setitem__(5, raw[5] ^ 0x40))
    _refused(tmp_path / "ckpt", "checksum mismatch in tensor 'a'", data)
    read_checkpoint(tmp_path / "ckpt", ["b", "s"])  # the others are intact


def test_corrupt_string_lengths(tmp_path):
    paths = _written(tmp_path)
    data = paths["data"][0]
    start = list_tensors(tmp_path / "ckpt")["s"].offset
    _edit(data, lambda raw: raw.__setitem__(start, 1))  # lengths 1 + 1 != 3 bytes stored
    _refused(tmp_path / "ckpt", "tensor 's': string lengths add up to 2 bytes but 3", data)
    _edit(data, lambda raw: raw.__setitem__(start, 2))  # back, but the checksum damaged
    _edit(data, lambda raw: raw.__setitem__(start + 3, raw[start + 3] ^ 1))
    _refused(tmp_path / "ckpt", "checksum mismatch in the string lengths", data)


def test_truncated_or_missing_data_file(tmp_path):
    paths = _written(tmp_path)
    data = paths["data"][0]
    data.write_bytes(data.read_bytes()[:30])
    _refused(tmp_path / "ckpt", r"tensor '\w' at bytes \d+ to \d+ lies outside the data file "
             r"\(30 bytes\): truncated", data)
    data.unlink()
    with pytest.raises(FileNotFoundError, match="data-00000-of-00001 of checkpoint .* not found"):
        read_checkpoint(tmp_path / "ckpt")


@pytest.mark.parametrize("override, match", [
    ({"offset": 10**6}, r"tensor 'a' at bytes 1000000 to 1000024 lies outside the data file"),
    # Shape and size agree, but are absurd: refused before anything is read.
    ({"shape": (2**30, 2**30), "size": 2**62}, "lies outside the data file"),
    ({"shape": (2, 4)}, r"shape \(2, 4\) of DT_FLOAT needs 32 bytes but its entry says 24"),
    ({"shape": (2**62, 2**62)}, "needs .* bytes but its entry says 24"),
    ({"size": 2**63 - 1}, "needs 24 bytes but its entry says 9223372036854775807"),
    ({"offset": -8}, "negative offset -8"),
    ({"shape": (2, -3)}, "dimension of unknown or negative size -3"),
    ({"shard_id": 3}, "tensor 'a' is in data file 3, but the checkpoint has 1"),
    ({"crc32c": 12345}, "checksum mismatch in tensor 'a'"),
    ({"sliced": True}, "tensor 'a' is partitioned"),
])
def test_bad_entries(tmp_path, override, match):
    paths = _written(tmp_path, overrides={"a": override})
    where = paths["data"][0] if "outside the data" in match or "checksum" in match else \
        paths["index"]
    _refused(tmp_path / "ckpt", match, where)


@pytest.mark.parametrize("dtype_enum, name", [(14, "DT_BFLOAT16"), (21, "DT_VARIANT"),
                                              (20, "DT_RESOURCE"), (101, "DT_FLOAT_REF"),
                                              (77, "DataType 77"), (0, "DT_INVALID")])
def test_unsupported_dtype(tmp_path, dtype_enum, name):
    paths = _written(tmp_path, overrides={"a": {"dtype": dtype_enum}})
    info = list_tensors(tmp_path / "ckpt")
    assert info["a"].dtype_name == name and info["a"].dtype is None  # listed all the same
    _refused(tmp_path / "ckpt", f"tensor 'a' has data type {name}, which this reader does not "
             "support .*DT_FLOAT, DT_DOUBLE, DT_INT32", paths["index"])
    read_checkpoint(tmp_path / "ckpt", ["b"])  # the others can be read


def test_too_many_entries_and_too_large_index(tmp_path, monkeypatch):
    paths = _written(tmp_path, tensors={f"t{i}": np.zeros(1) for i in range(10)})
    monkeypatch.setattr(reader, "MAX_TENSORS", 13)
    assert len(list_tensors(tmp_path / "ckpt")) == 13  # at the limit
    monkeypatch.setattr(reader, "MAX_TENSORS", 12)
    _refused(tmp_path / "ckpt", "more than 12 tensors", paths["index"])
    monkeypatch.setattr(reader, "MAX_TENSORS", 100)
    monkeypatch.setattr(reader, "MAX_INDEX_BYTES", 100)
    _refused(tmp_path / "ckpt", "index larger than 100 bytes", paths["index"])


def test_table_problems(tmp_path):
    paths = _written(tmp_path, header=False)
    _refused(tmp_path / "ckpt", "no bundle header", paths["index"])
    paths = _written(tmp_path, sort=False, tensors={"0": np.zeros(1), "z": np.zeros(1)})
    _refused(tmp_path / "ckpt", "keys out of order", paths["index"])
    paths = _written(tmp_path, compression=1)
    _refused(tmp_path / "ckpt", "Snappy-compressed", paths["index"])
    paths = _written(tmp_path, compression=7)
    _refused(tmp_path / "ckpt", "unknown compression type 7", paths["index"])
    paths = _written(tmp_path, min_consumer=2)
    _refused(tmp_path / "ckpt", "needs a reader of format version 2", paths["index"])


def test_malformed_blocks(tmp_path):
    index = tmp_path / "ckpt.index"
    entry_value = b"\x08\x01"
    cases = {
        # A block claiming more restart points than it has bytes.
        "impossible restart count": b"\x00" * 4 + (1000).to_bytes(4, "little"),
        # An entry sharing more bytes than the previous key has.
        "shares 5 bytes with a 0-byte key": varint(5) + varint(1) + varint(0) + b"a"
        + (0).to_bytes(4, "little") + (1).to_bytes(4, "little"),
        "runs past the end of the block": varint(0) + varint(50) + varint(0) + b"a"
        + (0).to_bytes(4, "little") + (1).to_bytes(4, "little"),
        "truncated varint": b"\x80" + (0).to_bytes(4, "little") + (1).to_bytes(4, "little"),
        "restart points that are not at the start": varint(0) + varint(1) + varint(2) + b"a"
        + entry_value + (3).to_bytes(4, "little") + (1).to_bytes(4, "little"),
    }
    for match, block in cases.items():
        # A table whose index block points at this one data block.
        contents = bytearray()
        trailer = b"\0"
        contents += block + trailer + mask(crc32c_bitwise(trailer, crc32c_bitwise(block))
                                           ).to_bytes(4, "little")
        handle = varint(0) + varint(len(block))
        index_block = (varint(0) + varint(1) + varint(len(handle)) + b"z" + handle
                       + (0).to_bytes(4, "little") + (1).to_bytes(4, "little"))
        index_handle = varint(len(contents)) + varint(len(index_block))
        contents += index_block + trailer + mask(
            crc32c_bitwise(trailer, crc32c_bitwise(index_block))).to_bytes(4, "little")
        footer = (varint(0) + varint(0) + index_handle).ljust(40, b"\0") \
            + (0xDB4775248B80FB57).to_bytes(8, "little")
        index.write_bytes(bytes(contents) + footer)
        _refused(tmp_path / "ckpt", match, index)


def test_malformed_protobuf(tmp_path):
    index = tmp_path / "ckpt.index"
    header = b"\x08\x01"
    cases = {
        "wire type 2, expected 0": b"\x0a\x00",  # dtype as a length-delimited field
        "field 2 of 50 bytes runs past the end": b"\x12\x32",
        "unsupported wire type 3": b"\x0b",
        "field number 0": b"\x00\x01",
        "varint longer than 10 bytes": b"\x08" + b"\xff" * 11,
        "truncated fixed-width field 6": b"\x35\x01\x02",
    }
    for match, entry in cases.items():
        index.write_bytes(table_bytes([(b"", header), (b"a", entry)]))
        _refused(tmp_path / "ckpt", match, index)
    index.write_bytes(table_bytes([(b"", header), (b"\xff\xfe", b"\x08\x01")]))
    _refused(tmp_path / "ckpt", "is not UTF-8", index)
    for bad_header, match in [(b"", "gives 0 data files"), (b"\x08\x01\x10\x05",
                                                             "unknown byte order 5")]:
        index.write_bytes(table_bytes([(b"", bad_header)]))
        _refused(tmp_path / "ckpt", match, index)


def test_prefix_is_a_directory(tmp_path):
    with pytest.raises(TensorBundleError, match="is a directory: give the checkpoint's prefix"):
        read_checkpoint(tmp_path)
    with pytest.raises(TensorBundleError, match="is a directory, not a checkpoint index"):
        CheckpointReader(tmp_path)


# --- against TensorFlow ----------------------------------------------------------------------

def test_tensorflow_reads_the_test_writer(tmp_path):
    # The writer the tests rely on makes checkpoints TensorFlow itself accepts.
    tf = pytest.importorskip("tensorflow")
    tensors = _sample_tensors()
    shard_of = {name: index % 2 for index, name in enumerate(sorted(tensors))}
    write_bundle(tmp_path / "ckpt", tensors, num_shards=2, shard_of=shard_of, block_size=64,
                 restart_interval=2)
    tf_reader = tf.train.load_checkpoint(str(tmp_path / "ckpt"))
    for name, value in tensors.items():
        assert np.array_equal(np.asarray(tf_reader.get_tensor(name)), value), name


def test_reads_what_tensorflow_writes(tmp_path):
    tf = pytest.importorskip("tensorflow")
    values = {"f32": RNG.normal(size=(4, 3)).astype(np.float32), "f64": RNG.normal(size=5),
              "i32": np.arange(-3, 3, dtype=np.int32), "i64": np.int64(2**40),
              "f16": np.array([0.5, 3.0], np.float16), "flag": np.array(True),
              "text": np.array([b"abc", b"", b"\x00\xff"], dtype=object)}
    checkpoint = tf.train.Checkpoint(**{name: tf.Variable(value)
                                        for name, value in values.items()})
    prefix = checkpoint.write(str(tmp_path / "tf" / "ckpt"))
    ours = read_checkpoint(prefix)
    tf_reader = tf.train.load_checkpoint(prefix)
    assert set(ours) == set(tf_reader.get_variable_to_shape_map())
    for name in ours:
        assert np.array_equal(ours[name], np.asarray(tf_reader.get_tensor(name))), name
    for name, value in values.items():
        _assert_same({name: ours[f"{name}/.ATTRIBUTES/VARIABLE_VALUE"]}, {name: value})


def test_published_checkpoint_matches_tensorflow(published_model_dir):
    tf = pytest.importorskip("tensorflow")
    prefix = published_model_dir / "variables" / "variables"
    ours = read_checkpoint(prefix)
    tf_reader = tf.train.load_checkpoint(str(prefix))
    dtypes = tf_reader.get_variable_to_dtype_map()
    assert set(ours) == set(dtypes) and len(ours) == 34
    for name, array in ours.items():
        expected = np.asarray(tf_reader.get_tensor(name))
        assert array.shape == expected.shape, name
        if dtypes[name] == tf.string:
            assert array[()] == expected[()], name
        else:
            assert array.dtype == expected.dtype, name
            assert np.max(np.abs(array - expected), initial=0) <= 1e-6, name
            assert np.array_equal(array, expected), name  # in fact identical


# --- SavedModel folders in load_model --------------------------------------------------------

# SPEC §9 regression values of the published network on check_inputs().
SYNTHETIC_P = [0.9966, 0.9962, 0.9923, 0.0367, 0.1380, 0.0786]


def test_load_model_published_folder_without_tensorflow(published_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    for folder in (published_model_dir, str(published_model_dir)):
        model = load_model(folder)
        assert model.name == "duckworth2020" and model.n_params == 84321
        assert model.meta["source"] == str(published_model_dir)
        assert np.allclose(model.predict(check_inputs()), SYNTHETIC_P, rtol=0, atol=1e-3)


def test_load_model_published_folder_matches_tensorflow(published_model_dir):
    # The same probabilities as the model built from TensorFlow's reading of the checkpoint.
    tf = pytest.importorskip("tensorflow")
    spec = PUBLISHED_MODELS["duckworth2020"]
    tf_reader = tf.train.load_checkpoint(str(published_model_dir / "variables" / "variables"))
    dense = [layer for layer in spec["layers"] if layer["type"] == "dense"]
    weights = {f"{layer['name']}/{part}": tf_reader.get_tensor(
        f"layer_with_weights-{index}/{part}/.ATTRIBUTES/VARIABLE_VALUE")
        for index, layer in enumerate(dense) for part in ("kernel", "bias")}
    tf_model = UsabilityModel(spec["layers"], weights, (32, 32, 1))
    ours = load_model(published_model_dir)
    expected = tf_model.predict(check_inputs())
    actual = ours.predict(check_inputs())
    assert np.max(np.abs(actual - expected)) <= 1e-6
    assert np.array_equal(actual, expected)


def test_load_model_other_saved_model_folders(tmp_path):
    # A SavedModel whose checkpoint reads fine, but whose layers kinmisalign cannot know.
    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    write_bundle(folder / "variables" / "variables",
                 {"layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.ones((4, 1))})
    with pytest.raises(ValueError, match=r"not a published network \(duckworth2020: "
                       r"saved_model.pb, variables/variables.index, "
                       r"variables/variables.data-00000-of-00001 differ\): kinmisalign knows the "
                       "architecture of the published networks only"):
        load_model(folder)
    (folder / "saved_model.pb").unlink()
    with pytest.raises(FileNotFoundError, match="not a TensorFlow SavedModel folder: "
                       "saved_model.pb not found"):
        load_model(folder)
    with pytest.raises(FileNotFoundError, match="saved_model.pb and variables/variables.index "
                       "not found"):
        load_model(tmp_path / "model" / "variables")


def test_load_model_altered_published_folder(tmp_path, published_model_dir):
    folder = tmp_path / "copy"
    shutil.copytree(published_model_dir, folder)
    os.chmod(folder / "saved_model.pb", 0o644)
    with open(folder / "saved_model.pb", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ValueError, match=r"\(duckworth2020: saved_model.pb differs\)"):
        load_model(folder)
