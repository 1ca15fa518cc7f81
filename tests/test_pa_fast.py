"""Tests of the ``fast`` position-angle engine (kinmisalign._core.symmetry)."""

import numpy as np
import pytest
from _synthetic import disc_field, disc_velocity
from astropy import units as u
from scipy.spatial import QhullError

from kinmisalign import clean_velocity_field, fit_pa, read_maps
from kinmisalign._core.symmetry import (
    SymmetryFit,
    error_from_chi2,
    fit_point_symmetry,
    symmetry_chi2,
)
from kinmisalign.pa import ENGINES

KMS = u.km / u.s


def _axis_diff(a, b):
    """Difference of two axes (modulo 180 degrees), in [0, 90]."""
    d = (a - b) % 180.0
    return min(d, 180.0 - d)


def _angle_diff(a, b):
    """Signed difference a - b of two directions, in (-180, 180] degrees."""
    d = (a - b) % 360.0
    return d - 360.0 if d > 180.0 else d


def _scattered_disc(seed, n=150, pa=None, noise=10.0, centred=True):
    """Randomly scattered points of a noisy disc (velocity minus its median).

    Scattered points have a unique Delaunay triangulation, whatever the
    rotation, so the fast engine and pafit interpolate on the same triangles
    and must agree to rounding.
    """
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-8.0, 8.0, (2, n))
    pa = rng.uniform(0.0, 360.0) if pa is None else pa
    v = disc_velocity(x, y, pa, 60.0) + rng.normal(0.0, noise, n)
    return x, y, (v - np.median(v) if centred else v), pa


# -- the engine against pafit ---------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("nsteps", [361, 20])
def test_same_as_pafit_on_scattered_points(seed, nsteps):
    # nsteps=361: the perpendicular axes are on the grid (reused); 20: they are not.
    x, y, v, _ = _scattered_disc(seed)
    dvel = np.random.default_rng(seed).uniform(5.0, 15.0, v.size)  # per-point errors
    fast = ENGINES["fast"](x, y, v, dvel, nsteps)
    ref = ENGINES["pafit"](x, y, v, dvel, nsteps)
    assert fast[0] == ref[0]
    assert fast[1] == pytest.approx(ref[1], abs=1e-12)
    assert fast[2] == pytest.approx(ref[2], abs=1e-9)


def test_chi2_curve_matches_pafit_model():
    # The symmetrised field of pafit's helper (plotbin), in its frame (x reversed).
    from plotbin.symmetrize_velfield import symmetrize_velfield

    x, y, v, _ = _scattered_disc(4, n=120)
    angles = np.linspace(0.0, 180.0, 25)
    chi2, model = symmetry_chi2(x, y, v, 10.0, angles)
    assert model.shape == (angles.size, v.size)
    for k, angle in enumerate(angles):
        ref = symmetrize_velfield(-x, y, v, sym=1, pa=angle)
        np.testing.assert_allclose(model[k], ref, rtol=1e-9, atol=1e-9)
        assert chi2[k] == pytest.approx(np.sum(((v - ref) / 10.0) ** 2), rel=1e-12)


def test_real_file_engines_agree(real_maps_path):
    maps = read_maps(real_maps_path)
    for field in (maps.stellar, maps.gas):
        cleaned = clean_velocity_field(field)
        fast = fit_pa(cleaned, method="fast")
        # Recorded with pafit 2.0.8 (tests/test_pa.py): 167.0 deg for both fields.
        assert fast.pa.to_value(u.deg) == pytest.approx(167.0)
        assert fast.method == "fast"
        assert 0 < fast.pa_err.to_value(u.deg) < 5


# -- the compiled scan ----------------------------------------------------------------------------

def _scipy_triangulation(x, y, v):
    from kinmisalign._core._symmetry_scan import Triangulation
    from scipy.spatial import Delaunay

    tri = Delaunay(np.column_stack([x, y]))
    return tri, Triangulation(x, y, v, tri.simplices.astype(np.intc),
                              tri.neighbors.astype(np.intc))


def test_point_location_and_interpolation_match_scipy():
    from scipy.interpolate import LinearNDInterpolator

    rng = np.random.default_rng(12)
    x, y = rng.uniform(-8.0, 8.0, (2, 500))
    v = rng.normal(0.0, 50.0, x.size)
    scipy_tri, tri = _scipy_triangulation(x, y, v)
    # Queries in and around the hull, in an order that makes the walks long and short.
    qx, qy = rng.uniform(-10.0, 10.0, (2, 20000))
    found = tri.find(qx, qy)
    ref = scipy_tri.find_simplex(np.column_stack([qx, qy]))
    np.testing.assert_array_equal(found, ref)  # no query is within rounding of an edge here
    values = tri.interpolate(qx, qy)
    expected = LinearNDInterpolator(scipy_tri, v)(qx, qy)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(expected))
    assert np.isnan(values).sum() > 1000  # outside the hull
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-10)


def test_vertices_on_the_hull_are_inside_from_any_start():
    # A mirror image landing exactly on a point of the footprint's edge must count as on
    # the hull (the data value), whichever triangle the walk comes from.
    from scipy.spatial import ConvexHull

    x, y, v, _ = _scattered_disc(13, n=300)
    _, tri = _scipy_triangulation(x, y, v)
    hull = ConvexHull(np.column_stack([x, y])).vertices
    # Walks start from points inside the field, on every side of it.
    order = np.argsort(np.arctan2(y, x))
    starts = [(x[i] * 0.5, y[i] * 0.5) for i in order[::60]]
    for k in hull:
        for sx, sy in starts:
            qx, qy = np.array([sx, x[k]]), np.array([sy, y[k]])
            assert tri.interpolate(qx, qy)[1] == pytest.approx(v[k], abs=1e-9)


def test_degenerate_triangle_gives_no_value():
    # A, B, C on a line with D above and E below: triangles ABD and BCD above, AEC below,
    # and between them ACB of zero area (as Qhull's triangulated output can have). A walk
    # that runs into it searches all triangles instead; it never interpolates.
    from kinmisalign._core._symmetry_scan import Triangulation

    x = np.array([0.0, 1.0, 2.0, 1.0, 1.0])
    y = np.array([0.0, 0.0, 0.0, 1.0, -1.0])
    v = 1.0 + x + 3.0 * y  # linear data: interpolation is exact
    simplices = np.array([[0, 1, 3], [1, 2, 3], [0, 2, 1], [0, 4, 2]], dtype=np.intc)
    neighbors = np.array([[1, -1, 2], [-1, 0, 2], [1, 0, 3], [-1, 2, -1]], dtype=np.intc)
    tri = Triangulation(x, y, v, simplices, neighbors)
    # Above, then below (through the flat triangle), inside, outside the box, outside a
    # hull edge, on the line itself.
    qx = np.array([1.0, 1.0, 1.5, 3.0, 1.9, 0.5, 1.2])
    qy = np.array([0.5, -0.5, -0.25, 0.0, 0.8, 0.0, 0.3])
    values = tri.interpolate(qx, qy)
    inside = [0, 1, 2, 5, 6]
    np.testing.assert_allclose(values[inside], (1.0 + qx + 3.0 * qy)[inside], rtol=1e-12)
    assert np.isnan(values[3]) and np.isnan(values[4])
    found = tri.find(qx, qy)
    assert 2 not in found
    assert found[1] == found[2] == 3


def test_triangulation_refuses_bad_indices():
    from kinmisalign._core._symmetry_scan import Triangulation

    x = np.array([0.0, 1.0, 0.0])
    y = np.array([0.0, 0.0, 1.0])
    good = np.array([[0, 1, 2]], dtype=np.intc)
    none = np.full((1, 3), -1, dtype=np.intc)
    with pytest.raises(ValueError, match="out of range"):
        Triangulation(x, y, x, np.array([[0, 1, 3]], dtype=np.intc), none)
    with pytest.raises(ValueError, match="out of range"):
        Triangulation(x, y, x, good, np.array([[5, -1, -1]], dtype=np.intc))
    with pytest.raises(ValueError, match="differ in size"):
        Triangulation(x, y[:2], x, good, none)
    with pytest.raises(ValueError, match="shape"):
        Triangulation(x, y, x, good, np.full((2, 3), -1, dtype=np.intc))


@pytest.mark.parametrize("nsteps", [361, 20, 7])
@pytest.mark.parametrize("seed", [14, 15])
def test_scan_matches_vectorised_model(seed, nsteps):
    # The compiled one-pass scan against the vectorised symmetrised field: the same
    # chi-square at every angle, periodic grids (perpendiculars reused) or not.
    x, y, v, _ = _scattered_disc(seed, n=400)
    dvel = np.random.default_rng(seed).uniform(5.0, 15.0, v.size)
    fit = fit_point_symmetry(x, y, v, dvel=dvel, nsteps=nsteps)
    chi2, model = symmetry_chi2(x, y, v, dvel, fit.angles)
    np.testing.assert_allclose(fit.chi2, chi2, rtol=1e-12)
    best = int(np.argmin(chi2))
    assert fit.angle == fit.angles[best]
    assert fit.vsys_offset == pytest.approx(np.median(v - model[best]), abs=1e-9)


def test_scan_on_a_mock_map_matches_vectorised_model():
    # Near-lattice offsets, a hexagonal edge and holes, as in MAPS files.
    field = clean_velocity_field(disc_field(63.0, 55.0, bundle=37, noise=8.0, seed=3))
    x, y, v = (q.value for q in field.points()[:3])
    v = v - np.median(v)
    fit = fit_point_symmetry(x, y, v)
    chi2, _ = symmetry_chi2(x, y, v, 10.0, fit.angles)
    np.testing.assert_allclose(fit.chi2, chi2, rtol=1e-11)


# -- analytic discs -------------------------------------------------------------------------------

@pytest.mark.parametrize(("pa", "inc", "bundle", "noise"),
                         [(37.3, 30.0, 19, 10.0), (236.0, 80.0, 37, 5.0),
                          (128.7, 45.0, 61, 10.0), (311.2, 60.0, 91, 7.0),
                          (12.0, 70.0, 127, 10.0)])
def test_recovers_pa(pa, inc, bundle, noise):
    field = clean_velocity_field(disc_field(pa, inc, bundle=bundle, noise=noise, seed=int(pa)))
    fit = fit_pa(field, method="fast")
    diff = abs(_angle_diff(fit.pa.to_value(u.deg), pa))
    assert diff <= 3.0 and diff <= 3 * fit.pa_err.to_value(u.deg)
    assert abs(fit.vsys.to_value(KMS)) < 3.0
    assert fit.npoints == field.n_good


def test_solid_body_rotation_is_exact():
    # A velocity linear in the distance along the axis is reproduced exactly by
    # linear interpolation: the chi-square vanishes on the axis, and only there.
    x, y, _, _ = _scattered_disc(5, n=400)
    t = np.radians(120.0)
    v = 20.0 * (x * np.sin(t) + y * np.cos(t))
    fit = fit_point_symmetry(x, y, v, dvel=0.01, nsteps=361)
    assert isinstance(fit, SymmetryFit)
    assert fit.angle == 120.0
    assert fit.chi2.min() < 1e-18 * fit.chi2.max()
    assert fit.error3 == 0.5  # the floor: max(0.5 deg, half a step)
    assert abs(fit.vsys_offset) < 1e-9
    assert fit.angles.size == fit.chi2.size == 361
    assert fit.chi2[0] == fit.chi2[-1]  # 0 and 180 degrees are the same axis


def test_systemic_velocity_correction():
    x, y, v, _ = _scattered_disc(6, n=300, pa=75.0, noise=3.0, centred=False)
    fit = fit_pa(x * u.arcsec, y * u.arcsec, (v + 4321.0) * KMS, method="fast")
    assert fit.vsys.to_value(KMS) == pytest.approx(4321.0, abs=1.5)


def test_rotation_equivariance():
    # Turning the points by a whole number of grid steps shifts the chi-square curve.
    x, y, v, _ = _scattered_disc(7, n=200)
    turn = 30.0  # 60 steps of 0.5 degrees
    t = np.radians(turn)
    # x East, y North: a turn by +turn East of North.
    xr = x * np.cos(t) + y * np.sin(t)
    yr = -x * np.sin(t) + y * np.cos(t)
    base = fit_point_symmetry(x, y, v)
    turned = fit_point_symmetry(xr, yr, v)
    np.testing.assert_allclose(turned.chi2[:-1], np.roll(base.chi2[:-1], 60), rtol=1e-8)
    assert _axis_diff(turned.angle, base.angle + turn) < 1e-9
    assert turned.error3 == pytest.approx(base.error3)


def test_reversed_field():
    field = disc_field(40.0, 60.0, bundle=19, noise=5.0, seed=11)
    base = fit_pa(field, method="fast")
    flipped = fit_pa(field.replace(velocity=-field.velocity), method="fast")
    assert abs(_angle_diff(flipped.pa.to_value(u.deg), base.pa.to_value(u.deg) + 180)) < 1e-9
    assert flipped.pa_err == base.pa_err


# -- the error rule -------------------------------------------------------------------------------

def test_error_from_chi2():
    angles = np.linspace(0.0, 180.0, 361)
    npoints = 50
    threshold = 9 + 3 * np.sqrt(2 * npoints)
    chi2 = 100 + threshold * ((angles - 60.0) / 4.0) ** 2  # within the threshold for |d| <= 4
    assert error_from_chi2(angles, chi2, npoints) == pytest.approx(4.0)
    # A minimum at 0/180 degrees: the range is folded, not 90 degrees.
    folded = 100 + threshold * (np.minimum(angles, 180 - angles) / 3.0) ** 2
    assert error_from_chi2(angles, folded, npoints) == pytest.approx(3.0)
    # Floors: half a step, and never below 0.5 degrees.
    sharp = 100 + 1e6 * (angles - 60.0) ** 2
    assert error_from_chi2(angles, sharp, npoints) == 0.5
    coarse = np.linspace(0.0, 180.0, 19)
    assert error_from_chi2(coarse, 1e6 * (coarse - 60.0) ** 2, npoints) == 5.0


# -- edge cases -----------------------------------------------------------------------------------

def test_few_points():
    # Three and four points can be triangulated; most mirror images fall outside
    # and are ignored, but a fit is returned.
    x = np.array([0.0, 1.0, 0.0, -1.0])
    y = np.array([1.0, 0.0, -1.0, 0.2])
    v = np.array([50.0, -20.0, -50.0, 25.0])
    for n in (3, 4):
        fit = fit_point_symmetry(x[:n], y[:n], v[:n], nsteps=37)
        assert 0.0 <= fit.angle <= 180.0 and np.isfinite(fit.error3)
        assert np.isfinite(fit.vsys_offset) and np.all(np.isfinite(fit.chi2))
    pa = fit_pa(x * u.arcsec, y * u.arcsec, v * KMS, min_points=4, nsteps=37, method="fast")
    assert pa.npoints == 4 and pa.method == "fast"


def test_collinear_and_coincident_points():
    line = np.linspace(-5, 5, 40)
    with pytest.raises(QhullError):
        fit_point_symmetry(line, 0 * line, line * 20)
    for x, y in ((line, 0 * line), (line, 0.5 * line), (np.zeros(40), np.zeros(40))):
        with pytest.raises(ValueError, match="collinear"):
            fit_pa(x * u.arcsec, y * u.arcsec, line * 20 * KMS, nsteps=5, method="fast")


def test_per_point_dvel():
    x, y, v, _ = _scattered_disc(8, n=150)
    same = fit_point_symmetry(x, y, v, dvel=np.full(v.size, 7.0))
    scalar = fit_point_symmetry(x, y, v, dvel=7.0)
    np.testing.assert_allclose(same.chi2, scalar.chi2, rtol=1e-12)
    # Down-weighting half the points changes the chi-square accordingly.
    dvel = np.where(np.arange(v.size) % 2 == 0, 7.0, 1e6)
    weighted = fit_point_symmetry(x, y, v, dvel=dvel)
    assert np.all(weighted.chi2 < scalar.chi2)
    with pytest.raises(ValueError, match="dvel has 3 values"):
        fit_point_symmetry(x, y, v, dvel=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="differ in size"):
        fit_point_symmetry(x, y[:10], v)
    with pytest.raises(ValueError, match="nsteps"):
        fit_point_symmetry(x, y, v, nsteps=1)


def test_engine_contract():
    # Engines take East/North arrays and return (axis in [0, 180), 1-sigma error, dvsys).
    x, y, v, _ = _scattered_disc(9, n=150, pa=178.0, noise=2.0)
    axis, err, dv = ENGINES["fast"](x, y, v, 10.0, 361)
    assert 0.0 <= axis < 180.0
    assert err == fit_point_symmetry(x, y, v).error3 / 3.0
    assert isinstance(axis, float) and isinstance(err, float) and isinstance(dv, float)


# -- agreement with pafit on many mock fields (slow) ----------------------------------------------
# Galaxies per bundle size and the coverage (radius of the S/N >= 1 region over the bundle
# radius) drawn for each: pafit costs ~1 s per 19-fibre field and ~3 ms more per point, so the
# larger bundles are given a smaller measured region to keep the test to a few minutes. Each
# galaxy gives a stellar and a gas field, all usable (regular or messy, misaligned or not).
AGREEMENT_MIX = {19: (60, None), 37: (16, (0.55, 0.75)), 61: (8, (0.4, 0.5)),
                 91: (8, (0.3, 0.4)), 127: (7, (0.25, 0.35))}


def _mock_fields(seed=2024):
    """(label, x, y, v) of the cleaned usable fields of the mock galaxies of AGREEMENT_MIX."""
    import dataclasses

    from kinmisalign import VelocityField
    from kinmisalign.mock import make_maps_arrays, random_galaxy

    rng = np.random.default_rng(seed)
    for bundle, (count, coverage) in AGREEMENT_MIX.items():
        for _ in range(count):
            galaxy = random_galaxy(rng, bundle_size=bundle, usable_stellar=True,
                                   usable_gas=True)
            if coverage is not None:
                galaxy = dataclasses.replace(galaxy, coverage=float(rng.uniform(*coverage)))
            arrays = make_maps_arrays(galaxy)
            for name in ("stellar", "gas"):
                field = VelocityField(
                    arrays.x * u.arcsec, arrays.y * u.arcsec,
                    getattr(arrays, f"{name}_vel") * KMS,
                    ivar=getattr(arrays, f"{name}_ivar") * u.s**2 / u.km**2,
                    mask=getattr(arrays, f"{name}_mask"),
                )
                x, y, v, _ = clean_velocity_field(field).points()
                yield f"{bundle}-{name}", x.value, y.value, v.value


@pytest.mark.slow
def test_agreement_with_pafit_on_mock_and_real_fields(real_maps_path):
    maps = read_maps(real_maps_path)
    fields = []
    for name, field in (("real-stellar", maps.stellar), ("real-gas", maps.gas)):
        x, y, v, _ = clean_velocity_field(field).points()
        fields.append((name, x.value, y.value, v.value))
    fields.extend(_mock_fields())
    assert len(fields) >= 200
    assert {label.split("-")[0] for label, *_ in fields} >= {"19", "37", "61", "91", "127"}

    rows = []
    for label, x, y, v in fields:
        v = v - np.median(v)
        fast = ENGINES["fast"](x, y, v, 10.0, 361)
        ref = ENGINES["pafit"](x, y, v, 10.0, 361)
        rows.append((_axis_diff(fast[0], ref[0]), ref[1], abs(fast[1] - ref[1])))
        if label.startswith("real"):
            # Recorded with pafit (tests/test_pa.py): the engines agree exactly here.
            assert fast[0] == ref[0] == 167.0, label
            assert fast[1] == pytest.approx(ref[1])
    dpa, err1, derr = np.array(rows).T

    # Shown with ``-s``: the figures quoted in the comments below.
    print(f"\n{len(rows)} fields: |dPA| <= 0.5 deg {np.mean(dpa <= 0.5):.1%}, "
          f"<= 1 deg {np.mean(dpa <= 1.0):.1%}, max {dpa.max():.1f} deg, within pafit 1-sigma "
          f"{np.mean(dpa <= err1):.1%}; errors within 0.5 deg {np.mean(derr <= 0.5):.1%} "
          f"(max {derr.max():.2f} deg); within pafit 3-sigma {np.mean(dpa <= 3 * err1):.1%}")
    # The bar of the fast engine. The mock offsets are the DAP's (a gnomonic WCS deprojected
    # and stored as float32, as in the real file), so every field has a unique Delaunay
    # triangulation. Measured here (seed 2024, 200 fields): 99.5% within 0.5 deg (the other
    # one step, 1.0 deg, away), all within pafit's 1-sigma error, 1-sigma errors all within
    # 0.5 deg (max 0.17 deg). On an exact lattice instead, where four spaxels are co-circular
    # in every cell, the diagonals pafit picks for each rotated copy are arbitrary: moving the
    # points by 1e-9 arcsec changed pafit's own answer by more than 0.5 deg for 19% of such
    # fields (docs/performance.rst).
    assert np.mean(dpa <= 0.5) >= 0.99
    assert np.all(dpa <= err1)  # within pafit's 1-sigma error, every field
    assert np.mean(derr <= 0.5) >= 0.95  # 1-sigma errors
