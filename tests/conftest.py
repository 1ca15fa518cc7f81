"""Shared fixtures: the reference data in ../shared (skipped when absent)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KINMISALIGN_SHARED", ROOT.parent / "shared"))
REAL_MAPS = SHARED / "data" / "manga-7815-3702-MAPS-HYB10-GAU-MILESHC.fits.gz"
REAL_DEV_MAPS = SHARED / "data" / "real-stellar-maps-dev.fits.gz"
CLASSIFICATIONS = SHARED / "data" / "mpl7-pa-classifications-v0_1-drpall.csv"
PUBLISHED_MODEL = SHARED / "models" / "duckworth2020-fcn"


def _require(path):
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path


@pytest.fixture(scope="session")
def real_maps_path():
    """The real DR15-era MAPS file of 7815-3702 (skips when absent)."""
    return _require(REAL_MAPS)


@pytest.fixture(scope="session")
def classifications_path():
    """The public expert-classification table (skips when absent)."""
    return _require(CLASSIFICATIONS)


@pytest.fixture(scope="session")
def published_model_dir():
    """The published Duckworth et al. (2020) FCN SavedModel (skips when absent)."""
    return _require(PUBLISHED_MODEL)


@pytest.fixture(scope="session")
def real_dev_maps_path():
    """The 200 real labelled stellar velocity fields of the dev set (skips when absent)."""
    return _require(REAL_DEV_MAPS)
