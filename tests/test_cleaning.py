"""Tests of clean_velocity_field and the array-level cleaning code."""

import numpy as np
import pytest
from _synthetic import disc_field
from astropy import units as u
from astropy.stats import sigma_clip

from kinmisalign import VelocityField, clean_velocity_field
from kinmisalign._core.cleaning import (
    component_labels_grid,
    component_labels_points,
    grid_spacing,
    island_keep_mask,
    sigma_clip_keep_mask,
)

KMS = u.km / u.s


def _map_field(vel, good):
    """A field from a bare map and an explicit usable-spaxel selection."""
    return VelocityField.from_array(np.asarray(vel, dtype=float) * KMS, mask=~good)


@pytest.mark.parametrize(
    ("pa", "inc", "bundle", "noise"),
    [(30.0, 30.0, 19, 10.0), (125.0, 60.0, 37, 5.0), (250.0, 80.0, 61, 10.0),
     (340.0, 45.0, 127, 8.0)],
)
def test_clean_field_is_kept(pa, inc, bundle, noise):
    field = disc_field(pa, inc, bundle=bundle, noise=noise, seed=1)
    cleaned = clean_velocity_field(field)
    assert cleaned.is_map and cleaned.shape == field.shape
    assert cleaned.n_good >= 0.98 * field.n_good
    assert not np.any(cleaned.good & ~field.good)
    info = cleaned.meta["cleaning"]
    assert info["valid"] == field.n_good
    assert info["kept"] == cleaned.n_good
    assert info["valid"] == info["removed_islands"] + info["removed_clipped"] + info["kept"]
    # The input is left alone.
    assert "cleaning" not in field.meta
    np.testing.assert_array_equal(cleaned.velocity, field.velocity)


def test_detached_patches_and_spikes_removed():
    field = disc_field(70.0, 60.0, bundle=37, noise=5.0, seed=2)
    vel = field.velocity.to_value(KMS).copy()
    good = np.array(field.good)
    ny, nx = good.shape
    assert not good[:3, :3].any() and not good[-2:, -2:].any()
    # A detached 3x3 patch in a corner, far outside the footprint.
    good[0:3, 0:3] = True
    vel[0:3, 0:3] = 40.0
    # A single spaxel touching the patch only at a corner: 4-connectivity keeps it apart.
    good[3, 3] = True
    vel[3, 3] = 40.0
    # Another detached pair at the opposite corner.
    good[-1, -2:] = True
    vel[-1, -2:] = -30.0
    # Spikes inside the footprint (e.g. failed fits).
    inside = np.flatnonzero(field.good)
    spikes = inside[[10, 100, 200, 300, 400]]
    vel.ravel()[spikes] = [1500.0, -1500.0, 2000.0, 900.0, -1200.0]
    dirty = _map_field(vel, good)
    assert dirty.n_good == field.n_good + 12

    cleaned = clean_velocity_field(dirty)
    assert not cleaned.good[0:4, 0:4].any()
    assert not cleaned.good[-1, -2:].any()
    assert not cleaned.good.ravel()[spikes].any()
    info = cleaned.meta["cleaning"]
    assert info["removed_islands"] == 12
    assert info["removed_clipped"] >= 5
    # What is left of the real field is nearly all of it.
    assert cleaned.n_good >= 0.98 * (field.n_good - 5)
    assert np.all(np.abs(cleaned.velocity[cleaned.good]) < 300 * KMS)


def test_island_threshold_is_ten_percent_of_valid():
    # Three blocks separated by empty columns: 80, 11 and 9 spaxels (100 valid).
    good = np.zeros((12, 30), dtype=bool)
    good[:8, :10] = True  # 80
    good[0, 12:23] = True  # 11 -> 11 % kept
    good[0, 25:] = False
    good[5, 25:30] = True  # 5
    good[7, 25:29] = True  # 4 -> separate from the row above (row 6 empty)
    assert good.sum() == 100
    keep = island_keep_mask(good, 0.1)
    assert keep[:8, :10].all() and keep[0, 12:23].all()
    assert not keep[5, 25:30].any() and not keep[7, 25:29].any()
    # Two equal halves: both kept.
    halves = np.zeros((5, 11), dtype=bool)
    halves[:, :5] = halves[:, 6:] = True
    assert island_keep_mask(halves, 0.1).sum() == 50
    # fraction 0 keeps everything; an empty selection stays empty.
    np.testing.assert_array_equal(island_keep_mask(good, 0.0), good)
    assert not island_keep_mask(np.zeros((4, 4), bool), 0.1).any()


def test_diagonal_contact_does_not_connect():
    good = np.eye(4, dtype=bool)
    labels, n = component_labels_grid(good)
    assert n == 4
    # Points on a diagonal alone would suggest a spacing of sqrt(2): give it.
    x, y = np.nonzero(good)
    labels, n = component_labels_points(x.astype(float), y.astype(float), spacing=1.0)
    assert n == 4
    # A 3x3 block and a point touching its corner: the spacing is found, they stay apart.
    block = np.zeros((4, 4), dtype=bool)
    block[:3, :3] = block[3, 3] = True
    x, y = np.nonzero(block)
    labels, n = component_labels_points(x * 0.5, y * 0.5)
    assert n == 2
    np.testing.assert_array_equal(np.bincount(labels), [9, 1])


def test_point_list_matches_map():
    field = disc_field(200.0, 50.0, bundle=61, noise=10.0, seed=3)
    vel = field.velocity.to_value(KMS).copy()
    good = np.array(field.good)
    good[0:2, 0:3] = True  # detached island
    vel[0:2, 0:3] = 150.0
    inside = np.flatnonzero(field.good)
    vel.ravel()[inside[[5, 50]]] = [3000.0, -2500.0]
    dirty = _map_field(vel, good)
    from_map = clean_velocity_field(dirty)

    x, y, v, _ = dirty.points()
    points = VelocityField.from_points(x, y, v)
    from_points = clean_velocity_field(points)
    assert not from_points.is_map
    np.testing.assert_array_equal(from_points.good, from_map.good[dirty.good])
    assert from_points.meta["cleaning"] == from_map.meta["cleaning"]

    # Turning the field on the sky changes nothing either.
    turned = clean_velocity_field(dirty.rotated(33 * u.deg))
    np.testing.assert_array_equal(turned.good, from_map.good.ravel())


def test_grid_spacing():
    yy, xx = np.mgrid[0:5, 0:7] * 0.5
    assert grid_spacing(xx.ravel(), yy.ravel()) == pytest.approx(0.5)
    assert np.isnan(grid_spacing(np.zeros(1), np.zeros(1)))
    # Coincident points do not fool it.
    xs = np.concatenate([xx.ravel(), xx.ravel()[:3]])
    ys = np.concatenate([yy.ravel(), yy.ravel()[:3]])
    assert grid_spacing(xs, ys) == pytest.approx(0.5)


def test_sigma_clip_matches_astropy():
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(0, 50, 800), [900, -700, 650, 1200, -2000]])
    rng.shuffle(values)
    ours = sigma_clip_keep_mask(values, sigma=3.0, maxiters=5)
    theirs = sigma_clip(values, sigma=3.0, maxiters=5, cenfunc="median", stdfunc="std")
    np.testing.assert_array_equal(ours, ~np.ma.getmaskarray(theirs))
    assert (~ours).sum() >= 5
    # One iteration clips only the first round; a constant array loses nothing.
    once = sigma_clip_keep_mask(values, sigma=3.0, maxiters=1)
    assert once.sum() >= ours.sum()
    assert sigma_clip_keep_mask(np.full(10, 7.0)).all()
    assert sigma_clip_keep_mask(values, maxiters=None).sum() <= ours.sum()


def test_options_disable_steps():
    field = disc_field(10.0, 60.0, bundle=19, noise=5.0)
    vel = field.velocity.to_value(KMS).copy()
    good = np.array(field.good)
    good[0, 0] = True
    vel[0, 0] = 20.0
    vel.ravel()[np.flatnonzero(field.good)[7]] = 5000.0
    dirty = _map_field(vel, good)
    no_islands = clean_velocity_field(dirty, island_fraction=0)
    assert no_islands.good[0, 0]
    assert no_islands.meta["cleaning"]["removed_islands"] == 0
    no_clip = clean_velocity_field(dirty, sigma=None)
    assert no_clip.meta["cleaning"]["removed_clipped"] == 0
    assert no_clip.n_good == dirty.n_good - 1


def test_empty_field():
    vel = np.zeros((10, 10)) * KMS
    field = VelocityField.from_array(vel, mask=np.ones((10, 10), bool))
    cleaned = clean_velocity_field(field)
    assert cleaned.n_good == 0
    assert cleaned.meta["cleaning"] == {
        "valid": 0, "removed_islands": 0, "removed_clipped": 0, "kept": 0,
        "island_fraction": 0.1, "sigma": 3.0, "maxiters": 5,
    }


def test_bad_arguments():
    field = disc_field(10.0, 60.0, bundle=19)
    with pytest.raises(TypeError, match="VelocityField"):
        clean_velocity_field(field.velocity)
    with pytest.raises(ValueError, match="island_fraction"):
        clean_velocity_field(field, island_fraction=1.5)
    with pytest.raises(ValueError, match="sigma"):
        clean_velocity_field(field, sigma=-1)
    with pytest.raises(ValueError, match="maxiters"):
        clean_velocity_field(field, maxiters=0)
    with pytest.raises(ValueError, match="coordinates"):
        island_keep_mask(np.ones(5, bool), 0.1)
