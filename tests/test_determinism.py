"""Serial, local-process and dask runs of add_kinematic_columns give identical catalogues.

tests/test_batch.py compares the records of measure_files (default engine); this compares
whole catalogues (values, masks, flags, dtypes, units, descriptions, meta), with the embedded
usability network, on a table mixing good rows, a repeated key and bad rows.
"""

import numpy as np
import pytest
from astropy.table import Table

from kinmisalign import add_kinematic_columns, mock
from kinmisalign.batch import describe_flags

FAST = {"method": "fast"}  # the engine is not what is tested here, and pafit is slow


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Three mock galaxies in the survey layout, a truncated file, and a catalogue of them."""
    directory = tmp_path_factory.mktemp("determinism")
    rng = np.random.default_rng(2024)
    keys = ["8500-1901", "8500-1902", "8500-3701"]
    for i, key in enumerate(keys):
        galaxy = mock.random_galaxy(rng, bundle_size=int(key[5:7]), usable_stellar=True,
                                    usable_gas=True, plateifu=key)
        mock.write_maps(galaxy, directory, tree=True, seed=i)
    broken = mock.write_maps(mock.MockGalaxy(plateifu="8500-1903"), directory, tree=True)
    broken.write_bytes(broken.read_bytes()[:4000])
    rows = [keys[0], "8500-1903", keys[1], "not-a-key", keys[0], "8500-9101", keys[2]]
    table = Table({"PLATEIFU": rows, "Z": np.linspace(0.02, 0.05, len(rows))},
                  meta={"EXTNAME": "DAPALL", "COMMENT": ["kept as given"]})
    return directory, table


@pytest.fixture(scope="module")
def serial(survey):
    directory, table = survey
    return add_kinematic_columns(table, source=directory, fit_options=FAST)


def _assert_identical(a, b):
    assert type(a) is type(b) and len(a) == len(b)
    assert a.colnames == b.colnames
    # all of meta, but the date of the run
    assert ({k: v for k, v in a.meta.items() if k != "KM_DATE"}
            == {k: v for k, v in b.meta.items() if k != "KM_DATE"})
    for name in a.colnames:
        ca, cb = a[name], b[name]
        assert ca.dtype == cb.dtype, name
        assert ca.unit == cb.unit and ca.description == cb.description, name
        np.testing.assert_array_equal(np.ma.getmaskarray(ca), np.ma.getmaskarray(cb),
                                      err_msg=name)
        # Bit-for-bit: the same float, not merely a close one (NaN equals NaN).
        np.testing.assert_array_equal(np.ma.getdata(ca), np.ma.getdata(cb), err_msg=name)


def test_serial_run_is_sane(serial):
    """The reference the other runs are compared with measured what it could."""
    flags = [describe_flags(f) for f in serial["KINMIS_FLAG"]]
    assert "BAD_MAPS" in flags[1] and flags[3] == ["INVALID_KEY"] and flags[5] == ["NO_MAPS"]
    measured = ~np.ma.getmaskarray(serial["DPA"])
    assert list(measured) == [True, False, True, False, True, False, True]
    assert not np.ma.is_masked(serial["USABLE_PROB_GAS"][0])


def test_serial_is_repeatable(survey, serial):
    directory, table = survey
    _assert_identical(add_kinematic_columns(table, source=directory, fit_options=FAST), serial)


def test_processes_match_serial(survey, serial):
    directory, table = survey
    _assert_identical(add_kinematic_columns(table, source=directory, parallel=2,
                                            fit_options=FAST), serial)


@pytest.mark.slow
def test_dask_local_cluster_matches_serial(survey, serial):
    distributed = pytest.importorskip("dask.distributed")
    directory, table = survey
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        _assert_identical(add_kinematic_columns(table, source=directory, parallel=client,
                                                fit_options=FAST), serial)
        # 'dask' runs on the current client.
        _assert_identical(add_kinematic_columns(table, source=directory, parallel="dask",
                                                fit_options=FAST), serial)
