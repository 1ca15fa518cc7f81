"""The footprint input of kinmisalign's own usability models (array level)."""

import numpy as np
import pytest

from kinmisalign import mock
from kinmisalign._core import footprint as fp


def disc(n=41, pa=30.0, amplitude=100.0, noise=0.0, seed=0, centre=None, inclination=50.0):
    """A rotating thin disc (mock.disc_velocity, DAP orientation) and a circular footprint."""
    c = (n - 1) / 2.0 if centre is None else centre
    rows, cols = np.mgrid[0:n, 0:n].astype(float)
    x, y = -(cols - c) * 0.5, (rows - c) * 0.5
    v = mock.disc_velocity(x, y, pa, inclination, amplitude, 2.0) if amplitude else 0.0 * x
    v = v + (np.random.default_rng(seed).normal(0.0, noise, x.shape) if noise else 0.0)
    good = np.hypot(x, y) < n / 6.0
    return v, good


def test_centre_from_offsets():
    for n in (32, 33):
        rows, cols = np.mgrid[0:n, 0:n]
        c = (n - 1) / 2.0
        x, y = -(cols - c) * 0.5, (rows - c) * 0.5
        assert fp.centre_index2(x, y) == (n - 1, n - 1)
        # A centre one spaxel up and one and a half to the East.
        assert fp.centre_index2(x + 0.75, y - 0.5) == (n - 1 + 2, n - 1 + 3)
    # Offsets that say nothing: the array centre.
    assert fp.centre_index2(np.full((5, 7), np.nan), np.full((5, 7), np.nan)) == (4, 6)


@pytest.mark.parametrize("n,shift", [(41, 0), (40, 0), (41, 3)])
def test_window_is_symmetric_about_the_centre(n, shift):
    v, good = disc(n)
    good = np.roll(good, shift, axis=1)
    centre2 = (n - 1, n - 1)
    r0, r1, c0, c1 = fp.footprint_window(good, centre2, margin=1)
    assert r1 - r0 == c1 - c0
    assert r0 + (r1 - 1) == centre2[0] and c0 + (c1 - 1) == centre2[1]
    rows, cols = np.nonzero(good)
    assert rows.min() >= r0 + 1 and rows.max() <= r1 - 2
    assert cols.min() >= c0 + 1 and cols.max() <= c1 - 2
    with pytest.raises(ValueError, match="empty"):
        fp.footprint_window(np.zeros_like(good), centre2)


def test_cut_beyond_the_array_is_zero():
    values = np.arange(16.0).reshape(4, 4)
    good = np.ones((4, 4), dtype=bool)
    good[0, 0] = False
    cut, cover = fp.footprint_cut(values, good, (-1, 5, -1, 5))
    assert cut.shape == cover.shape == (6, 6)
    assert cover.sum() == 15 and cut[0].sum() == 0 and cut[1, 1] == 0 and cut[4, 4] == 15


def test_masked_values_and_padding_do_not_matter():
    v, good = disc(41, noise=5.0)
    image = fp.footprint_image(v, good, (40, 40))
    assert image.shape == (32, 32, 2) and image.dtype == np.float32
    # Whatever is stored at masked spaxels (the DAP's values, zeros, NaN) is never used.
    for stored in (0.0, 1e4, np.nan):
        assert np.array_equal(fp.footprint_image(np.where(good, v, stored), good, (40, 40)), image)
    # The same field in a larger array (zero padding) gives the same input.
    padded, padded_good = np.zeros((61, 61)), np.zeros((61, 61), dtype=bool)
    padded[10:51, 10:51], padded_good[10:51, 10:51] = v, good
    assert np.array_equal(fp.footprint_image(padded, padded_good, (60, 60)), image)
    feats = fp.symmetry_features(v, good, (40, 40))
    assert np.array_equal(fp.symmetry_features(padded, padded_good, (60, 60)), feats)
    # Nothing to normalise.
    assert fp.footprint_image(v, np.zeros_like(good), (40, 40)) is None
    assert fp.footprint_image(np.full_like(v, 7.0), good, (40, 40)) is None
    assert fp.symmetry_features(np.full_like(v, 7.0), good, (40, 40)) is None


@pytest.mark.parametrize("n", [41, 40])
def test_flips_and_turns_of_the_map_flip_and_turn_the_input(n):
    v, good = disc(n, pa=70.0, noise=10.0, seed=3)
    good[2:9, 15:22] = False  # not symmetric
    centre2 = (n - 1, n - 1)
    image = fp.footprint_image(v, good, centre2)
    feats = fp.symmetry_features(v, good, centre2)
    for k in range(8):
        def turn(a, k=k):
            a = a[:, ::-1] if k >= 4 else a
            return np.rot90(a, k % 4, axes=(0, 1))
        np.testing.assert_allclose(fp.footprint_image(turn(v), turn(good), centre2), turn(image),
                                   atol=1e-6)
        np.testing.assert_allclose(fp.symmetry_features(turn(v), turn(good), centre2), feats,
                                   rtol=1e-5, atol=1e-6)


def test_features_tell_a_disc_from_noise():
    names = fp.FEATURE_NAMES
    clean = dict(zip(names, fp.symmetry_features(*disc(41, noise=2.0), (40, 40)), strict=True))
    v, good = disc(41, amplitude=0.0, noise=50.0, seed=1)
    noise = dict(zip(names, fp.symmetry_features(v, good, (40, 40)), strict=True))
    assert clean["antisymmetry"] > 0.98 and abs(noise["antisymmetry"]) < 0.2
    assert clean["roughness"] < 0.2 and noise["roughness"] > 1.0
    assert clean["rotation_snr"] > 0.7 and noise["rotation_snr"] < 0.0
    # More noise on the same disc: less antisymmetric, rougher, less rotation signal.
    rows = np.array([fp.symmetry_features(*disc(41, noise=s), (40, 40)) for s in (0, 3, 10, 30)])
    assert np.all(np.diff(rows[:, 0]) < 0) and np.all(np.diff(rows[:, 1]) > 0)
    assert np.all(np.diff(rows[:, 2]) < 0)
    # The velocity scale and a systemic velocity do not matter.
    v, good = disc(41, noise=8.0, seed=2)
    np.testing.assert_allclose(fp.symmetry_features(3.0 * v + 500.0, good, (40, 40)),
                               fp.symmetry_features(v, good, (40, 40)), rtol=1e-5, atol=1e-6)
    # The antisymmetry is that about the centre given: a disc off the centre loses it.
    v, good = disc(41, noise=2.0, centre=28.0)
    assert fp.symmetry_features(v, good | ~good, (40, 40))[0] < 0.9


def test_few_spaxels_give_defined_values():
    v = np.zeros((21, 21))
    good = np.zeros((21, 21), dtype=bool)
    good[10, 10:13] = True
    v[10, 10:13] = [1.0, 2.0, 4.0]
    feats = fp.symmetry_features(v, good, (20, 20))
    assert np.isfinite(feats).all()
    assert feats[0] == 0.0 and feats[2] == -1.0  # too few pairs and points: no measurement


def test_mock_dap_and_zeroed_forms_give_the_same_input():
    maps = mock.make_maps_arrays(mock.random_galaxy(5, bundle_size=61))
    for which in ("stellar", "gas"):
        vel, mask = getattr(maps, f"{which}_vel"), getattr(maps, f"{which}_mask")
        good = mask == 0
        n = vel.shape[0]
        dap = fp.footprint_image(vel, good, (n - 1, n - 1))
        zeroed = fp.footprint_image(np.where(good, vel, 0.0), good, (n - 1, n - 1))
        assert np.array_equal(dap, zeroed)
