"""The embedded usability network on real expert-labelled maps, and the record of its training.

The dev maps (``../shared/data/real-stellar-maps-dev.fits.gz``) are read when
present; the tests that need them skip otherwise. The training report ships
with the model and is always checked.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from kinmisalign.classifier import (
    EMBEDDED_MODELS,
    calibration_error,
    embedded_model_path,
    embedded_model_report,
    load_model,
)
from kinmisalign.fields import VelocityField

KMS = u.km / u.s


@pytest.fixture(scope="module")
def report():
    return embedded_model_report("embedded")


@pytest.fixture(scope="module")
def dev(real_dev_maps_path):
    with fits.open(real_dev_maps_path) as hdul:
        vel = np.array(hdul["VEL"].data, dtype=np.float64)
        labels = Table(hdul["LABELS"].data)
    return vel, labels


def _fields(maps):
    return [VelocityField.from_array(v * KMS, mask=(v == 0)) for v in maps]


def _dap_form(v, rng):
    """A zeroed dev map given as the DAP stores it: values kept at masked spaxels.

    The dev file keeps no value at masked spaxels, so values are made up as the
    DAP's would be: near the edge of the footprint (fits that hit a boundary,
    low coverage) and inside it (failed bins), spurious and large.
    """
    from scipy import ndimage

    good = v != 0
    near = ndimage.binary_dilation(good, iterations=3) & ~good
    holes = ndimage.binary_fill_holes(good) & ~good
    dap = v.copy()
    spurious = near | holes
    dap[spurious] = rng.normal(0.0, 150.0, int(spurious.sum()))
    return dap, ~good


def test_verdict_same_in_dap_form_and_zeroed(dev):
    vel, _ = dev
    rng = np.random.default_rng(0)
    model = load_model("embedded")
    zeroed, _ = model.predict_fields(_fields(vel))
    dap_fields = []
    for v in vel:
        dap, masked = _dap_form(v, rng)
        dap_fields.append(VelocityField.from_array(dap * KMS, mask=masked))
    dap_p, _ = model.predict_fields(dap_fields)
    dp = np.abs(dap_p - zeroed)
    assert np.mean(dp <= 0.1) >= 0.95, f"{np.mean(dp <= 0.1):.1%} within 0.1, max {dp.max()}"
    # The published form reads the values at masked spaxels: there the verdicts move.
    previous = load_model("kinmisalign-mock-v1")
    moved = np.abs(previous.predict_fields(dap_fields)[0] - previous.predict_fields(
        _fields(vel))[0])
    assert moved.max() > 0.1


def test_verdict_independent_of_orientation_and_padding(dev):
    vel, _ = dev
    model = load_model("embedded")
    base, _ = model.predict_fields(_fields(vel))
    worst = np.zeros(len(vel))
    for k in range(1, 8):
        turned = [np.rot90(v[:, ::-1] if k >= 4 else v, k % 4) for v in vel]
        worst = np.maximum(worst, np.abs(model.predict_fields(_fields(turned))[0] - base))
    assert np.mean(worst <= 0.1) >= 0.95, f"max change {worst.max()}"
    cropped = [v[8:-8, 8:-8] if not (v[:8].any() or v[-8:].any() or v[:, :8].any()
                                     or v[:, -8:].any()) else v for v in vel]
    assert sum(c.shape != v.shape for c, v in zip(cropped, vel, strict=True)) > 50
    dp = np.abs(model.predict_fields(_fields(cropped))[0] - base)
    assert np.mean(dp <= 0.1) >= 0.95, f"max change {dp.max()}"


def test_report_belongs_to_the_shipped_model_and_the_dev_file(report, real_dev_maps_path):
    path = embedded_model_path("embedded")
    assert report["model"]["file"] == path.name
    assert report["model"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report["dev_file"]["sha256"] == hashlib.sha256(
        Path(real_dev_maps_path).read_bytes()).hexdigest()


def test_report_figures_follow_from_its_probabilities(report):
    """The summary is recomputed from the recorded cross-validated probabilities and labels."""
    y = np.array(report["labels"]["quality"]) >= 1
    p = np.array(report["cross_validation"]["p"])
    assert p.shape == (report["repeats"], len(y)) and np.isfinite(p).all()
    accuracy = [np.mean((row > 0.5) == y) for row in p]
    ece = [calibration_error(y, row) for row in p]
    summary = report["cross_validation"]["calibrated"]
    assert summary["accuracy"]["mean"] == pytest.approx(np.mean(accuracy))
    assert summary["ece"]["mean"] == pytest.approx(np.mean(ece))
    assert report["model"]["bytes"] <= 2 * 1024**2
    assert EMBEDDED_MODELS["kinmisalign-footprint-v2"]["file"] == report["model"]["file"]


def test_cross_validated_targets(report):
    """The targets of the embedded network on real maps it never saw (cross-validation)."""
    cv = report["cross_validation"]["calibrated"]
    assert cv["accuracy"]["min"] >= 0.88
    assert cv["ece"]["max"] <= 0.08
    published = report.get("published_on_dev", {}).get("cut_to_maps_size")
    if published is None:
        pytest.skip("the report has no figures of the published network")
    assert cv["accuracy"]["mean"] >= published["accuracy"]
    assert cv["auc"]["mean"] >= published["auc"] - 0.01
    # Both fields of the real MAPS file are usable, as the experts judged.
    assert report["real_maps_file"]["stellar"] > 0.5 and report["real_maps_file"]["gas"] > 0.5


def test_embedded_network_on_the_dev_maps_matches_its_report(report, dev):
    """In-sample (the model saw these maps): a check of the file, not of accuracy."""
    vel, labels = dev
    y = np.array(labels["STEL_QUAL"]) >= 1
    assert y.tolist() == [q >= 1 for q in report["labels"]["quality"]]
    p, reasons = load_model("embedded").predict_fields(_fields(vel))
    assert not any(reasons)
    assert np.mean((p > 0.5) == y) >= report["cross_validation"]["calibrated"]["accuracy"]["min"]
