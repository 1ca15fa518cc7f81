"""A corpus of bad input, through the public API, the batch runners and the command line.

Every case is one parametrized id. Outside a batch, bad input raises an exception whose type
and message name the problem; inside a batch (`measure_files`, `add_kinematic_columns`) it
gives masked values and a documented ``KINMIS_FLAG`` bit for its row, and never changes
another row. Path-traversal keys, download faults and hostile pickles are tested elsewhere.
"""

import gzip
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import MaskedColumn, QTable, Table

from kinmisalign import (
    FitError,
    MapsFormatError,
    NotEnoughPointsError,
    VelocityField,
    add_kinematic_columns,
    fit_pa,
    load_model,
    measure_maps,
    misalignment,
    mock,
    read_maps,
)
from kinmisalign.batch import FLAGS, describe_flags, measure_files
from kinmisalign.catalogue import OUTPUT_COLUMNS
from kinmisalign.cli import main

FAST = {"method": "fast"}
DAPTYPE = "HYB10-MILESHC-MASTARSSP"  # of the DR17 mock files
GOOD_KEYS = ("8400-1901", "8400-1902", "8400-1903")
# Bits the usability network sets: they depend on its judgement, not on the damage.
NETWORK_BITS = sum(1 << FLAGS[name][0] for name in (
    "STELLAR_NOT_CLASSIFIED", "GAS_NOT_CLASSIFIED", "STELLAR_UNUSABLE", "GAS_UNUSABLE"))
MEASURED = ("PA_STELLAR", "PA_STELLAR_ERR", "PA_GAS", "PA_GAS_ERR", "DPA", "DPA_ERR",
            "NSPX_STELLAR", "NSPX_GAS")


def _galaxy(plateifu, seed):
    return mock.MockGalaxy(plateifu=plateifu, seed=seed, inclination=55.0,
                           stellar=mock.FieldModel(pa=30.0 + 40 * seed, vmax=150.0, noise=8.0),
                           gas=mock.FieldModel(pa=50.0 + 40 * seed, vmax=200.0, noise=4.0))


# -- damaging a MAPS file ---------------------------------------------------------------------
def _edit(fn):
    """A damage that opens the (uncompressed) FITS bytes, applies ``fn`` to the HDU list
    and writes it gzipped."""
    def damage(raw, gz=None):
        out = io.BytesIO()
        with fits.open(io.BytesIO(raw)) as hdul:
            fn(hdul)
            hdul.writeto(out, output_verify="ignore")
        return gzip.compress(out.getvalue(), compresslevel=1, mtime=0)
    return damage


def _data(extname, fn):
    def apply(hdul):
        hdul[extname].data = fn(hdul[extname].data)
    return _edit(apply)


def _header(extname, key, value):
    def apply(hdul):
        hdul[extname].header[key] = value
    return _edit(apply)


def _drop(extname):
    return _edit(lambda hdul: hdul.__delitem__(extname))


def _rename_halpha(hdul):
    header = hdul["EMLINE_GVEL"].header
    for key in list(header):
        if header[key] == "Ha-6564":
            header[key] = "Hx-0000"


def _only_primary(hdul):
    del hdul[1:]


def _table_for_velocity(hdul):
    column = fits.Column(name="V", format="E", array=np.zeros(3))
    hdul[hdul.index_of("STELLAR_VEL")] = fits.BinTableHDU.from_columns([column],
                                                                      name="STELLAR_VEL")


def _tiny_footprint(mask):
    keep = np.zeros(mask.shape, dtype=bool)
    centre = mask.shape[0] // 2
    keep[centre - 1:centre + 2, centre - 1:centre + 2] = True
    return np.where(keep, mask, 1 << 30).astype(mask.dtype)


def _spikes(velocity):
    spiky = velocity.copy()
    spiky.flat[::97] = 1e30
    return spiky


def _garble(gz):
    data = bytearray(gz)
    data[len(data) // 2:len(data) // 2 + 200] = bytes(200)
    return bytes(data)


@dataclass(frozen=True)
class MapsCase:
    """A damaged MAPS file and what each entry point must make of it.

    ``make(raw, gz)`` returns the file's bytes from the good file's FITS and gzip bytes, or
    one of 'directory' / 'missing'. ``error`` and ``match``: what `read_maps` raises (None
    when it reads the file). ``flags``: the KINMIS_FLAG bits of the row in a batch;
    ``catalogue_flags`` when a catalogue run (which knows the requested key) differs.
    """

    make: object
    error: type = None
    match: str = ""
    flags: tuple = ()
    catalogue_flags: tuple = None
    problem: str = ""  # in KINMIS_PROBLEMS (and in `measure_maps`' reasons) for a flagged row
    unfitted: tuple = field(default=())  # fields `measure_maps` cannot fit


MAPS_CASES = {
    # Not a FITS file at all, or a broken one.
    "empty-file": MapsCase(lambda raw, gz: b"", MapsFormatError, "is empty", ("BAD_MAPS",)),
    "text-file": MapsCase(lambda raw, gz: b"SIMPLE = not really\n" * 50, MapsFormatError,
                          "not a readable FITS file", ("BAD_MAPS",)),
    "binary-garbage": MapsCase(
        lambda raw, gz: np.random.default_rng(1).bytes(30_000), MapsFormatError,
        "not a readable FITS file", ("BAD_MAPS",)),
    "gzip-truncated": MapsCase(lambda raw, gz: gz[:len(gz) // 2], MapsFormatError,
                               "truncated or corrupt gzip", ("BAD_MAPS",)),
    "gzip-garbled": MapsCase(lambda raw, gz: _garble(gz), MapsFormatError,
                             "truncated or corrupt gzip", ("BAD_MAPS",)),
    "gzip-of-garbage": MapsCase(lambda raw, gz: gzip.compress(b"garbage" * 5000),
                                MapsFormatError, "not a readable FITS file", ("BAD_MAPS",)),
    "fits-truncated": MapsCase(lambda raw, gz: raw[:len(raw) // 3], MapsFormatError,
                               "is truncated", ("BAD_MAPS",)),
    "fits-truncated-gzipped": MapsCase(lambda raw, gz: gzip.compress(raw[:len(raw) // 3]),
                                       MapsFormatError, "is truncated", ("BAD_MAPS",)),
    "header-cut": MapsCase(lambda raw, gz: raw[:2880], MapsFormatError,
                           "not a readable FITS file", ("BAD_MAPS",)),
    "directory": MapsCase("directory", MapsFormatError, "is a directory", ("BAD_MAPS",),
                          catalogue_flags=("NO_MAPS",)),  # a source looks for files only
    "missing-file": MapsCase("missing", FileNotFoundError, "not found", ("NO_MAPS",)),
    # FITS, but not the DAP data model.
    "primary-hdu-only": MapsCase(_edit(_only_primary), MapsFormatError,
                                 "missing extension SPX_SKYCOO", ("BAD_MAPS",)),
    "no-STELLAR_VEL": MapsCase(_drop("STELLAR_VEL"), MapsFormatError,
                               "missing extension STELLAR_VEL", ("BAD_MAPS",)),
    "no-gas-mask": MapsCase(_drop("EMLINE_GVEL_MASK"), MapsFormatError,
                            "missing extension EMLINE_GVEL_MASK", ("BAD_MAPS",)),
    # No gas field, but the stellar field is measured in a batch.
    "no-H-alpha-channel": MapsCase(_edit(_rename_halpha), MapsFormatError,
                                   "no channel named 'Ha-6564'", ("GAS_LINE_MISSING",)),
    "gas-not-a-cube": MapsCase(_data("EMLINE_GVEL", lambda a: a[23]), MapsFormatError,
                               "expected a cube", ("BAD_MAPS",)),
    "stellar-wrong-shape": MapsCase(_data("STELLAR_VEL", lambda a: a[:-2]), MapsFormatError,
                                    "STELLAR_VEL has map shape", ("BAD_MAPS",)),
    "stellar-no-data": MapsCase(_data("STELLAR_VEL", lambda a: None), MapsFormatError,
                                "STELLAR_VEL has no data", ("BAD_MAPS",)),
    "stellar-is-a-table": MapsCase(_edit(_table_for_velocity), MapsFormatError,
                                   "STELLAR_VEL has map shape", ("BAD_MAPS",)),
    "float-mask": MapsCase(_data("STELLAR_VEL_MASK", lambda a: a.astype(np.float32)),
                           MapsFormatError, "STELLAR_VEL_MASK is not integer", ("BAD_MAPS",)),
    "flux-unit-velocity": MapsCase(_header("STELLAR_VEL", "BUNIT", "erg/s"), MapsFormatError,
                                   "not a velocity", ("BAD_MAPS",)),
    "unreadable-unit": MapsCase(_header("EMLINE_GVEL", "BUNIT", "furlongs per fortnight"),
                                MapsFormatError, "EMLINE_GVEL has an unreadable BUNIT",
                                ("BAD_MAPS",)),
    "skycoo-one-channel": MapsCase(_data("SPX_SKYCOO", lambda a: a[0]), MapsFormatError,
                                   "SPX_SKYCOO must be a 2-channel map", ("BAD_MAPS",)),
    "binid-wrong-shape": MapsCase(_data("BINID", lambda a: a[:, :, :-1]), MapsFormatError,
                                  "BINID has map shape", ("BAD_MAPS",)),
    # Readable, but a field holds nothing to fit.
    "stellar-all-masked": MapsCase(
        _data("STELLAR_VEL_MASK", lambda a: np.full_like(a, 1 << 30)),
        flags=("STELLAR_TOO_FEW",), problem="only 0 usable point(s)",
        unfitted=("stellar",)),
    "gas-all-masked": MapsCase(
        _data("EMLINE_GVEL_MASK", lambda a: np.full_like(a, 1 << 30)),
        flags=("GAS_TOO_FEW",), problem="only 0 usable point(s)", unfitted=("gas",)),
    "stellar-all-nan": MapsCase(
        _data("STELLAR_VEL", lambda a: np.full_like(a, np.nan)),
        flags=("STELLAR_TOO_FEW",), problem="non-finite", unfitted=("stellar",)),
    "gas-all-inf": MapsCase(
        _data("EMLINE_GVEL", lambda a: np.full_like(a, np.inf)),
        flags=("GAS_TOO_FEW",), problem="only 0 usable point(s)", unfitted=("gas",)),
    "stellar-constant": MapsCase(
        _data("STELLAR_VEL", lambda a: np.full_like(a, 120.0)),
        flags=("STELLAR_FIT_FAILED",), problem="constant field has no rotation",
        unfitted=("stellar",)),
    "stellar-1e30-kms": MapsCase(
        _data("STELLAR_VEL", lambda a: (a.astype(np.float64) * 1e28).astype(np.float32)),
        flags=("STELLAR_TOO_FEW",), problem="faster-than-light", unfitted=("stellar",)),
    "stellar-tiny-footprint": MapsCase(
        _data("STELLAR_VEL_MASK", _tiny_footprint),
        flags=("STELLAR_TOO_FEW",), problem="only 9 usable point(s)", unfitted=("stellar",)),
    "coordinates-all-nan": MapsCase(
        _data("SPX_SKYCOO", lambda a: np.full_like(a, np.nan)),
        flags=("STELLAR_TOO_FEW", "GAS_TOO_FEW"), problem="only 0 usable point(s)",
        unfitted=("stellar", "gas")),
    # Readable and measurable, but not what a catalogue row asked for.
    "other-DAPTYPE-in-header": MapsCase(
        _header("PRIMARY", "DAPTYPE", "VOR10-MILESHC-MASTARSSP"),
        catalogue_flags=("BAD_MAPS",), problem="DAPTYPE 'VOR10-MILESHC-MASTARSSP'"),
    "other-PLATEIFU-in-header": MapsCase(
        _header("PRIMARY", "PLATEIFU", "8400-9101"),
        catalogue_flags=("BAD_MAPS",), problem="PLATEIFU '8400-9101'"),
    # A few spurious 1e30 km/s spaxels are dropped; the field is still measured.
    "stellar-1e30-spikes": MapsCase(_data("STELLAR_VEL", _spikes)),
}
CASE_KEYS = {name: f"8401-{12701 + i}" for i, name in enumerate(MAPS_CASES)}


def _bits(names):
    value = 0
    for name in names:
        value |= 1 << FLAGS[name][0]
    return value


def _with_plateifu(raw, key):
    """The FITS bytes with another PLATEIFU card: one 80-byte card swapped, in place."""
    old = fits.Header.fromstring(raw[:2880 * 4]).cards["PLATEIFU"].image.encode()
    new = fits.Card("PLATEIFU", key, "PLATEID-ifuDesign").image.encode()
    assert raw.count(old) == 1 and len(new) == 80
    return raw.replace(old, new)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Good and damaged MAPS files, flat in one directory under survey file names.

    Each damaged file starts from a good mock whose header names the damaged file's key.
    """
    directory = tmp_path_factory.mktemp("bad-input")
    good = {key: mock.write_maps(_galaxy(key, i), directory, seed=i)
            for i, key in enumerate(GOOD_KEYS)}
    base = good[GOOD_KEYS[0]]
    raw = gzip.decompress(base.read_bytes())
    paths = {}
    for name, case in MAPS_CASES.items():
        key = CASE_KEYS[name]
        path = directory / mock.maps_filename(key, DAPTYPE)
        paths[name] = path
        if case.make == "missing":
            continue
        if case.make == "directory":
            path.mkdir()
            continue
        keyed = _with_plateifu(raw, key)
        path.write_bytes(case.make(keyed, gzip.compress(keyed, compresslevel=1, mtime=0)))
    return directory, good, paths


# -- one file at a time: read_maps, measure_maps and `kinmisalign fit` ----------------------
@pytest.mark.parametrize("name", MAPS_CASES)
def test_read_and_measure(corpus, name):
    case = MAPS_CASES[name]
    path = corpus[2][name]
    if case.error is not None:
        with pytest.raises(case.error, match=case.match) as info:
            read_maps(path)
        assert str(path) in str(info.value)  # the message names the file
        return
    result = measure_maps(read_maps(path), fit_options=FAST)
    for which in ("stellar", "gas"):
        fit, error = getattr(result, f"{which}_fit"), getattr(result, f"{which}_error")
        if which in case.unfitted:
            assert fit is None and isinstance(error, FitError)
            expected = NotEnoughPointsError if "TOO_FEW" in " ".join(case.flags) else FitError
            assert isinstance(error, expected)
        else:
            assert error is None and 0 <= fit.pa.to_value(u.deg) < 360
    if case.unfitted:
        assert result.dpa is None
        assert any(case.problem in str(getattr(result, f"{w}_problem")) for w in case.unfitted)


@pytest.mark.parametrize("name", [n for n, c in MAPS_CASES.items() if c.error is not None])
def test_cli_fit_reports_unreadable_files(corpus, name, capsys):
    assert main(["fit", str(corpus[2][name])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kinmisalign fit: error:") and MAPS_CASES[name].match in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["stellar-all-masked", "gas-all-inf", "stellar-1e30-kms"])
def test_cli_fit_reports_unfitted_fields(corpus, name, capsys):
    case = MAPS_CASES[name]
    assert main(["fit", str(corpus[2][name])]) == 0
    out = capsys.readouterr().out
    for which in case.unfitted:
        assert f"PA_{which:<8s} not measured: " in out
    assert "DPA         not measured" in out


# -- many files at once: a batch mixing good and bad files -----------------------------------
@pytest.fixture(scope="module")
def file_batch(corpus):
    """measure_files on good and damaged files interleaved, and on the good files alone."""
    _, good, paths = corpus
    good_paths = list(good.values())
    mixed, good_rows = [], []
    for i, path in enumerate(paths.values()):
        if i % 12 == 0:
            good_rows.append(len(mixed))
            mixed.append(good_paths[len(good_rows) - 1])
        mixed.append(path)
    return (mixed, good_rows, measure_files(mixed, fit_options=FAST),
            measure_files(good_paths[:len(good_rows)], fit_options=FAST))


def _assert_rows_equal(a, b, names):
    for name in names:
        np.testing.assert_array_equal(np.ma.getmaskarray(a[name]), np.ma.getmaskarray(b[name]),
                                      err_msg=name)
        np.testing.assert_array_equal(np.ma.filled(a[name], 0), np.ma.filled(b[name], 0),
                                      err_msg=name)


def test_file_batch_keeps_good_rows(file_batch):
    mixed, good_rows, table, alone = file_batch
    assert len(table) == len(mixed) and list(table["FILENAME"]) == [str(p) for p in mixed]
    assert len(good_rows) == len(alone) == 3
    _assert_rows_equal(table[good_rows], alone, [*MEASURED, "KINMIS_FLAG", "KINMIS_PROBLEMS"])
    assert np.all(alone["KINMIS_FLAG"] == 0)


@pytest.mark.parametrize("name", MAPS_CASES)
def test_file_batch_row(file_batch, name):
    mixed, _, table, _ = file_batch
    case = MAPS_CASES[name]
    row = table[[str(p) for p in mixed].index(str(file_batch_path(mixed, name)))]
    assert describe_flags(row["KINMIS_FLAG"]) == [f for f in FLAGS if f in case.flags]
    _check_masks(row, case.flags, case.match if case.error else case.problem)


def file_batch_path(paths, name):
    suffix = mock.maps_filename(CASE_KEYS[name], DAPTYPE)
    return next(p for p in paths if str(p).endswith(suffix))


def _check_masks(row, flags, problem=None):
    """Values masked exactly where the flags say nothing was measured; ``problem`` in the
    row's KINMIS_PROBLEMS."""
    whole = {"BAD_MAPS", "NO_MAPS", "INVALID_KEY"} & set(flags)
    stellar_missing = bool(whole) or any(f.startswith("STELLAR_") and "CLASSIFIED" not in f
                                         and "UNUSABLE" not in f for f in flags)
    gas_missing = bool(whole) or any(f.startswith("GAS_") and "CLASSIFIED" not in f
                                     and "UNUSABLE" not in f for f in flags)
    for prefix, missing in (("STELLAR", stellar_missing), ("GAS", gas_missing)):
        for name in (f"PA_{prefix}", f"PA_{prefix}_ERR", f"NSPX_{prefix}"):
            assert np.ma.is_masked(row[name]) == missing, name
    assert np.ma.is_masked(row["DPA"]) == (stellar_missing or gas_missing)
    if not flags:
        assert 0 <= row["PA_STELLAR"] < 360 and 0 <= row["DPA"] <= 180
    if problem is None:
        return
    if flags:
        assert problem in row["KINMIS_PROBLEMS"]
    else:
        assert np.ma.is_masked(row["KINMIS_PROBLEMS"])


# -- a catalogue mixing good rows, damaged files and bad keys -------------------------------
class NoText:
    """A key object whose str() fails: keys are never guessed from str()."""

    def __str__(self):
        raise RuntimeError("no text")


# Bad plate-IFU values (basic malformed forms; hostile keys are tested in test_sources.py).
BAD_KEYS = {
    "empty-string": ("", "plateifu is empty"),
    "blank": ("     ", "plateifu is empty"),
    "underscore": ("8400_1901", "must look like '7815-3702'"),
    "no-ifu": ("8400-", "must look like '7815-3702'"),
    "letters": ("abcd-efgh", "must look like '7815-3702'"),
    "three-parts": ("8400-1901-1", "must look like '7815-3702'"),
    "ifu-too-long": ("8400-190123", "must look like '7815-3702'"),
    "integer": (84001901, "must be a string, not int"),
    "float-nan": (float("nan"), "must be a string, not float"),
    "none": (None, "must be a string, not NoneType"),
    "non-ascii-bytes": (b"\xff8400-1901", "is not ASCII"),
    "object-without-str": (NoText(), "must be a string, not NoText"),
}


@pytest.fixture(scope="module")
def catalogue_run(corpus):
    """add_kinematic_columns on good keys, keys of damaged files, bad keys, a masked key and
    duplicates, and on the good keys alone."""
    directory, _, _ = corpus
    keys, expect = [], []
    for i, name in enumerate(MAPS_CASES):
        if i % 10 == 0:
            keys.append(GOOD_KEYS[i // 10 % 3])
            expect.append(("good", GOOD_KEYS[i // 10 % 3]))
        keys.append(CASE_KEYS[name])
        expect.append(("file", name))
    for name, (value, _) in BAD_KEYS.items():
        keys.append(value)
        expect.append(("key", name))
    keys += [f"  {GOOD_KEYS[0]}  ".encode(), GOOD_KEYS[0], "masked"]
    expect += [("good", GOOD_KEYS[0]), ("good", GOOD_KEYS[0]), ("masked", None)]
    column = MaskedColumn(np.array(keys, dtype=object), mask=[e[0] == "masked" for e in expect])
    table = Table({"plateifu": column, "ROW": np.arange(len(keys))}, meta={"ORIGIN": "test"})
    out = add_kinematic_columns(table, source=directory, fit_options=FAST)
    alone = add_kinematic_columns(Table({"plateifu": list(GOOD_KEYS)}), source=directory,
                                  fit_options=FAST)
    return table, expect, out, alone


def test_catalogue_rows_kept_in_order(catalogue_run):
    table, expect, out, _ = catalogue_run
    assert len(out) == len(table) == len(expect)
    np.testing.assert_array_equal(out["ROW"], np.arange(len(table)))
    assert out.colnames == ["plateifu", "ROW", *OUTPUT_COLUMNS]
    assert out.meta["ORIGIN"] == "test"  # kept, beside the run's provenance (KM_*)
    assert not [k for k in out.meta if k != "ORIGIN" and not k.startswith(("KM_", "KF"))]


def test_catalogue_good_rows_equal_a_run_on_them_alone(catalogue_run):
    _, expect, out, alone = catalogue_run
    for row, (kind, key) in enumerate(expect):
        if kind == "good":
            _assert_rows_equal(out[[row]], alone[[GOOD_KEYS.index(key)]], OUTPUT_COLUMNS)


def test_catalogue_duplicates_measured_once(corpus, monkeypatch):
    import kinmisalign.batch

    directory, _, _ = corpus
    measured = []
    original = kinmisalign.batch._measure_path

    def counting(item, options):
        measured.append(str(item))
        return original(item, options)

    monkeypatch.setattr(kinmisalign.batch, "_measure_path", counting)
    keys = [GOOD_KEYS[1], f"{GOOD_KEYS[1]}   ", GOOD_KEYS[2], GOOD_KEYS[1].encode()]
    out = add_kinematic_columns(Table({"PLATEIFU": keys}), source=directory, fit_options=FAST)
    assert sorted(measured) == sorted([GOOD_KEYS[1], GOOD_KEYS[2]])
    for row in (1, 3):
        _assert_rows_equal(out[[row]], out[[0]], OUTPUT_COLUMNS)


@pytest.mark.parametrize("name", MAPS_CASES)
def test_catalogue_row_of_damaged_file(catalogue_run, name):
    _, expect, out, _ = catalogue_run
    case = MAPS_CASES[name]
    row = out[expect.index(("file", name))]
    flags = case.flags if case.catalogue_flags is None else case.catalogue_flags
    # The network's own bits vary with its judgement; the measurement bits are exact.
    assert describe_flags(row["KINMIS_FLAG"] & ~NETWORK_BITS) == [f for f in FLAGS if f in flags]
    if "NO_MAPS" in flags:  # the source's words: where it looked
        problem = f"no MAPS file of {CASE_KEYS[name]} ({DAPTYPE})"
    else:
        problem = case.match if case.error else case.problem
    _check_masks(row, flags, problem if flags else None)
    if {"BAD_MAPS", "NO_MAPS"} & set(flags):
        assert np.ma.is_masked(row["USABLE_PROB_STELLAR"])
        assert np.ma.is_masked(row["USABLE_PROB_GAS"])


@pytest.mark.parametrize("name", ["other-DAPTYPE-in-header", "other-PLATEIFU-in-header"])
def test_file_of_another_observation_is_named(corpus, name):
    """The reason a catalogue row's file was refused, in its record."""
    from kinmisalign._records import Key, make_options
    from kinmisalign.batch import run_records
    from kinmisalign.sources import get_source

    options = make_options(model=None, threshold=None, line="Ha-6564", maskbits=None,
                           clean_options=None, fit_options=FAST,
                           source=get_source(corpus[0]), daptype=DAPTYPE)
    (record,) = run_records([Key(CASE_KEYS[name])], options)
    assert describe_flags(record["KINMIS_FLAG"]) == ["BAD_MAPS"]
    assert MAPS_CASES[name].problem in record["KINMIS_PROBLEMS"]
    assert "not the requested" in record["KINMIS_PROBLEMS"]
    assert "PA_STELLAR" not in record


@pytest.mark.parametrize("name", [*BAD_KEYS, "masked"])
def test_catalogue_row_of_bad_key(catalogue_run, name):
    _, expect, out, _ = catalogue_run
    row = out[expect.index(("masked", None) if name == "masked" else ("key", name))]
    assert describe_flags(row["KINMIS_FLAG"]) == ["INVALID_KEY"]
    for column in [*MEASURED, "USABLE_PROB_STELLAR", "USABLE_PROB_GAS"]:
        assert np.ma.is_masked(row[column]), column
    assert row["USABLE_STELLAR"] is np.False_ and row["USABLE_GAS"] is np.False_
    reason = "the plate-IFU is masked" if name == "masked" else BAD_KEYS[name][1]
    assert reason in row["KINMIS_PROBLEMS"]


def test_catalogue_of_only_bad_keys(corpus):
    directory, _, _ = corpus
    out = add_kinematic_columns(Table({"PLATEIFU": [84001901, -1, 0]}), source=directory)
    assert len(out) == 3
    assert np.all(out["KINMIS_FLAG"] == _bits(["INVALID_KEY"]))
    assert np.all(np.ma.getmaskarray(out["PA_STELLAR"]))


@pytest.mark.parametrize("keys", [np.array([], dtype="U9"), np.array([], dtype=np.int64)],
                         ids=["str", "int"])
def test_empty_catalogue(corpus, keys):
    out = add_kinematic_columns(QTable({"PLATEIFU": keys}), source=corpus[0])
    assert len(out) == 0 and out.colnames == ["PLATEIFU", *OUTPUT_COLUMNS]
    assert out["KINMIS_FLAG"].dtype == np.int32


# -- refused before any work: the table, its columns and the options ------------------------
def _garbage_model(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"\x00not a zip archive" * 64)
    return path


TABLE_ERRORS = {
    "dict-not-table": (lambda d, t: add_kinematic_columns({"PLATEIFU": [GOOD_KEYS[0]]},
                                                          source=d),
                       TypeError, "must be an astropy Table or QTable, not dict"),
    "list-not-table": (lambda d, t: add_kinematic_columns([GOOD_KEYS[0]], source=d),
                       TypeError, "not list"),
    "no-key-column": (lambda d, t: add_kinematic_columns(Table({"NAME": ["x"]}), source=d),
                      KeyError, "no PLATEIFU/plateifu column"),
    "named-key-missing": (lambda d, t: add_kinematic_columns(
        Table({"PLATEIFU": ["x"]}), source=d, key="OBSID"), KeyError, "no column 'OBSID'"),
    "two-key-columns": (lambda d, t: add_kinematic_columns(
        Table({"PLATEIFU": ["x"], "plateifu": ["y"]}), source=d), KeyError, "several"),
    "output-column-clash": (lambda d, t: add_kinematic_columns(
        Table({"PLATEIFU": [GOOD_KEYS[0]], "DPA": [1.0]}), source=d), ValueError,
        "already has column.*DPA.*overwrite=True"),
    "lower-case-clash": (lambda d, t: add_kinematic_columns(
        Table({"PLATEIFU": [GOOD_KEYS[0]], "kinmis_flag": [0]}), source=d), ValueError,
        "already has column.*kinmis_flag"),
    "key-named-like-output": (lambda d, t: add_kinematic_columns(
        Table({"DPA": [GOOD_KEYS[0]]}), source=d, key="DPA", overwrite=True), ValueError,
        "plate-IFU column 'DPA' has the name of an output column"),
    "daptype-not-string": (lambda d, t: add_kinematic_columns(
        Table({"PLATEIFU": [GOOD_KEYS[0]]}), source=d, daptype=17), ValueError,
        "DAPTYPE must be a string"),
    "daptype-malformed": (lambda d, t: add_kinematic_columns(
        Table({"PLATEIFU": [GOOD_KEYS[0]]}), source=d, daptype="HYB10 MILESHC"), ValueError,
        "DAPTYPE must look like"),
    "model-garbage": (lambda d, t: add_kinematic_columns(
        Table({"PLATEIFU": [GOOD_KEYS[0]]}), source=d, model=_garbage_model(t)), ValueError,
        "garbage.npz is not a kinmisalign model file"),
}


@pytest.mark.parametrize("name", TABLE_ERRORS)
def test_catalogue_refused(corpus, tmp_path, monkeypatch, name):
    import kinmisalign.batch

    def never(item, options):
        raise AssertionError("nothing may be measured")

    monkeypatch.setattr(kinmisalign.batch, "_measure_path", never)
    call, error, match = TABLE_ERRORS[name]
    with pytest.raises(error, match=match):
        call(corpus[0], tmp_path)


@pytest.mark.parametrize("clash", ["PA_GAS", "pa_gas"])
def test_overwrite_replaces_clashing_columns(corpus, clash):
    directory = corpus[0]
    fresh = add_kinematic_columns(Table({"PLATEIFU": [GOOD_KEYS[0]]}), source=directory,
                                  fit_options=FAST)
    table = Table({"PLATEIFU": [GOOD_KEYS[0]], clash: ["stale"], "Z": [0.1]})
    out = add_kinematic_columns(table, source=directory, fit_options=FAST, overwrite=True)
    assert out.colnames == ["PLATEIFU", "Z", *OUTPUT_COLUMNS]
    _assert_rows_equal(out, fresh, OUTPUT_COLUMNS)
    assert table.colnames == ["PLATEIFU", clash, "Z"]  # the input is untouched


# -- the command line: `kinmisalign run` ----------------------------------------------------
def test_cli_run_mixed_catalogue(corpus, tmp_path, capsys):
    directory = corpus[0]
    keys = [GOOD_KEYS[0], CASE_KEYS["gzip-truncated"], "8400_1901", CASE_KEYS["missing-file"],
            CASE_KEYS["stellar-all-nan"], GOOD_KEYS[0]]
    catalogue = tmp_path / "cat.ecsv"
    Table({"PLATEIFU": keys}).write(catalogue)
    out = tmp_path / "out.fits"
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    # the stellar-all-NaN row has its gas PA: measured
    assert "6 rows: 3 measured, 3 not measured\nmeasured: PA_STELLAR 2, PA_GAS 3" in printed
    table = Table.read(out)
    assert [k.strip() for k in table["PLATEIFU"]] == keys
    flags = [describe_flags(f & ~NETWORK_BITS) for f in table["KINMIS_FLAG"]]
    assert flags == [[], ["BAD_MAPS"], ["INVALID_KEY"], ["NO_MAPS"], ["STELLAR_TOO_FEW"], []]
    assert table["PA_STELLAR"][0] == table["PA_STELLAR"][5]


CLI_RUN_ERRORS = {
    "clash": (["--source", "{dir}"], {"DPA": [1.0]}, "already has column(s) DPA"),
    "garbage-model": (["--source", "{dir}", "--model", "{model}"], {},
                      "is not a kinmisalign model file"),
    "missing-model": (["--source", "{dir}", "--model", "{tmp}/none.npz"], {}, "no model file"),
    "bad-daptype": (["--source", "{dir}", "--daptype", "HYB10 MILESHC"], {},
                    "DAPTYPE must look like"),
    "no-key": (["--source", "{dir}"], {"NAME": ["a"]}, "no PLATEIFU/plateifu column"),
}


@pytest.mark.parametrize("name", CLI_RUN_ERRORS)
def test_cli_run_refuses(corpus, tmp_path, capsys, name):
    options, extra, message = CLI_RUN_ERRORS[name]
    columns = {"NAME": ["a"]} if name == "no-key" else {"PLATEIFU": [GOOD_KEYS[0]], **extra}
    catalogue = tmp_path / "cat.ecsv"
    Table(columns).write(catalogue)
    fill = {"dir": str(corpus[0]), "model": str(_garbage_model(tmp_path)), "tmp": str(tmp_path)}
    argv = ["run", str(catalogue), "-o", str(tmp_path / "out.ecsv"), "--no-progress",
            *(o.format(**fill) for o in options)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("kinmisalign run: error:") and message in err
    assert not (tmp_path / "out.ecsv").exists()


# -- the Python API: units, dtypes, shapes, model files --------------------------------------
def _grid_field(velocity):
    return VelocityField.from_array(velocity)


_V = np.arange(16.0).reshape(4, 4)
API_ERRORS = {
    "misalignment-plain-floats": (lambda: misalignment(10.0, 20.0), TypeError,
                                  "pa1 must be an astropy Quantity with angle units"),
    "misalignment-one-plain": (lambda: misalignment(10 * u.deg, 20.0), TypeError,
                               "pa2 must be an astropy Quantity"),
    "misalignment-plain-arrays": (lambda: misalignment(np.ones(3), np.zeros(3)), TypeError,
                                  "not ndarray"),
    "misalignment-velocity-unit": (lambda: misalignment(10 * u.km / u.s, 20 * u.deg),
                                   u.UnitConversionError, "pa1 must have angle units"),
    "misalignment-one-error": (lambda: misalignment(10 * u.deg, 20 * u.deg, 1 * u.deg),
                               ValueError, "give both errors"),
    "misalignment-shapes": (lambda: misalignment(np.ones(3) * u.deg, np.ones(2) * u.deg),
                            ValueError, "incompatible shapes"),
    "fit-plain-arrays": (lambda: fit_pa(np.ones(30), np.ones(30), np.ones(30)), TypeError,
                         "x must be an astropy Quantity"),
    "fit-plain-dvel": (lambda: fit_pa(_grid_field(_V * u.km / u.s), dvel=10.0), TypeError,
                       "dvel must be an astropy Quantity"),
    "fit-tiny-footprint": (lambda: fit_pa(_grid_field(_V * u.km / u.s), method="fast"),
                           NotEnoughPointsError, "only 16 usable point"),
    "fit-constant-field": (lambda: fit_pa(_grid_field(np.full((9, 9), 7.0) * u.km / u.s),
                                          method="fast"), FitError, "constant field"),
    "fit-1e30-field": (lambda: fit_pa(_grid_field(1e30 * np.ones((9, 9)) * u.km / u.s),
                                      method="fast"), NotEnoughPointsError,
                       "faster-than-light"),
    "field-plain-velocity": (lambda: VelocityField.from_array(_V), TypeError,
                             "velocity must be an astropy Quantity with velocity units"),
    "field-complex-velocity": (lambda: VelocityField.from_array((_V + 1j) * u.km / u.s),
                               TypeError, "velocity must be real, not of dtype complex128"),
    "field-string-mask": (lambda: VelocityField.from_array(
        _V * u.km / u.s, mask=np.full((4, 4), "bad")), TypeError, "mask must be numeric"),
    "field-3d-velocity": (lambda: VelocityField.from_array(np.ones((2, 4, 4)) * u.km / u.s),
                          ValueError, "must be a 2-D map"),
    "field-plain-pixscale": (lambda: VelocityField.from_array(_V * u.km / u.s, pixscale=0.5),
                             TypeError, "pixscale must be an astropy Quantity"),
    "field-velocity-in-arcsec": (lambda: VelocityField.from_array(_V * u.arcsec),
                                 u.UnitConversionError, "velocity must have velocity units"),
    "read-maps-not-a-path": (lambda: read_maps(42), TypeError, "int"),
}


@pytest.mark.parametrize("name", API_ERRORS)
def test_api_refuses(name):
    call, error, match = API_ERRORS[name]
    with pytest.raises(error, match=match):
        call()


def test_misalignment_accepts_any_angle_unit():
    """The documented behaviour: angles as Quantities in any angle unit, never bare numbers."""
    dpa = misalignment(np.pi * u.rad, 0 * u.deg)
    assert dpa.unit == u.deg and dpa.to_value(u.deg) == pytest.approx(180.0)


def _model_files(tmp_path):
    """Broken model files, each made from the embedded model's file."""
    import json

    from kinmisalign.classifier import embedded_model_path

    good_bytes = embedded_model_path("embedded").read_bytes()
    model = load_model("embedded")
    header = np.frombuffer(json.dumps(model._header()).encode(), dtype=np.uint8)
    kernel = next(k for k in model.weights if k.endswith("/kernel"))

    def write(name, **arrays):
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    files = {}
    files["truncated"] = tmp_path / "truncated.npz"
    files["truncated"].write_bytes(good_bytes[:len(good_bytes) // 2])
    files["garbage"] = _garbage_model(tmp_path)
    files["empty"] = tmp_path / "empty.npz"
    files["empty"].write_bytes(b"")
    files["wrong-shape-weights"] = write(
        "shape.npz", __model__=header,
        **{**model.weights, kernel: model.weights[kernel][:-1]})
    files["missing-weights"] = write(
        "missing.npz", __model__=header,
        **{k: v for k, v in model.weights.items() if k != kernel})
    files["header-not-json"] = write("json.npz", __model__=np.frombuffer(b"{oops", np.uint8),
                                     **model.weights)
    files["no-header"] = write("noheader.npz", **model.weights)
    files["single-npy"] = tmp_path / "array.npz"
    with open(files["single-npy"], "wb") as fh:
        np.save(fh, np.zeros(3))
    return files


MODEL_ERRORS = {
    "truncated": "not a readable .npz archive",
    "garbage": "not a .npz archive",
    "empty": "not a .npz archive",
    "wrong-shape-weights": "/kernel has shape",
    "missing-weights": "holds an invalid model: missing",
    "header-not-json": "unreadable header",
    "no-header": "no __model__",
    "single-npy": "a single numpy array (.npy)",
}


@pytest.mark.parametrize("name", MODEL_ERRORS)
def test_broken_model_files(tmp_path, name):
    path = _model_files(tmp_path)[name]
    with pytest.raises(ValueError, match=re.escape(MODEL_ERRORS[name])) as info:
        load_model(path)
    assert str(path) in str(info.value)
    assert "allow_pickle" not in str(info.value)  # never suggest loading a pickle
