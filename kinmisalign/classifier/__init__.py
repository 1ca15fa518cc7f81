"""Velocity-field usability classifier (Duckworth et al. 2020): inference and evaluation.

A neural network judges from the velocity map alone whether a field is
usable for a kinematic position-angle fit. Everything here runs with numpy
(and astropy): classifying fields, preparing network input, loading the
embedded and the published networks (the published network's TensorFlow
checkpoint is read with numpy), and scoring a network against labels
(`evaluate`, `confusion_matrix`, `reliability`, `calibration_error` and
their figures, which need matplotlib only when drawn).

Making networks is in modules of their own, one per dependency level, none
of which is imported here:

- `kinmisalign.classifier.splits`: seeded, grouped splits and folds, class
  weights (numpy).
- `kinmisalign.classifier.datasets`: training sets from expert labels and
  MAPS files found through the sources (numpy, astropy).
- `kinmisalign.classifier.training`: training with Keras 3 and TensorFlow
  (extra ``nn``), and the Keras definitions of the networks.
- `kinmisalign.classifier.tuning`: hyper-parameter search with keras-tuner
  (extra ``tune``).
- `kinmisalign.classifier.footprint_training`: kinmisalign's own footprint
  networks (extra ``nn``).
"""

import importlib
import warnings

from ._classify import classify, load_model
from ._embedded import EMBEDDED_MODELS, embedded_model_path, embedded_model_report
from ._input import INPUT_SIZE, NotClassifiableError, prepare_input
from ._model import ModelInput, UsabilityModel
from ._published import ModelDownloadError, converted_model_path, published_model_urls
from .evaluation import CONFIDENCES, calibration_error, confusion_matrix, evaluate, reliability
from .plots import (
    plot_confusion_matrix,
    plot_probability_by_quality,
    plot_reliability_diagram,
    plot_usability_histogram,
)

__all__ = [
    "classify",
    "load_model",
    "prepare_input",
    "UsabilityModel",
    "ModelInput",
    "NotClassifiableError",
    "ModelDownloadError",
    "published_model_urls",
    "converted_model_path",
    "INPUT_SIZE",
    "EMBEDDED_MODELS",
    "embedded_model_path",
    "embedded_model_report",
    "CONFIDENCES",
    "evaluate",
    "confusion_matrix",
    "reliability",
    "calibration_error",
    "plot_confusion_matrix",
    "plot_usability_histogram",
    "plot_probability_by_quality",
    "plot_reliability_diagram",
]

# Names that lived here before training moved to modules of its own: each still
# imports from here (with a deprecation warning naming its new home).
_MOVED = {
    "split_groups": "splits",
    "class_weights": "splits",
    "Dataset": "datasets",
    "build_dataset": "datasets",
    "train": "training",
    "build_fcn": "training",
    "build_cnn": "training",
    "tune": "tuning",
}


def __getattr__(name):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from astropy.utils.exceptions import AstropyDeprecationWarning

    home = f"{__name__}.{_MOVED[name]}"
    warnings.warn(f"{__name__}.{name} has moved: import it from {home}",
                  AstropyDeprecationWarning, stacklevel=2)
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # warn once: "from ... import" looks a name up twice
    return value
