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
_MAX_UNPACKED = 500_000_000  # bytes; the published network is 1 MB, a zip bomb is not


def _kind_of(magic):
    """What a file seems to be, from its first bytes (for error messages)."""
    if magic.startswith(b"\x93NUMPY"):
        return "a single numpy array (.npy)"
    if magic.startswith(b"\x89HDF"):
        return ("an HDF5 file (a legacy Keras .h5 model is read with "
                "UsabilityModel.from_keras_file)")
    if magic[:1] == b"\x80" or magic[:1] in (b"(", b"]", b"}"):
        return "a Python pickle, which is never loaded"
    return f"unknown content starting {magic[:8]!r}"


def _plain_array(archive, name, path):
    """One member of a model archive, refusing anything but a numeric array."""
    if not name.isprintable() or len(name) > 200:
        raise ValueError(f"{path} has a member with an invalid name {name[:40]!r}")
    try:
        value = archive[name]
    except ValueError as exc:  # object arrays: numpy refuses to unpickle them
        raise ValueError(f"{path}: array {name!r} holds Python objects (pickled data), "
                         f"which are never loaded ({exc})") from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        # A truncated or corrupt member fails only when it is read.
        raise ValueError(f"{path} is not a readable kinmisalign model file: member {name!r} "
                         f"({exc})") from None
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{path}: member {name!r} is not a numpy array (.npy)")
    if value.dtype.kind not in "fiu":
        raise ValueError(f"{path}: array {name!r} has dtype {value.dtype}, not a number type")
    return value


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

    def save(self, path, overwrite=False):
        """Write the model to a ``.npz`` file (no pickle; format in the module docstring).

        Parameters
        ----------
        path : str or path-like
            Destination; written atomically (a temporary file, then renamed).
        overwrite : bool, optional
            Replace an existing file; without it an existing file is an error.

        Raises
        ------
        FileExistsError
            When ``path`` exists and ``overwrite`` is False.
        """
        from .._files import publish, refuse_existing

        path = os.fspath(path)
        if not overwrite:
            refuse_existing([path])
        header = np.frombuffer(json.dumps(self._header()).encode("utf-8"), dtype=np.uint8)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{_HEADER_KEY: header}, **self.weights)
            publish(tmp, path, overwrite)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path):
        """Read a model written by `save`.

        The file is never unpickled: numpy reads it with ``allow_pickle=False``
        and only plain numeric arrays are accepted.

        Parameters
        ----------
        path : str or path-like
            A ``.npz`` model file.

        Returns
        -------
        `UsabilityModel`

        Raises
        ------
        ValueError
            When the file is not a kinmisalign model file (a pickle, a single
            ``.npy`` array, a Keras or HDF5 file, an archive holding Python
            objects...) or describes an inconsistent network; the message
            names the problem.
        FileNotFoundError
            When there is no such file.
        """
        path = os.fspath(path)
        with open(path, "rb") as fh:
            magic = fh.read(8)
        if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise ValueError(f"{path} is not a kinmisalign model file: {_kind_of(magic)}, "
                             f"not a .npz archive written by UsabilityModel.save")
        try:
            with zipfile.ZipFile(path) as zf:
                unpacked = sum(info.file_size for info in zf.infolist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{path} is not a readable .npz archive: {exc}") from exc
        if unpacked > _MAX_UNPACKED:
            raise ValueError(f"{path} would unpack to {unpacked} bytes, far more than any "
                             f"usability model; refused")
        try:
            archive = np.load(path, allow_pickle=False)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is not a readable .npz archive: {exc}") from exc
        with archive:
            names = set(archive.files)
            if _HEADER_KEY not in names:
                hint = (" (it looks like a Keras .keras file: load it with "
                        "UsabilityModel.from_keras_file)" if "config.json" in names else "")
                raise ValueError(f"{path} is not a kinmisalign model file (no {_HEADER_KEY})"
                                 f"{hint}")
            arrays = {name: _plain_array(archive, name, path) for name in archive.files}
        raw = arrays.pop(_HEADER_KEY)
        try:
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"{_HEADER_KEY} must be a 1-d uint8 array")
            header = json.loads(raw.tobytes().decode("utf-8"))
            if not isinstance(header, dict):
                raise ValueError("the header is not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a kinmisalign model file: unreadable header "
                             f"({exc})") from None
        if header.get("format") != FORMAT_NAME:
            raise ValueError(f"{path} is not a kinmisalign model file")
        try:
            version = int(header.get("version", 0))
        except (TypeError, ValueError):
            raise ValueError(f"{path} has an invalid format version "
                             f"{header.get('version')!r}") from None
        if version > FORMAT_VERSION:
            raise ValueError(f"{path} has format version {version}; this "
                             f"kinmisalign reads up to {FORMAT_VERSION}: please upgrade")
        try:
            return cls(header["layers"], arrays, header["input_shape"], header.get("meta"))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{path} holds an invalid model: {what}") from None

    @classmethod
    def from_keras_file(cls, path, meta=None):
        """Read a Keras 3 model file (``.keras`` or legacy ``.h5``) and export it.

        Keras loads it in *safe mode*: a file that would run Python code on
        loading (a ``Lambda`` layer holding a Python function, pickled
        objects) is refused. Needs the extra ``nn``.

        Parameters
        ----------
        path : str or path-like
            A file written by ``keras.Model.save``.
        meta : dict, optional
            Description stored with the model; default ``{'source': path}``.

        Returns
        -------
        `UsabilityModel`

        Raises
        ------
        ValueError
            When Keras refuses or cannot read the file, or the network has
            layers `from_keras` does not support.
        """
        from ._keras import import_keras

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no Keras model file {path!r}")
        keras = import_keras()
        try:
            net = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many kinds for files it refuses
            raise ValueError(f"{path} could not be loaded as a Keras model in safe mode: "
                             f"{type(exc).__name__}: {exc}") from None
        return cls.from_keras(net, meta={"source": path} if meta is None else meta)

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
