"""kinmisalign: stellar and gas kinematic position angles and their misalignment in MaNGA."""

# The version lives with the provenance, which records it without importing this root.
from ._provenance import VERSION as __version__
from .catalogue import add_kinematic_columns
from .classifier import UsabilityModel, classify, load_model, prepare_input
from .cleaning import clean_velocity_field
from .config import conf
from .exceptions import (
    CheckpointError,
    FitError,
    KinmisalignError,
    MapsFormatError,
    NotEnoughPointsError,
)
from .fields import MapsData, VelocityField
from .maps import read_maps
from .marvin import MarvinSource
from .measure import GalaxyKinematics, measure_maps
from .pa import PAFit, fit_pa, misalignment
from .plotting import plot_misalignment_histogram, plot_velocity_fields
from .sources import LocalSource, SurveySource, get_source

__all__ = [
    "__version__",
    "conf",
    "add_kinematic_columns",
    "KinmisalignError",
    "CheckpointError",
    "MapsFormatError",
    "FitError",
    "NotEnoughPointsError",
    "MapsData",
    "VelocityField",
    "clean_velocity_field",
    "fit_pa",
    "PAFit",
    "misalignment",
    "read_maps",
    "measure_maps",
    "GalaxyKinematics",
    "plot_velocity_fields",
    "plot_misalignment_histogram",
    "classify",
    "load_model",
    "prepare_input",
    "UsabilityModel",
    "get_source",
    "LocalSource",
    "SurveySource",
    "MarvinSource",
]
