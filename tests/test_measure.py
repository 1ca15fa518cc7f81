"""Tests of measure_maps, the per-observation unit, and of the demo."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from kinmisalign import read_maps
from kinmisalign.measure import measure_maps


def test_real_file(real_maps_path):
    result = measure_maps(read_maps(real_maps_path))
    assert result.stellar_problem is None and result.gas_problem is None
    assert result.dpa < 30 * u.deg
    assert result.dpa_class == "aligned"
    assert result.meta["PLATEIFU"] == "7815-3702"


def test_one_field_missing(tmp_path):
    from kinmisalign import mock

    galaxy = mock.MockGalaxy(plateifu="8000-1902", gas=mock.FieldModel(kind="absent"),
                             stellar=mock.FieldModel(pa=120.0, vmax=150.0, noise=5.0))
    result = measure_maps(read_maps(mock.write_maps(galaxy, tmp_path, seed=1)))
    assert result.gas_fit is None
    assert "only 0 usable point(s)" in result.gas_problem
    assert result.dpa is None and result.dpa_class is None
    diff = abs((result.stellar_fit.pa - 120 * u.deg + 180 * u.deg) % (360 * u.deg) - 180 * u.deg)
    assert diff < 3 * u.deg


def test_options_are_passed(real_maps_path):
    maps = read_maps(real_maps_path)
    strict = measure_maps(maps, clean_options={"sigma": None, "island_fraction": 0},
                          fit_options={"min_points": 10_000})
    assert strict.stellar_fit is None and "10000" in strict.stellar_problem.replace(",", "")


@pytest.mark.slow
def test_demo(tmp_path, capsys):
    from kinmisalign.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "-n", "8", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Measured 8 mock galaxies" in printed
    assert "usability (stellar): the network agrees with the truth" in printed
    table = Table.read(out / "kinematics.ecsv")
    assert len(table) == 8 and len(set(table["PLATEIFU"])) == 8
    assert {"PA_STELLAR", "PA_GAS_ERR", "DPA", "NSPX_GAS", "DPA_TRUE"} <= set(table.colnames)
    assert table["PA_STELLAR"].unit == u.deg
    # The embedded network judges every field that has unmasked velocities.
    assert {"USABLE_PROB_STELLAR", "USABLE_GAS", "KINMIS_FLAG"} <= set(table.colnames)
    judged = ~np.ma.getmaskarray(table["USABLE_PROB_STELLAR"])
    assert judged.sum() >= 7
    agree = table["USABLE_STELLAR"][judged] == table["USABLE_STELLAR_TRUE"][judged]
    assert agree.mean() >= 0.75
    # Both fields usable and fitted: the misalignment class is recovered.
    both = (table["USABLE_STELLAR_TRUE"] & table["USABLE_GAS_TRUE"]
            & ~np.ma.getmaskarray(table["DPA"]))
    assert both.sum() >= 5
    truth_class = np.digitize(table["DPA_TRUE"][both], [30, 150])
    assert np.all(np.digitize(table["DPA"][both], [30, 150]) == truth_class)
    assert len(list(out.glob("qa-*.png"))) == 4
    assert (out / "dpa-histogram.png").stat().st_size > 5000
    # A second run refuses to overwrite the table.
    assert main(["demo", "-o", str(out), "-n", "8"]) == 1
    assert "overwrite" in capsys.readouterr().err


def test_demo_scores_only_fields_the_network_judged():
    """A field the network did not judge (its probability masked, its USABLE_ False) is
    neither a hit nor a miss of the network."""
    from astropy.table import MaskedColumn

    from kinmisalign.demo import _report

    rows = 4
    out = Table()
    for which in ("STELLAR", "GAS"):
        out[f"PA_{which}"] = MaskedColumn([10.0] * rows, mask=[False] * rows)
        out[f"PA_{which}_ERR"] = MaskedColumn([1.0] * rows, mask=[False] * rows)
        out[f"PA_{which}_TRUE"] = [10.0] * rows
        out[f"USABLE_{which}_TRUE"] = [True, False, False, True]
        out[f"USABLE_PROB_{which}"] = MaskedColumn([0.9, 0.1, 0.0, 0.9],
                                                   mask=[False, False, True, False])
        out[f"USABLE_{which}"] = MaskedColumn([True, False, False, True], mask=[False] * rows)
    out["DPA"] = MaskedColumn([0.0] * rows, mask=[True] * rows)
    out["DPA_TRUE"] = [0.0] * rows
    report = _report(out, 1.0)
    assert ("usability (gas): the network agrees with the truth for 100% of 3 fields "
            "(0 unusable called usable, 0 usable called unusable)") in report


def test_unfittable_field_does_not_stop_the_other():
    from kinmisalign import MapsData, VelocityField

    yy, xx = np.mgrid[-10:11, -10:11] * 0.5
    disc = np.hypot(xx, yy) < 5
    stellar = VelocityField.from_array(100 * np.tanh(yy) * u.km / u.s, mask=~disc)
    constant = VelocityField.from_array(np.full(xx.shape, 42.0) * u.km / u.s, mask=~disc)
    result = measure_maps(MapsData(stellar, constant, meta={"PLATEIFU": "1-2"}))
    assert result.stellar_fit is not None and result.gas_fit is None
    assert "constant field" in result.gas_problem
    assert result.dpa is None


def test_field_errors_chooses_what_leaves_the_other_field_measured(monkeypatch):
    """A bug in one field's fit is raised by default; with ``field_errors=Exception`` (as a
    batch run measures) it leaves the other field's PA and is given as the reason."""
    from kinmisalign import MapsData, VelocityField
    from kinmisalign import measure as measure_module

    yy, xx = np.mgrid[-10:11, -10:11] * 0.5
    disc = np.hypot(xx, yy) < 5
    stellar = VelocityField.from_array(100 * np.tanh(yy) * u.km / u.s, mask=~disc, name="stellar")
    gas = VelocityField.from_array(80 * np.tanh(xx) * u.km / u.s, mask=~disc, name="gas")
    maps = MapsData(stellar, gas, meta={"PLATEIFU": "1-2"})
    fit_pa = measure_module.fit_pa

    def buggy_for_gas(field, **options):
        if field.name == "gas":
            raise ZeroDivisionError("a bug met in the gas fit")
        return fit_pa(field, **options)

    monkeypatch.setattr(measure_module, "fit_pa", buggy_for_gas)
    with pytest.raises(ZeroDivisionError):
        measure_maps(maps)
    result = measure_maps(maps, field_errors=Exception)
    assert result.stellar_fit is not None and result.gas_fit is None
    assert isinstance(result.gas_error, ZeroDivisionError)
    assert result.gas_problem == "a bug met in the gas fit" and result.dpa is None
