"""Velocity-field usability classifier (Duckworth et al. 2020).

A neural network judges from the velocity map alone whether a field is
usable for a kinematic position-angle fit. Inference, and reading the
published network's TensorFlow checkpoint, run with numpy; Keras 3 and
TensorFlow (extra ``nn``) are needed only to build or train networks.
Training of kinmisalign's own footprint networks is in
`kinmisalign.classifier.footprint_training`.
"""

from ._classify import classify, load_model
from ._embedded import EMBEDDED_MODELS, embedded_model_path, embedded_model_report
from ._input import INPUT_SIZE, NotClassifiableError, prepare_input
from ._keras import build_cnn, build_fcn
from ._model import ModelInput, UsabilityModel
from ._published import ModelDownloadError, converted_model_path, published_model_urls
from .evaluation import CONFIDENCES, calibration_error, confusion_matrix, evaluate, reliability
from .plots import (
    plot_confusion_matrix,
    plot_probability_by_quality,
    plot_reliability_diagram,
    plot_usability_histogram,
)
from .training import Dataset, build_dataset, class_weights, split_groups, train, tune

__all__ = [
    "classify",
    "load_model",
    "prepare_input",
    "UsabilityModel",
    "ModelInput",
    "build_fcn",
    "build_cnn",
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
    "Dataset",
    "build_dataset",
    "class_weights",
    "split_groups",
    "train",
    "tune",
]
