"""Usability models shipped with kinmisalign as package data (numpy only, no download)."""

from pathlib import Path

__all__ = ["EMBEDDED_MODELS", "EMBEDDED_ALIASES", "embedded_model_path", "embedded_model_report"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

EMBEDDED_MODELS = {
    "kinmisalign-footprint-v2": {
        "file": "usability-footprint-v2.npz",
        "report": "usability-footprint-v2-report.json",
        "description": "Footprint CNN with symmetry features, pretrained on mock MaNGA "
                       "velocity fields, fine-tuned on 200 real expert-labelled stellar maps "
                       "and Platt-calibrated in cross-validation by "
                       "scripts/train_embedded_model.py, seed 20261202",
    },
    "kinmisalign-mock-v1": {
        "file": "usability-fcn-mock-v1.npz",
        "report": "usability-fcn-mock-v1-report.json",
        "description": "FCN of the published architecture trained by "
                       "scripts/train_embedded_model.py on mock MaNGA velocity fields "
                       "(kinmisalign.mock, realistic mix of expert-like labels), seed 20260101; "
                       "superseded by kinmisalign-footprint-v2 (on real maps it rejects many "
                       "usable fields)",
    },
}
"""Models in ``kinmisalign/data``, by name: the file, the report of the training run that
wrote it (`embedded_model_report`) and a description."""

EMBEDDED_ALIASES = {"embedded": "kinmisalign-footprint-v2"}
"""Other names of embedded models: ``'embedded'`` is the current default one."""


def embedded_model_path(name="embedded"):
    """Path of an embedded model file.

    Parameters
    ----------
    name : str, optional
        A name of `EMBEDDED_MODELS` or an alias (``"embedded"``).

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


def embedded_model_report(name="embedded"):
    """The report written by the training run of an embedded model.

    It records how the model was made (settings, seed, software, the SHA-256
    of the training data and of the model file) and how it scored: for
    ``'kinmisalign-footprint-v2'``, the cross-validated probabilities of the
    real expert-labelled maps and their labels, calibration, mock held-out
    sets and the published network on the same maps. The documentation's
    figures are drawn from it.

    Parameters
    ----------
    name : str, optional
        A name of `EMBEDDED_MODELS` or an alias (``"embedded"``).

    Returns
    -------
    dict
    """
    import json

    embedded_model_path(name)  # checks the name
    return json.loads((DATA_DIR / EMBEDDED_MODELS[EMBEDDED_ALIASES.get(name, name)]["report"])
                      .read_text(encoding="utf-8"))
