"""Tests of the kinmisalign command line."""

import re
import subprocess
import sys

import numpy as np
import pytest

from kinmisalign.cli import main


def test_fit_real_file(real_maps_path, tmp_path, capsys):
    png = tmp_path / "qa.png"
    assert main(["fit", str(real_maps_path), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "7815-3702" in out
    stellar = float(re.search(r"PA_stellar\s+([\d.]+) ±", out).group(1))
    gas = float(re.search(r"PA_gas\s+([\d.]+) ±", out).group(1))
    dpa = float(re.search(r"DPA\s+([\d.]+) ±", out).group(1))
    assert abs(stellar - gas) < 15 and dpa < 30
    assert "aligned" in out
    assert png.stat().st_size > 10_000


def test_fit_missing_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.fits.gz")]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "not found" in err


def test_fit_not_fits(tmp_path, capsys):
    path = tmp_path / "x.fits"
    path.write_text("hello")
    assert main(["fit", str(path)]) == 1
    assert "not a readable FITS file" in capsys.readouterr().err


def test_no_command(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_entry_point_module():
    out = subprocess.run([sys.executable, "-m", "kinmisalign.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("kinmisalign ")


@pytest.mark.parametrize("bad", [["fit"], ["frobnicate"]])
def test_usage_errors(bad):
    with pytest.raises(SystemExit) as info:
        main(bad)
    assert info.value.code == 2


@pytest.fixture(scope="module")
def mini_survey(tmp_path_factory):
    """Two 19-fibre mock galaxies in the survey layout and a DAPall-like FITS catalogue."""
    from astropy.table import Table

    from kinmisalign import mock

    directory = tmp_path_factory.mktemp("cli-sas")
    for i, plateifu in enumerate(["8200-1901", "8200-1902"]):
        galaxy = mock.random_galaxy(np.random.default_rng(i), bundle_size=19,
                                    usable_stellar=True, usable_gas=True, plateifu=plateifu)
        mock.write_maps(galaxy, directory, tree=True, seed=i)
    catalogue = directory / "dapall.fits"
    Table({"PLATEIFU": ["8200-1901", "8200-1902", "8200-1903"], "Z": [0.02, 0.03, 0.04]}
          ).write(catalogue, format="fits")
    return directory, catalogue


@pytest.mark.parametrize("suffix", [".ecsv", ".fits", ".csv"])
def test_run(mini_survey, tmp_path, capsys, suffix):
    from astropy.table import Table

    directory, catalogue = mini_survey
    out = tmp_path / f"out{suffix}"
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory),
                 "--no-progress"]) == 0
    assert "3 rows, 2 with a stellar PA" in capsys.readouterr().out
    table = Table.read(out)
    assert list(table["PLATEIFU"]) == ["8200-1901", "8200-1902", "8200-1903"]
    assert {"PA_STELLAR", "DPA", "USABLE_GAS", "KINMIS_FLAG"} <= set(table.colnames)
    assert table["KINMIS_FLAG"][2] == 1  # NO_MAPS
    # An existing output is kept unless --overwrite is given.
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory),
                 "--overwrite", "--no-progress"]) == 0


def test_run_errors(mini_survey, tmp_path, capsys):
    from astropy.table import Table

    directory, catalogue = mini_survey
    assert main(["run", str(tmp_path / "none.fits"), "-o", str(tmp_path / "o.ecsv")]) == 1
    assert "none.fits" in capsys.readouterr().err
    nokey = tmp_path / "nokey.ecsv"
    Table({"NAME": ["a"]}).write(nokey)
    assert main(["run", str(nokey), "-o", str(tmp_path / "o.ecsv"),
                 "--source", str(directory)]) == 1
    assert "no PLATEIFU/plateifu column" in capsys.readouterr().err
    text = tmp_path / "junk.fits"
    text.write_text("not a table")
    assert main(["run", str(text), "-o", str(tmp_path / "o.ecsv")]) == 1
    assert "cannot read the catalogue" in capsys.readouterr().err
