"""UsabilityModel: numpy forward pass against Keras, the model file, classify."""

import json
import subprocess
import sys

import numpy as np
import pytest
from astropy import units as u

from kinmisalign import conf
from kinmisalign._core import mlp
from kinmisalign.classifier import (
    NotClassifiableError,
    UsabilityModel,
    classify,
    load_model,
    prepare_input,
)
from kinmisalign.fields import MapsData, VelocityField

KMS = u.km / u.s
FCN_LAYERS = [
    {"type": "flatten"},
    {"type": "dense", "name": "d0", "units": 8, "activation": "relu"},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "name": "d1", "units": 1, "activation": "sigmoid"},
]


def tiny_model(seed=0):
    rng = np.random.default_rng(seed)
    weights = {"d0/kernel": rng.normal(0, 0.1, (1024, 8)), "d0/bias": rng.normal(0, 0.1, 8),
               "d1/kernel": rng.normal(0, 1.0, (8, 1)), "d1/bias": np.zeros(1)}
    return UsabilityModel(FCN_LAYERS, weights, meta={"name": "tiny"})


def field(seed, shape=(34, 34), name=None):
    v = np.random.default_rng(seed).normal(0, 100, shape)
    return VelocityField.from_array(v * KMS, name=name)


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def randomise(model, seed):
    # Non-trivial weights and biases everywhere, so every layer matters.
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 1.0 / np.sqrt(w.shape[0] if w.ndim == 2 else
                                                   np.prod(w.shape[:-1]) if w.ndim > 1 else 10),
                                  w.shape).astype(np.float32)
                       for w in model.get_weights()])


@pytest.mark.parametrize("kind,n_params", [("fcn", 84321), ("cnn", 210705)])
def test_numpy_forward_matches_keras(keras, kind, n_params, tmp_path):
    from kinmisalign.classifier.training import build_cnn, build_fcn

    net = build_fcn() if kind == "fcn" else build_cnn()
    assert net.count_params() == n_params
    randomise(net, 1)
    model = UsabilityModel.from_keras(net, meta={"name": kind})
    assert model.n_params == n_params
    x = np.random.default_rng(2).uniform(-1.2, 1.2, (64, 32, 32, 1)).astype(np.float32)
    expected = net.predict(x, verbose=0)[:, 0]
    assert np.max(np.abs(model.predict(x) - expected)) < 1e-5
    # Through the file and back to Keras.
    model.save(tmp_path / "m.npz")
    again = UsabilityModel.load(tmp_path / "m.npz")
    assert np.array_equal(again.predict(x), model.predict(x))
    assert np.max(np.abs(again.to_keras().predict(x, verbose=0)[:, 0] - expected)) < 1e-6


def test_unsupported_keras_layer(keras):
    from kinmisalign.classifier.training import build_cnn

    net = build_cnn()
    same = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(4, 3, padding="same"),
                             keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="valid"):
        UsabilityModel.from_keras(same)
    assert UsabilityModel.from_keras(net).layers[0]["type"] == "conv2d"


def test_model_file_has_no_pickle(tmp_path):
    model = tiny_model()
    path = tmp_path / "tiny.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"__model__", "d0/kernel", "d0/bias", "d1/kernel", "d1/bias"}
        assert all(archive[k].dtype != object for k in archive.files)
        header = json.loads(archive["__model__"].tobytes())
    assert header["format"] == "kinmisalign-usability-model" and header["version"] == 1
    assert header["layers"] == FCN_LAYERS and header["meta"] == {"name": "tiny"}
    loaded = load_model(path)
    assert loaded.name == "tiny" and loaded.n_params == model.n_params
    x = np.random.default_rng(0).normal(size=(5, 32, 32)).astype(np.float32)  # no channel axis
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_model_file_refused(tmp_path):
    model = tiny_model()
    header = model._header()
    header["version"] = 99
    np.savez(tmp_path / "future.npz",
             __model__=np.frombuffer(json.dumps(header).encode(), np.uint8), **model.weights)
    with pytest.raises(ValueError, match="upgrade"):
        UsabilityModel.load(tmp_path / "future.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a kinmisalign model"):
        UsabilityModel.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")


def test_model_checks_weights():
    weights = dict(tiny_model().weights)
    weights["d0/kernel"] = weights["d0/kernel"][:100]
    with pytest.raises(ValueError, match="d0/kernel has shape"):
        UsabilityModel(FCN_LAYERS, weights)
    with pytest.raises(ValueError, match="unsupported type"):
        UsabilityModel([{"type": "lstm"}], {})
    with pytest.raises(ValueError, match="one value per sample"):
        UsabilityModel(FCN_LAYERS[:2], tiny_model().weights)
    with pytest.raises(ValueError, match="input must have shape"):
        tiny_model().predict(np.zeros((2, 16, 16, 1)))


def test_sigmoid_is_stable():
    x = np.array([-1000.0, -20.0, 0.0, 20.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise"):  # underflow to 0 is fine
        y = mlp.ACTIVATIONS["sigmoid"](x)
    assert y[0] == 0 and y[2] == 0.5 and y[-1] == 1
    assert np.all(np.diff(y) >= 0)


def test_classify_fields_batch():
    model = tiny_model()
    empty = VelocityField.from_array(np.ones((30, 30)) * KMS, mask=np.ones((30, 30), bool),
                                     name="gas")
    fields = [field(0, name="stellar"), empty, field(1, (44, 44))]
    table = classify(fields, model=model, threshold=0.3)
    assert table.colnames == ["FIELD", "USABLE_PROB", "USABLE", "USABLE_REASON"]
    assert list(table["FIELD"]) == ["stellar", "gas", ""]
    probs = model.predict(prepare_input([fields[0], fields[2]]))
    assert np.allclose(table["USABLE_PROB"][[0, 2]], probs)
    assert table["USABLE_PROB"].mask.tolist() == [False, True, False]
    # Not classified is not usable, however the column is read or written.
    assert table["USABLE"].mask.tolist() == [False, False, False]
    assert table["USABLE"].tolist() == [probs[0] > 0.3, False, probs[1] > 0.3]
    assert table["USABLE"].filled().tolist() == table["USABLE"].tolist()
    assert table["USABLE_REASON"][1] == "no unmasked spaxel"
    assert table.meta == {"USABILITY_MODEL": "tiny", "USABLE_THRESHOLD": 0.3}
    assert "usable" in table["USABLE_PROB"].description
    with pytest.raises(NotClassifiableError):
        classify(empty, model=model)


def test_classify_maps_and_threshold_config():
    model = tiny_model(3)
    maps = [MapsData(field(i), field(i + 10, (40, 40)), meta={"PLATEIFU": f"1-{i}"})
            for i in range(3)]
    table = classify(maps, model=model)
    assert table.colnames == ["PLATEIFU", "USABLE_PROB_STELLAR", "USABLE_STELLAR",
                              "USABLE_REASON_STELLAR", "USABLE_PROB_GAS", "USABLE_GAS",
                              "USABLE_REASON_GAS"]
    by_field = classify([f for m in maps for f in (m.stellar, m.gas)], model=model)
    assert np.array_equal(table["USABLE_PROB_GAS"], by_field["USABLE_PROB"][1::2])
    assert list(table["PLATEIFU"]) == ["1-0", "1-1", "1-2"]
    one = classify(maps[1], model=model)
    assert len(one) == 1 and one["USABLE_PROB_STELLAR"][0] == table["USABLE_PROB_STELLAR"][1]
    with conf.set_temp("usable_threshold", 2.0):
        assert not classify(maps, model=model)["USABLE_STELLAR"].any()
    with pytest.raises(TypeError, match="not a mix"):
        classify([maps[0], maps[0].gas], model=model)
    with pytest.raises(TypeError, match="ndarray"):
        classify([np.zeros((30, 30))], model=model)


def test_import_kinmisalign_stays_light():
    code = ("import sys, kinmisalign, kinmisalign.classifier; "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    for heavy in ("tensorflow", "keras", "keras_tuner", "cv2"):
        assert f"'{heavy}'" not in out


def test_classifier_top_level_is_inference_only():
    # The package imports none of the modules that make networks, and those modules
    # import neither TensorFlow, Keras nor keras-tuner until a network is built.
    code = ("import sys, kinmisalign.classifier as c; "
            "print(sorted(m for m in sys.modules if m.startswith('kinmisalign.classifier.'))); "
            "import kinmisalign.classifier.splits, kinmisalign.classifier.datasets, "
            "kinmisalign.classifier.training, kinmisalign.classifier.tuning, "
            "kinmisalign.classifier.footprint_training; "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    first, second = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                   text=True).stdout.splitlines()
    for module in ("splits", "datasets", "training", "tuning", "footprint_training", "_keras",
                   "_recipe"):
        assert f"'kinmisalign.classifier.{module}'" not in first
    for heavy in ("tensorflow", "keras", "keras_tuner"):
        assert f"'{heavy}'" not in second
    import kinmisalign.classifier as classifier

    for name in ("train", "tune", "build_dataset", "split_groups", "build_fcn", "Dataset"):
        assert name not in classifier.__all__


@pytest.mark.parametrize("name, home", [("train", "training"), ("tune", "tuning"),
                                        ("build_fcn", "training"), ("build_cnn", "training"),
                                        ("split_groups", "splits"), ("class_weights", "splits"),
                                        ("build_dataset", "datasets"), ("Dataset", "datasets")])
def test_moved_training_names_still_import_with_a_warning(name, home):
    # Run in a fresh interpreter: the first access warns, later ones find the name bound.
    code = (f"import warnings, importlib, kinmisalign.classifier as c\n"
            f"with warnings.catch_warnings(record=True) as w:\n"
            f"    warnings.simplefilter('always')\n"
            f"    from kinmisalign.classifier import {name} as old\n"
            f"new = getattr(importlib.import_module('kinmisalign.classifier.{home}'), '{name}')\n"
            f"assert old is new\n"
            f"print(len(w), w[0].category.__name__, w[0].message)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert out == (f"1 AstropyDeprecationWarning kinmisalign.classifier.{name} has moved: "
                   f"import it from kinmisalign.classifier.{home}")
    import kinmisalign.classifier as classifier

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        classifier.nothing  # noqa: B018


# -- hostile model files: nothing is ever unpickled or run ---------------------------------------
class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _hostile_files(tmp_path, marker):
    import pickle

    payload = pickle.dumps(_Payload(marker))
    model = tiny_model()
    header = np.frombuffer(json.dumps(model._header()).encode(), np.uint8)
    objects = np.array([_Payload(marker)], dtype=object)
    files = {}
    # A raw pickle, under the names a model file might have.
    for name in ("model.pkl", "model.npz", "model.npy", "model.h5", "model.keras"):
        (tmp_path / name).write_bytes(payload)
        files[name] = "pickle"
    # A numpy array of Python objects (.npy).
    np.save(tmp_path / "objects.npy", objects, allow_pickle=True)
    files["objects.npy"] = "single numpy array"
    # A valid header beside a weight array holding Python objects.
    np.savez(tmp_path / "weights.npz", __model__=header,
             **{**model.weights, "d0/bias": objects})
    files["weights.npz"] = "Python objects"
    # The header itself an object array.
    np.savez(tmp_path / "header.npz", __model__=objects, **model.weights)
    files["header.npz"] = "Python objects"
    # A zip archive with a plain pickle member beside the model.
    import zipfile

    model.save(tmp_path / "extra.npz")
    with zipfile.ZipFile(tmp_path / "extra.npz", "a") as zf:
        zf.writestr("evil.pkl", payload)
    files["extra.npz"] = "not a numpy array"
    return files


def test_hostile_pickles_never_run(tmp_path):
    import pickle

    marker = tmp_path / "marker"
    files = _hostile_files(tmp_path, marker)
    # The payload is live: unpickling it does create the marker.
    pickle.loads((tmp_path / "model.pkl").read_bytes()).close()
    assert marker.exists()
    marker.unlink()
    for name, message in files.items():
        path = tmp_path / name
        loaders = [UsabilityModel.load, load_model]
        if name.endswith((".h5", ".keras")):
            loaders = [UsabilityModel.load]  # load_model hands these to Keras (below)
        for loader in loaders:
            with pytest.raises(ValueError, match=message) as info:
                loader(path)
            assert str(path) in str(info.value), name
            assert not marker.exists(), (name, loader)


@pytest.mark.parametrize("change, message", [
    (lambda h, w: w.update({"d0/kernel": np.zeros((1024, 9))}), "d0/kernel"),
    (lambda h, w: w.pop("d1/bias"), "d1/bias"),
    (lambda h, w: h.update(input_shape=[16, 16, 1]), "d0/kernel"),
    (lambda h, w: h.pop("layers"), "missing 'layers'"),
    (lambda h, w: h.update(layers=["dense"]), "invalid model"),
    (lambda h, w: h["layers"].append({"type": "lambda", "name": "x"}), "unsupported type"),
    (lambda h, w: h["layers"][1].update(activation="eval"), "unsupported activation"),
    (lambda h, w: w.update({"d0/bias": np.array(["a"] * 8)}), "dtype"),
    (lambda h, w: h.update(version="two"), "invalid format version"),
], ids=["kernel-shape", "missing-bias", "input-shape", "no-layers", "layer-not-dict",
        "unknown-layer", "unknown-activation", "string-weights", "bad-version"])
def test_model_file_of_wrong_content(tmp_path, change, message):
    model = tiny_model()
    header, weights = model._header(), dict(model.weights)
    change(header, weights)
    path = tmp_path / "bad.npz"
    np.savez(path, __model__=np.frombuffer(json.dumps(header).encode(), np.uint8), **weights)
    with pytest.raises(ValueError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_model_file_not_json_or_not_zip(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, __model__=np.frombuffer(b"\xff{not json", np.uint8))
    with pytest.raises(ValueError, match="unreadable header"):
        UsabilityModel.load(path)
    path.write_bytes(b"PK\x03\x04 truncated archive")
    with pytest.raises(ValueError, match="not a readable .npz"):
        UsabilityModel.load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a kinmisalign model file"):
        UsabilityModel.load(path)


def test_model_archive_bomb_refused(tmp_path, monkeypatch):
    from kinmisalign.classifier import _model

    path = tmp_path / "m.npz"
    tiny_model().save(path)
    monkeypatch.setattr(_model, "_MAX_UNPACKED", 1000)
    with pytest.raises(ValueError, match="would unpack to"):
        UsabilityModel.load(path)


def _lambda_net(keras, marker):
    # A Lambda layer holding a Python lambda: Keras stores its bytecode in the file.
    return keras.Sequential([
        keras.Input((32, 32, 1)), keras.layers.Flatten(),
        keras.layers.Lambda(lambda x: (open(marker, "w").close(), x)[1]),
        keras.layers.Dense(1, activation="sigmoid")])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_file_with_code_refused(keras, tmp_path, suffix):
    marker = tmp_path / "marker"
    net = _lambda_net(keras, str(marker))
    path = tmp_path / f"evil{suffix}"
    net.save(path)
    marker.unlink(missing_ok=True)  # saving traces the lambda once
    # The payload is live: Keras outside safe mode runs it.
    keras.saving.load_model(path, compile=False, safe_mode=False)(np.zeros((1, 32, 32, 1)))
    assert marker.exists()
    marker.unlink()
    for loader in (load_model, UsabilityModel.from_keras_file):
        with pytest.raises(ValueError, match="safe mode.*Lambda") as info:
            loader(path)
        assert str(path) in str(info.value)
        assert not marker.exists()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own numpy 2 warning on save
def test_keras_file_round_trip(keras, tmp_path):
    from kinmisalign.classifier._keras import build_fcn

    net = build_fcn(units=(8,), dropout=(0.5,))
    randomise(net, 3)
    path = tmp_path / "net.keras"
    net.save(path)
    model = load_model(path)
    assert model.meta == {"source": str(path)}
    x = np.random.default_rng(1).normal(size=(4, 32, 32, 1)).astype(np.float32)
    assert np.allclose(model.predict(x), net.predict(x, verbose=0)[:, 0], atol=1e-5)
    with pytest.raises(FileNotFoundError):
        UsabilityModel.from_keras_file(tmp_path / "none.keras")


def test_cli_run_refuses_hostile_model(tmp_path, capsys):
    from astropy.table import Table

    from kinmisalign.cli import main

    marker = tmp_path / "marker"
    _hostile_files(tmp_path, marker)
    catalogue, out = tmp_path / "cat.ecsv", tmp_path / "out.ecsv"
    Table({"PLATEIFU": ["8000-1901"]}).write(catalogue)
    for name in ("model.pkl", "weights.npz"):
        assert main(["run", str(catalogue), "-o", str(out), "--source", str(tmp_path),
                     "--model", str(tmp_path / name), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert name in err and ("pickle" in err or "Python objects" in err)
        assert not marker.exists() and not out.exists()
