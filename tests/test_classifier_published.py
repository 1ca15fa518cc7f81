"""The published Duckworth et al. (2020) model: local copy, HTTP mirror, cache, regression values.

Nothing here touches the internet: the "remote" is an HTTP server on 127.0.0.1
serving a copy of the reference files in the raw-file URL layout, and every
cache lives in a temporary directory.
"""

import functools
import http.server
import shutil
import sys
import threading

import numpy as np
import pytest

from kinmisalign import conf, read_maps
from kinmisalign.classifier import (
    ModelDownloadError,
    _classify,
    _published,
    classify,
    converted_model_path,
    load_model,
    published_model_urls,
)

SPEC = _published.PUBLISHED_MODELS["duckworth2020"]
# SPEC §9 regression values.
SYNTHETIC_P = [0.9966, 0.9962, 0.9923, 0.0367, 0.1380, 0.0786]
REAL_P = {"stellar": 0.987, "gas": 0.995}


@pytest.fixture
def temp_cache(tmp_path, monkeypatch):
    """A private cache directory and no model remembered from earlier tests."""
    cache = tmp_path / "cache"
    (cache / "kinmisalign").mkdir(parents=True)  # astropy < 8 wants it to exist
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(_classify, "_LOADED", {})
    assert str(converted_model_path()).startswith(str(cache))
    return cache / "kinmisalign"


@pytest.fixture
def mirror(tmp_path, published_model_dir):
    """An HTTP server on 127.0.0.1 laid out like raw.githubusercontent.com."""
    root = tmp_path / "www"
    base = root / "Chris-Duckworth" / "kin_mis_classifications"
    target = base / SPEC["commit"] / SPEC["subdir"]
    shutil.copytree(published_model_dir, target)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/Chris-Duckworth/kin_mis_classifications"
    try:
        with conf.set_temp("published_model_url", url), conf.set_temp("published_model_dir", ""):
            yield target, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        _QuietHandler.requests.append(self.path)


def check_regression(model):
    assert np.allclose(model.predict(_published.check_inputs()), SYNTHETIC_P, rtol=0, atol=1e-3)


def test_urls_pin_the_commit():
    urls = published_model_urls()
    assert set(urls) == {"saved_model.pb", "variables/variables.index",
                         "variables/variables.data-00000-of-00001"}
    assert urls["saved_model.pb"] == (
        "https://raw.githubusercontent.com/Chris-Duckworth/kin_mis_classifications/"
        "225e0a50e43f917e60a83c8d24b63c2c8a5d107d/NN/fit-model/"
        "optimal_FCN_50epoch_ReduceLRonPlateau/saved_model.pb")


def test_recorded_hashes_match_reference_copy(published_model_dir):
    for rel, expected in SPEC["files"].items():
        _published._verify(published_model_dir / rel, rel, expected, "reference copy")


def test_local_directory_regression(temp_cache, published_model_dir, real_maps_path):
    with conf.set_temp("published_model_dir", str(published_model_dir)):
        model = load_model("duckworth2020")
    assert model.n_params == 84321 and model.meta["commit"] == SPEC["commit"]
    check_regression(model)
    assert load_model("duckworth2020") is model  # remembered
    with conf.set_temp("usability_model", "duckworth2020"):
        assert load_model() is model  # selectable as the default
    # End to end on the real file (SPEC §9), through classify.
    table = classify(read_maps(real_maps_path), model=model)
    for name, p in REAL_P.items():
        assert table[f"USABLE_PROB_{name.upper()}"][0] == pytest.approx(p, abs=1e-3)
        assert table[f"USABLE_{name.upper()}"][0]
    assert table.meta["USABILITY_MODEL"] == "duckworth2020"


def test_http_mirror_download_convert_and_cache(temp_cache, mirror, monkeypatch):
    _QuietHandler.requests.clear()
    model = load_model("duckworth2020")
    check_regression(model)
    assert sorted(_QuietHandler.requests) == sorted(
        f"/Chris-Duckworth/kin_mis_classifications/{SPEC['commit']}/{SPEC['subdir']}/{rel}"
        for rel in SPEC["files"])
    assert converted_model_path().is_file()
    assert (temp_cache / "download").is_dir()  # astropy's download cache, kinmisalign's dir

    # Later sessions read the converted weights: no TensorFlow, no server.
    monkeypatch.setattr(_classify, "_LOADED", {})
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    mirror[1].shutdown()
    again = load_model("duckworth2020")
    assert again is not model
    check_regression(again)


def test_converted_weights_need_no_download(temp_cache, mirror, monkeypatch):
    load_model("duckworth2020")
    # A damaged converted file is converted again from the download cache.
    converted_model_path().write_bytes(b"not a model")
    monkeypatch.setattr(_classify, "_LOADED", {})
    _QuietHandler.requests.clear()
    check_regression(load_model("duckworth2020"))
    assert _QuietHandler.requests == []


def test_corrupt_download_is_refused_and_forgotten(temp_cache, mirror):
    target, _ = mirror
    data = target / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelDownloadError, match="not the published file"):
        load_model("duckworth2020")
    from astropy.utils.data import is_url_in_cache

    url = published_model_urls()["variables/variables.data-00000-of-00001"]
    assert not is_url_in_cache(url, pkgname="kinmisalign")
    assert not converted_model_path().exists()


def test_unreachable_server(temp_cache, mirror):
    with conf.set_temp("published_model_url", conf.published_model_url + "/nowhere"), \
            conf.set_temp("download_timeout", 5.0):
        with pytest.raises(ModelDownloadError, match="could not download"):
            load_model("duckworth2020")


def test_local_directory_problems(temp_cache, tmp_path, published_model_dir):
    with conf.set_temp("published_model_dir", str(tmp_path / "absent")):
        with pytest.raises(ModelDownloadError, match="not found"):
            load_model("duckworth2020")
    copy = tmp_path / "copy"
    shutil.copytree(published_model_dir, copy)
    (copy / "saved_model.pb").write_bytes(b"x")
    with conf.set_temp("published_model_dir", str(copy)):
        with pytest.raises(ModelDownloadError, match="saved_model.pb"):
            load_model("duckworth2020")


def test_conversion_needs_no_tensorflow(temp_cache, published_model_dir, monkeypatch):
    # The checkpoint is read with numpy: converting works with TensorFlow unimportable.
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with conf.set_temp("published_model_dir", str(published_model_dir)):
        model = load_model("duckworth2020")
    check_regression(model)
    assert model.n_params == 84321 and converted_model_path().is_file()
    assert model.meta["source"] == str(published_model_dir)


def test_unknown_model_name(temp_cache):
    with pytest.raises(FileNotFoundError, match="duckworth2020"):
        load_model("duckworth2021")


def test_oversized_download_is_stopped(temp_cache, mirror, tmp_path, monkeypatch):
    # A file larger than the published one is not read past its known size.
    target, _ = mirror
    data = target / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes() + b"\0" * 4096)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(ModelDownloadError, match="more than the limit"):
        load_model("duckworth2020")
    from astropy.utils.data import is_url_in_cache

    url = published_model_urls()["variables/variables.data-00000-of-00001"]
    assert not is_url_in_cache(url, pkgname="kinmisalign")
    assert not list(tmp_path.glob("kinmisalign-download-*"))
