"""Tests of add_kinematic_columns on DAPall- and DRPall-like tables of mock galaxies."""

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
    assert result.meta == dapall.meta
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
    joined = join(left[["plateifu", "Z"]], out, keys="plateifu")
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
