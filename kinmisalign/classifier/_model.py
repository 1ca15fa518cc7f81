"""The usability model: architecture plus weights, run with numpy, stored without pickle.

File format (``.npz``, version 1)
---------------------------------
A numpy ``.npz`` archive, read with ``allow_pickle=False``, holding only plain
numeric arrays:

``__model__``
    uint8 array of the UTF-8 bytes of a JSON object::

        {"format": "kinmisalign-usability-model", "version": 1,
         "input_shape": [32, 32, 1],
         "layers": [{"type": "flatten"},
                    {"type": "dense", "name": "dense_0", "units": 64,
                     "activation": "relu"},
                    {"type": "dropout", "rate": 0.6}, ...],
         "meta": {"name": ..., "description": ..., "source": ...}}

    Layer types: ``flatten`` (row-major), ``dense`` (``units``,
    ``activation``), ``dropout`` (``rate``; the identity at inference),
    ``conv2d`` (``filters``, ``kernel_size``, ``activation``; stride 1,
    ``valid`` padding) and ``maxpool2d`` (``pool_size``). Activations:
    ``linear``, ``relu``, ``sigmoid``, ``tanh``.
``<name>/kernel``, ``<name>/bias``
    float32 weights of each ``dense`` and ``conv2d`` layer, in Keras' layout:
    a dense kernel is ``(inputs, units)``, a convolution kernel
    ``(rows, columns, in_channels, filters)``.

The last layer must give one value per sample: the probability that the
field is usable.
"""

import json
import os
import zipfile
import zlib

import numpy as np

from .._core import mlp

__all__ = ["UsabilityModel", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "kinmisalign-usability-model"
FORMAT_VERSION = 1
_HEADER_KEY = "__model__"


class UsabilityModel:
    """A velocity-field usability classifier, evaluated with numpy.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions, as in the model file format (`save`).
    weights : dict of str to array-like
        ``'<name>/kernel'`` and ``'<name>/bias'`` of each dense or conv2d layer.
    input_shape : tuple of int, optional
        Shape of one input sample; default ``(32, 32, 1)``.
    meta : dict, optional
        JSON-serialisable description: ``name``, ``description``, ``source``...

    Notes
    -----
    No TensorFlow is needed to evaluate a model. `from_keras` and `to_keras`
    convert to and from a Keras 3 model (extra ``nn``).
    """

    def __init__(self, layers, weights, input_shape=(32, 32, 1), meta=None):
        self.layers = [dict(layer) for layer in layers]
        self.weights = {str(k): np.ascontiguousarray(v, dtype=np.float32)
                        for k, v in weights.items()}
        self.input_shape = tuple(int(n) for n in input_shape)
        self.meta = dict(meta) if meta else {}
        mlp.check_layers(self.layers, self.weights, self.input_shape)
        out = mlp.output_shape(self.layers, self.input_shape)
        if not out or out[-1] != (1,):
            raise ValueError("the last layer must give one value per sample, "
                             f"not shape {out[-1] if out else self.input_shape}")
        try:
            json.dumps(self.meta)
        except TypeError as exc:
            raise TypeError(f"meta must be JSON-serialisable: {exc}") from None

    @property
    def name(self):
        """The model's name (``meta['name']``), or None."""
        return self.meta.get("name")

    @property
    def n_params(self):
        """Number of weights and biases."""
        return int(sum(w.size for w in self.weights.values()))

    def predict(self, x, batch_size=8192):
        """Probability that each input field is usable.

        Parameters
        ----------
        x : array-like
            Network input (see `prepare_input`) of shape ``(n,) + input_shape``;
            a missing trailing channel axis is added.
        batch_size : int, optional
            Samples evaluated at once (bounds the memory used).

        Returns
        -------
        numpy.ndarray
            float32 probabilities, shape ``(n,)``. Samples holding NaN give NaN.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] == self.input_shape[:-1] and self.input_shape[-1] == 1:
            x = x[..., np.newaxis]
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"input must have shape (n, {', '.join(map(str, self.input_shape))})"
                             f", not {x.shape}")
        out = np.empty(len(x), dtype=np.float32)
        for start in range(0, len(x), int(batch_size)):
            chunk = x[start:start + int(batch_size)]
            out[start:start + len(chunk)] = mlp.forward(chunk, self.layers, self.weights)[:, 0]
        return out

    # -- storage ------------------------------------------------------------------------------
    def _header(self):
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "input_shape": list(self.input_shape), "layers": self.layers, "meta": self.meta}

    def save(self, path):
        """Write the model to a ``.npz`` file (no pickle; format in the module docstring).

        Parameters
        ----------
        path : str or path-like
            Destination; written atomically (a temporary file, then renamed).
        """
        path = os.fspath(path)
        header = np.frombuffer(json.dumps(self._header()).encode("utf-8"), dtype=np.uint8)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{_HEADER_KEY: header}, **self.weights)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path):
        """Read a model written by `save`.

        Parameters
        ----------
        path : str or path-like
            A ``.npz`` model file.

        Returns
        -------
        `UsabilityModel`

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ValueError
            When the file is not a model file of this format: not an ``.npz``
            archive, truncated or corrupt, without a readable header, of a newer
            format version, or with weights that do not fit its layers. The
            message names the file and the problem.
        """
        path = os.fspath(path)
        # Opened here so that it is closed whatever numpy makes of it.
        with open(path, "rb") as fh:
            try:
                archive = np.load(fh, allow_pickle=False)
            except ValueError:
                # Neither a zip nor an .npy file: numpy takes it for a pickle, which is refused.
                raise ValueError(f"{path} is not a kinmisalign model file (not an .npz "
                                 "archive)") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise ValueError(f"{path} is not a kinmisalign model file (not a readable "
                                 f".npz archive: {exc})") from exc
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError(f"{path} is not a kinmisalign model file (a single .npy "
                                 "array, not an .npz archive)")
            with archive:
                header, weights = _read_archive(archive, path)
        try:
            return cls(header["layers"], weights, header["input_shape"], header.get("meta"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a usable kinmisalign model file: {exc}") from exc

    # -- Keras --------------------------------------------------------------------------------
    @classmethod
    def from_keras(cls, model, meta=None):
        """Export a Keras 3 sequential model (e.g. after training).

        Parameters
        ----------
        model : keras.Model
            A model made of Flatten, Dense, Dropout, Conv2D (stride 1, valid
            padding) and MaxPooling2D layers, channels-last.
        meta : dict, optional
            Description stored with the model.

        Returns
        -------
        `UsabilityModel`
        """
        from ._keras import layers_from_keras

        layers, weights = layers_from_keras(model)
        return cls(layers, weights, tuple(model.input_shape[1:]), meta)

    def to_keras(self):
        """A Keras 3 model with this architecture and these weights (extra ``nn``).

        Returns
        -------
        keras.Sequential
        """
        from ._keras import keras_from_layers

        return keras_from_layers(self.layers, self.weights, self.input_shape)

    def __repr__(self):
        label = f" {self.name!r}" if self.name else ""
        kinds = "-".join(layer["type"] for layer in self.layers if layer["type"] != "dropout")
        return f"<UsabilityModel{label}: {kinds}, {self.n_params} parameters>"


def _read_archive(archive, path):
    """Header (dict) and weights of an open model archive; ValueError naming the problem."""
    if _HEADER_KEY not in archive.files:
        raise ValueError(f"{path} is not a kinmisalign model file (no {_HEADER_KEY})")
    try:
        raw = archive[_HEADER_KEY]
        weights = {k: archive[k] for k in archive.files if k != _HEADER_KEY}
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, ValueError) as exc:
        # A truncated or corrupt member fails only when it is read.
        raise ValueError(f"{path} is not a readable kinmisalign model file ({exc})") from exc
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as exc:  # JSON and UTF-8 errors
        raise ValueError(f"{path} is not a kinmisalign model file (its {_HEADER_KEY} is not "
                         "JSON)") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a kinmisalign model file (its {_HEADER_KEY} does not "
                         f"describe a {FORMAT_NAME})")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {version}; this kinmisalign reads up to "
                         f"{FORMAT_VERSION}: please upgrade")
    for field in ("layers", "input_shape"):
        if field not in header:
            raise ValueError(f"{path} is not a usable kinmisalign model file (no {field!r} in "
                             "its header)")
    return header, weights
