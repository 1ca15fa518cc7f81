"""Tests of add_kinematic_columns on DAPall- and DRPall-like tables of mock galaxies."""

import re

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable, Table, join

from kinmisalign.batch import describe_flags
from kinmisalign.catalogue import OUTPUT_COLUMNS, add_kinematic_columns

FAST = {"method": "fast"}


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
        assert result[name][0] == result[name][3]


def test_bad_rows_are_masked_and_flagged(result):
    assert describe_flags(result["KINMIS_FLAG"][2]) == ["NO_MAPS"]
    for row in (4, 5):
        assert describe_flags(result["KINMIS_FLAG"][row]) == ["INVALID_KEY"]
    for row in (2, 4, 5):
        for name in OUTPUT_COLUMNS[:-1]:
            assert np.ma.getmaskarray(result[name])[row], (row, name)


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
