"""No output file is ever replaced unless asked: API (overwrite=True) and CLI (--overwrite)."""

import os

import numpy as np
import pytest

from kinmisalign import mock
from kinmisalign._files import publish
from kinmisalign.classifier import UsabilityModel
from kinmisalign.cli import main
from kinmisalign.demo import make_demo_galaxies, run_demo

SENTINEL = b"precious user file"


def _galaxy(plateifu="8000-1901"):
    return mock.random_galaxy(np.random.default_rng(1), bundle_size=19, plateifu=plateifu)


def test_publish_refuses_a_file_that_appeared(tmp_path):
    tmp, target = tmp_path / "t.tmp", tmp_path / "out"
    tmp.write_bytes(b"new")
    target.write_bytes(SENTINEL)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        publish(tmp, target, overwrite=False)
    assert target.read_bytes() == SENTINEL and tmp.exists()
    publish(tmp, target, overwrite=True)
    assert target.read_bytes() == b"new" and not tmp.exists()
    tmp.write_bytes(b"fresh")
    publish(tmp, tmp_path / "other", overwrite=False)
    assert (tmp_path / "other").read_bytes() == b"fresh" and not tmp.exists()


def test_write_maps(tmp_path):
    galaxy = _galaxy()
    path = mock.write_maps(galaxy, tmp_path)
    path.write_bytes(SENTINEL)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mock.write_maps(galaxy, tmp_path)
    assert path.read_bytes() == SENTINEL
    assert mock.write_maps(galaxy, tmp_path, overwrite=True) == path
    assert path.read_bytes() != SENTINEL
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_write_maps_file_appearing_meanwhile(tmp_path, monkeypatch):
    # Another process writes the same file while the mock is being made.
    galaxy = _galaxy()
    target = tmp_path / mock.maps_filename(galaxy.plateifu, "HYB10-MILESHC-MASTARSSP")
    real = mock.maps_hdulist

    def racing(*args, **kwargs):
        target.write_bytes(SENTINEL)
        return real(*args, **kwargs)

    # write_maps looks maps_hdulist up in its own module, the writer of the mock package.
    monkeypatch.setattr(mock._fits, "maps_hdulist", racing)
    with pytest.raises(FileExistsError):
        mock.write_maps(galaxy, tmp_path)
    assert target.read_bytes() == SENTINEL
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left


def test_mock_catalogue(tmp_path):
    table = mock.make_mock_catalogue(tmp_path, 2, seed=5, bundle_size=19)
    first = tmp_path / table["FILENAME"][0]
    first.write_bytes(SENTINEL)
    with pytest.raises(FileExistsError, match=first.name):
        mock.make_mock_catalogue(tmp_path, 2, seed=5, bundle_size=19)
    assert first.read_bytes() == SENTINEL
    again = mock.make_mock_catalogue(tmp_path, 2, seed=5, bundle_size=19, overwrite=True)
    assert list(again["FILENAME"]) == list(table["FILENAME"])
    assert first.read_bytes() != SENTINEL


def test_model_save(tmp_path):
    model = UsabilityModel([{"type": "flatten"},
                            {"type": "dense", "name": "d", "units": 1, "activation": "sigmoid"}],
                           {"d/kernel": np.ones((1024, 1)), "d/bias": np.zeros(1)})
    path = tmp_path / "m.npz"
    path.write_bytes(SENTINEL)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(path)
    assert path.read_bytes() == SENTINEL
    model.save(path, overwrite=True)
    assert UsabilityModel.load(path).n_params == 1025
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def _snapshot(directory):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in directory.rglob("*")
            if p.is_file()}


def test_demo_refuses_any_existing_output(tmp_path):
    out = tmp_path / "demo"
    kwargs = {"n": 2, "seed": 11, "n_figures": 1, "verbose": False}
    (label, galaxy), _ = make_demo_galaxies(2, 11)
    # Only one QA figure exists: nothing at all is written.
    out.mkdir()
    (out / f"qa-{galaxy.plateifu}.png").write_bytes(SENTINEL)
    with pytest.raises(FileExistsError, match=f"qa-{galaxy.plateifu}.png.*overwrite=True"):
        run_demo(out, **kwargs)
    assert [p.name for p in out.iterdir()] == [f"qa-{galaxy.plateifu}.png"]
    run_demo(out, overwrite=True, **kwargs)
    assert (out / f"qa-{galaxy.plateifu}.png").read_bytes() != SENTINEL
    before = _snapshot(out)
    assert len(before) == 5  # table, 2 MAPS files, 1 figure, histogram
    # The mock MAPS files alone block a second run too.
    for name in ("kinematics.ecsv", "dpa-histogram.png", f"qa-{galaxy.plateifu}.png"):
        (out / name).unlink()
    with pytest.raises(FileExistsError, match=r"maps.*\(and 1 more\)"):
        run_demo(out, **kwargs)
    assert _snapshot(out) == {p: v for p, v in before.items() if p.exists()}


def test_cli_demo_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "dpa-histogram.png").write_bytes(SENTINEL)
    args = ["demo", "-o", str(out), "-n", "2", "--workers", "1"]
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "dpa-histogram.png").read_bytes() == SENTINEL
    assert main([*args, "--overwrite"]) == 0
    assert (out / "dpa-histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_fit_plot_overwrite(tmp_path, capsys):
    maps = mock.write_maps(mock.random_galaxy(np.random.default_rng(2), bundle_size=19,
                                              usable_stellar=True, usable_gas=True), tmp_path)
    plot = tmp_path / "qa.png"
    plot.write_bytes(SENTINEL)
    assert main(["fit", str(maps), "--plot", str(plot)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert plot.read_bytes() == SENTINEL
    assert main(["fit", str(maps), "--plot", str(plot), "--overwrite"]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
    fresh = tmp_path / "new.pdf"
    assert main(["fit", str(maps), "--plot", str(fresh)]) == 0
    assert os.path.getsize(fresh) > 1000
