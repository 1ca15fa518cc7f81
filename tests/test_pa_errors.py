"""The 1-sigma PA errors describe the scatter of clean mock fields about the truth.

The fields are those of ``scripts/pa_error_calibration.py`` (clean HYB10
stellar discs over velocity noise 4 to 24 km/s, all bundle sizes and
inclinations 30 to 80 deg), three per grid cell: 195 clean fields. Measured
when written: 66.7 % within 1 sigma and 98.5 % within 3 sigma (the full
script, six per cell: 68.7 % and 97.4 %); at noise 16 and 24 km/s 96 % within
3 sigma, at 4 km/s 82 % within 1 sigma. With the chi-square at face value
(the error before the noise scaling) the same fields gave 67.7 % and 90.3 %,
76 % within 3 sigma at noise 16 and 24 km/s and 95 % within 1 sigma at 4 km/s.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pa_error_calibration.py"


def _load_script():
    if not SCRIPT.exists():
        pytest.skip("not a source checkout")
    spec = importlib.util.spec_from_file_location("pa_error_calibration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def coverage_rows():
    script = _load_script()
    from astropy import units as u

    from kinmisalign import fit_pa

    rows = []
    rng = np.random.default_rng(14)
    for (noise, _, _), field, truth in script.clean_mock_fields(rng, repeats=3):
        fit = fit_pa(field)
        rows.append((noise, script.angle_difference(fit.pa.to_value(u.deg), truth),
                     fit.pa_err.to_value(u.deg)))
    return script, np.array(rows)


def test_clean_mock_coverage(coverage_rows):
    script, rows = coverage_rows
    noise, diff, err = rows.T
    assert len(rows) > 150
    within1, _, within3 = script.coverage(diff, err)
    # 68 +- 5 % is the target; 3 points more either way allow for 195 fields (binomial sd 3.3).
    assert 0.60 <= within1 <= 0.76
    assert within3 >= 0.95
    # Noisy fields too: the error follows the noise of the field, not the assumed 10 km/s.
    noisy = noise >= 16
    assert script.coverage(diff[noisy], err[noisy])[2] >= 0.88
    quiet = noise <= 4
    assert script.coverage(diff[quiet], err[quiet])[0] <= 0.92


def test_error_follows_the_noise_not_the_assumed_uncertainty():
    from _synthetic import disc_field
    from astropy import units as u

    from kinmisalign import fit_pa

    kms = u.km / u.s
    quiet = disc_field(40.0, 60.0, bundle=61, noise=4.0, seed=1)
    noisy = disc_field(40.0, 60.0, bundle=61, noise=16.0, seed=1)
    # A constant dvel only weights the chi-square: the error hardly depends on it (the rule's
    # half-width is rounded to the 0.5-degree grid before the scaling: 0.89, 1.12 and 1.06
    # deg here; at face value, before the scaling, 0.33, 0.83 and 1.58 deg).
    errors = [fit_pa(noisy, dvel=d * kms).pa_err.to_value(u.deg) for d in (5.0, 10.0, 20.0)]
    assert errors == pytest.approx([errors[1]] * 3, rel=0.25)
    fit_quiet, fit_noisy = fit_pa(quiet), fit_pa(noisy)
    assert fit_noisy.pa_err > 2 * fit_quiet.pa_err
    # The reduced chi-square is the noise relative to dvel, squared (less the part of
    # the noise the symmetrised model absorbs).
    assert fit_noisy.reduced_chi2 == pytest.approx(16 * fit_quiet.reduced_chi2, rel=0.2)
    assert 0.5 * (16.0 / 10.0) ** 2 < fit_noisy.reduced_chi2 < (16.0 / 10.0) ** 2


def test_noise_scaled_error_rule():
    from kinmisalign._core.symmetry import noise_scaled_error

    # pafit's 3-sigma half-width times sqrt(reduced chi-square), divided by 3.
    assert noise_scaled_error(3.0, 4.0, 361) == pytest.approx(2.0)
    assert noise_scaled_error(6.0, 0.25, 361) == pytest.approx(1.0)
    # Floored as pafit floors the 3-sigma error: 0.5 deg, or half a grid step.
    assert noise_scaled_error(0.5, 0.01, 361) == pytest.approx(0.5 / 3)
    assert noise_scaled_error(5.0, 0.04, 19) == pytest.approx(5.0 / 3)
