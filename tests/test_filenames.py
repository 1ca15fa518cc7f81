"""MAPS file names: one function builds them, one parses them, and every user goes through them."""

import pickle
import shutil
from pathlib import Path

import pytest

from kinmisalign import mock
from kinmisalign.cli import main
from kinmisalign.exceptions import SourceError
from kinmisalign.sources import (
    LocalSource,
    SurveySource,
    maps_basename,
    maps_filename,
    parse_maps_filename,
)

DAPTYPE = "HYB10-MILESHC-MASTARSSP"
GOOD = "8000-1901"


@pytest.mark.parametrize("plateifu, daptype", [
    ("7815-3702", "HYB10-MILESHC-MASTARSSP"), ("10001-12701", "VOR10-GAU-MILESHC"),
    ("8000-1901", "SPX-MILESHC-MASTARSSP"), (" 8000-1901 ", "X1"), (b"8000-19001", b"HYB10-A")])
@pytest.mark.parametrize("gzip", [True, False])
def test_build_parse_round_trip(plateifu, daptype, gzip):
    name = maps_filename(plateifu, daptype, gzip=gzip)
    text = plateifu.decode() if isinstance(plateifu, bytes) else plateifu
    dap = daptype.decode() if isinstance(daptype, bytes) else daptype
    assert name == f"manga-{text.strip()}-MAPS-{dap}.fits" + (".gz" if gzip else "")
    assert parse_maps_filename(name) == (text.strip(), dap)


@pytest.mark.parametrize("plateifu, daptype, what", [
    ("800-1901", DAPTYPE, "plateifu"), ("8000-19", DAPTYPE, "plateifu"),
    ("٨٠٠٠-١٩٠١", DAPTYPE, "plateifu"), ("../8000-1901", DAPTYPE, "plateifu"),
    ("8000-1901\n", DAPTYPE, "plateifu"), ("8000/1901", DAPTYPE, "plateifu"), (None, DAPTYPE,
                                                                              "plateifu"),
    (GOOD, "hyb10-mileshc", "DAPTYPE"), (GOOD, "HYB10/../X", "DAPTYPE"), (GOOD, "", "DAPTYPE"),
    (GOOD, "HYB10--X", "DAPTYPE"), (GOOD, "HYB10-X\x00", "DAPTYPE"), (GOOD, "A" * 65, "DAPTYPE")])
def test_building_refuses_malformed_keys(plateifu, daptype, what):
    with pytest.raises(ValueError, match=what):
        maps_filename(plateifu, daptype)


@pytest.mark.parametrize("name", [
    "manga-800-1901-MAPS-HYB10-GAU-MILESHC.fits.gz",        # plate of 3 digits
    "manga-8000-19-MAPS-HYB10-GAU-MILESHC.fits.gz",         # IFU design of 2
    "manga-٨٠٠٠-1901-MAPS-HYB10-GAU-MILESHC.fits.gz",       # non-ASCII digits
    "manga-8000-1901-MAPS-hyb10-gau-mileshc.fits.gz",       # lower-case DAPTYPE
    "manga-8000-1901-maps-HYB10-GAU-MILESHC.fits.gz",
    "MANGA-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.gz",
    "manga-8000-1901-MAPS-HYB10--GAU.fits.gz",              # empty DAPTYPE word
    "manga-8000-1901-MAPS-.fits.gz",
    "manga-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.gz\n",
    "manga-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.gz.part",
    "manga-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.fz",
    "manga-8000-1901-LOGCUBE-HYB10-GAU-MILESHC.fits.gz",
    "manga-8000-1901-MAPS-HYB10/../GAU.fits.gz",            # path separators
    "HYB10-GAU-MILESHC/8000/1901/manga-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.gz",
    "..\\manga-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.gz",
    "manga-8000-1901-MAPS-" + "A" * 5000 + ".fits.gz",
    "", b"manga-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.gz", None,
    Path("manga-8000-1901-MAPS-HYB10-GAU-MILESHC.fits.gz")])
def test_parsing_refuses_other_names(name):
    assert parse_maps_filename(name) is None


def test_sources_name_files_with_it():
    assert maps_basename(b" 7815-3702", DAPTYPE) == maps_filename("7815-3702", DAPTYPE)
    url = SurveySource().url_for("7815-3702", DAPTYPE)
    assert url.rsplit("/", 1)[1] == maps_filename("7815-3702", DAPTYPE)


def test_mock_names_files_the_same_way():
    # kinmisalign.mock still has its own maps_filename: it must agree for every valid key.
    for plateifu in ("8000-1901", "10001-12701", "7815-3702"):
        for daptype in (DAPTYPE, "VOR10-GAU-MILESHC"):
            assert mock.maps_filename(plateifu, daptype) == maps_filename(plateifu, daptype)


@pytest.fixture(scope="module")
def one_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("one")
    return mock.write_maps(mock.MockGalaxy(plateifu=GOOD), root)


def test_local_candidates_are_built_names(tmp_path):
    names = {path.name for path in LocalSource(tmp_path).candidates(GOOD, DAPTYPE)}
    assert names == {maps_filename(GOOD, DAPTYPE), maps_filename(GOOD, DAPTYPE, gzip=False)}


def test_local_recursive_finds_files_at_any_depth(tmp_path, one_file):
    deep = tmp_path / "dr15" / "manga" / "any" / "depth"
    deep.mkdir(parents=True)
    target = Path(shutil.copy(one_file, deep / one_file.name))
    # Names the sources never build are not MAPS files, whatever they look like.
    (deep / one_file.name.replace("MAPS", "maps")).write_bytes(b"x")
    (tmp_path / f"manga-800-1901-MAPS-{DAPTYPE}.fits.gz").write_bytes(b"x")
    source = LocalSource(tmp_path, layout="recursive")
    assert source.path_for(GOOD, DAPTYPE) == target.resolve()
    assert source.find(GOOD) == [target.resolve()]
    assert source.find(GOOD, "VOR10-MILESHC-MASTARSSP") == []
    with pytest.raises(FileNotFoundError, match="no MAPS file of 8001-1901"):
        source.path_for("8001-1901", DAPTYPE)
    with pytest.raises(ValueError, match="plateifu"):
        source.find("../8000-1901")
    # The index is built once and left out of pickles (workers rebuild it).
    again = pickle.loads(pickle.dumps(source))
    assert again == source and again.path_for(GOOD, DAPTYPE) == target.resolve()
    assert len(pickle.dumps(again)) == len(pickle.dumps(LocalSource(tmp_path, "recursive")))
    # Two copies of one file: ambiguous, said so, never one picked silently.
    shutil.copy(one_file, tmp_path / one_file.name)
    with pytest.raises(SourceError, match="several MAPS files of 8000-1901"):
        LocalSource(tmp_path, layout="recursive").path_for(GOOD, DAPTYPE)


def test_local_find_every_daptype(tmp_path, one_file):
    other = "VOR10-GAU-MILESHC"
    tree = tmp_path / other / "8000" / "1901"
    tree.mkdir(parents=True)
    in_tree = Path(shutil.copy(one_file, tree / maps_filename(GOOD, other, gzip=False)))
    flat = Path(shutil.copy(one_file, tmp_path / one_file.name))
    (tmp_path / "manga-8000-1901-MAPS-hyb10-x.fits").write_bytes(b"x")
    assert LocalSource(tmp_path).find(GOOD) == sorted([in_tree.resolve(), flat.resolve()])
    assert LocalSource(tmp_path, "flat").find(GOOD) == [flat.resolve()]
    assert LocalSource(tmp_path, "tree").find(GOOD, other) == [in_tree.resolve()]
    assert LocalSource(tmp_path).find("8001-1901") == []


def test_cli_daptype_hint_names_only_files_a_source_finds(tmp_path, capsys):
    from astropy.table import Table

    maps = tmp_path / "maps"
    maps.mkdir()
    # A plate of 3 digits: no key names this file, so --daptype HYB10-GAU-MILESHC would not help.
    (maps / "manga-820-1901-MAPS-HYB10-GAU-MILESHC.fits.gz").write_bytes(b"x")
    catalogue = tmp_path / "cat.ecsv"
    Table({"PLATEIFU": ["8201-1901"]}).write(catalogue)
    assert main(["run", str(catalogue), "-o", str(tmp_path / "o.ecsv"), "--source", str(maps),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "1 of 1 rows are NO_MAPS" in err and "check --source and --daptype" in err
