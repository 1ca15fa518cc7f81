"""Properties of the position-angle fit and of the misalignment, checked with hypothesis.

The examples are derandomised (the same ones on every run, no example database), so that CI
is reproducible; their number is kept small where each one costs a fit.
"""

import numpy as np
import pytest
from _synthetic import disc_field
from astropy import units as u
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kinmisalign import fit_pa, misalignment

KMS = u.km / u.s


def _fits(max_examples):
    return settings(max_examples=max_examples, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])


def _angle_diff(a, b):
    """Signed difference a - b of two directions, in (-180, 180] degrees."""
    d = (a - b) % 360.0
    return d - 360.0 if d > 180.0 else d


# Well-sampled discs: a 19- or 37-fibre footprint, clearly inclined, rotating well above the
# noise, so that the fit error is small and a failed property is a real difference.
discs = st.fixed_dictionaries({
    "pa": st.floats(0.0, 360.0, exclude_max=True),
    "inc": st.floats(35.0, 75.0),
    "bundle": st.sampled_from([19, 37]),
    "noise": st.floats(1.0, 10.0),
    "seed": st.integers(0, 2**16),
})


def _field(disc):
    return disc_field(disc["pa"], disc["inc"], bundle=disc["bundle"], noise=disc["noise"],
                      seed=disc["seed"])


def _tolerance(a, b):
    """How far two fits of the same field may differ: their 1σ errors in quadrature, three
    times, plus the 0.5-degree step of the trial angles."""
    return 3.0 * float(np.hypot(a.pa_err.to_value(u.deg), b.pa_err.to_value(u.deg))) + 0.5


# -- the fit ------------------------------------------------------------------------------
@_fits(20)
@given(disc=discs, turn=st.floats(-720.0, 720.0))
def test_rotation_equivariance_fast(disc, turn):
    """Turning the field on the sky by θ turns its PA by θ (modulo 360)."""
    field = _field(disc)
    base = fit_pa(field, method="fast")
    turned = fit_pa(field.rotated(turn * u.deg), method="fast")
    assert turned.npoints == base.npoints
    expected = base.pa.to_value(u.deg) + turn
    assert abs(_angle_diff(turned.pa.to_value(u.deg), expected)) <= _tolerance(base, turned)
    assert 0.0 <= turned.pa.to_value(u.deg) < 360.0


@pytest.mark.slow
@_fits(2)
@given(disc=discs, turn=st.floats(0.0, 360.0))
def test_rotation_equivariance_pafit(disc, turn):
    field = _field({**disc, "bundle": 19})  # pafit is slow on larger fields
    base = fit_pa(field, method="pafit")
    turned = fit_pa(field.rotated(turn * u.deg), method="pafit")
    expected = base.pa.to_value(u.deg) + turn
    assert abs(_angle_diff(turned.pa.to_value(u.deg), expected)) <= _tolerance(base, turned)


@_fits(20)
@given(disc=discs)
def test_sign_flip_turns_pa_by_180(disc):
    """Swapping approaching and receding sides turns the PA by 180 degrees."""
    field = _field(disc)
    base = fit_pa(field, method="fast")
    flipped = fit_pa(field.replace(velocity=-field.velocity), method="fast")
    expected = base.pa.to_value(u.deg) + 180.0
    assert abs(_angle_diff(flipped.pa.to_value(u.deg), expected)) <= _tolerance(base, flipped)
    assert flipped.pa_err == base.pa_err


@_fits(20)
@given(disc=discs, offset=st.floats(-5000.0, 5000.0))
def test_constant_velocity_offset_changes_nothing_but_vsys(disc, offset):
    field = _field(disc)
    base = fit_pa(field, method="fast")
    shifted = fit_pa(field.replace(velocity=field.velocity + offset * KMS), method="fast")
    assert abs(_angle_diff(shifted.pa.to_value(u.deg), base.pa.to_value(u.deg))) \
        <= _tolerance(base, shifted)
    assert shifted.vsys.to_value(KMS) == pytest.approx(base.vsys.to_value(KMS) + offset,
                                                       abs=1e-6 * (1 + abs(offset)))


# -- the misalignment: a pure function, many examples --------------------------------------
angles = st.floats(-1e4, 1e4, allow_nan=False)
angle_arrays = hnp.arrays(np.float64, st.integers(1, 20), elements=angles)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(a=angles, b=angles)
def test_misalignment_symmetric_and_bounded(a, b):
    dpa = misalignment(a * u.deg, b * u.deg)
    assert misalignment(b * u.deg, a * u.deg) == dpa
    value = dpa.to_value(u.deg)
    assert 0.0 <= value <= 180.0
    # The same directions however many turns are added.
    assert misalignment((a + 720.0) * u.deg, (b - 360.0) * u.deg).to_value(u.deg) \
        == pytest.approx(value, abs=1e-8)
    # Reversing one field's sense turns an alignment into a counter-rotation.
    assert misalignment(a * u.deg, (b + 180.0) * u.deg).to_value(u.deg) \
        == pytest.approx(180.0 - value, abs=1e-8)
    # Any angle unit.
    assert misalignment(np.radians(a) * u.rad, b * u.deg).to_value(u.deg) \
        == pytest.approx(value, abs=1e-8)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(a=angle_arrays, b=angles, errors=st.tuples(st.floats(0, 50), st.floats(0, 50)))
def test_misalignment_elementwise_with_errors(a, b, errors):
    e1, e2 = errors
    dpa, err = misalignment(a * u.deg, b * u.deg, e1 * u.deg, e2 * u.deg)
    back, back_err = misalignment(b * u.deg, a * u.deg, e2 * u.deg, e1 * u.deg)
    np.testing.assert_array_equal(dpa, back)
    np.testing.assert_array_equal(err, back_err)
    assert dpa.shape == err.shape == a.shape
    assert np.all((dpa >= 0 * u.deg) & (dpa <= 180 * u.deg))
    np.testing.assert_allclose(err.to_value(u.deg), np.hypot(e1, e2))
    for i, ai in enumerate(a):
        assert dpa[i] == misalignment(ai * u.deg, b * u.deg)
