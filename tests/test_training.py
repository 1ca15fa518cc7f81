"""Training, tuning, datasets from expert labels, evaluation and the embedded model."""

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from kinmisalign import conf, mock
from kinmisalign.classifier import (
    EMBEDDED_MODELS,
    UsabilityModel,
    classify,
    confusion_matrix,
    embedded_model_path,
    evaluate,
    load_model,
    plot_confusion_matrix,
    plot_usability_histogram,
)
from kinmisalign.classifier.datasets import build_dataset
from kinmisalign.classifier.splits import class_weights, split_groups
from kinmisalign.maps import read_maps


def toy_set(n=96, seed=0):
    """Rotating discs at random angles (usable) and noise (not), two fields per 'galaxy'."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1:1:32j, -1:1:32j]
    disk = np.hypot(xx, yy) < 0.8
    x = np.empty((n, 32, 32, 1), np.float32)
    y = rng.random(n) < 0.6
    for i in range(n):
        if y[i]:
            a = rng.uniform(0, 2 * np.pi)
            v = np.tanh((xx * np.cos(a) + yy * np.sin(a)) / 0.3) * disk
        else:
            v = rng.uniform(-1, 1, (32, 32)) * disk
        x[i, :, :, 0] = v + rng.normal(0, 0.05, (32, 32)) * disk
    groups = np.repeat(np.arange(n // 2), 2)
    return x, y, groups


# -- splits and weights ---------------------------------------------------------------------------
def test_split_groups_grouped_stratified_and_seeded():
    rng = np.random.default_rng(3)
    groups = np.repeat([f"1-{i}" for i in range(1500)], rng.integers(1, 4, 1500))
    y = rng.random(groups.size) < 0.7
    parts = split_groups(groups, y, (0.6, 0.2, 0.2), seed=7)
    everything = np.concatenate(parts)
    assert np.array_equal(np.sort(everything), np.arange(y.size))  # a partition
    sets = [set(groups[p]) for p in parts]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])  # grouped
    for part, target in zip(parts, (0.6, 0.2, 0.2), strict=True):
        assert abs(part.size / y.size - target) < 0.02
        assert abs(y[part].mean() - y.mean()) < 0.02  # stratified
    again = split_groups(groups, y, (0.6, 0.2, 0.2), seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = split_groups(groups, y, (0.6, 0.2, 0.2), seed=8)
    assert not np.array_equal(parts[0], other[0])
    # Without groups every sample is its own group.
    a, b = split_groups(None, y, (0.5, 0.5), seed=0)
    assert abs(a.size - b.size) <= 0.02 * y.size
    with pytest.raises(ValueError, match="binary"):
        split_groups(groups, np.full(groups.size, 2), seed=0)


def test_class_weights_balanced():
    w = class_weights([1, 1, 1, 0])
    assert w == pytest.approx({0: 2.0, 1: 4 / 6})
    assert class_weights(np.ones(3, bool)) == {0: 0.0, 1: 0.5}


# -- evaluation and figures -----------------------------------------------------------------------
def test_evaluate_hand_made_case():
    p = np.array([0.995, 0.9, 0.6, 0.5, 0.3, 0.1, 0.004, np.nan])
    y = np.array([1, 1, 0, 1, 0, 1, 0, 1])
    t = evaluate(None, p, y)
    assert t.colnames == ["confidence", "n_kept", "fraction_kept", "accuracy"]
    assert t["confidence"].tolist() == [0.5, 0.8, 0.95, 0.99]
    # f = 0.5 keeps all 7 classified fields; p > 0.5 is "use": right for 0.995, 0.9, 0.3, 0.004.
    assert t["n_kept"].tolist() == [7, 4, 2, 2]
    assert t["fraction_kept"].tolist() == pytest.approx([1.0, 4 / 7, 2 / 7, 2 / 7])
    assert t["accuracy"].tolist() == pytest.approx([4 / 7, 3 / 4, 1.0, 1.0])
    assert t.meta["n"] == 7 and t.meta["n_unclassified"] == 1
    assert t.meta["baseline_accuracy"] == pytest.approx(4 / 7)
    assert np.isnan(evaluate(None, [0.6], [1], confidences=(0.9,))["accuracy"][0])
    with pytest.raises(ValueError, match="confidences"):
        evaluate(None, p, y, confidences=(0.3,))
    # Rows actual, columns predicted.
    assert confusion_matrix(y, p).tolist() == [[2, 1], [2, 2]]
    assert confusion_matrix([0, 1], np.array([True, True])).tolist() == [[0, 1], [0, 1]]


def test_evaluate_with_a_model():
    x, y, _ = toy_set(16)
    model = load_model("kinmisalign-mock-v1")  # the published architecture's input
    t = evaluate(model, x, y)
    p = model.predict(x)
    assert t["accuracy"][0] == pytest.approx(np.mean((p > 0.5) == y))
    # A footprint model is evaluated on its own input.
    fields, usable = real_style_fields(12)
    model = load_model("embedded")
    inputs = model.prepare(fields)
    t = evaluate(model, inputs, usable)
    p = model.predict(inputs.x, inputs.extra)
    assert t["accuracy"][0] == pytest.approx(np.mean((p > 0.5) == usable))


def real_style_fields(n, seed=4):
    """Stellar fields of mock galaxies in the real style, half usable, and their labels."""
    from astropy import units as u

    from kinmisalign.fields import VelocityField

    rng = np.random.default_rng(seed)
    fields, usable = [], []
    for i in range(n):
        gal = mock.random_galaxy(rng, style="real", usable_stellar=i % 2 == 0)
        maps = mock.make_maps_arrays(gal)
        fields.append(VelocityField.from_array(maps.stellar_vel * u.km / u.s,
                                               mask=maps.stellar_mask))
        usable.append(gal.quality("stellar") >= 1)
    return fields, np.array(usable)


def test_plots_make_figures():
    pytest.importorskip("matplotlib")
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.2, 0.7, 0.99])
    fig = plot_confusion_matrix(y, p, title="test")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["don't use", "use"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "actual"
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "1", "2"]
    fig = plot_confusion_matrix(y, p, normalize=True)
    assert any("0.67" in t.get_text() for t in fig.axes[0].texts)
    fig = plot_usability_histogram(y, p)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["actual label", "p(use)", "prediction (p > 0.5)"]


# -- datasets from expert labels -------------------------------------------------------------------
@pytest.fixture(scope="module")
def mock_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("maps")
    rng = np.random.default_rng(11)
    made = {}
    for plateifu, size, layout, usable_stellar in (("8001-3701", 37, "DR17", True),
                                                   ("8002-1901", 19, "DR15", False),
                                                   ("8003-6101", 61, "DR17", True),
                                                   ("8005-1901", 19, "DR17", True)):
        gal = mock.random_galaxy(rng, bundle_size=size, plateifu=plateifu,
                                 usable_stellar=usable_stellar, usable_gas=True)
        if plateifu == "8005-1901":  # no gas detected: nothing to normalise
            gal = dataclasses.replace(gal, gas=mock.FieldModel(kind="absent"))
        mock.write_maps(gal, root, layout=layout)
        made[plateifu] = gal
    return root, made


def test_build_dataset_joins_labels_to_files(mock_dir):
    root, made = mock_dir
    labels = Table({
        "PlateIFU": [" 8001-3701", "8002-1901 ", "8003-6101", "9999-1901", "8001-3701",
                     "8004-3701", "8005-1901"],
        "MANGAID": ["1-1", "1-1", "1-3", "1-9", "1-1", "1-4", "1-5"],
        "stel_qual": [2, 0, 1, 2, 2, 3, 2],
        "halpha_qual": [1, 0, -1, 0, 2, 1, 0],
    })
    data = build_dataset(labels, root)
    assert data.x.shape == (6, 32, 32, 1) and np.isfinite(data.x).all()
    assert data.y.tolist() == [True, True, False, False, True, True]
    assert data.groups.tolist() == ["1-1", "1-1", "1-1", "1-1", "1-3", "1-5"]
    assert data.samples["FIELD"].tolist() == ["stellar", "gas"] * 2 + ["stellar"] * 2
    assert data.samples["QUALITY"].tolist() == [2, 1, 0, 0, 1, 2]
    reasons = {(r["PLATEIFU"], r["FIELD"]): r["REASON"] for r in data.skipped}
    assert len(reasons) == len(data.skipped) == 8
    assert "invalid value -1" in reasons[("8003-6101", "gas")]
    assert reasons[("9999-1901", "stellar")] == reasons[("9999-1901", "gas")] == "no MAPS file"
    assert reasons[("8001-3701", "stellar")] == "repeated plateifu"
    assert "invalid value 3" in reasons[("8004-3701", "stellar")]
    assert reasons[("8004-3701", "gas")] == "no MAPS file"
    assert reasons[("8005-1901", "gas")].startswith("cannot be normalised")
    # The same inputs through a callable giving MapsData.
    maps = {p: read_maps(next(root.glob(f"manga-{p}-MAPS-*"))) for p in made}
    again = build_dataset(labels, lambda p: maps.get(p), fields=("stellar",))
    assert np.array_equal(again.x, data.x[data.samples["FIELD"] == "stellar"])
    assert len(again.skipped) == 3  # 9999 (no file), 8001 (repeated), 8004 (invalid 3)


def test_build_dataset_reports_the_invalid_expert_values(classifications_path):
    data = build_dataset(classifications_path, lambda plateifu: None)
    assert len(data.y) == 0 and data.x.shape == (0, 32, 32, 1)
    invalid = data.skipped[np.char.startswith(data.skipped["REASON"].astype(str), "stel_qual")]
    assert len(invalid) == 2
    assert all("invalid value 3" in r for r in invalid["REASON"])
    assert len(data.skipped) == 2 * 4589


# -- the embedded model ---------------------------------------------------------------------------
def test_embedded_model_is_the_offline_default():
    path = embedded_model_path()
    assert path.is_file() and path.stat().st_size <= 2 * 1024**2
    assert conf.usability_model == "embedded"
    model = load_model()
    assert model is load_model("kinmisalign-footprint-v2")
    assert model.name == "kinmisalign-footprint-v2" in EMBEDDED_MODELS
    assert model.input["kind"] == "footprint" and model.output["average"] == "dihedral"
    assert model.output["calibration"]["kind"] == "platt"
    fields, usable = real_style_fields(60)
    p, reasons = model.predict_fields(fields)
    assert not any(reasons)
    # Half of these mocks are unusable (real maps: 13 %), so it is a test of ranking.
    ranks = np.argsort(np.argsort(p))
    auc = (ranks[usable].sum() - usable.sum() * (usable.sum() - 1) / 2) / (
        usable.sum() * (~usable).sum())
    assert auc > 0.9 and np.mean((p > 0.5) == usable) > 0.75
    # The previous embedded network stays available by name.
    old = load_model("kinmisalign-mock-v1")
    assert old.layers[0] == {"type": "flatten"} and old.n_params == 84321
    with pytest.raises(ValueError, match="unknown embedded model"):
        embedded_model_path("nope")


def test_embedded_model_needs_no_tensorflow_and_accepts_the_real_file(real_maps_path):
    code = (
        "import sys, json; from kinmisalign import read_maps, classify; "
        f"t = classify(read_maps({str(real_maps_path)!r})); "
        "print(json.dumps([float(t['USABLE_PROB_STELLAR'][0]), float(t['USABLE_PROB_GAS'][0]), "
        "t.meta['USABILITY_MODEL'], 'tensorflow' in sys.modules, 'keras' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    p_stellar, p_gas, name, tf_loaded, keras_loaded = json.loads(out.stdout)
    assert name == "kinmisalign-footprint-v2"
    assert p_stellar > 0.5 and p_gas > 0.5  # experts' verdict on 7815-3702: both usable
    assert not tf_loaded and not keras_loaded
    t = classify(read_maps(real_maps_path), model="embedded")
    assert t["USABLE_STELLAR"][0] and t["USABLE_GAS"][0]


# -- training (TensorFlow) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def trained(keras):
    from kinmisalign.classifier.training import train

    x, y, groups = toy_set(128)
    model, history = train(x, y, groups, epochs=2, batch_size=32, seed=5)
    return x, y, groups, model, history


def test_train_returns_a_model_that_round_trips(trained, tmp_path):
    x, y, _, model, history = trained
    assert isinstance(model, UsabilityModel) and model.n_params == 84321
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert len(history["loss"]) == 2
    # Training data only: 128 samples, 64 groups, 20 % of the groups held out.
    assert model.meta["n_train"] + model.meta["n_validation"] == 128
    assert 20 <= model.meta["n_validation"] <= 32 and model.meta["n_validation"] % 2 == 0
    path = tmp_path / "m.npz"
    model.save(path)
    again = UsabilityModel.load(path)
    assert np.array_equal(again.predict(x), model.predict(x))
    assert again.meta == model.meta
    # The numpy forward pass is the Keras network's (dropout off).
    keras_p = model.to_keras().predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(model.predict(x), keras_p, atol=1e-5)


def test_train_is_seeded(trained, keras):
    from kinmisalign.classifier.training import train

    x, y, groups, model, _ = trained
    again, _ = train(x, y, groups, epochs=2, batch_size=32, seed=5)
    np.testing.assert_allclose(again.predict(x), model.predict(x), atol=1e-5)


def test_augmentation_in_training_only(trained, keras):
    from kinmisalign.classifier._recipe import with_augmentation
    from kinmisalign.classifier.training import augmentation_layers

    model = trained[3]
    assert all(layer["type"] in ("flatten", "dense", "dropout") for layer in model.layers)
    flip, rotation = augmentation_layers(seed=1)
    assert rotation.fill_mode == "nearest" and rotation.interpolation == "bilinear"
    assert flip.mode == "horizontal_and_vertical"
    x = trained[0][:8]
    core = model.to_keras()
    fitted = with_augmentation(core, True, 1)
    assert [type(layer).__name__ for layer in fitted.layers][:2] == ["RandomFlip", "RandomRotation"]
    # Inference: the augmentation is the identity; training: it changes the maps.
    np.testing.assert_allclose(fitted(x, training=False), core(x, training=False), atol=1e-6)
    shuffled = x
    for layer in fitted.layers[:2]:
        shuffled = layer(shuffled, training=True)
    assert not np.allclose(np.asarray(shuffled), x)
    # Rotations keep the input's values in range (bilinear, nearest fill).
    assert np.abs(np.asarray(shuffled)).max() <= np.abs(x).max() + 1e-5


def test_train_cnn_and_explicit_validation(keras):
    from kinmisalign.classifier.training import train

    x, y, _ = toy_set(48)
    model, history = train(x[:32], y[:32], architecture="cnn", epochs=1, batch_size=16,
                           validation=(x[32:], y[32:]), augment=False)
    assert model.n_params == 210705 and model.meta["n_validation"] == 16
    assert "val_loss" in history
    with pytest.raises(ValueError, match="NaN"):
        bad = x.copy()
        bad[0] = np.nan
        train(bad, y, epochs=1)
    with pytest.raises(ValueError, match="architecture"):
        train(x, y, architecture="rnn", epochs=1)


def test_tune_needs_tensorboard(keras, monkeypatch):
    pytest.importorskip("keras_tuner")
    import importlib.util

    from kinmisalign.classifier.tuning import tune

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    x, y, groups = toy_set(32)
    with pytest.raises(ImportError, match="tune"):
        tune(x, y, groups)


def test_tune_finds_a_model(keras, tmp_path):
    pytest.importorskip("keras_tuner")
    pytest.importorskip("tensorboard")
    from kinmisalign.classifier.tuning import tune

    x, y, groups = toy_set(64)
    model, hp = tune(x, y, groups, max_epochs=2, factor=3, batch_size=32, seed=1,
                     directory=tmp_path)
    assert isinstance(model, UsabilityModel)
    assert hp["learning_rate"] in (1e-2, 1e-3, 1e-4)
    assert model.layers[1]["units"] == hp["units_1"]
    assert model.predict(x).shape == (64,)


def _fake_dev_file(path, n=30, seed=0):
    """Mock stellar maps in the dev file's format: 76 x 76, zero-padded, 0 at masked spaxels."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    cube = np.zeros((n, 76, 76))
    plateifus, quality = [], []
    for i in range(n):
        gal = mock.random_galaxy(rng, binning="VOR10", usable_stellar=i % 3 != 0)
        maps = mock.make_maps_arrays(gal)
        vel = np.where(maps.stellar_mask == 0, maps.stellar_vel, 0.0)
        size = vel.shape[0]
        start = (76 - size) // 2
        cube[i, start:start + size, start:start + size] = vel
        plateifus.append(f"{8000 + i}-{gal.ifudesign}")
        quality.append(gal.quality("stellar"))
    labels = Table({"PLATEIFU": plateifus, "STEL_QUAL": quality, "STEL_FEATURE": [0] * n,
                    "STELLAR_PA": np.full(n, np.nan), "REFF": np.full(n, 4.0)})
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, name="VEL"),
                  fits.ImageHDU(np.where(cube != 0, 5.0, np.inf), name="VEL_ERR"),
                  fits.table_to_hdu(labels)]).writeto(path)
    hdul = fits.open(path, mode="update")
    hdul[3].name = "LABELS"
    hdul.close()
    return path


def test_training_script_runs(keras, tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_embedded_model.py"
    if not script.exists():
        pytest.skip("not a source checkout")
    spec = importlib.util.spec_from_file_location("train_embedded_model", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dev = _fake_dev_file(tmp_path / "dev.fits.gz")
    out, report = tmp_path / "m.npz", tmp_path / "r.json"
    args = [str(dev), "--galaxies", "60", "--test-galaxies", "10", "--pretrain-epochs", "1",
            "--epochs", "1", "--replay", "50", "--repeats", "2", "--folds", "3",
            "--processes", "1", "--published-dir", str(tmp_path / "none"),
            "--real-maps-file", str(tmp_path / "none.fits.gz"), "--output", str(out),
            "--report", str(report)]
    module.main(args)
    numbers = json.loads(report.read_text())
    assert set(numbers["mock_held_out"]) == {"realistic", "shifted", "real_style"}
    assert set(numbers["mock_held_out"]["shifted"]) == {"embedded", "previous"}
    cv = numbers["cross_validation"]
    assert len(cv["per_repeat"]) == 2 and len(cv["p"][0]) == 30
    assert 0.0 <= cv["calibrated"]["accuracy"]["mean"] <= 1.0
    # Orientation and padding never change a verdict (the dihedral average, the footprint cut).
    assert numbers["invariance_on_dev"]["orientation_max_abs_dp"] < 1e-5
    assert numbers["invariance_on_dev"]["padding_max_abs_dp"] < 1e-5
    model = UsabilityModel.load(out)
    assert model.name == "kinmisalign-footprint-v2" and model.output["calibration"]
    assert numbers["model"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    # A rerun writes the same bytes.
    again = tmp_path / "again.npz"
    module.main([*args[:-4], "--output", str(again), "--report", str(tmp_path / "r2.json")])
    assert again.read_bytes() == out.read_bytes()
    with pytest.raises(SystemExit):
        module.main([*args[:-4], "--output", str(out), "--report", str(report)])  # no overwrite


def test_build_dataset_directory_with_several_daptypes(tmp_path):
    gal = mock.random_galaxy(3, bundle_size=19, plateifu="8006-1902", usable_stellar=True,
                             usable_gas=True)
    mock.write_maps(gal, tmp_path, tree=True)
    mock.write_maps(dataclasses.replace(gal, binning="VOR10"), tmp_path, tree=True)
    labels = Table({"plateifu": ["8006-1902"], "stel_qual": [2], "halpha_qual": [2]})
    data = build_dataset(labels, tmp_path)
    assert len(data.y) == 0 and "several MAPS files" in data.skipped["REASON"][0]
    data = build_dataset(labels, tmp_path, daptype="vor10-mileshc-mastarssp")
    assert data.y.tolist() == [True, True] and data.groups.tolist() == ["8006-1902"] * 2


def test_build_dataset_never_passes_on_invalid_keys(mock_dir):
    root, made = mock_dir
    hostile = ["../../etc/passwd", "8001-3701\n", "/abs/8001-3701", "%2e%2e-1901", "٨٠٠١-٣٧٠١",
               "8001-3701?x=1", "8" * 200]
    labels = Table({"plateifu": [*hostile, " 8002-1901 "], "stel_qual": [2] * 8,
                    "halpha_qual": [2] * 8})
    asked = []

    def maps_for(plateifu):
        asked.append(plateifu)
        return next(root.glob(f"manga-{plateifu}-MAPS-*"), None)

    data = build_dataset(labels, maps_for)
    assert asked == ["8002-1901"]
    assert len(data.samples) == 2
    invalid = [r for r in data.skipped if r["REASON"].startswith("invalid plateifu")]
    assert len(invalid) == 2 * len(hostile)
    assert all(len(r["PLATEIFU"]) <= 64 for r in invalid)
    # The directory index is equally safe.
    assert len(build_dataset(labels, root).samples) == 2


def test_build_dataset_finds_files_through_the_sources(mock_dir, tmp_path):
    from kinmisalign.sources import LocalSource, SurveySource

    root, made = mock_dir
    labels = Table({"plateifu": ["8001-3701", "8002-1901"], "stel_qual": [2, 0],
                    "halpha_qual": [1, 0]})
    expected = build_dataset(labels, root)
    # A directory is searched as a LocalSource of layout 'recursive' searches it: a copy
    # named in a form no source builds (lower-case 'maps') is not a second MAPS file.
    for path in root.glob("manga-8001-3701-MAPS-*"):
        shutil.copy(path, tmp_path / path.name)
        shutil.copy(path, tmp_path / path.name.replace("-MAPS-", "-maps-"))
    shutil.copy(next(root.glob("manga-8002-1901-MAPS-*")), tmp_path)
    data = build_dataset(labels, tmp_path)
    assert len(data.skipped) == 0 and np.array_equal(data.x, expected.x)
    # Any MAPS source: a local one as given, another one with its DAPTYPE.
    daptype = next(root.glob("manga-8001-3701-MAPS-*")).name.split("-MAPS-")[1].split(".")[0]
    again = build_dataset(labels[:1], LocalSource(tmp_path, layout="flat"), daptype=daptype)
    assert np.array_equal(again.x, expected.x[:2])
    with pytest.raises(ValueError, match="pass daptype"):
        build_dataset(labels, SurveySource())
    # A DAPTYPE of no valid form is an error, not a silent "no MAPS file" on every row.
    with pytest.raises(ValueError, match="DAPTYPE"):
        build_dataset(labels, tmp_path, daptype="HYB10/../X")
    with pytest.raises(ValueError, match="a callable, a MAPS source or a directory"):
        build_dataset(labels, tmp_path / "nowhere")
