"""Tests of the kinmisalign command line."""

import re
import subprocess
import sys

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
