"""Tests of add_kinematic_columns on DAPall- and DRPall-like tables of mock galaxies."""

import re

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable, Table, join

from kinmisalign.batch import describe_flags
from kinmisalign.catalogue import OUTPUT_COLUMNS, add_kinematic_columns

FAST = {"method": "fast"}
MEASURED = ("PA_STELLAR", "PA_STELLAR_ERR", "PA_GAS", "PA_GAS_ERR", "DPA", "DPA_ERR",
            "NSPX_STELLAR", "NSPX_GAS")
PROBABILITIES = ("USABLE_PROB_STELLAR", "USABLE_PROB_GAS")


@pytest.fixture(scope="module")
def survey_tree(tmp_path_factory):
    """Four 19-fibre mock galaxies in the survey's directory layout."""
    from kinmisalign import mock

    directory = tmp_path_factory.mktemp("sas")
    rng = np.random.default_rng(3)
    plateifus = ["8100-1901", "8100-1902", "8100-1903", "8100-1904"]
    for i, plateifu in enumerate(plateifus):
        galaxy = mock.random_galaxy(rng, bundle_size=19, usable_stellar=True, usable_gas=True,
                                    plateifu=plateifu, mangaid=f"1-{100 + i}")
        mock.write_maps(galaxy, directory, tree=True, seed=i)
    return directory, plateifus


@pytest.fixture(scope="module")
def dapall(survey_tree):
    directory, plateifus = survey_tree
    # Padded FITS-like strings, a repeat, a missing file, an invalid and a hostile key.
    keys = [f"{plateifus[2]}  ", plateifus[0], "9999-1901", plateifus[2], "not-a-key",
            "../../etc/passwd", plateifus[1]]
    table = Table({"PLATEIFU": keys, "MANGAID": [f"id{i}" for i in range(len(keys))],
                   "Z": np.linspace(0.01, 0.07, len(keys))}, meta={"EXTNAME": "DAPALL"})
    return table


@pytest.fixture(scope="module")
def result(survey_tree, dapall):
    directory, _ = survey_tree
    return add_kinematic_columns(dapall, source=directory, fit_options=FAST)


def test_rows_columns_and_meta_kept(dapall, result):
    assert len(result) == len(dapall)
    assert result.colnames[:3] == ["PLATEIFU", "MANGAID", "Z"]
    assert result.colnames[3:] == list(OUTPUT_COLUMNS)
    assert list(result["PLATEIFU"]) == list(dapall["PLATEIFU"])
    np.testing.assert_array_equal(result["Z"], dapall["Z"])
    # The input's meta is kept; the run only adds its provenance (KM_*, KFNAMEnn, KFDESCnn).
    assert {k: v for k, v in result.meta.items() if k in dapall.meta} == dapall.meta
    assert all(k.startswith(("KM_", "KFNAME", "KFDESC")) for k in result.meta
               if k not in dapall.meta)
    assert "PA_STELLAR" not in dapall.colnames  # the input is not modified


def test_values_units_and_descriptions(result):
    assert result["PA_STELLAR"].unit == u.deg and result["DPA_ERR"].unit == u.deg
    assert "receding" in result["PA_GAS"].description
    assert result["KINMIS_FLAG"].dtype == np.int32
    good = [0, 1, 3, 6]
    assert not np.any(np.ma.getmaskarray(result["DPA"])[good])
    assert np.all((result["PA_STELLAR"][good] >= 0) & (result["PA_STELLAR"][good] < 360))
    probs = result["USABLE_PROB_STELLAR"][good]
    assert np.all((probs >= 0) & (probs <= 1))
    # Padded and unpadded copies of one plate-IFU are measured once and agree.
    for name in OUTPUT_COLUMNS:
        assert np.ma.is_masked(result[name][0]) == np.ma.is_masked(result[name][3]), name
        assert np.ma.filled(result[name])[0] == np.ma.filled(result[name])[3], name


def test_bad_rows_are_masked_and_flagged(result):
    assert describe_flags(result["KINMIS_FLAG"][2]) == ["NO_MAPS"]
    for row in (4, 5):
        assert describe_flags(result["KINMIS_FLAG"][row]) == ["INVALID_KEY"]
    for row in (2, 4, 5):
        for name in MEASURED + PROBABILITIES:
            assert np.ma.getmaskarray(result[name])[row], (row, name)
        assert not result["USABLE_STELLAR"][row] and not result["USABLE_GAS"][row]


def test_drpall_lower_case_and_join(survey_tree, result):
    directory, plateifus = survey_tree
    drpall = Table({"plateifu": plateifus, "mangaid": ["a", "b", "c", "d"],
                    "nsa_elpetro_ba": [0.5, 0.6, 0.7, 0.8]})
    out = add_kinematic_columns(drpall, source=directory, fit_options=FAST)
    assert out.colnames[:3] == drpall.colnames
    # Joinable with a DAPall-like result on the stripped key.
    left = result[[0, 1, 6]]
    left["plateifu"] = [str(k).strip() for k in left["PLATEIFU"]]
    # Two runs' provenance differs (their KM_DATE, at least): astropy would warn of it.
    joined = join(left[["plateifu", "Z"]], out, keys="plateifu", metadata_conflicts="silent")
    assert len(joined) == 3
    by_key = {row["plateifu"]: row for row in out}
    for row in joined:
        assert row["PA_STELLAR"] == by_key[row["plateifu"]]["PA_STELLAR"]


def test_qtable(survey_tree):
    directory, plateifus = survey_tree
    table = QTable({"PLATEIFU": plateifus[:2], "RADIUS": [1.0, 2.0] * u.arcsec})
    out = add_kinematic_columns(table, source=directory, fit_options=FAST)
    assert isinstance(out, QTable)
    assert isinstance(out["PA_STELLAR"], u.Quantity) and out["PA_STELLAR"].unit == u.deg
    assert out["RADIUS"].unit == u.arcsec


def test_clash_needs_overwrite(survey_tree, result):
    directory, _ = survey_tree
    with pytest.raises(ValueError, match="already has column.*PA_STELLAR.*overwrite=True"):
        add_kinematic_columns(result, source=directory, fit_options=FAST)
    again = add_kinematic_columns(result[:2], source=directory, fit_options=FAST,
                                  overwrite=True)
    assert again.colnames == result.colnames
    assert again["PA_GAS"][1] == result["PA_GAS"][1]


def test_key_column_errors(survey_tree):
    directory, _ = survey_tree
    with pytest.raises(KeyError, match="no PLATEIFU/plateifu column"):
        add_kinematic_columns(Table({"NAME": ["x"]}), source=directory)
    with pytest.raises(KeyError, match="several"):
        add_kinematic_columns(Table({"PLATEIFU": ["x"], "plateifu": ["y"]}), source=directory)
    with pytest.raises(KeyError, match="no column 'ID'"):
        add_kinematic_columns(Table({"PLATEIFU": ["x"]}), source=directory, key="ID")


def test_masked_and_bytes_keys(survey_tree):
    from astropy.table import MaskedColumn

    directory, plateifus = survey_tree
    keys = MaskedColumn([plateifus[0].encode(), b"x"], mask=[False, True])
    out = add_kinematic_columns(Table({"PLATEIFU": keys}), source=directory, fit_options=FAST)
    assert not np.ma.getmaskarray(out["PA_STELLAR"])[0]
    assert describe_flags(out["KINMIS_FLAG"][1]) == ["INVALID_KEY"]


def test_empty_table(survey_tree):
    directory, _ = survey_tree
    out = add_kinematic_columns(Table({"PLATEIFU": np.array([], dtype="U12")}),
                                source=directory)
    assert len(out) == 0 and out.colnames[1:] == list(OUTPUT_COLUMNS)


# -- what is not classified never reads as usable, in memory or in a file -------------------
NOT_JUDGED_BITS = ("NO_MAPS", "BAD_MAPS", "INVALID_KEY", "DOWNLOAD_FAILED", "UNEXPECTED_ERROR")


def _read_back(table, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    table.write(path, overwrite=True)
    return Table.read(path)


def _usable(value):
    """A boolean read back from any format: CSV gives 'True'/'False' text."""
    assert str(value) in ("True", "False"), value
    return str(value) == "True"


def _assert_not_usable_unless_judged(table):
    for which in ("STELLAR", "GAS"):
        judged = ~np.ma.getmaskarray(table[f"USABLE_PROB_{which}"])
        usable = np.array([_usable(v) for v in np.asarray(table[f"USABLE_{which}"])])
        assert not np.any(usable[~judged]), which
        probs = np.ma.filled(table[f"USABLE_PROB_{which}"].astype(float), np.nan)
        np.testing.assert_array_equal(usable[judged], probs[judged] > 0.5)
        # Every probability that is missing has a bit saying why.
        reasons = (*NOT_JUDGED_BITS, f"{which}_NOT_CLASSIFIED") + (
            ("GAS_LINE_MISSING",) if which == "GAS" else ())
        for flag in np.asarray(table["KINMIS_FLAG"])[~judged]:
            assert set(describe_flags(flag)) & set(reasons), describe_flags(flag)


def test_unclassified_rows_are_not_usable_in_memory(result):
    unjudged = [2, 4, 5]
    assert np.all(np.ma.getmaskarray(result["USABLE_PROB_GAS"])[unjudged])
    for which in ("STELLAR", "GAS"):
        column = result[f"USABLE_{which}"]
        assert not np.any(column.filled()[unjudged])
        assert not np.any(np.asarray(column)[unjudged])
        assert not np.any(np.ma.getmaskarray(column))
        assert set(result[column]["PLATEIFU"]) <= {result["PLATEIFU"][i] for i in (0, 1, 3, 6)}
    _assert_not_usable_unless_judged(result)


def _text(value):
    """A string read back from any format: FITS gives bytes."""
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


# Plain-text writers print what the display formats show (PAs to 0.1 deg, probabilities to
# 0.001): less than the smallest PA error (0.5 deg), and the verdicts are written on their own.
_SHOWN = {".1f": 0.05, ".3f": 0.0005}


def _assert_same_meaning(table, back, shown=False):
    """What a file read back says is what the table said, column by column; ``shown``: to
    the precision of the display formats (a CSV file written by astropy)."""
    for name in OUTPUT_COLUMNS:
        mask = np.ma.getmaskarray(table[name])
        np.testing.assert_array_equal(np.ma.getmaskarray(back[name]), mask, err_msg=name)
        values, read = np.asarray(table[name])[~mask], np.asarray(back[name])[~mask]
        if values.dtype.kind == "b":
            assert [_usable(v) for v in read] == list(values), name
        elif values.dtype.kind == "f" and shown and table[name].info.format in _SHOWN:
            np.testing.assert_allclose(read.astype(values.dtype), values, rtol=0,
                                       atol=_SHOWN[table[name].info.format] * 1.001,
                                       err_msg=name)
        elif values.dtype.kind == "f":
            np.testing.assert_array_equal(read.astype(values.dtype), values, err_msg=name)
        else:
            assert [_text(v) for v in read] == [_text(v) for v in values], name
        if name.startswith(("PA_", "DPA", "NSPX_")):  # a masked value is no number in a file
            assert not np.any(np.isfinite(np.ma.filled(back[name].astype(float), np.nan)[mask]))


@pytest.mark.parametrize("fmt", ["fits", "ecsv", "csv"])
def test_round_trip_keeps_the_meaning(result, tmp_path, fmt):
    back = _read_back(result, tmp_path, fmt)
    _assert_same_meaning(result, back, shown=fmt == "csv")
    _assert_not_usable_unless_judged(back)
    for which in ("STELLAR", "GAS"):  # filled() gives no usable unjudged field either
        column = back[f"USABLE_{which}"]
        filled = column.filled() if hasattr(column, "filled") else column
        assert not any(_usable(v) for v in np.asarray(filled)[[2, 4, 5]])


@pytest.mark.parametrize("fmt", ["fits", "ecsv", "csv"])
def test_measure_files_round_trip(survey_tree, tmp_path, fmt):
    from kinmisalign.batch import measure_files

    directory, plateifus = survey_tree
    paths = sorted(directory.rglob("*.fits.gz"))[:2] + [directory / "nothing.fits.gz"]
    table = measure_files(paths, fit_options=FAST, model="embedded")
    assert describe_flags(table["KINMIS_FLAG"][2]) == ["NO_MAPS"]
    assert not table["USABLE_STELLAR"][2] and not table["USABLE_STELLAR"].filled()[2]
    back = _read_back(table, tmp_path, fmt)
    for name in ("FILENAME", "PLATEIFU"):
        mask = np.ma.getmaskarray(table[name])
        np.testing.assert_array_equal(np.ma.getmaskarray(back[name]), mask)
        assert [_text(v) for v in back[name][~mask]] == [_text(v) for v in table[name][~mask]]
    assert list(mask) == [False, False, True]  # the plate-IFU of a missing file is unknown
    _assert_same_meaning(table, back, shown=fmt == "csv")
    _assert_not_usable_unless_judged(back)


@pytest.mark.parametrize("suffix", [".fits", ".ecsv", ".csv"])
def test_cli_run_of_a_catalogue_with_few_files(survey_tree, tmp_path, capsys, suffix):
    """The issue's case: a DRPall extract of many rows, MAPS files for a few of them."""
    from kinmisalign.cli import main

    directory, plateifus = survey_tree
    keys = [plateifus[0]] + [f"8101-{1901 + i}" for i in range(40)]
    catalogue = tmp_path / "drpall.fits"
    Table({"plateifu": keys}).write(catalogue)
    out = tmp_path / f"out{suffix}"
    assert main(["run", str(catalogue), "--source", str(directory), "--daptype",
                 "HYB10-MILESHC-MASTARSSP", "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    back = Table.read(out)
    assert len(back) == len(keys)
    for which in ("STELLAR", "GAS"):
        assert not any(_usable(v) for v in np.asarray(back[f"USABLE_{which}"])[1:])
    assert np.all(np.asarray(back["KINMIS_FLAG"])[1:] == 1 << 0)  # NO_MAPS
    for key, text in zip(keys[1:], back["KINMIS_PROBLEMS"][1:], strict=True):
        assert str(text).startswith(f"no MAPS file of {key} (HYB10-MILESHC-MASTARSSP) in ")
    _assert_not_usable_unless_judged(back)


def test_cli_csv_keeps_every_digit(survey_tree, tmp_path, capsys):
    """The command line writes plain text at full precision, not as displayed."""
    from kinmisalign.cli import main

    directory, plateifus = survey_tree
    catalogue = tmp_path / "drpall.fits"
    Table({"plateifu": plateifus[:2]}).write(catalogue)
    backs = {}
    for suffix in (".ecsv", ".csv"):
        out = tmp_path / f"out{suffix}"
        assert main(["run", str(catalogue), "--source", str(directory), "--daptype",
                     "HYB10-MILESHC-MASTARSSP", "-o", str(out), "--no-progress"]) == 0
        backs[suffix] = Table.read(out)
    capsys.readouterr()
    for name in ("PA_STELLAR", "PA_STELLAR_ERR", "USABLE_PROB_STELLAR"):
        exact = np.asarray(backs[".ecsv"][name], dtype=float)
        if name == "USABLE_PROB_STELLAR":  # PAs and errors of these mocks are on 0.5 deg steps
            assert np.any(exact != np.round(exact, 3)), name  # more digits than displayed
        np.testing.assert_array_equal(np.asarray(backs[".csv"][name], dtype=float), exact,
                                      err_msg=name)


# -- KINMIS_PROBLEMS: each row's reasons in words ------------------------------------------
class _FailingSource:
    """A duck-typed source failing in a chosen way for the keys it is given."""

    def __init__(self, paths, errors):
        self.paths, self.errors = paths, errors

    def path_for(self, plateifu, daptype):
        if plateifu in self.errors:
            raise self.errors[plateifu]
        return self.paths[plateifu]


@pytest.fixture(scope="module")
def with_problems(survey_tree):
    """A catalogue run meeting a failed download, a source's bug, a missing file with an
    awkward message and an invalid key, between two good rows."""
    from kinmisalign.exceptions import SourceError

    directory, plateifus = survey_tree
    paths = {key: next(directory.rglob(f"*{key}*.fits.gz")) for key in plateifus}
    source = _FailingSource(paths, {
        "8200-1901": SourceError("could not download https://x/y: HTTP 503"),
        "8200-1902": RuntimeError("simulated source bug"),
        "8200-1903": FileNotFoundError('no MAPS file, "quoted",\n on two lines: ça ⚠'),
    })
    keys = [plateifus[0], "8200-1901", "8200-1902", "8200-1903", "bad key", plateifus[1]]
    return add_kinematic_columns(Table({"PLATEIFU": keys}), source=source, fit_options=FAST)


def test_problems_say_why(with_problems):
    out = with_problems
    expected = [
        (), ("DOWNLOAD_FAILED",), ("UNEXPECTED_ERROR",), ("NO_MAPS",), ("INVALID_KEY",), ()]
    for row, names in enumerate(expected):
        if names:
            assert describe_flags(out["KINMIS_FLAG"][row]) == list(names)
    problems = out["KINMIS_PROBLEMS"]
    assert problems[1] == "could not download https://x/y: HTTP 503"
    assert problems[2] == "RuntimeError: simulated source bug"
    # One line of ASCII: FITS holds nothing else.
    assert problems[3] == 'no MAPS file, "quoted", on two lines: \\xe7a \\u26a0'
    assert "must look like '7815-3702'" in problems[4] and "'bad key'" in problems[4]
    # Nothing went wrong: masked, and empty when filled.
    assert problems.mask[0] and problems.mask[5] and problems.filled()[0] == ""
    assert not np.any(np.ma.getmaskarray(out["PA_STELLAR"])[[0, 5]])


@pytest.mark.parametrize("fmt", ["fits", "ecsv", "csv"])
def test_problems_round_trip(with_problems, tmp_path, fmt):
    back = _read_back(with_problems, tmp_path, fmt)
    _assert_same_meaning(with_problems, back, shown=fmt == "csv")
    _assert_not_usable_unless_judged(back)


def test_problems_column_clash(survey_tree, result):
    directory, _ = survey_tree
    table = Table({"PLATEIFU": ["8100-1901", "9999-1901"], "kinmis_problems": ["mine", "x"]})
    with pytest.raises(ValueError, match="kinmis_problems.*overwrite=True"):
        add_kinematic_columns(table, source=directory, fit_options=FAST)
    out = add_kinematic_columns(table, source=directory, fit_options=FAST, overwrite=True)
    assert "kinmis_problems" not in out.colnames
    assert out["KINMIS_PROBLEMS"].mask[0] and "no MAPS file of 9999-1901" in out[
        "KINMIS_PROBLEMS"][1]


# -- provenance -------------------------------------------------------------------------------


def test_provenance_in_meta(survey_tree, result):
    from datetime import datetime, timezone

    from kinmisalign import __version__
    from kinmisalign._provenance import model_sha256
    from kinmisalign.classifier import UsabilityModel, load_model
    from kinmisalign.classifier._embedded import embedded_model_path
    from kinmisalign.config import conf

    directory, _ = survey_tree
    meta = result.meta
    assert meta["KM_VERS"] == __version__
    assert meta["KM_PAENG"] == "fast"
    assert meta["KM_LINE"] == "Ha-6564"
    assert meta["KM_MASK"] == conf.maskbits
    assert meta["KM_DAPTY"] == conf.daptype
    assert str(directory.resolve()) in meta["KM_SRC"]
    assert meta["KM_MODEL"] == "kinmisalign-footprint-v2"
    assert meta["KM_THRES"] == 0.5
    when = datetime.strptime(meta["KM_DATE"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 3600
    # The model's digest: the same from a second, independent read of its file.
    assert re.fullmatch(r"[0-9a-f]{64}", meta["KM_MSHA"])
    assert meta["KM_MSHA"] == model_sha256(load_model("embedded"))
    assert meta["KM_MSHA"] == model_sha256(UsabilityModel.load(embedded_model_path()))


def test_model_digest_follows_what_the_model_computes():
    from kinmisalign._provenance import model_sha256
    from kinmisalign.classifier import UsabilityModel
    from kinmisalign.classifier._embedded import embedded_model_path

    model = UsabilityModel.load(embedded_model_path())
    digest = model_sha256(model)
    renamed = UsabilityModel(model.layers, model.weights, model.input_shape,
                             dict(model.meta, name="renamed"), input=model.input,
                             output=model.output)
    assert model_sha256(renamed) == digest  # the name is not what the model computes
    weights = {k: v.copy() for k, v in model.weights.items()}
    name = sorted(weights)[0]
    weights[name].flat[0] += 1e-3
    changed = UsabilityModel(model.layers, weights, model.input_shape, model.meta,
                             input=model.input, output=model.output)
    assert model_sha256(changed) != digest
    output = dict(model.output)
    output["calibration"] = {"kind": "platt", "slope": 2.0, "intercept": 0.0}
    recalibrated = UsabilityModel(model.layers, model.weights, model.input_shape, model.meta,
                                  input=model.input, output=output)
    assert model_sha256(recalibrated) != digest


def _flag_table_from_header(header):
    """The KINMIS_FLAG bits as a FITS user reads them: KFNAMEnn and KFDESCnn cards only."""
    bits = {}
    for key in header:
        match = re.fullmatch(r"KFNAME([0-9]{2})", key)
        if match:
            bits[header[key]] = (int(match.group(1)), header[f"KFDESC{match.group(1)}"])
    return bits


def test_provenance_and_formats_survive_ecsv_and_fits(result, tmp_path):
    from astropy.io import fits

    from kinmisalign.batch import FLAGS

    assert result["PA_STELLAR"].info.format == ".1f"
    assert result["DPA_ERR"].info.format == ".1f"
    assert result["USABLE_PROB_GAS"].info.format == ".3f"
    ecsv = tmp_path / "out.ecsv"
    result.write(ecsv)
    back = Table.read(ecsv)
    assert back.meta == result.meta
    for name in ("PA_STELLAR", "PA_GAS_ERR", "DPA", "USABLE_PROB_STELLAR"):
        assert back[name].info.format == result[name].info.format
        # formats only change how values are shown, never the values
        np.testing.assert_array_equal(back[name].filled(np.nan), result[name].filled(np.nan))

    path = tmp_path / "out.fits"
    result.write(path)
    header = fits.getheader(path, 1)
    assert _flag_table_from_header(header) == FLAGS
    for key, value in result.meta.items():
        if key.startswith(("KM_", "KF")):
            assert header[key] == value, key
    columns = {header[f"TTYPE{i}"]: i for i in range(1, header["TFIELDS"] + 1)}
    assert re.fullmatch(r"F[0-9]+\.1", header[f"TDISP{columns['PA_STELLAR']}"])
    assert re.fullmatch(r"F[0-9]+\.3", header[f"TDISP{columns['USABLE_PROB_STELLAR']}"])
    back = Table.read(path)
    assert {k: v for k, v in back.meta.items() if k.startswith(("KM_", "KF"))} == \
        {k: v for k, v in result.meta.items() if k.startswith(("KM_", "KF"))}
    np.testing.assert_array_equal(back["PA_STELLAR"].filled(np.nan),
                                  result["PA_STELLAR"].filled(np.nan))


def test_flag_table_follows_flags(monkeypatch):
    from kinmisalign import batch
    from kinmisalign._provenance import flag_keywords

    monkeypatch.setitem(batch.FLAGS, "SOMETHING_NEW", (21, "a reason added later"))
    keywords = flag_keywords()
    assert keywords["KFNAME21"] == "SOMETHING_NEW"
    assert keywords["KFDESC21"] == "a reason added later"
    assert len(keywords) == 2 * len(batch.FLAGS)


class _MirrorWithSecrets:
    """A duck-typed source whose description holds credentials."""

    def path_for(self, plateifu, daptype):
        raise FileNotFoundError(f"no MAPS file of {plateifu}")

    def describe(self):
        return ("mirror https://alice:s3cret@mirror.example.org:8443/sas?token=abc123&x=1#frag "
                "and ftp://bob@files.example.org/x")


def test_url_source_has_no_credentials():
    out = add_kinematic_columns(Table({"PLATEIFU": ["8100-1901"]}), source=_MirrorWithSecrets(),
                                fit_options=FAST)
    assert out["KINMIS_FLAG"][0] == 1  # NO_MAPS
    text = out.meta["KM_SRC"]
    assert "https://mirror.example.org:8443/sas" in text and "ftp://files.example.org/x" in text
    for secret in ("alice", "s3cret", "token", "abc123", "frag", "bob", "@"):
        assert secret not in text


def test_measure_files_provenance(survey_tree):
    from kinmisalign.batch import measure_files

    directory, plateifus = survey_tree
    paths = sorted(directory.rglob("*MAPS*.fits*"))[:1]
    out = measure_files(paths, fit_options=FAST)
    assert out.meta["KM_SRC"] == "MAPS files given by path"
    assert "KM_DAPTY" not in out.meta and "KM_MODEL" not in out.meta  # none was used
    assert out.meta["KFNAME00"] == "NO_MAPS"
    assert out["PA_STELLAR"].info.format == ".1f"


def test_line_is_named(survey_tree):
    directory, plateifus = survey_tree
    out = add_kinematic_columns(Table({"PLATEIFU": plateifus[:1]}), source=directory,
                                fit_options=FAST, line="Hb-4862")
    assert out.meta["KM_LINE"] == "Hb-4862"
    assert "Hb-4862" in out["PA_GAS"].info.description
    assert "H-alpha" not in out["PA_GAS"].info.description
