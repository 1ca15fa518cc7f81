"""Tests of measure_files: serial, local processes and a real dask LocalCluster."""

import numpy as np
import pytest
from astropy import units as u

from kinmisalign.batch import FLAGS, describe_flags, measure_files


@pytest.fixture(scope="module")
def batch_files(tmp_path_factory):
    """Six small mock files, a missing one and a broken one, in a fixed order."""
    from kinmisalign import mock

    directory = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(11)
    paths, truth = [], []
    for i in range(6):
        ifu = 1901 + i if i % 2 else 3701 + i
        galaxy = mock.random_galaxy(rng, bundle_size=19 if i % 2 else 37, usable_stellar=True,
                                    usable_gas=True, plateifu=f"8001-{ifu}")
        paths.append(mock.write_maps(galaxy, directory, seed=i))
        truth.append(galaxy)
    absent = mock.MockGalaxy(plateifu="8002-1901", gas=mock.FieldModel(kind="absent"))
    paths.insert(2, mock.write_maps(absent, directory, seed=9))
    paths.insert(4, directory / "manga-9999-1901-MAPS-HYB10-MILESHC-MASTARSSP.fits.gz")
    broken = directory / "broken.fits.gz"
    broken.write_bytes(paths[0].read_bytes()[:5000])
    paths.append(broken)
    return paths


@pytest.fixture(scope="module")
def serial(batch_files):
    return measure_files(batch_files)


def _assert_same(a, b):
    assert a.colnames == b.colnames
    for name in a.colnames:
        np.testing.assert_array_equal(np.ma.getmaskarray(a[name]), np.ma.getmaskarray(b[name]),
                                      err_msg=name)
        np.testing.assert_array_equal(np.ma.filled(a[name]), np.ma.filled(b[name]),
                                      err_msg=name)


def test_rows_in_order_with_flags(batch_files, serial):
    assert len(serial) == len(batch_files)
    assert list(serial["FILENAME"]) == [str(p) for p in batch_files]
    assert serial["PA_STELLAR"].unit == u.deg
    assert "receding" in serial["PA_STELLAR"].description

    ok = [0, 1, 3, 5, 6, 7]
    assert not np.any(serial["PA_STELLAR"].mask[ok])
    assert not np.any(serial["DPA"].mask[ok])
    assert np.all(serial["KINMIS_FLAG"][ok] == 0)
    assert np.all((serial["DPA"][ok] >= 0) & (serial["DPA"][ok] <= 180))

    # No gas detected: stellar PA measured, gas and DPA masked, the reason flagged.
    assert serial["PLATEIFU"][2] == "8002-1901"
    assert not serial["PA_STELLAR"].mask[2]
    assert serial["PA_GAS"].mask[2] and serial["DPA"].mask[2] and serial["NSPX_GAS"].mask[2]
    assert describe_flags(serial["KINMIS_FLAG"][2]) == ["GAS_TOO_FEW"]
    assert "gas: only 0 usable point(s)" in serial["KINMIS_PROBLEMS"][2]

    # A missing and a truncated file: everything masked, flagged, the run goes on.
    assert describe_flags(serial["KINMIS_FLAG"][4]) == ["NO_MAPS"]
    assert describe_flags(serial["KINMIS_FLAG"][-1]) == ["BAD_MAPS"]
    for row in (4, -1):
        assert all(serial[c].mask[row] for c in ("PA_STELLAR", "PA_GAS", "DPA", "NSPX_STELLAR"))
    assert "not found" in serial["KINMIS_PROBLEMS"][4]


def test_processes_match_serial(batch_files, serial):
    _assert_same(measure_files(batch_files, parallel=2), serial)


@pytest.mark.slow
def test_dask_local_cluster_matches_serial(batch_files, serial):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        _assert_same(measure_files(batch_files, parallel=client), serial)
        # 'dask' picks up the current client.
        _assert_same(measure_files(batch_files[:3], parallel="dask"), serial[:3])


def test_conf_is_resolved_in_the_parent(batch_files):
    from kinmisalign import conf

    with conf.set_temp("min_points", 100_000):
        table = measure_files(batch_files[:2], parallel=2)
    assert np.all(table["PA_STELLAR"].mask)
    assert "STELLAR_TOO_FEW" in describe_flags(table["KINMIS_FLAG"][0])


@pytest.mark.parametrize("bad, error", [(0, ValueError), ("threads", ValueError),
                                        (2.5, TypeError)])
def test_bad_parallel(batch_files, bad, error):
    with pytest.raises(error, match="parallel"):
        measure_files(batch_files[:1], parallel=bad)


def test_progress_bar(batch_files, capsys):
    pytest.importorskip("tqdm")
    table = measure_files(batch_files[:2], progress_bar=True)
    assert len(table) == 2
    assert "2/2" in capsys.readouterr().err


def test_flag_bits_are_unique():
    bits = [bit for bit, _ in FLAGS.values()]
    assert len(bits) == len(set(bits))
    assert describe_flags(0) == []


@pytest.fixture(scope="module")
def toy_model():
    """A small dense network with fixed random weights (no download, no TensorFlow)."""
    from kinmisalign.classifier import UsabilityModel

    rng = np.random.default_rng(5)
    layers = [{"type": "flatten", "name": "flatten"},
              {"type": "dense", "name": "hidden", "units": 8, "activation": "relu"},
              {"type": "dense", "name": "out", "units": 1, "activation": "sigmoid"}]
    weights = {"hidden/kernel": rng.normal(0, 0.2, (1024, 8)), "hidden/bias": np.zeros(8),
               "out/kernel": rng.normal(0, 1.0, (8, 1)), "out/bias": np.zeros(1)}
    return UsabilityModel(layers, weights, meta={"name": "toy"})


def test_usability_columns(batch_files, serial, toy_model, tmp_path):
    from kinmisalign import read_maps
    from kinmisalign.classifier import classify

    table = measure_files(batch_files, model=toy_model, threshold=0.5)
    for name in ("PA_STELLAR", "DPA", "NSPX_GAS"):  # the measurements do not change
        np.testing.assert_array_equal(table[name].filled(-1), serial[name].filled(-1))
    # The probabilities are those of classify() on the same maps.
    expected = classify(read_maps(batch_files[0]), model=toy_model, threshold=0.5)
    assert table["USABLE_PROB_STELLAR"][0] == pytest.approx(
        expected["USABLE_PROB_STELLAR"][0], abs=1e-6)
    assert table["USABLE_PROB_GAS"][0] == pytest.approx(expected["USABLE_PROB_GAS"][0], abs=1e-6)
    ok = ~np.ma.getmaskarray(table["USABLE_PROB_STELLAR"])
    assert np.all(table["USABLE_STELLAR"][ok] == (table["USABLE_PROB_STELLAR"][ok] > 0.5))
    # Fields judged unusable are flagged as doubtful; absent gas cannot be judged at all.
    for row in np.flatnonzero(ok):
        names = describe_flags(table["KINMIS_FLAG"][row])
        assert ("STELLAR_UNUSABLE" in names) == (not table["USABLE_STELLAR"][row])
    assert "GAS_NOT_CLASSIFIED" in describe_flags(table["KINMIS_FLAG"][2])
    assert table["USABLE_PROB_GAS"].mask[2] and not table["USABLE_GAS"][2]
    assert table["USABLE_PROB_STELLAR"].mask[4]  # no file
    # Workers get the model once and give the same answers.
    _assert_same(measure_files(batch_files, model=toy_model, parallel=2), table)
    # A model file works as well as the object.
    path = tmp_path / "toy.npz"
    toy_model.save(path)
    _assert_same(measure_files(batch_files[:2], model=path), table[:2])


def test_unexpected_error_in_one_field_keeps_the_other(batch_files, serial, monkeypatch):
    import kinmisalign.measure

    def broken_for_gas(field, **kwargs):
        if field.name == "gas":
            raise RuntimeError("simulated bug")
        return original(field, **kwargs)

    original = kinmisalign.measure.fit_pa
    monkeypatch.setattr(kinmisalign.measure, "fit_pa", broken_for_gas)
    table = measure_files(batch_files[:2])
    for row in (0, 1):
        assert describe_flags(table["KINMIS_FLAG"][row]) == ["GAS_FIT_FAILED",
                                                             "UNEXPECTED_ERROR"]
        assert table["KINMIS_PROBLEMS"][row] == "gas: RuntimeError: simulated bug"
        # The stellar field is measured as without the bug.
        assert table["PA_STELLAR"][row] == serial["PA_STELLAR"][row]
        assert table["NSPX_STELLAR"][row] == serial["NSPX_STELLAR"][row]
        assert table["PA_GAS"].mask[row] and table["DPA"].mask[row]


def test_unexpected_error_is_contained(batch_files, serial, monkeypatch):
    import kinmisalign.measure

    calls = []

    def sometimes_broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated bug")
        return original(*args, **kwargs)

    original = kinmisalign.measure.misalignment
    monkeypatch.setattr(kinmisalign.measure, "misalignment", sometimes_broken)
    table = measure_files(batch_files[:4])
    # The error is flagged, with the values it stopped and its message.
    assert describe_flags(table["KINMIS_FLAG"][1]) == ["STELLAR_FIT_FAILED", "GAS_FIT_FAILED",
                                                       "UNEXPECTED_ERROR"]
    assert table["KINMIS_PROBLEMS"][1] == "measurement: RuntimeError: simulated bug"
    assert table["PA_STELLAR"].mask[1]
    for row in (0, 2, 3):  # the other rows are untouched
        assert table["KINMIS_FLAG"][row] == serial["KINMIS_FLAG"][row]
        assert table["PA_GAS"][row] == serial["PA_GAS"][row] or table["PA_GAS"].mask[row]


def test_classifier_error_keeps_the_measurements(batch_files, serial, toy_model, monkeypatch):
    from kinmisalign.classifier import UsabilityModel

    def broken(self, fields, batch_size=8192):
        raise RuntimeError("simulated network bug")

    monkeypatch.setattr(UsabilityModel, "predict_fields", broken)
    table = measure_files(batch_files[:2], model=toy_model)
    for name in ("PA_STELLAR", "PA_GAS", "DPA", "NSPX_GAS"):
        np.testing.assert_array_equal(table[name], serial[name][:2])
    for row in (0, 1):
        assert describe_flags(table["KINMIS_FLAG"][row]) == [
            "STELLAR_NOT_CLASSIFIED", "GAS_NOT_CLASSIFIED", "UNEXPECTED_ERROR"]
        assert table["KINMIS_PROBLEMS"][row] == ("usability network: RuntimeError: simulated "
                                                 "network bug")
        assert table["USABLE_PROB_STELLAR"].mask[row] and table["USABLE_PROB_GAS"].mask[row]
        assert not table["USABLE_STELLAR"][row] and not table["USABLE_GAS"][row]


def test_failed_adds_bits_and_problems():
    from kinmisalign._records import failed

    record = {"KINMIS_FLAG": 1 << FLAGS["GAS_TOO_FEW"][0], "KINMIS_PROBLEMS": "gas: too few"}
    failed(record, "UNEXPECTED_ERROR", "RuntimeError: boom")
    assert describe_flags(record["KINMIS_FLAG"]) == ["GAS_TOO_FEW", "UNEXPECTED_ERROR"]
    assert record["KINMIS_PROBLEMS"] == "gas: too few; RuntimeError: boom"
    record = {"KINMIS_FLAG": 0, "KINMIS_PROBLEMS": ""}
    failed(record, "NO_MAPS", "not found")
    assert record == {"KINMIS_FLAG": 1, "KINMIS_PROBLEMS": "not found"}


def _without_channel(path, out, line="Ha-6564"):
    """A copy of a MAPS file whose EMLINE_GVEL has no channel named ``line``."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        for extname in ("EMLINE_GVEL", "EMLINE_GVEL_IVAR", "EMLINE_GVEL_MASK"):
            header = hdul[extname].header
            for key in list(header):
                if header[key] == line:
                    header[key] = "Hx-0000"
        hdul.writeto(out)
    return out


def test_missing_emission_line_keeps_the_stellar_field(batch_files, toy_model, tmp_path):
    from kinmisalign import MapsFormatError, read_maps

    no_line = _without_channel(batch_files[0], tmp_path / "no-halpha.fits.gz")
    with pytest.raises(MapsFormatError, match="no channel named 'Ha-6564'"):
        read_maps(no_line)  # outside a batch the file is refused, as before
    # Asked to, read_maps keeps the stellar field, as a batch run reads the file.
    partial = read_maps(no_line, line_required=False)
    assert partial.gas is None and "no channel named 'Ha-6564'" in partial.gas_problem
    np.testing.assert_array_equal(partial.stellar.velocity,
                                  read_maps(batch_files[0]).stellar.velocity)
    table = measure_files([batch_files[0], no_line, batch_files[1]], model=toy_model)
    whole, row = table[0], table[1]
    # The stellar field is measured and judged as in the whole file.
    for name in ("PA_STELLAR", "PA_STELLAR_ERR", "NSPX_STELLAR", "USABLE_PROB_STELLAR",
                 "USABLE_STELLAR"):
        assert row[name] == whole[name], name
    assert row["PLATEIFU"] == whole["PLATEIFU"]
    for name in ("PA_GAS", "PA_GAS_ERR", "NSPX_GAS", "DPA", "DPA_ERR", "USABLE_PROB_GAS"):
        assert np.ma.is_masked(row[name]), name
    assert not row["USABLE_GAS"]
    stellar_bits = (1 << FLAGS["STELLAR_UNUSABLE"][0]) & whole["KINMIS_FLAG"]
    assert row["KINMIS_FLAG"] == (1 << FLAGS["GAS_LINE_MISSING"][0]) | stellar_bits
    assert row["KINMIS_PROBLEMS"].startswith(f"gas: {no_line}: extension EMLINE_GVEL has no "
                                             "channel named 'Ha-6564'")
    # The next row is not affected.
    assert table[2]["KINMIS_FLAG"] & ~(1 << FLAGS["GAS_UNUSABLE"][0]
                                       | 1 << FLAGS["STELLAR_UNUSABLE"][0]) == 0


class _DictSource:
    """A duck-typed source: a dict of plate-IFU -> path, None for 'not here'."""

    def __init__(self, paths):
        self.paths = paths

    def path_for(self, plateifu, daptype):
        return self.paths.get(plateifu)


def test_duck_typed_source_without_a_file(batch_files, serial):
    from astropy.table import Table

    from kinmisalign import add_kinematic_columns

    source = _DictSource({"8001-3701": batch_files[0]})
    out = add_kinematic_columns(Table({"PLATEIFU": ["8001-3701", "8001-1902"]}), source=source,
                                model=None)
    assert out["PA_STELLAR"][0] == serial["PA_STELLAR"][0]
    assert describe_flags(out["KINMIS_FLAG"][1]) == ["NO_MAPS"]
    assert out["PA_STELLAR"].mask[1]


def test_workers_ignore_ctrl_c_from_their_start():
    """A worker process is started with SIGINT ignored, before any of its own code runs:
    a Ctrl-C while it still imports must not print its traceback beside the parent's."""
    import signal
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from kinmisalign.batch import _submit

    before = signal.getsignal(signal.SIGINT)
    # No initializer: what the worker holds is what it inherited when it was started.
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        handler = _submit(pool, signal.getsignal, signal.SIGINT).result(timeout=120)
    assert handler == signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before  # the parent's own handler is back
