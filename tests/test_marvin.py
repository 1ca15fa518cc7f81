"""MAPS through Marvin, and Marvin query results as catalogues.

The tests that need Marvin run in the tox environment ``marvin`` (numpy<2)
and skip elsewhere. Marvin runs fully offline here: local mode, with its
``SAS_BASE_DIR`` pointing at a survey tree of mock (and the real) MAPS files
under ``tmp_path``; nothing is downloaded (pytest-remotedata would refuse).
"""

import importlib.util
import os
import pickle
import shutil
import socket
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from kinmisalign import add_kinematic_columns, get_source, mock, read_maps
from kinmisalign._datamodel import DONOTUSE
from kinmisalign.batch import FLAGS, describe_flags
from kinmisalign.catalogue import OUTPUT_COLUMNS
from kinmisalign.exceptions import MapsFormatError, SourceError
from kinmisalign.sources import RELEASES, LocalSource

HAVE_MARVIN = importlib.util.find_spec("marvin") is not None

# Marvin's own warnings while it works, each named (pytest turns warnings into errors):
# it looks for the release's DRPall/DAPall summary files, which a test tree does not hold,
# and it calls a DR15 file DR16 (both releases are DRP v2_4_3 / DAP 2.2.1).
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:path .* cannot be found\. Setting (drpall|dapall) to None:UserWarning"),
    pytest.mark.filterwarnings(
        "ignore:mismatch between file version=DR16 and object release=DR15:UserWarning"),
]

# What importing Marvin 2.8 warns about, unrelated to what is tested here.
_IMPORT_WARNINGS = (
    # Sentry reporting asks os.getlogin(), which fails without a terminal.
    ("ignore", "cannot initiate Sentry error reporting", UserWarning),
    # sdsstools leaves its YAML configuration files open.
    ("ignore", "unclosed file", ResourceWarning),
    # passlib (a Marvin web dependency) imports the deprecated crypt module.
    ("ignore", "'crypt' is deprecated", DeprecationWarning),
    # Marvin's default release has no DRPall/DAPall file here.
    ("ignore", r"path .* cannot be found\. Setting (drpall|dapall) to None", UserWarning),
    # Without SAS_BASE_DIR Marvin creates its directories (never here: see the fixture).
    ("ignore", "no .*_DIR found. Creating it", UserWarning),
)


@pytest.fixture(scope="session")
def marvin(tmp_path_factory):
    """The marvin package (skips without it), imported offline."""
    if not HAVE_MARVIN:
        pytest.skip("sdss-marvin is not installed (tox -e marvin runs these tests)")
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as mp:
        for action, message, category in _IMPORT_WARNINGS:
            warnings.filterwarnings(action, message=message, category=category)
        # Marvin makes ~/sas when SAS_BASE_DIR is unset at import.
        if "SAS_BASE_DIR" not in os.environ:
            mp.setenv("SAS_BASE_DIR", str(tmp_path_factory.mktemp("sas-at-import")))
        module = pytest.importorskip("marvin")
    return module


@pytest.fixture
def sas(marvin, tmp_path, monkeypatch):
    """An empty survey tree that Marvin reads (its SAS_BASE_DIR), in local mode."""
    base = tmp_path / "sas"
    base.mkdir()
    monkeypatch.setenv("SAS_BASE_DIR", str(base))
    return base


def _source(release, mode="local"):
    from kinmisalign.marvin import MarvinSource

    return MarvinSource(release=release, mode=mode)


def _mock(base, layout, plateifu="8140-12703", seed=3, **kwargs):
    galaxy = mock.random_galaxy(np.random.default_rng(seed), plateifu=plateifu, **kwargs)
    return mock.write_maps(galaxy, base / RELEASES[layout], layout=layout, tree=True)


def _real_in_tree(base, real_maps_path, versdap=None):
    """The real 7815-3702 file at its DR15 place in the tree (header VERSDAP optionally set)."""
    target = (base / RELEASES["DR15"] / "HYB10-GAU-MILESHC" / "7815" / "3702"
              / real_maps_path.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if versdap is None:
        shutil.copyfile(real_maps_path, target)
    else:
        with fits.open(real_maps_path) as hdul:
            hdul[0].header["VERSDAP"] = versdap
            hdul.writeto(target, overwrite=True)
    return target


def assert_same_maps(got, expected):
    """Every value, unit, mask bit, bin index and metadata entry the same."""
    for which in ("stellar", "gas"):
        a, b = getattr(got, which), getattr(expected, which)
        for name in ("x", "y", "velocity", "ivar"):
            qa, qb = getattr(a, name), getattr(b, name)
            assert qa.unit == qb.unit, (which, name)
            np.testing.assert_array_equal(qa.value, qb.value, err_msg=f"{which} {name}")
        np.testing.assert_array_equal(a.mask, b.mask, err_msg=f"{which} mask")
        assert a.mask.dtype == b.mask.dtype
        np.testing.assert_array_equal(a.binid, b.binid, err_msg=f"{which} binid")
        assert a.binid.dtype == b.binid.dtype
        np.testing.assert_array_equal(a.good, b.good, err_msg=f"{which} good")
        assert a.maskbits == b.maskbits
        assert (a.name, a.meta) == (b.name, b.meta)
    assert got.meta == expected.meta
    assert got.header.tostring() == expected.header.tostring()


# -- the maps ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("layout", "daptype"), [("DR17", "HYB10-MILESHC-MASTARSSP"),
                                                 ("DR15", "HYB10-GAU-MILESHC")])
def test_mock_maps_are_those_of_read_maps(sas, layout, daptype):
    path = _mock(sas, layout)
    maps = _source(layout).maps_for("8140-12703", daptype)
    expected = read_maps(path)
    assert_same_maps(maps, expected)
    assert os.path.samefile(maps.path, path)
    # The DONOTUSE bits (outside the footprint, at defects) come through Marvin untouched.
    for which in ("stellar", "gas"):
        bits = getattr(maps, which).mask & DONOTUSE
        assert bits.any()
        np.testing.assert_array_equal(bits, getattr(expected, which).mask & DONOTUSE)


def test_maskbits_and_other_lines_as_read_maps(sas):
    path = _mock(sas, "DR17", seed=5)
    source = _source("DR17")
    for kwargs in ({"maskbits": "donotuse"}, {"maskbits": DONOTUSE | 1}, {"line": "NII-6585"}):
        maps = source.maps_for("8140-12703", "HYB10-MILESHC-MASTARSSP", **kwargs)
        assert_same_maps(maps, read_maps(path, **kwargs))
    assert maps.gas.meta["channel"] == "NII-6585"
    assert maps.stellar.maskbits == 0xFFFFFFFF  # conf.maskbits, 'any'
    with pytest.raises(MapsFormatError, match="no 'emline_gvel_foo_1234'"):
        source.maps_for("8140-12703", "HYB10-MILESHC-MASTARSSP", line="Foo-1234")


def test_real_file(sas, real_maps_path):
    # The real file says DAP 2.2.3dev, a version Marvin does not know: it refuses the file.
    _real_in_tree(sas, real_maps_path)
    source = _source("DR15")
    with pytest.raises(MapsFormatError, match="dapver"):
        source.maps_for("7815-3702", "HYB10-GAU-MILESHC")
    # The same data labelled DAP 2.2.1 (DR15) are read exactly as read_maps reads them.
    path = _real_in_tree(sas, real_maps_path, versdap="2.2.1")
    maps = source.maps_for("7815-3702", "HYB10-GAU-MILESHC")
    assert_same_maps(maps, read_maps(path))
    original = read_maps(real_maps_path)
    assert maps.meta == dict(original.meta, VERSDAP="2.2.1")
    assert (maps.stellar.mask & DONOTUSE).any() and (maps.gas.mask & DONOTUSE).any()
    assert (maps.stellar.n_good, maps.gas.n_good) == (773, 769)
    np.testing.assert_array_equal(maps.stellar.mask, original.stellar.mask)
    np.testing.assert_array_equal(maps.gas.velocity, original.gas.velocity)


def test_failures_are_our_exceptions(sas, marvin, monkeypatch):
    _mock(sas, "DR17")
    local = _source("DR17")
    with pytest.raises(FileNotFoundError, match="found no MAPS of 8140-12704.*looked for"):
        local.maps_for("8140-12704", "HYB10-MILESHC-MASTARSSP")
    with pytest.raises(FileNotFoundError, match="does not know this DAPTYPE"):
        local.maps_for("8140-12703", "HYB10-NOSUCH")
    with pytest.raises(ValueError, match="plateifu"):
        local.maps_for("../8140-12703", "HYB10-MILESHC-MASTARSSP")
    with pytest.raises(ValueError, match="BINTYPE"):
        local.maps_for("8140-12703", "HYB10")
    # A file Marvin cannot read.
    broken = sas / RELEASES["DR17"] / "HYB10-MILESHC-MASTARSSP" / "8140" / "12701"
    broken.mkdir(parents=True)
    (broken / "manga-8140-12701-MAPS-HYB10-MILESHC-MASTARSSP.fits.gz").write_bytes(b"\x1f\x8b"
                                                                                   b"broken")
    with pytest.raises(MapsFormatError, match="could not read"):
        local.maps_for("8140-12701", "HYB10-MILESHC-MASTARSSP")
    # Remote mode against a closed local port: a fetch failure, not a crash.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(marvin.config, "sasurl", f"http://127.0.0.1:{port}/")
    monkeypatch.setattr(marvin.config, "_urlmap", None)
    remote = _source("DR17", mode="remote")
    with warnings.catch_warnings(), pytest.raises(SourceError, match="could not fetch"):
        # Marvin warns that it cannot get its URL map from the (closed) server.
        warnings.filterwarnings("ignore", "Cannot retrieve URLMap", UserWarning)
        remote.maps_for("8140-12703", "HYB10-MILESHC-MASTARSSP")


def test_source_settings(sas, marvin, monkeypatch):
    from kinmisalign.marvin import MarvinSource

    monkeypatch.setattr(marvin.config, "mode", "local")
    monkeypatch.setattr(marvin.config, "release", "DR15")
    source = get_source("marvin")
    assert isinstance(source, MarvinSource)
    assert (source.release, source.mode) == ("DR15", "local")
    assert get_source(" Marvin ") == source
    assert MarvinSource(release="dr17", mode="LOCAL") == _source("DR17")
    assert pickle.loads(pickle.dumps(source)) == source
    assert "DR15" in source.describe() and "local" in repr(source)
    # Reading maps leaves Marvin's configuration alone.
    _mock(sas, "DR17")
    _source("DR17").maps_for("8140-12703", "HYB10-MILESHC-MASTARSSP")
    assert (marvin.config.release, marvin.config.mode) == ("DR15", "local")
    with pytest.raises(ValueError, match="mode"):
        MarvinSource(mode="offline")
    with pytest.raises(ValueError, match="not available"):
        MarvinSource(release="DR99")
    path = _source("DR17").path_for("8140-12703", "HYB10-MILESHC-MASTARSSP")
    assert path.name == "manga-8140-12703-MAPS-HYB10-MILESHC-MASTARSSP.fits.gz"


def test_numpy_2_is_refused(monkeypatch):
    from kinmisalign.marvin import MarvinSource

    monkeypatch.setattr(np, "__version__", "2.1.0")
    with pytest.raises(ImportError, match=r"numpy<2.*DONOTUSE"):
        MarvinSource()


@pytest.mark.skipif(HAVE_MARVIN, reason="Marvin is installed")
def test_without_marvin_the_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(np, "__version__", "1.26.4")
    with pytest.raises(ImportError, match=r'pip install "kinmisalign\[marvin\]"'):
        get_source("marvin")


# -- whole catalogues ---------------------------------------------------------------------------
# The fast PA engine: the runs compare sources, not engines.
FAST = {"fit_options": {"method": "fast"}}


def _assert_same_columns(got, expected):
    for name in OUTPUT_COLUMNS:
        a, b = got[name], expected[name]
        np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b), err_msg=name)
        np.testing.assert_array_equal(np.ma.filled(a, 0), np.ma.filled(b, 0), err_msg=name)


@pytest.fixture
def catalogue(sas):
    """Three mock DR17 galaxies in Marvin's tree, and their truth table."""
    return mock.make_mock_catalogue(sas / RELEASES["DR17"], 3, seed=11, tree=True,
                                    bundle_size=19)


def test_whole_run_through_marvin_is_the_local_run(sas, marvin, monkeypatch, catalogue):
    daptype = catalogue.meta["DAPTYPE"]
    table = catalogue["PLATEIFU", "MANGAID"]
    expected = add_kinematic_columns(table, source=LocalSource(sas), daptype=daptype,
                                     model="embedded", **FAST)
    monkeypatch.setattr(marvin.config, "mode", "local")
    monkeypatch.setattr(marvin.config, "release", "DR17")
    got = add_kinematic_columns(table, source="marvin", daptype=daptype, model="embedded", **FAST)
    _assert_same_columns(got, expected)
    assert got["PA_STELLAR"].count() == 3 and not np.any(got["KINMIS_FLAG"] & 0b11)


def test_worker_processes(sas, catalogue):
    # The source is pickled to each worker, which imports Marvin and reads the same tree.
    daptype = catalogue.meta["DAPTYPE"]
    table = catalogue["PLATEIFU", "MANGAID"]
    source = _source("DR17")
    serial = add_kinematic_columns(table, source=source, daptype=daptype, model=None, **FAST)
    parallel = add_kinematic_columns(table, source=source, daptype=daptype, model=None,
                                     parallel=2, **FAST)
    _assert_same_columns(parallel, serial)
    assert serial["PA_STELLAR"].count() == 3


def test_per_row_flags(sas, catalogue, monkeypatch):
    daptype = catalogue.meta["DAPTYPE"]
    broken = sas / RELEASES["DR17"] / daptype / "8140" / "12701"
    broken.mkdir(parents=True)
    (broken / f"manga-8140-12701-MAPS-{daptype}.fits.gz").write_bytes(b"not a FITS file")
    keys = list(catalogue["PLATEIFU"]) + ["8140-12704", "8140-12701", "bad key"]
    table = Table({"plateifu": keys})
    out = add_kinematic_columns(table, source=_source("DR17"), daptype=daptype,
                                model="embedded", **FAST)
    assert len(out) == 6 and list(out["plateifu"]) == keys
    assert out["PA_STELLAR"][:3].count() == 3
    assert [describe_flags(f)[:1] for f in out["KINMIS_FLAG"][3:]] == [
        ["NO_MAPS"], ["BAD_MAPS"], ["INVALID_KEY"]]
    assert out["PA_STELLAR"][3:].mask.all()
    # A DAPTYPE Marvin does not know: every row NO_MAPS, none crashes the run.
    out = add_kinematic_columns(table[:2], source=_source("DR17"), daptype="HYB10-NOSUCH",
                                model=None, **FAST)
    assert all(f & (1 << FLAGS["NO_MAPS"][0]) for f in out["KINMIS_FLAG"])


@pytest.mark.filterwarnings("ignore:Cannot access Marvin API to get the full list of query "
                            "parameters:UserWarning")
def test_marvin_query_results(sas, marvin, catalogue, monkeypatch):
    # Marvin's query data model asks the API for its parameter list when first imported,
    # unless it has a URL map: an empty one keeps it offline.
    monkeypatch.setattr(marvin.config, "_urlmap", {"api": {}})
    from marvin.tools.results import Results

    daptype = catalogue.meta["DAPTYPE"]
    rows = [(str(m), str(p)) for m, p in zip(catalogue["MANGAID"], catalogue["PLATEIFU"],
                                              strict=True)]
    results = Results(results=rows, params=["cube.mangaid", "cube.plateifu"], release="DR17",
                      mode="local")
    assert results.toTable().colnames == ["cube.mangaid", "cube.plateifu"]
    local = LocalSource(sas)
    from_results = add_kinematic_columns(results, source=local, daptype=daptype,
                                         model="embedded", **FAST)
    from_table = add_kinematic_columns(results.toTable(), source=_source("DR17"),
                                       daptype=daptype, model="embedded", **FAST)
    assert isinstance(from_results, Table)
    assert list(from_results["cube.plateifu"]) == list(catalogue["PLATEIFU"])
    _assert_same_columns(from_results, from_table)
    # Marvin hands out large results a page at a time: a page alone is refused.
    paged = Results(results=rows[:1], params=["cube.mangaid", "cube.plateifu"],
                    release="DR17", mode="local", count=1, totalcount=3)
    with pytest.raises(ValueError, match=r"1 of their 3 rows.*getAll"):
        add_kinematic_columns(paged, source=local, daptype=daptype)


class _FakeResults:
    """What add_kinematic_columns relies on in Marvin's Results (no Marvin needed)."""

    def __init__(self, table, count=None, totalcount=None):
        self._table = table
        self.count = len(table) if count is None else count
        self.totalcount = self.count if totalcount is None else totalcount

    def toTable(self):  # noqa: N802 (Marvin's name)
        return self._table.copy()


def test_results_are_duck_typed(tmp_path):
    galaxy = mock.random_galaxy(np.random.default_rng(2), plateifu="8140-1901", bundle_size=19)
    mock.write_maps(galaxy, tmp_path, tree=True)
    table = Table({"cube.mangaid": ["1-1", "1-2"], "cube.plateifu": ["8140-1901", "8140-3701"]})
    out = add_kinematic_columns(_FakeResults(table), source=tmp_path, model=None, **FAST)
    assert out.colnames[:2] == ["cube.mangaid", "cube.plateifu"]
    assert out["PA_STELLAR"].mask.tolist() == [False, True]
    assert describe_flags(out["KINMIS_FLAG"][1]) == ["NO_MAPS"]
    assert out["PA_STELLAR"].unit == u.deg
    with pytest.raises(ValueError, match="getAll"):
        add_kinematic_columns(_FakeResults(table, count=2, totalcount=10), source=tmp_path)
