"""MAPS sources: key checks, local directories, the survey server (a local HTTP mirror).

Nothing here leaves 127.0.0.1: the "survey server" is an http.server serving
mock MAPS files in the archive's layout, and astropy's download cache and the
temporary directory are private to each test.
"""

import functools
import gzip
import http.server
import io
import pickle
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from kinmisalign import conf, read_maps
from kinmisalign.batch import describe_flags
from kinmisalign.catalogue import add_kinematic_columns
from kinmisalign.cli import main
from kinmisalign.exceptions import DownloadTooLargeError, InsecureRedirectError, KinmisalignError
from kinmisalign.mock import MockGalaxy, make_mock_catalogue, write_maps
from kinmisalign.sources import (
    RELEASES,
    LocalSource,
    MapsSource,
    SourceError,
    SurveySource,
    _in_cache,
    get_source,
    maps_basename,
    validate_daptype,
    validate_plateifu,
)

DAPTYPE = "HYB10-MILESHC-MASTARSSP"
DR17 = "dr17/manga/spectro/analysis/v3_1_1/3.1.0"
GOOD = "8000-1901"  # 19 fibres: small, fast mock files

HOSTILE = [
    "../../etc/passwd",
    "/etc/passwd",
    "8000-1901/../../x",
    "..%2f..%2fetc",
    "%2e%2e-%2e%2e",
    "8000-1901%00",
    "8000-1901\x00",
    "8000\x00-1901",
    "8000-1901?x=1",
    "8000-1901#frag",
    "8000-1901&y=2",
    "8000-1901 8000-1902",
    "8000-1901\n8000-1902",
    "8000-1901\n",  # '$' would match before it: fullmatch, and only spaces are stripped
    "\n8000-1901",
    "8000-1901\r\n",
    "\t8000-1901",
    "8000-1901\x0b",
    "8000-1901/",
    "8000-19O1",
    "8000--1901",
    "-8000-1901",
    "8000_1901",
    "800-1901",
    "800000-1901",
    "8000-19",
    "8000-190100",
    "٨٠٠٠-١٩٠١",  # Arabic-Indic digits match \d but are not plate numbers
    "８０００-１９０１",  # full-width digits
    "8000-1901" + "0" * 5000,
    "9" * 100000,
    "",
    "   ",
    "http://evil.example/8000-1901",
    "C:\\8000-1901",
    "~/8000-1901",
    b"../../etc/passwd",
    b"8000-1901\xff",
    None,
    8000,
    8000.1901,
    np.ma.masked,
]


def _id(value):
    return repr(value)[:30]


# -- keys ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, expected", [
    ("7815-3702", "7815-3702"),
    ("  7815-3702 ", "7815-3702"),
    ("10001-12705      ", "10001-12705"),
    (b"7815-3702   ", "7815-3702"),
    (np.bytes_(b"7815-3702 "), "7815-3702"),
    (np.str_("7815-3702"), "7815-3702"),
])
def test_valid_plateifu(key, expected):
    result = validate_plateifu(key)
    assert result == expected and type(result) is str


@pytest.mark.parametrize("key", HOSTILE, ids=_id)
def test_hostile_plateifu_refused(key):
    with pytest.raises(ValueError, match="plateifu") as info:
        validate_plateifu(key)
    assert len(str(info.value)) < 200  # long keys are not echoed in full


def test_plateifu_from_fits_table(tmp_path):
    # Padded fixed-width strings, as DRPall/DAPall columns come back.
    path = tmp_path / "t.fits"
    fits.BinTableHDU.from_columns(
        [fits.Column(name="PLATEIFU", format="12A", array=["7815-3702", "8000-1901"])]
    ).writeto(path)
    with fits.open(path) as hdul:
        keys = [validate_plateifu(v) for v in hdul[1].data["PLATEIFU"]]
    assert keys == ["7815-3702", "8000-1901"]


@pytest.mark.parametrize("daptype", ["HYB10-MILESHC-MASTARSSP", "VOR10-GAU-MILESHC",
                                     " SPX-MILESHC-MASTARSSP ", b"HYB10-GAU-MILESHC"])
def test_valid_daptype(daptype):
    assert validate_daptype(daptype) == (daptype.decode() if isinstance(daptype, bytes)
                                         else daptype).strip()


@pytest.mark.parametrize("daptype", ["../HYB10", "HYB10/../../x", "HYB10-", "-HYB10", "",
                                     "HYB10 MILESHC", "hyb10-mileshc", "HYB10%2F..", None,
                                     "H" * 200], ids=_id)
def test_bad_daptype_refused(daptype, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="DAPTYPE"):
        validate_daptype(daptype)
    with pytest.raises(ValueError, match="DAPTYPE"):
        SurveySource().url_for(GOOD, daptype)
    source = LocalSource(tmp_path)
    touched = []
    monkeypatch.setattr(Path, "is_file", lambda self: touched.append(self) or False)
    with pytest.raises(ValueError, match="DAPTYPE"):
        source.path_for(GOOD, daptype)
    assert touched == []


def test_maps_basename():
    assert maps_basename(b" 7815-3702", DAPTYPE) == f"manga-7815-3702-MAPS-{DAPTYPE}.fits.gz"


# -- mock files ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mock_files(tmp_path_factory):
    """Two 19-fibre mock MAPS files, written once: {plateifu: path}."""
    root = tmp_path_factory.mktemp("mock")
    return {key: write_maps(MockGalaxy(plateifu=key), root) for key in (GOOD, "8001-1902")}


def _place(files, directory, layout):
    """Copy mock files into ``directory`` with the survey tree or flat."""
    placed = {}
    for key, src in files.items():
        plate, ifu = key.split("-")
        target = Path(directory) / (f"{DAPTYPE}/{plate}/{ifu}" if layout == "tree" else "")
        target.mkdir(parents=True, exist_ok=True)
        placed[key] = Path(shutil.copy(src, target / src.name))
    return placed


# -- local directories ---------------------------------------------------------------------------
def test_local_tree_from_mock_catalogue(tmp_path):
    table = make_mock_catalogue(tmp_path, 2, seed=3, tree=True, bundle_size=19)
    for layout in ("auto", "tree"):
        source = LocalSource(tmp_path, layout=layout)
        for row in table:
            path = source.path_for(row["PLATEIFU"], row["DAPTYPE"])
            assert path == (tmp_path / row["FILENAME"]).resolve()
    maps = read_maps(path)
    assert maps.meta["PLATEIFU"] == row["PLATEIFU"]
    with pytest.raises(FileNotFoundError, match="no MAPS file"):
        LocalSource(tmp_path, layout="flat").path_for(row["PLATEIFU"], row["DAPTYPE"])


def test_local_flat(tmp_path, mock_files):
    placed = _place(mock_files, tmp_path, "flat")
    for layout in ("auto", "flat"):
        assert LocalSource(tmp_path, layout).path_for(GOOD, DAPTYPE) == placed[GOOD].resolve()
    with pytest.raises(FileNotFoundError):
        LocalSource(tmp_path, "tree").path_for(GOOD, DAPTYPE)


def test_local_archive_copy(tmp_path, mock_files):
    # A local copy of the archive: the release path between the root and the DAPTYPE.
    placed = _place(mock_files, tmp_path / DR17, "tree")
    for root in (tmp_path, tmp_path / DR17):
        assert LocalSource(root, "tree").path_for(GOOD, DAPTYPE) == placed[GOOD].resolve()


def test_local_uncompressed(tmp_path):
    path = write_maps(MockGalaxy(plateifu=GOOD), tmp_path / f"manga-{GOOD}-MAPS-{DAPTYPE}.fits")
    assert LocalSource(tmp_path).path_for(GOOD, DAPTYPE) == path.resolve()


def test_local_missing(tmp_path, mock_files):
    _place(mock_files, tmp_path, "tree")
    source = LocalSource(tmp_path)
    with pytest.raises(FileNotFoundError, match="8002-1901"):
        source.path_for("8002-1901", DAPTYPE)
    with pytest.raises(FileNotFoundError, match="VOR10"):
        source.path_for(GOOD, "VOR10-MILESHC-MASTARSSP")
    # A directory named like the file is not a file.
    (tmp_path / f"manga-8003-1901-MAPS-{DAPTYPE}.fits.gz").mkdir()
    with pytest.raises(FileNotFoundError):
        source.path_for("8003-1901", DAPTYPE)


@pytest.mark.parametrize("key", HOSTILE, ids=_id)
def test_local_refuses_hostile_keys(tmp_path, key, monkeypatch):
    source = LocalSource(tmp_path)
    touched = []
    # No path may even be built from a bad key.
    monkeypatch.setattr(Path, "is_file", lambda self: touched.append(self) or False)
    with pytest.raises(ValueError):
        source.path_for(key, DAPTYPE)
    assert touched == []


def test_local_constructor_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        LocalSource(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        LocalSource(tmp_path / "file")
    with pytest.raises(ValueError, match="layout"):
        LocalSource(tmp_path, layout="sideways")


def test_sources_pickle_compare_and_describe(tmp_path):
    local = LocalSource(tmp_path, layout="flat")
    survey = SurveySource("https://mirror.example/sas/", release="dr15", timeout=5, retries=1)
    for source in (local, survey):
        assert isinstance(source, MapsSource)
        again = pickle.loads(pickle.dumps(source))
        assert again == source and hash(again) == hash(source) and repr(again) == repr(source)
    assert str(tmp_path.resolve()) in local.describe() and "flat" in repr(local)
    assert survey.describe() == "SDSS archive DR15 at https://mirror.example/sas"
    assert "retries=1" in repr(survey)
    assert local != survey and LocalSource(tmp_path) != local


# -- survey URLs ---------------------------------------------------------------------------------
def test_survey_url():
    source = SurveySource()
    assert source.url_for("7815-3702", DAPTYPE) == (
        "https://data.sdss.org/sas/dr17/manga/spectro/analysis/v3_1_1/3.1.0/"
        "HYB10-MILESHC-MASTARSSP/7815/3702/manga-7815-3702-MAPS-HYB10-MILESHC-MASTARSSP.fits.gz")
    assert SurveySource(release="DR15").url_for(b"7815-3702 ", "HYB10-GAU-MILESHC") == (
        "https://data.sdss.org/sas/dr15/manga/spectro/analysis/v2_4_3/2.2.1/"
        "HYB10-GAU-MILESHC/7815/3702/manga-7815-3702-MAPS-HYB10-GAU-MILESHC.fits.gz")
    assert set(RELEASES) == {"DR17", "DR15"}


def test_survey_settings_from_conf():
    with conf.set_temp("sas_base_url", "http://mirror.example/sas/"), \
            conf.set_temp("download_timeout", 7.5), conf.set_temp("download_retries", 0):
        source = SurveySource()
    # Fixed when made, so workers (which do not see set_temp) use the same settings.
    assert (source.base_url, source.timeout, source.retries) == (
        "http://mirror.example/sas", 7.5, 0)
    assert SurveySource().base_url == "https://data.sdss.org/sas"


@pytest.mark.parametrize("base", ["ftp://data.sdss.org/sas", "file:///etc", "data.sdss.org/sas",
                                  "https://user:secret@data.sdss.org/sas", "https:///sas",
                                  "https://data.sdss.org/sas?x=1", "https://data.sdss.org/#a",
                                  "", "javascript:alert(1)"])
def test_survey_bad_base(base):
    with pytest.raises(ValueError, match="base URL"):
        SurveySource(base)


def test_survey_bad_settings():
    with pytest.raises(ValueError, match="release"):
        SurveySource(release="DR99")
    with pytest.raises(ValueError, match="timeout"):
        SurveySource(timeout=0)
    with pytest.raises(ValueError, match="retries"):
        SurveySource(retries=-1)


# -- get_source ----------------------------------------------------------------------------------
def test_get_source(tmp_path):
    assert get_source() == SurveySource()  # conf.maps_source defaults to 'sas'
    assert get_source("sas") == get_source(" Survey ") == SurveySource()
    assert get_source("http://127.0.0.1:9/sas") == SurveySource("http://127.0.0.1:9/sas")
    assert get_source(tmp_path) == get_source(str(tmp_path)) == LocalSource(tmp_path)
    with conf.set_temp("maps_source", str(tmp_path)):
        assert get_source(None) == LocalSource(tmp_path)
    with conf.set_temp("sas_base_url", "https://mirror.example/sas"):
        assert get_source("sas").base_url == "https://mirror.example/sas"
    source = SurveySource(retries=0)
    assert get_source(source) is source

    class Custom:
        def path_for(self, plateifu, daptype):
            return Path("/dev/null")

    custom = Custom()
    assert get_source(custom) is custom
    with pytest.raises(ValueError, match="base URL"):
        get_source("ftp://data.sdss.org/sas")
    with pytest.raises(ValueError, match="empty"):
        get_source("  ")
    with pytest.raises(FileNotFoundError):
        get_source(str(tmp_path / "nowhere"))
    with pytest.raises(TypeError):
        get_source(42)


# -- the survey server: a local HTTP mirror ------------------------------------------------------
class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; ``server.plan[path]`` lists misbehaviours for the next requests."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        plan = self.server.plan.get(self.path)
        action = plan.pop(0) if plan else None
        if action is None:
            return super().do_GET()
        if isinstance(action, int):
            self.send_error(action)
        elif action == "slow":
            # Say nothing until the test is over (or 10 s), like a stalled server.
            self.server.release.wait(10)
        elif action in ("truncate", "reset"):
            data = self.server.root.joinpath(self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            if action == "reset":
                # Linger 0: close() sends a TCP reset instead of an orderly end.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
        elif action[0] == "redirect":
            self.send_response(302)
            self.send_header("Location", action[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif action[0] == "stream":
            # Endless junk without a Content-Length; notes when the client hangs up.
            self.send_response(200)
            self.end_headers()
            self.close_connection = True
            try:
                for _ in range(action[1] // 65536):
                    self.wfile.write(b"\x1f" * 65536)
            except OSError:
                self.server.aborted.set()


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client hanging up early (size limit, refused redirect) is part of the tests.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Private astropy download cache and temporary directory."""
    root = tmp_path / "cache"
    (root / "kinmisalign").mkdir(parents=True)  # astropy < 8 wants it to exist
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return {"root": root / "kinmisalign", "tmp": tmp}


@pytest.fixture
def server(tmp_path, mock_files, cache):
    """An HTTP server on 127.0.0.1 (random port) laid out like the SAS."""
    root = tmp_path / "www"
    files = _place(mock_files, root / "sas" / DR17, "tree")
    httpd = _Server(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.root, httpd.files, httpd.requests, httpd.plan = root, files, [], {}
    httpd.release, httpd.aborted = threading.Event(), threading.Event()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}/sas"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _survey(server, **kwargs):
    kwargs.setdefault("retry_wait", 0.01)
    kwargs.setdefault("timeout", 10)
    return SurveySource(server.base, **kwargs)


def _path(key=GOOD):
    plate, ifu = key.split("-")
    return f"/sas/{DR17}/{DAPTYPE}/{plate}/{ifu}/manga-{key}-MAPS-{DAPTYPE}.fits.gz"


def _cache_contents(cache):
    return sorted(p.name for p in cache["root"].rglob("*") if p.is_file())


def test_survey_download_and_cache(server, cache):
    source = _survey(server)
    path = source.path_for(GOOD, DAPTYPE)
    assert server.requests == [_path()]
    assert path.read_bytes() == server.files[GOOD].read_bytes()
    assert str(path).startswith(str(cache["root"]))
    assert read_maps(path).meta["PLATEIFU"] == GOOD
    # Served from the cache: no second request.
    assert source.path_for(f" {GOOD} ", DAPTYPE.encode()) == path
    assert server.requests == [_path()]
    assert list(cache["tmp"].iterdir()) == []


def test_survey_missing_file(server, cache):
    source = _survey(server, retries=3)
    with pytest.raises(FileNotFoundError, match="404"):
        source.path_for("8002-1901", DAPTYPE)
    assert server.requests == [_path("8002-1901")]  # not retried
    assert _cache_contents(cache) == []


def test_survey_client_error_not_retried(server):
    server.plan[_path()] = [403]
    with pytest.raises(SourceError, match="403"):
        _survey(server, retries=3).path_for(GOOD, DAPTYPE)
    assert len(server.requests) == 1


def test_survey_server_error_retried(server):
    server.plan[_path()] = [500, 503]
    path = _survey(server, retries=2).path_for(GOOD, DAPTYPE)
    assert server.requests == [_path()] * 3
    assert read_maps(path).meta["PLATEIFU"] == GOOD


def test_survey_server_error_gives_up(server, cache):
    server.plan[_path()] = [500] * 5
    with pytest.raises(SourceError, match="2 attempts.*500") as info:
        _survey(server, retries=1).path_for(GOOD, DAPTYPE)
    assert isinstance(info.value, KinmisalignError) and isinstance(info.value, OSError)
    assert len(server.requests) == 2
    assert _cache_contents(cache) == []


def test_survey_truncated_download(server, cache):
    server.plan[_path()] = ["truncate"] * 2
    source = _survey(server, retries=1)
    with pytest.raises(SourceError):
        source.path_for(GOOD, DAPTYPE)
    assert len(server.requests) == 2
    assert not _in_cache(source.url_for(GOOD, DAPTYPE))
    assert _cache_contents(cache) == [] and list(cache["tmp"].iterdir()) == []


def _corrupt(data):
    # Flip bytes in the middle of the deflate stream: full length, bad content.
    data = bytearray(data)
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    return bytes(data)


def _not_maps():
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as fh:
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4)), name="STELLAR_VEL")]
                     ).writeto(fh)
    return buffer.getvalue()


@pytest.mark.parametrize("make, message", [
    (_corrupt, "truncated or corrupt"),
    (lambda data: data[: len(data) // 2], "truncated or corrupt"),  # short file, honest length
    (lambda data: b"<html>Service temporarily unavailable</html>", "not a complete gzip"),
    (lambda data: _not_maps(), "no extension"),
], ids=["corrupt", "short", "html", "not-maps"])
def test_survey_broken_file_not_cached(server, cache, make, message):
    good = server.files[GOOD].read_bytes()
    server.files[GOOD].write_bytes(make(good))
    source = _survey(server, retries=0)
    with pytest.raises(SourceError, match=message):
        source.path_for(GOOD, DAPTYPE)
    assert not _in_cache(source.url_for(GOOD, DAPTYPE))
    assert _cache_contents(cache) == [] and list(cache["tmp"].iterdir()) == []
    # Once the server is mended, the next call downloads afresh.
    server.files[GOOD].write_bytes(good)
    assert source.path_for(GOOD, DAPTYPE).read_bytes() == good
    assert len(server.requests) == 2


def test_survey_timeout(server, cache):
    server.plan[_path()] = ["slow"] * 3
    start = time.perf_counter()
    with pytest.raises(SourceError, match="timed out"):
        _survey(server, timeout=0.3, retries=1).path_for(GOOD, DAPTYPE)
    assert time.perf_counter() - start < 3
    assert len(server.requests) == 2
    assert _cache_contents(cache) == []


def test_survey_connection_refused(cache):
    # A port with no server: a connection error, retried, then a SourceError.
    with http.server.HTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]
    with pytest.raises(SourceError, match="2 attempts"):
        SurveySource(f"http://127.0.0.1:{port}/sas", retries=1, retry_wait=0.01,
                     timeout=2).path_for(GOOD, DAPTYPE)


@pytest.mark.parametrize("key", HOSTILE, ids=_id)
def test_survey_refuses_hostile_keys(server, cache, key):
    source = _survey(server)
    with pytest.raises(ValueError):
        source.path_for(key, DAPTYPE)
    with pytest.raises(ValueError):
        source.url_for(key, DAPTYPE)
    assert server.requests == [] and _cache_contents(cache) == []


def _fetch_in_worker(source, key):
    return source.path_for(key, DAPTYPE).read_bytes()


def test_survey_source_in_worker_process(server, cache):
    # Spawned workers get the pickled source; the cache location comes with the environment.
    source = _survey(server)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        data = pool.submit(_fetch_in_worker, source, "8001-1902").result(timeout=60)
    assert data == server.files["8001-1902"].read_bytes()
    assert server.requests == [_path("8001-1902")]
    source.path_for("8001-1902", DAPTYPE)  # the worker filled the same cache
    assert server.requests == [_path("8001-1902")]


def test_download_check_accepts_real_file(real_maps_path, tmp_path):
    from kinmisalign.sources import _check_download

    _check_download(real_maps_path, "the real DR15-era file")  # no SourceError
    placed = Path(shutil.copy(real_maps_path, tmp_path))
    assert LocalSource(tmp_path).path_for("7815-3702", "HYB10-GAU-MILESHC") == placed.resolve()


# -- download faults, redirects and the size limit ----------------------------------------------
def _no_leftovers(cache):
    return _cache_contents(cache) == [] and list(cache["tmp"].iterdir()) == []


def test_survey_connection_reset_then_success(server, cache):
    server.plan[_path()] = ["reset"]
    path = _survey(server, retries=1).path_for(GOOD, DAPTYPE)
    assert server.requests == [_path()] * 2
    assert path.read_bytes() == server.files[GOOD].read_bytes()
    assert list(cache["tmp"].iterdir()) == []


def test_survey_connection_reset_gives_up(server, cache):
    server.plan[_path()] = ["reset"] * 2
    source = _survey(server, retries=1)
    with pytest.raises(SourceError, match="2 attempts"):
        source.path_for(GOOD, DAPTYPE)
    assert len(server.requests) == 2
    assert not _in_cache(source.url_for(GOOD, DAPTYPE)) and _no_leftovers(cache)


def test_survey_truncated_then_success(server, cache):
    server.plan[_path()] = ["truncate"]
    path = _survey(server, retries=1).path_for(GOOD, DAPTYPE)
    assert len(server.requests) == 2 and read_maps(path).meta["PLATEIFU"] == GOOD


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x.fits.gz",
                                    "data:text/plain,x"])
def test_redirect_to_other_scheme_refused(server, cache, target):
    server.plan[_path()] = [("redirect", target)] * 3
    source = _survey(server, retries=2)
    with pytest.raises(InsecureRedirectError, match="refused the redirect") as info:
        source.path_for(GOOD, DAPTYPE)
    assert isinstance(info.value, SourceError)
    assert server.requests == [_path()]  # refused, not retried
    assert _no_leftovers(cache)


def test_redirect_within_http_mirror_followed(server, cache):
    server.plan["/moved.fits.gz"] = [("redirect", server.base.replace("/sas", "") + _path())]
    server.plan[_path()] = [("redirect", server.base.replace("/sas", "/moved.fits.gz"))]
    path = _survey(server).path_for(GOOD, DAPTYPE)
    assert server.requests == [_path(), "/moved.fits.gz", _path()]
    assert path.read_bytes() == server.files[GOOD].read_bytes()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def _tls_server(root, cert, key):
    """An HTTPS server on 127.0.0.1 serving ``root`` with the test certificate (not started)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    return httpd


@pytest.fixture
def tls_server(server, certificate, monkeypatch):
    """An HTTPS twin of ``server`` (same files and plan), trusted by the downloader."""
    import kinmisalign._download as download

    cert, key = certificate
    httpd = _tls_server(server.root, cert, key)
    httpd.root, httpd.files, httpd.requests, httpd.plan = (server.root, server.files, [], {})
    httpd.release, httpd.aborted = threading.Event(), threading.Event()
    httpd.base = f"https://127.0.0.1:{httpd.server_address[1]}/sas"
    monkeypatch.setattr(download, "_ssl_context",
                        lambda: ssl.create_default_context(cafile=str(cert)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_https_download(tls_server, cache):
    path = _survey(tls_server).path_for(GOOD, DAPTYPE)
    assert tls_server.requests == [_path()]
    assert path.read_bytes() == tls_server.files[GOOD].read_bytes()


def test_https_to_http_redirect_refused(tls_server, server, cache):
    # The HTTP twin would serve the real file: the downgrade itself is refused.
    tls_server.plan[_path()] = [("redirect", server.base.replace("/sas", "") + _path())]
    source = _survey(tls_server, retries=2)
    with pytest.raises(InsecureRedirectError, match="must stay on HTTPS"):
        source.path_for(GOOD, DAPTYPE)
    assert tls_server.requests == [_path()] and server.requests == []
    assert not _in_cache(source.url_for(GOOD, DAPTYPE)) and _no_leftovers(cache)


def test_unverified_certificate_refused(server, certificate, cache, monkeypatch):
    # Without trusting the test certificate the HTTPS server is not accepted.
    cert, key = certificate
    httpd = _tls_server(server.root, cert, key)
    httpd.requests, httpd.plan = [], {}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        source = SurveySource(f"https://127.0.0.1:{httpd.server_address[1]}/sas", retries=0)
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
            source.path_for(GOOD, DAPTYPE)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert httpd.requests == [] and _no_leftovers(cache)


def test_size_limit_announced(server, cache):
    size = server.files[GOOD].stat().st_size
    source = _survey(server, max_size=(size - 1) / 1e6, retries=2)
    with pytest.raises(DownloadTooLargeError, match=f"{size} bytes, more than the limit"):
        source.path_for(GOOD, DAPTYPE)
    assert len(server.requests) == 1 and _no_leftovers(cache)
    # At the limit it is accepted.
    assert _survey(server, max_size=size / 1e6).path_for(GOOD, DAPTYPE).stat().st_size == size


def test_size_limit_stops_unannounced_stream(server, cache):
    server.plan[_path()] = [("stream", 64 << 20)]
    start = time.perf_counter()
    with pytest.raises(DownloadTooLargeError, match="download stopped"):
        _survey(server, max_size=0.2).path_for(GOOD, DAPTYPE)
    # The client hung up long before the 64 MB were sent.
    assert server.aborted.wait(10)
    assert time.perf_counter() - start < 10
    assert _no_leftovers(cache)


def test_size_limit_from_conf():
    with conf.set_temp("download_max_size", 12.5):
        assert SurveySource().max_size == 12.5
    assert SurveySource().max_size == conf.download_max_size == 2000
    with pytest.raises(ValueError, match="max_size"):
        SurveySource(max_size=0)


def test_plain_http_only_when_asked():
    # The default archive and the 'sas' keyword are HTTPS; http:// only when written out.
    assert SurveySource().base_url.startswith("https://")
    assert get_source("sas").base_url.startswith("https://")
    assert SurveySource("http://127.0.0.1:9/sas").base_url == "http://127.0.0.1:9/sas"


# -- whole catalogues: failures become flags, the run goes on ------------------------------------
def test_catalogue_download_faults_are_flagged(server, cache):
    keys = [GOOD, "8002-1901", "../../etc/passwd", "8001-1902", f" {GOOD}"]
    server.plan[_path("8001-1902")] = ["slow"] * 2
    server.plan[_path(GOOD)] = [500]
    source = _survey(server, timeout=0.3, retries=1)
    out = add_kinematic_columns(Table({"PLATEIFU": keys}), source=source,
                                fit_options={"method": "fast"})
    flags = [describe_flags(f) for f in out["KINMIS_FLAG"]]
    assert flags[1] == ["NO_MAPS"] and flags[2] == ["INVALID_KEY"]
    assert flags[3] == ["DOWNLOAD_FAILED"]
    measured = ~np.ma.getmaskarray(out["PA_STELLAR"])
    assert list(measured) == [True, False, False, False, True]
    assert out["PA_STELLAR"][0] == out["PA_STELLAR"][4]
    # 500 then success, the 404 once, the slow one twice; the hostile key never.
    assert sorted(server.requests) == sorted([_path(GOOD)] * 2 + [_path("8002-1901")]
                                             + [_path("8001-1902")] * 2)
    assert list(cache["tmp"].iterdir()) == []


def _hostile_strings():
    return [k for k in HOSTILE if isinstance(k, str)]


def test_catalogue_hostile_keys_never_reach_a_source(tmp_path, monkeypatch):
    calls = []

    def record(self, *args):
        calls.append(args)
        raise FileNotFoundError("recorded")

    monkeypatch.setattr(LocalSource, "path_for", record)
    keys = [*HOSTILE, GOOD]
    column = MaskedColumn(np.array([None if k is np.ma.masked else k for k in keys],
                                   dtype=object), mask=[k is np.ma.masked for k in keys])
    out = add_kinematic_columns(Table({"PLATEIFU": column}), source=tmp_path)
    flags = [describe_flags(f) for f in out["KINMIS_FLAG"]]
    assert flags[:-1] == [["INVALID_KEY"]] * len(HOSTILE)
    assert calls == [(GOOD, DAPTYPE)]  # only the valid key was looked up
    assert flags[-1] == ["NO_MAPS"]
    assert len(out) == len(keys)


def test_catalogue_hostile_keys_through_survey(server, cache):
    keys = _hostile_strings()
    out = add_kinematic_columns(Table({"PLATEIFU": np.array(keys, dtype=object)}),
                                source=_survey(server))
    assert all(describe_flags(f) == ["INVALID_KEY"] for f in out["KINMIS_FLAG"])
    assert server.requests == [] and _no_leftovers(cache)


def test_cli_run_hostile_keys(tmp_path, mock_files, capsys, monkeypatch):
    _place(mock_files, tmp_path / "sas", "tree")
    # Printable hostile keys (an ECSV file holds no control characters), then a good one.
    keys = [k for k in _hostile_strings() if k.isprintable() and k.strip()] + [GOOD]
    catalogue = tmp_path / "cat.ecsv"
    Table({"PLATEIFU": keys}).write(catalogue)
    looked = []
    original = LocalSource.path_for
    monkeypatch.setattr(LocalSource, "path_for",
                        lambda self, k, d: looked.append(k) or original(self, k, d))
    out = tmp_path / "out.ecsv"
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(tmp_path / "sas"),
                 "--no-progress"]) == 0
    table = Table.read(out)
    assert list(table["PLATEIFU"]) == keys
    assert all(describe_flags(f) == ["INVALID_KEY"] for f in table["KINMIS_FLAG"][:-1])
    assert not np.ma.getmaskarray(table["PA_STELLAR"])[-1]
    assert looked == [GOOD]
    printed = capsys.readouterr().out
    assert f"{len(keys)} rows: 1 measured, {len(keys) - 1} not measured" in printed
    assert f"KINMIS_FLAG: {len(keys) - 1} INVALID_KEY\n" in printed


def test_astropy_offline_setting_is_honoured(server, cache):
    from astropy.utils.data import conf as data_conf

    with data_conf.set_temp("allow_internet", False):
        with pytest.raises(SourceError, match="allow_internet"):
            _survey(server, retries=3).path_for(GOOD, DAPTYPE)
    assert server.requests == [] and _no_leftovers(cache)
    # Cached files stay readable offline.
    path = _survey(server).path_for(GOOD, DAPTYPE)
    with data_conf.set_temp("allow_internet", False):
        assert _survey(server).path_for(GOOD, DAPTYPE) == path
    assert len(server.requests) == 1


@pytest.mark.parametrize("source", ["file:///etc", "ftp://127.0.0.1/sas",
                                    "https://user:pw@127.0.0.1/sas"])
def test_cli_run_refuses_bad_source_url(tmp_path, capsys, source):
    catalogue, out = tmp_path / "cat.ecsv", tmp_path / "out.ecsv"
    Table({"PLATEIFU": [GOOD]}).write(catalogue)
    assert main(["run", str(catalogue), "-o", str(out), "--source", source,
                 "--no-progress"]) == 1
    assert "base URL" in capsys.readouterr().err and not out.exists()
