"""Optional dependencies: one message, naming the feature, what is missing and the extra."""

import sys

import pytest

from kinmisalign._optional import install_command, require


def _missing(monkeypatch, *modules):
    # A None entry makes the import fail as an absent module would.
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_present_module_is_returned():
    import json

    assert require("json", extra="none", feature="this test") is json


def test_missing_module_message(monkeypatch):
    _missing(monkeypatch, "tensorflow")
    with pytest.raises(ImportError) as info:
        require("tensorflow", extra="nn", feature="training a network")
    message = str(info.value)
    assert message.startswith("training a network needs tensorflow, which cannot be imported (")
    assert message.endswith('; install it with: pip install "kinmisalign[nn]"')
    assert info.value.name == "tensorflow"
    assert isinstance(info.value.__cause__, ImportError)  # the original error is kept


def test_package_and_note_are_named(monkeypatch):
    _missing(monkeypatch, "marvin")
    with pytest.raises(ImportError, match=r'^the Marvin source needs sdss-marvin, which cannot be '
                       r'imported \(.*\); install it with: pip install "kinmisalign\[marvin\]" '
                       r"in an environment of its own"):
        require("marvin", extra="marvin", feature="the Marvin source", package="sdss-marvin",
                note="in an environment of its own")


def test_install_command():
    assert install_command("dask") == 'pip install "kinmisalign[dask]"'


def test_progress_bar_without_tqdm(monkeypatch, tmp_path):
    from kinmisalign.batch import measure_files

    _missing(monkeypatch, "tqdm", "tqdm.auto")
    missing = [tmp_path / "none.fits.gz"]
    with pytest.raises(ImportError, match=r'^progress_bar=True needs tqdm, which cannot be '
                       r'imported .*pip install "kinmisalign\[progress\]"$'):
        measure_files(missing, progress_bar=True)
    # 'auto' runs without a bar.
    assert len(measure_files(missing, progress_bar="auto")) == 1


def test_dask_without_dask(monkeypatch, tmp_path):
    from kinmisalign.batch import measure_files

    _missing(monkeypatch, "dask.distributed")
    with pytest.raises(ImportError, match=r'^parallel="dask" needs dask.distributed, which '
                       r'cannot be imported .*pip install "kinmisalign\[dask\]"$'):
        measure_files([tmp_path / "none.fits.gz"], parallel="dask")


def test_marvin_source_without_marvin(monkeypatch):
    import numpy as np

    from kinmisalign.sources import get_source

    monkeypatch.setattr(np, "__version__", "1.26.4")  # past the numpy check
    _missing(monkeypatch, "marvin")
    with pytest.raises(ImportError, match=r'^the Marvin source needs sdss-marvin, which cannot '
                       r'be imported .*pip install "kinmisalign\[marvin\]" in an environment of '
                       r"its own"):
        get_source("marvin")


def test_training_without_keras(monkeypatch):
    from kinmisalign.classifier._keras import import_keras

    _missing(monkeypatch, "keras")
    with pytest.raises(ImportError, match=r"^training a network needs Keras 3 with "
                       r'TensorFlow, which cannot be imported .*pip install "kinmisalign\[nn\]"$'):
        import_keras()


def test_tuning_without_keras_tuner(monkeypatch):
    from kinmisalign.classifier.tuning import _import_tuner

    _missing(monkeypatch, "keras_tuner")
    with pytest.raises(ImportError, match=r"^tune needs keras-tuner, which cannot be imported "
                       r'.*pip install "kinmisalign\[tune\]"$'):
        _import_tuner()
