"""The published model of Duckworth et al. (2020): fetch, verify, convert once, cache.

The model is a TensorFlow 2.3 SavedModel in the authors' public repository,
which states no licence: it is fetched on the user's request (into astropy's
download cache, package name ``kinmisalign``; no redirect off HTTPS, nothing
larger than the expected file, kept only when its SHA-256 matches), never
shipped. Keras 3 cannot
load it, so its weights are read from its checkpoint (``variables.index`` and
``variables.data-00000-of-00001``) by kinmisalign's own numpy reader of
TensorFlow checkpoints, which checks every checksum: no TensorFlow is needed,
not even once. The weights are stored in kinmisalign's own model format in the
cache directory, so later loads need neither the download nor the checkpoint.
"""

import hashlib
import os
from pathlib import Path

from ..config import conf
from ..exceptions import KinmisalignError
from ._model import UsabilityModel

__all__ = ["PUBLISHED_MODELS", "load_published_model", "load_saved_model", "published_model_urls",
           "converted_model_path", "ModelDownloadError", "check_inputs"]

PKGNAME = "kinmisalign"


class ModelDownloadError(KinmisalignError, OSError):
    """A published model file is missing or differs from the one expected."""


PUBLISHED_MODELS = {
    "duckworth2020": {
        "description": "Fully connected usability network of Duckworth et al. (2020, MNRAS 492, "
                       "1869), trained on expert classifications of MPL-8 MaNGA velocity fields",
        "repository": "Chris-Duckworth/kin_mis_classifications",
        "commit": "225e0a50e43f917e60a83c8d24b63c2c8a5d107d",
        "subdir": "NN/fit-model/optimal_FCN_50epoch_ReduceLRonPlateau",
        # relative path: (size in bytes, sha256)
        "files": {
            "saved_model.pb": (
                148380, "050298b5bcb86642213fe4ae1198c8d3fbe3b932606c7b3a524346a26f5e04e2"),
            "variables/variables.index": (
                2228, "28ca58acc96ca62d72e5cb1504c0bd53c3adaa83201d9a631f0951569aabe361"),
            "variables/variables.data-00000-of-00001": (
                1018843, "7dd283d7e7511e28b5078f9f1b476f2130aa593b5c704c6162175fed92a17111"),
        },
        # Layers of the saved Keras model, in order; the checkpoint numbers the
        # weighted ones layer_with_weights-0, -1, ...
        "layers": [
            {"type": "flatten"},
            {"type": "dense", "name": "dense_0", "units": 64, "activation": "relu"},
            {"type": "dense", "name": "dense_1", "units": 128, "activation": "relu"},
            {"type": "dropout", "rate": 0.6},
            {"type": "dense", "name": "dense_2", "units": 80, "activation": "relu"},
            {"type": "dropout", "rate": 0.5},
            {"type": "dense", "name": "dense_3", "units": 1, "activation": "sigmoid"},
        ],
    },
}


def check_inputs():
    """Six synthetic network inputs for checking a usability model.

    A rotating disc, the same turned by 90 degrees and reversed, noise on the
    disc, zeros and the bare disc mask; the published network gives p(use)
    0.9966, 0.9962, 0.9923, 0.0367, 0.1380 and 0.0786 for them.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(6, 32, 32, 1)``.
    """
    import numpy as np

    yy, xx = np.mgrid[-1:1:32j, -1:1:32j]
    disk = np.hypot(xx, yy) < 0.8
    rot = np.tanh(xx / 0.25) * disk
    rot = rot / np.abs(rot).max()
    noise = np.random.default_rng(0).uniform(-1, 1, (32, 32)) * disk
    batch = [rot, np.rot90(rot), -rot, noise, np.zeros((32, 32)), disk * 1.0]
    return np.array(batch, dtype=np.float32)[..., np.newaxis]


def _spec(name):
    try:
        return PUBLISHED_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown published model {name!r}; known: "
                         f"{', '.join(PUBLISHED_MODELS)}") from None


def published_model_urls(name="duckworth2020"):
    """Where each file of a published model is fetched from (``conf.published_model_url``).

    Parameters
    ----------
    name : str, optional
        Published model name.

    Returns
    -------
    dict
        Relative file path to URL.
    """
    spec = _spec(name)
    base = conf.published_model_url.rstrip("/")
    return {rel: f"{base}/{spec['commit']}/{spec['subdir']}/{rel}" for rel in spec["files"]}


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path, rel, expected, where):
    size, sha = expected
    actual_size = os.path.getsize(path)
    if actual_size != size or _sha256(path) != sha:
        raise ModelDownloadError(
            f"{rel} from {where} is not the published file (size {actual_size}, expected {size}; "
            f"sha256 expected {sha})")


def converted_model_path(name="duckworth2020"):
    """Path of the converted weights in kinmisalign's cache directory.

    Parameters
    ----------
    name : str, optional
        Published model name.

    Returns
    -------
    pathlib.Path
        ``<cache>/models/<name>-<sha256 prefix>-v1.npz`` (the published networks are
        stored in version 1 of the model file format); the file may not exist yet.
    """
    from astropy.config.paths import get_cache_dir

    spec = _spec(name)
    data_sha = spec["files"]["variables/variables.data-00000-of-00001"][1]
    return (Path(get_cache_dir(PKGNAME)) / "models"
            / f"{name}-{data_sha[:12]}-v1.npz")


def _fetch(name):
    """Local, verified paths of the published files (local copy or download cache)."""
    spec = _spec(name)
    local = conf.published_model_dir
    paths = {}
    if local:
        for rel, expected in spec["files"].items():
            path = Path(local).expanduser() / rel
            if not path.is_file():
                raise ModelDownloadError(f"{path} not found (conf.published_model_dir = {local!r})")
            _verify(path, rel, expected, local)
            paths[rel] = path
        return paths

    from astropy.utils.data import clear_download_cache

    from .._download import fetch_to_cache

    for rel, url in published_model_urls(name).items():
        expected = spec["files"][rel]
        try:
            # Known size: nothing larger is even read, and a wrong file never enters the cache.
            path = fetch_to_cache(url, timeout=float(conf.download_timeout),
                                  max_bytes=expected[0], pkgname=PKGNAME,
                                  check=lambda p, u, rel=rel, e=expected: _verify(p, rel, e, u))
        except ModelDownloadError:
            raise
        except Exception as exc:
            # An HTTPError holds the open response: close it rather than leak the socket.
            if callable(getattr(exc, "close", None)):
                exc.close()
            raise ModelDownloadError(f"could not download {url}: {exc}") from exc
        try:
            _verify(path, rel, expected, url)  # again: a cached copy may have been altered
        except ModelDownloadError:
            # Don't keep a wrong file in the cache: the next call fetches it afresh.
            clear_download_cache(url, pkgname=PKGNAME)
            raise
        paths[rel] = Path(path)
    return paths


def _read_checkpoint(paths, spec):
    """The network's weights from its checkpoint files, read with numpy (no TensorFlow)."""
    from ._checkpoint_reader import CheckpointReader

    # Paths given one by one: the download cache does not keep the files' names.
    checkpoint = CheckpointReader(paths["variables/variables.index"],
                                  [paths["variables/variables.data-00000-of-00001"]])
    weighted = [layer for layer in spec["layers"] if layer["type"] == "dense"]
    keys = {f"{layer['name']}/{part}":
            f"layer_with_weights-{index}/{part}/.ATTRIBUTES/VARIABLE_VALUE"
            for index, layer in enumerate(weighted) for part in ("kernel", "bias")}
    tensors = checkpoint.read(keys.values())
    return {name: tensors[key] for name, key in keys.items()}


def _model_from_files(name, paths, source):
    """The published model ``name`` from its verified SavedModel files."""
    spec = _spec(name)
    weights = _read_checkpoint(paths, spec)
    meta = {"name": name, "description": spec["description"],
            "repository": spec["repository"], "commit": spec["commit"],
            "subdir": spec["subdir"], "source": str(source)}
    return UsabilityModel(spec["layers"], weights, (32, 32, 1), meta)


def load_saved_model(folder):
    """A published network from a TensorFlow SavedModel folder, read with numpy.

    The folder holds ``saved_model.pb`` and ``variables/variables.index`` and
    ``.data-*``, as the authors' repository stores the network. The weights
    are read from the checkpoint without TensorFlow; the architecture is that
    recorded for the published network whose files (sizes and SHA-256) the
    folder's match: the layers of other SavedModels are not known.

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    `UsabilityModel`

    Raises
    ------
    FileNotFoundError
        The folder is not a SavedModel folder.
    ValueError
        The SavedModel is not one of `PUBLISHED_MODELS`.
    """
    folder = Path(folder)
    missing = [rel for rel in ("saved_model.pb", "variables/variables.index")
               if not (folder / rel).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a TensorFlow SavedModel folder: "
                                f"{' and '.join(missing)} not found")
    differences = []
    for name, spec in PUBLISHED_MODELS.items():
        paths = {rel: folder / rel for rel in spec["files"]}
        differ = [rel for rel, (size, sha) in spec["files"].items()
                  if not paths[rel].is_file() or os.path.getsize(paths[rel]) != size
                  or _sha256(paths[rel]) != sha]
        if not differ:
            return _model_from_files(name, paths, folder)
        differences.append(f"{name}: {', '.join(differ)} differ{'s' if len(differ) == 1 else ''}")
    raise ValueError(
        f"the SavedModel in {folder} is not a published network ({'; '.join(differences)}): "
        "kinmisalign knows the architecture of the published networks only. Save a Keras "
        "model as a .keras file and give that path instead")


def load_published_model(name="duckworth2020"):
    """The published model, converted on first use and cached.

    Parameters
    ----------
    name : str, optional
        Published model name.

    Returns
    -------
    `UsabilityModel`
    """
    cached = converted_model_path(name)  # also refuses an unknown name
    if cached.is_file():
        try:
            return UsabilityModel.load(cached)
        except (ValueError, OSError, KeyError):
            cached.unlink()  # damaged: convert again
    paths = _fetch(name)
    source = conf.published_model_dir or published_model_urls(name)["saved_model.pb"]
    model = _model_from_files(name, paths, source)
    cached.parent.mkdir(parents=True, exist_ok=True)
    model.save(cached, overwrite=True)  # the cache's own file, found damaged or absent
    return model
