"""Footprint usability models: file format version 2, inference, training helpers."""

import json
import zipfile

import numpy as np
import pytest
from astropy import units as u

from kinmisalign import mock
from kinmisalign._core.footprint import FEATURE_NAMES
from kinmisalign.classifier import UsabilityModel, classify
from kinmisalign.classifier.footprint_training import (
    calibrated,
    fit_platt,
    footprint_input_spec,
    footprint_layers,
    log_odds,
)
from kinmisalign.classifier.splits import grouped_folds
from kinmisalign.fields import VelocityField

KMS = u.km / u.s


def random_footprint_model(seed=0, calibration=None, average="dihedral", skip=True):
    rng = np.random.default_rng(seed)
    layers = footprint_layers(filters=(4, 6, 6), image_units=8, units=8, skip=skip)
    weights = {}
    shape = (32, 32, 2)
    for layer in layers:
        kind = layer["type"]
        if kind == "conv2d":
            kernel = rng.normal(0, 0.4, (3, 3, shape[-1], layer["filters"]))
            weights[f"{layer['name']}/kernel"] = kernel
            weights[f"{layer['name']}/bias"] = rng.normal(0, 0.1, layer["filters"])
            shape = (shape[0] - 2, shape[1] - 2, layer["filters"])
        elif kind == "maxpool2d":
            shape = (shape[0] // 2, shape[1] // 2, shape[2])
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "concat":
            shape = (shape[0] + layer["size"],)
        elif kind == "dense":
            weights[f"{layer['name']}/kernel"] = rng.normal(0, 1 / np.sqrt(shape[0]),
                                                            (shape[0], layer["units"]))
            weights[f"{layer['name']}/bias"] = rng.normal(0, 0.1, layer["units"])
            shape = (layer["units"],)
    spec = footprint_input_spec(rng.normal(0, 1, (50, len(FEATURE_NAMES))))
    output = {"logit": True, "average": average, "calibration": calibration}
    return UsabilityModel(layers, weights, (32, 32, 2), {"name": "fp-test"}, input=spec,
                          output=output)


def mock_fields(n=6, seed=1):
    out = []
    rng = np.random.default_rng(seed)
    for _ in range(n):
        maps = mock.make_maps_arrays(mock.random_galaxy(rng, binning="VOR10"))
        out.append(VelocityField.from_array(maps.stellar_vel * KMS, mask=maps.stellar_mask))
    return out


def test_version_2_file_round_trip(tmp_path):
    model = random_footprint_model(calibration={"kind": "platt", "slope": 0.8, "intercept": 0.3})
    path = tmp_path / "fp.npz"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        header = json.loads(np.load(zf.open("__model__.npy")).tobytes())
    assert header["version"] == 2 and header["input"]["kind"] == "footprint"
    assert header["output"]["average"] == "dihedral"
    again = UsabilityModel.load(path)
    fields = mock_fields()
    inputs = model.prepare(fields)
    assert inputs.x.shape == (6, 32, 32, 2) and inputs.extra.shape == (6, 3)
    assert np.array_equal(again.predict(inputs.x, inputs.extra),
                          model.predict(inputs.x, inputs.extra))
    # A model that needs nothing of version 2 is still written as version 1.
    plain_path = tmp_path / "plain.npz"
    UsabilityModel([{"type": "flatten"}, {"type": "dense", "name": "d", "units": 1,
                                           "activation": "sigmoid"}],
                   {"d/kernel": np.zeros((1024, 1)), "d/bias": np.zeros(1)}).save(plain_path)
    with zipfile.ZipFile(plain_path) as zf:
        assert json.loads(np.load(zf.open("__model__.npy")).tobytes())["version"] == 1


def test_invalid_version_2_objects_are_refused():
    model = random_footprint_model()
    args = (model.layers, model.weights, model.input_shape)
    with pytest.raises(ValueError, match="input kind"):
        UsabilityModel(*args, input={"kind": "pixels"})
    with pytest.raises(ValueError, match="unknown input features"):
        UsabilityModel(*args, input=dict(model.input, features=["colour", "a", "b"]))
    with pytest.raises(ValueError, match="concat layers take"):
        UsabilityModel(*args, input=dict(model.input, features=["antisymmetry"],
                                         feature_mean=[0.0], feature_scale=[1.0]))
    with pytest.raises(ValueError, match="feature_scale positive"):
        UsabilityModel(*args, input=dict(model.input, feature_scale=[1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="average"):
        UsabilityModel(*args, input=model.input, output={"average": "mean"})
    with pytest.raises(ValueError, match="calibration"):
        UsabilityModel(*args, input=model.input, output={"calibration": {"kind": "isotonic"}})
    with pytest.raises(ValueError, match="features per sample"):
        model.predict(np.zeros((2, 32, 32, 2)))
    with pytest.raises(ValueError, match="extra must have shape"):
        model.predict(np.zeros((2, 32, 32, 2)), np.zeros((2, 2)))


def test_dihedral_average_makes_the_verdict_independent_of_orientation():
    fields = mock_fields(8, seed=4)
    for average, invariant in (("dihedral", True), ("none", False)):
        model = random_footprint_model(seed=2, average=average)
        base, _ = model.predict_fields(fields)
        worst = 0.0
        for k in range(1, 8):
            turned = []
            for f in fields:
                v = f.velocity.value[:, ::-1] if k >= 4 else f.velocity.value
                g = f.good[:, ::-1] if k >= 4 else f.good
                turned.append(VelocityField.from_array(np.rot90(v, k % 4) * KMS,
                                                       mask=~np.rot90(g, k % 4)))
            worst = max(worst, float(np.max(np.abs(model.predict_fields(turned)[0] - base))))
        assert (worst < 1e-5) == invariant, (average, worst)


def test_calibration_is_platt_of_the_averaged_log_odds():
    fields = mock_fields(6, seed=5)
    plain = random_footprint_model(seed=3)
    inputs = plain.prepare(fields)
    z = log_odds(plain, inputs.x, inputs.extra)
    cal = calibrated(plain, 0.5, -1.0)
    expected = 1.0 / (1.0 + np.exp(-(0.5 * z - 1.0)))
    np.testing.assert_allclose(cal.predict(inputs.x, inputs.extra), expected, rtol=1e-5)
    np.testing.assert_allclose(log_odds(cal, inputs.x, inputs.extra), z, rtol=1e-5, atol=1e-5)


def test_classify_with_a_footprint_model_ignores_masked_values_and_padding():
    model = random_footprint_model(seed=6)
    maps = mock.make_maps_arrays(mock.random_galaxy(8, bundle_size=37))
    vel, mask = maps.gas_vel, maps.gas_mask
    good = mask == 0
    dap = VelocityField.from_array(vel * KMS, mask=mask)
    zeroed = VelocityField.from_array(np.where(good, vel, 0.0) * KMS, mask=~good)
    padded = VelocityField.from_array(np.pad(np.where(good, vel, 0.0), 9) * KMS,
                                      mask=~np.pad(good, 9))
    table = classify([dap, zeroed, padded], model=model)
    p = np.asarray(table["USABLE_PROB"])
    assert p[0] == p[1] == p[2]
    empty = VelocityField.from_array(np.full((30, 30), 5.0) * KMS)
    table = classify([empty, dap], model=model)
    assert table["USABLE_PROB"].mask.tolist() == [True, False]
    assert table["USABLE_REASON"][0] == "all unmasked velocities are equal"


def test_numpy_forward_matches_keras_functional(tmp_path):
    pytest.importorskip("tensorflow")
    model = random_footprint_model(seed=7)
    net = model.to_keras()
    fields = mock_fields(5, seed=6)
    inputs = model.prepare(fields)
    keras_z = net.predict([inputs.x, inputs.extra], verbose=0)[:, 0]
    numpy_z = np.asarray(model._value(inputs.x, inputs.extra))
    np.testing.assert_allclose(numpy_z, keras_z, rtol=1e-4, atol=1e-5)


def test_fit_platt_recovers_a_known_calibration():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20000)
    y = rng.random(z.size) < 1 / (1 + np.exp(-(0.6 * z + 0.8)))
    slope, intercept = fit_platt(z, y, prior=0)
    assert abs(slope - 0.6) < 0.03 and abs(intercept - 0.8) < 0.05
    # Separable labels: the smoothed targets keep the slope finite.
    slope, _ = fit_platt(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    assert np.isfinite(slope) and 0 < slope < 20
    with pytest.raises(ValueError, match="both"):
        fit_platt(np.array([0.0, 1.0]), np.array([1, 1]))


def test_grouped_folds_partition_and_keep_groups_together():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 60, 200).astype(str)
    y = rng.random(200) < 0.8
    folds = grouped_folds(groups, y, 5, seed=3)
    tests = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tests), np.arange(200))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert abs(y[test].mean() - y.mean()) < 0.15
    assert [t.tolist() for _, t in folds] == [t.tolist() for _, t in grouped_folds(groups, y, 5,
                                                                                   seed=3)]


def test_train_footprint_is_deterministic_and_learns(tmp_path):
    pytest.importorskip("tensorflow")
    from kinmisalign.classifier.footprint_training import train_footprint

    rng = np.random.default_rng(2)
    fields, labels = [], []
    for i in range(60):
        usable = i % 2 == 0
        gal = mock.random_galaxy(rng, bundle_size=37, usable_stellar=usable)
        maps = mock.make_maps_arrays(gal)
        fields.append(VelocityField.from_array(maps.stellar_vel * KMS, mask=maps.stellar_mask))
        labels.append(gal.quality("stellar") >= 1)
    template = random_footprint_model()
    x, extra, _ = template.prepare(fields)
    y = np.array(labels)
    spec = template.input
    layers = footprint_layers(filters=(4, 4, 4), image_units=8, units=8)
    one = train_footprint(x, extra, y, input_spec=spec, epochs=15, seed=5, layers=layers,
                          learning_rate=3e-3)
    two = train_footprint(x, extra, y, input_spec=spec, epochs=15, seed=5, layers=layers,
                          learning_rate=3e-3)
    for key in one.weights:
        assert np.array_equal(one.weights[key], two.weights[key]), key
    p = one.predict(x, extra)
    assert np.mean((p > 0.5) == y) > 0.85  # half are usable
    one.save(tmp_path / "a.npz")
    two.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    # Fine-tuning starts from the given weights.
    tuned = train_footprint(x, extra, y, input_spec=spec, init=one, epochs=1, seed=6,
                            learning_rate=1e-9)
    for key in one.weights:
        np.testing.assert_allclose(tuned.weights[key], one.weights[key], atol=1e-5)
