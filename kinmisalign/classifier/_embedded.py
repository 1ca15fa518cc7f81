"""Usability models shipped with kinmisalign as package data (numpy only, no download)."""

from pathlib import Path

__all__ = ["EMBEDDED_MODELS", "EMBEDDED_ALIASES", "embedded_model_path"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

EMBEDDED_MODELS = {
    "kinmisalign-mock-v1": {
        "file": "usability-fcn-mock-v1.npz",
        "description": "FCN of the published architecture trained by "
                       "scripts/train_embedded_model.py on mock MaNGA velocity fields "
                       "(kinmisalign.mock, realistic mix of expert-like labels), seed 20260101",
    },
}
"""Models in ``kinmisalign/data``, by name."""

EMBEDDED_ALIASES = {"embedded": "kinmisalign-mock-v1"}
"""Other names of embedded models: ``'embedded'`` is the current default one."""


def embedded_model_path(name="embedded"):
    """Path of an embedded model file.

    Parameters
    ----------
    name : str, optional
        A name of `EMBEDDED_MODELS` or `EMBEDDED_ALIASES`.

    Returns
    -------
    pathlib.Path
    """
    name = EMBEDDED_ALIASES.get(name, name)
    try:
        return DATA_DIR / EMBEDDED_MODELS[name]["file"]
    except KeyError:
        raise ValueError(f"unknown embedded model {name!r}; known: "
                         f"{', '.join([*EMBEDDED_ALIASES, *EMBEDDED_MODELS])}") from None
