"""scripts/compare_mock_real.py on a small fake dev file."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from kinmisalign import mock

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_mock_real.py"


def _load_script():
    if not SCRIPT.exists():
        pytest.skip("not a source checkout")
    spec = importlib.util.spec_from_file_location("compare_mock_real", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_dev_file(path, n=24, seed=0):
    """Mock stellar maps in the dev file's format: 76 x 76, zero-padded, 0 at masked spaxels."""
    rng = np.random.default_rng(seed)
    cube = np.zeros((n, 76, 76))
    plateifus, quality = [], []
    for i in range(n):  # classes 0, 1, 2 in turn
        gal = mock.random_galaxy(rng, binning="VOR10", style="real",
                                 usable_stellar=i % 3 != 0, messy=i % 3 == 1)
        vel = mock.make_maps_arrays(gal).zeroed().stellar_vel
        start = (76 - vel.shape[0]) // 2
        cube[i, start:start + vel.shape[0], start:start + vel.shape[1]] = vel
        plateifus.append(f"{8000 + i}-{gal.ifudesign}")
        quality.append(gal.quality("stellar"))
    labels = fits.table_to_hdu(Table({
        "PLATEIFU": plateifus, "STEL_QUAL": quality, "STEL_FEATURE": [0] * n,
        "STELLAR_PA": np.full(n, np.nan), "REFF": np.full(n, 4.0)}))
    labels.name = "LABELS"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, name="VEL"),
                  fits.ImageHDU(np.where(cube != 0, 5.0, np.inf), name="VEL_ERR"),
                  labels]).writeto(path)
    return path, np.array(quality)


def test_compare_mock_real_runs(tmp_path, capsys):
    module = _load_script()
    path, quality = _fake_dev_file(tmp_path / "dev.fits.gz")
    assert sorted(set(quality)) == [0, 1, 2]
    args = [str(path), "--galaxies", "30", "--seed", "3"]
    module.main(args)
    out = capsys.readouterr().out
    assert all(len(line) <= 100 for line in out.splitlines())
    assert "mock survey" in out and "mock real" in out
    assert "KS 5 % critical value" in out
    counts = {line[:12].strip(): [int(v) for v in line[12:].split()]
              for line in out.splitlines()
              if line.startswith(("real maps", "mock survey", "mock real"))}
    assert counts["real maps"] == [24, 8, 8, 8, 0]  # fields, q0, q1, q2, left out
    for style in ("survey", "real"):
        fields, q0, q1, q2, left = counts[f"mock {style}"]
        assert fields == q0 + q1 + q2 and fields + left == 30 and min(q0, q1, q2) > 0
    rows = [line for line in out.splitlines() if line[14:19].strip() in ("q0", "q1", "q2")]
    assert len(rows) == 3 * len(module.QUANTITIES)
    assert [row[14:19].strip() for row in rows[:3]] == ["q0", "q1", "q2"]
    for k, name in enumerate(module.QUANTITIES):
        assert rows[3 * k].startswith(name)
    for row in rows:
        real, survey, ks_survey, mock_real, ks_real = (
            float(v) for v in row[19:].replace("*", " ").split())
        assert np.isfinite([real, survey, mock_real]).all()
        assert 0.0 <= ks_survey <= 1.0 and 0.0 <= ks_real <= 1.0
    # Seeded: a rerun prints the same table.
    module.main(args)
    assert capsys.readouterr().out == out
