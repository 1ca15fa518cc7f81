"""Train kinmisalign's embedded usability network on mock and real MaNGA velocity fields.

Writes ``kinmisalign/data/usability-footprint-v2.npz`` (the model behind
``load_model('embedded')``) and its report,
``kinmisalign/data/usability-footprint-v2-report.json`` (shipped with the
model, read by `kinmisalign.classifier.embedded_model_report`; every number
and figure of ``docs/classifier.rst`` comes from it). Needs the ``nn`` extra
(TensorFlow, Keras 3) and the real expert-labelled dev maps, whose path is
the first argument::

    python scripts/train_embedded_model.py ../shared/data/real-stellar-maps-dev.fits.gz

Everything is seeded, TensorFlow's op determinism is on and numpy runs on
one thread, so a rerun on the same software writes a byte-identical model.

The recipe
----------
1. **Input**: the footprint form (`kinmisalign._core.footprint`): the good
   spaxels only, centred on the galaxy and cut to their own extent, so a map
   padded with zeros, a map stored with zeros at masked spaxels and the DAP's
   form give the same input; plus three symmetry features (antisymmetry,
   roughness, rotation S/N).
2. **Pretraining** on mock fields (stellar and gas) of `kinmisalign.mock`,
   drawn by ``random_galaxy(..., style="real")``, whose footprints, Voronoi
   bins and unusable and messy fields were made to look like the real maps
   (``--real-style`` sets the fraction; the rest are drawn in the survey
   style with extra unusable, tiny and non-circular cases, `draw_galaxy`),
   half in the DAP's form and half zeroed, HYB10, VOR10 and SPX binnings,
   labelled by the expert-like rules (`label`). With the default (all in
   the real style) the cross-validated figures on the real maps were the
   best of the fractions 0, 0.5 and 1 tried.
3. **Fine-tuning** on the real maps together with a replay of mock fields,
   every real map in all 8 flips and quarter turns each epoch.
4. **Calibration**: Platt's scaling of the log-odds averaged over the 8
   turns, fitted on the cross-validated log-odds of step 5.
5. **Evaluation** by repeated, stratified, grouped cross-validation on the
   real maps: in each fold, steps 3-4 are redone without the fold's maps
   (the calibration of a fold is fitted on the other folds' log-odds), so
   every figure is measured on maps the model never saw. The published
   network of Duckworth et al. (2020) is scored on the same maps when its
   files are found (``--published-dir``); it was trained on many of them,
   so its figures are optimistic.

The final model is step 3 on all real maps, with the calibration of step 4
fitted on all cross-validated log-odds.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

# One thread for numpy's BLAS before numpy loads: sums in a fixed order.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from astropy import units as u  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KINMISALIGN_SHARED", ROOT.parent / "shared"))

SEED = 20261202
MODEL_NAME = "kinmisalign-footprint-v2"
MODEL_FILE = ROOT / "kinmisalign" / "data" / "usability-footprint-v2.npz"
REPORT_FILE = ROOT / "kinmisalign" / "data" / "usability-footprint-v2-report.json"
MIN_SPAXELS = 100
MAX_TWIST = 40.0
KMS = u.km / u.s
# MAPS array side per bundle size in DR15-era files (7815-3702, 37 fibres: 42 x 42).
DR15_MAP_SIZE = {19: 32, 37: 42, 61: 54, 91: 64, 127: 74}

__all__ = ["draw_galaxy", "label", "mock_set", "real_set", "cross_validate", "main"]


# -- mock fields ------------------------------------------------------------------------------
def draw_galaxy(rng, setting, real_style=1.0):
    """One mock galaxy and the name of the case it was drawn as.

    ``setting`` is ``'train'`` (the training mix: a fraction ``real_style``
    of the galaxies in the ``style='real'`` of `random_galaxy`, which looks
    like the real VOR10 maps, the rest in the survey style with extra
    unusable, tiny and non-circular cases), ``'real_style'`` (only the
    former), ``'realistic'`` (the survey mix as `random_galaxy` draws it,
    HYB10) or ``'shifted'`` (settings the training never saw: twice the
    noise, maps padded by 6 spaxels, the footprint turned by up to 30 deg,
    VOR10).
    """
    from kinmisalign import mock

    if setting == "realistic":
        return mock.random_galaxy(rng, binning="HYB10"), "realistic"
    binning = str(rng.choice(["HYB10", "VOR10", "SPX"], p=[0.4, 0.45, 0.15]))
    if setting == "real_style" or (setting == "train" and rng.random() < real_style):
        return mock.random_galaxy(rng, binning=binning, style="real"), "real_style"
    if setting == "shifted":
        binning = "VOR10"
    case = str(rng.choice(["mix", "stellar_unusable", "gas_unusable", "tiny", "non_circular"],
                          p=[0.60, 0.15, 0.15, 0.05, 0.05]))
    force = {"stellar_unusable": {"usable_stellar": False},
             "gas_unusable": {"usable_stellar": True, "usable_gas": False},
             "non_circular": {"usable_stellar": True, "usable_gas": True}}.get(case, {})
    gal = mock.random_galaxy(rng, binning=binning, **force)
    changes = {}
    if case == "tiny":
        changes["coverage"] = float(rng.uniform(0.15, 0.45))
    if case == "non_circular":
        which = str(rng.choice(["stellar", "gas"]))
        twist = float(rng.choice([-1, 1]) * rng.uniform(45.0, 120.0))
        changes[which] = dataclasses.replace(getattr(gal, which), pa_twist=twist)
    if setting == "train" and rng.random() < 0.3:
        changes["map_size"] = gal.shape[0] - 1
    if setting == "shifted":
        changes["map_size"] = gal.shape[0] + 6
        changes["hex_rotation"] = float(rng.uniform(-30.0, 30.0))
        for which in ("stellar", "gas"):
            f = changes.get(which, getattr(gal, which))
            changes[which] = dataclasses.replace(f, noise=2.0 * f.noise)
    return (dataclasses.replace(gal, **changes) if changes else gal), case


def label(gal, which, mask):
    """Expert-like usability of one mock field.

    `MockGalaxy.quality` >= 1, and in addition at least 100 unmasked spaxels
    (25 arcsec^2) and a kinematic PA turning by no more than 40 deg.
    """
    f = getattr(gal, which)
    return bool(gal.quality(which) >= 1 and int((mask == 0).sum()) >= MIN_SPAXELS
                and abs(f.pa_twist) <= MAX_TWIST)


def _mock_fields(task):
    """Inputs of both fields of one mock galaxy (run in worker processes)."""
    from kinmisalign import mock
    from kinmisalign.classifier._input import _prepare, _prepare_footprint
    from kinmisalign.fields import VelocityField

    seed, setting, index, zeroed, real_style, spec6 = task
    rng = np.random.default_rng(seed)
    gal, case = draw_galaxy(rng, setting, real_style)
    maps = mock.make_maps_arrays(gal)
    if zeroed:
        maps = maps.zeroed()
    fields, rows = [], []
    for which in ("stellar", "gas"):
        vel, mask = getattr(maps, f"{which}_vel"), getattr(maps, f"{which}_mask")
        fields.append(VelocityField.from_array(vel * KMS, mask=mask, name=which))
        rows.append({"case": case, "field": which, "kind": getattr(gal, which).kind,
                     "binning": gal.binning, "bundle": gal.bundle_size,
                     "quality": gal.quality(which), "usable": label(gal, which, mask),
                     "group": f"{setting}-{index}"})
    x, features, reasons = _prepare_footprint(fields, errors="nan")
    whole = _prepare(fields, errors="nan")[0] if spec6 else None
    return x, features, rows, reasons, whole


def mock_set(n_galaxies, seed, setting, processes=2, real_style=1.0, spec6=False):
    """Footprint inputs, raw features and descriptions of the fields of mock galaxies.

    Every other galaxy is given in the zeroed form (0 at masked spaxels), the
    others in the DAP's. Fields that cannot be normalised (no gas at all) are
    left out, as `classify` reports them unclassified; their number is
    returned. With ``spec6`` the published network's input of the same
    fields is returned too (last), else None.
    """
    from multiprocessing import get_context

    seeds = np.random.SeedSequence(seed).generate_state(n_galaxies, dtype=np.uint64)
    tasks = [(int(s), setting, i, bool(i % 2), real_style, spec6) for i, s in enumerate(seeds)]
    if processes > 1:
        with get_context("spawn").Pool(processes) as pool:
            parts = pool.map(_mock_fields, tasks, chunksize=64)
    else:
        parts = [_mock_fields(task) for task in tasks]
    x = np.concatenate([p[0] for p in parts])
    features = np.concatenate([p[1] for p in parts])
    rows = [row for p in parts for row in p[2]]
    keep = np.array([not r for p in parts for r in p[3]])
    rows = [row for row, k in zip(rows, keep, strict=True) if k]
    whole = np.concatenate([p[4] for p in parts])[keep] if spec6 else None
    return x[keep], features[keep], rows, int((~keep).sum()), whole


# -- real fields ------------------------------------------------------------------------------
def real_set(path):
    """The dev maps: fields, labels and the published network's two input forms."""
    from astropy.io import fits
    from astropy.table import Table

    from kinmisalign.fields import VelocityField

    with fits.open(path) as hdul:
        vel = np.array(hdul["VEL"].data, dtype=np.float64)
        labels = Table(hdul["LABELS"].data)
    plateifu = np.array([str(p).strip() for p in labels["PLATEIFU"]])
    quality = np.array(labels["STEL_QUAL"], dtype=np.int64)
    fields = [VelocityField.from_array(v * KMS, mask=(v == 0), pixscale=0.5 * u.arcsec,
                                       name=name) for v, name in zip(vel, plateifu, strict=True)]
    return {"vel": vel, "fields": fields, "plateifu": plateifu, "quality": quality,
            "usable": quality >= 1, "feature": np.array(labels["STEL_FEATURE"])}


def maps_size_crop(v, plateifu):
    """A dev map cut to the size of a DR15 MAPS array of its bundle, about its centre.

    The dev maps are zero-padded to 76 x 76; the published network was trained
    on MAPS arrays, whose size follows the bundle. The cut is widened when the
    footprint would not fit.
    """
    bundle = int(plateifu.split("-")[1][:-2])
    n = DR15_MAP_SIZE[bundle]
    rows, cols = np.nonzero(v)
    c = (v.shape[0] - 1) / 2.0
    need = int(np.ceil(2 * max(np.max(np.abs(rows - c)), np.max(np.abs(cols - c))) + 1))
    n = min(max(n, need + (need - n) % 2), v.shape[0])
    start = (v.shape[0] - n) // 2
    return v[start:start + n, start:start + n]


# -- metrics ----------------------------------------------------------------------------------
def ece(p, y, bins=10):
    """Expected calibration error over equal-width bins of p."""
    from kinmisalign.classifier import calibration_error

    return calibration_error(np.asarray(y, dtype=bool), p, bins)


def auc(p, y):
    """Area under the ROC curve (ties count half)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    ranks = rankdata(p)
    n1, n0 = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def scores(p, y):
    """Accuracy at 0.5, AUC, ECE, log-loss and Brier score."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return {"accuracy": float(np.mean((p > 0.5) == y)), "auc": auc(p, y), "ece": ece(p, y),
            "log_loss": float(-np.mean(np.where(y, np.log(q), np.log1p(-q)))),
            "brier": float(np.mean((p - y) ** 2))}


def summarise(per_repeat):
    """Mean and standard deviation over repeats of each score."""
    keys = per_repeat[0].keys()
    return {k: {"mean": float(np.mean([r[k] for r in per_repeat])),
                "std": float(np.std([r[k] for r in per_repeat])),
                "min": float(np.min([r[k] for r in per_repeat])),
                "max": float(np.max([r[k] for r in per_repeat]))} for k in keys}


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


# -- training stages --------------------------------------------------------------------------
def fine_tune(base, real_x, real_extra, real_y, mock_x, mock_extra, mock_y, settings, seed):
    """Steps 3 of the recipe: real maps in all 8 turns plus a mock replay."""
    from kinmisalign.classifier._model import _dihedral
    from kinmisalign.classifier.footprint_training import train_footprint

    rng = np.random.default_rng(seed)
    replay = rng.choice(len(mock_y), size=min(settings["replay"], len(mock_y)), replace=False)
    turns = np.concatenate([_dihedral(real_x, k) for k in range(8)])
    x = np.concatenate([turns, mock_x[replay]])
    extra = np.concatenate([np.tile(real_extra, (8, 1)), mock_extra[replay]])
    y = np.concatenate([np.tile(real_y, 8), mock_y[replay]])
    # The real maps weigh as much in all as the replay times real_weight.
    w_real = settings["real_weight"] * len(replay) / (8 * len(real_y))
    w = np.concatenate([np.full(8 * len(real_y), w_real), np.ones(len(replay))])
    w = w / w.mean()
    return train_footprint(x, extra, y, input_spec=base.input, init=base, sample_weight=w,
                           epochs=settings["epochs"], learning_rate=settings["learning_rate"],
                           seed=seed)


def cross_validate(base, real, real_x, real_extra, mock_x, mock_extra, mock_y, settings,
                   repeats, folds, seed, log=print):
    """Step 5: repeated grouped cross-validation of fine-tuning and calibration.

    Returns the out-of-fold log-odds ``(repeats, n)`` and the fold of each map
    in each repeat.
    """
    from kinmisalign.classifier.footprint_training import log_odds
    from kinmisalign.classifier.splits import grouped_folds

    y = real["usable"]
    n = len(y)
    z = np.full((repeats, n), np.nan)
    fold_of = np.full((repeats, n), -1)
    for r in range(repeats):
        splits = grouped_folds(real["plateifu"], y, folds, seed=seed + 1000 * r)
        for k, (train, test) in enumerate(splits):
            t = time.time()
            model = fine_tune(base, real_x[train], real_extra[train], y[train], mock_x,
                              mock_extra, mock_y, settings, seed=seed + 1000 * r + k)
            z[r, test] = log_odds(model, real_x[test], real_extra[test])
            fold_of[r, test] = k
            log(f"  repeat {r} fold {k}: {len(train)} train, {len(test)} test "
                f"({time.time() - t:.0f} s)")
    return z, fold_of


def cross_fitted(z, y, fold_of):
    """Platt's calibration of each fold's log-odds fitted on the other folds of the repeat."""
    from kinmisalign.classifier.footprint_training import fit_platt

    p = np.full(z.shape, np.nan)
    for r in range(z.shape[0]):
        for k in np.unique(fold_of[r]):
            test = fold_of[r] == k
            slope, intercept = fit_platt(z[r, ~test], y[~test])
            p[r, test] = _sigmoid(slope * z[r, test] + intercept)
    return p


def whole_array_scores(net, real):
    """A network of the published input form on the dev maps, as stored and cut to MAPS size."""
    from kinmisalign.classifier import prepare_input
    from kinmisalign.fields import VelocityField

    out = {}
    as_given = net.predict(prepare_input(real["fields"]))
    cut = [maps_size_crop(v, pid) for v, pid in zip(real["vel"], real["plateifu"], strict=True)]
    cropped = net.predict(prepare_input(
        [VelocityField.from_array(v * KMS, mask=(v == 0)) for v in cut]))
    for name, p in (("as_given_76x76", as_given), ("cut_to_maps_size", cropped)):
        out[name] = dict(scores(p, real["usable"]), p=p.astype(np.float64).tolist())
    return out


def _by(values, keys):
    out = {}
    for key in sorted(set(keys)):
        pick = np.array([k == key for k in keys])
        out[str(key)] = {"n": int(pick.sum()),
                         "accuracy": round(float(np.mean(values[pick])), 4)}
    return out


def mock_scores(p, rows):
    """Accuracy at 0.5 of probabilities of mock fields, overall, per field and per kind."""
    y = np.array([row["usable"] for row in rows])
    right = (p > 0.5) == y
    return {"n": int(len(y)), "accuracy": round(float(right.mean()), 4),
            "auc": round(auc(p, y), 4), "by_field": _by(right, [r["field"] for r in rows]),
            "by_kind": _by(right, [f"{r['field']}:{r['kind']}" for r in rows]),
            "by_binning": _by(right, [r["binning"] for r in rows])}


def invariance(model, real):
    """Largest changes of p when a dev map is flipped or turned, or padded differently."""
    from kinmisalign.fields import VelocityField

    base, _ = model.predict_fields(real["fields"])
    turned = []
    for k in range(1, 8):
        fields = []
        for v in real["vel"]:
            w = v[:, ::-1] if k >= 4 else v
            w = np.rot90(w, k % 4)
            fields.append(VelocityField.from_array(w * KMS, mask=(w == 0)))
        turned.append(np.abs(model.predict_fields(fields)[0] - base))
    turned = np.array(turned)
    cut = [maps_size_crop(v, pid) for v, pid in zip(real["vel"], real["plateifu"], strict=True)]
    cropped, _ = model.predict_fields([VelocityField.from_array(v * KMS, mask=(v == 0))
                                       for v in cut])
    pad = np.abs(cropped - base)
    return {"orientation_max_abs_dp": float(turned.max()),
            "orientation_fraction_within_0.1": float(np.mean(turned.max(axis=0) <= 0.1)),
            "padding_max_abs_dp": float(pad.max()),
            "padding_fraction_within_0.1": float(np.mean(pad <= 0.1))}


def main(argv=None):
    """Train, cross-validate, calibrate; write the model and the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dev_file", help="real-stellar-maps-dev.fits.gz: real expert-labelled "
                                         "stellar maps")
    parser.add_argument("--galaxies", type=int, default=12000, help="mock galaxies to pretrain on")
    parser.add_argument("--real-style", type=float, default=1.0,
                        help="fraction of them drawn in mock's style='real'")
    parser.add_argument("--test-galaxies", type=int, default=2000, help="per mock held-out set")
    parser.add_argument("--pretrain-epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8, help="fine-tuning epochs")
    parser.add_argument("--replay", type=int, default=4000,
                        help="mock fields replayed in fine-tuning")
    parser.add_argument("--real-weight", type=float, default=1.0,
                        help="weight of all real maps relative to the whole replay")
    parser.add_argument("--learning-rate", type=float, default=3e-4,
                        help="fine-tuning learning rate")
    parser.add_argument("--repeats", type=int, default=5, help="cross-validation repeats")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--processes", type=int, default=2, help="for the mock fields")
    parser.add_argument("--published-dir", default=str(SHARED / "models" / "duckworth2020-fcn"),
                        help="the published network's SavedModel, to compare with (if present)")
    parser.add_argument("--real-maps-file",
                        default=str(SHARED / "data" / "manga-7815-3702-MAPS-HYB10-GAU-MILESHC"
                                                      ".fits.gz"),
                        help="a real MAPS file to report (if present)")
    parser.add_argument("--output", default=str(MODEL_FILE))
    parser.add_argument("--report", default=str(REPORT_FILE))
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing model file and report")
    args = parser.parse_args(argv)
    for out in (args.output, args.report):
        if Path(out).exists() and not args.overwrite:
            parser.error(f"{out} exists; pass --overwrite to replace it")
    if not Path(args.dev_file).is_file():
        parser.error(f"no dev file {args.dev_file}")

    from kinmisalign.classifier._classify import classify
    from kinmisalign.classifier._input import _prepare_footprint
    from kinmisalign.classifier.footprint_training import (
        calibrated,
        fit_platt,
        footprint_input_spec,
        log_odds,
        train_footprint,
    )

    def log(text):
        print(f"[{time.time() - t0:6.0f} s] {text}", flush=True)

    t0 = time.time()
    settings = {"epochs": args.epochs, "replay": args.replay, "real_weight": args.real_weight,
                "learning_rate": args.learning_rate}
    report = {"seed": args.seed, "galaxies": args.galaxies, "real_style": args.real_style,
              "pretrain_epochs": args.pretrain_epochs, "fine_tuning": settings,
              "repeats": args.repeats, "folds": args.folds,
              "dev_file": {"name": Path(args.dev_file).name,
                           "sha256": hashlib.sha256(Path(args.dev_file).read_bytes()).hexdigest()},
              "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "platform": platform.platform(), "numpy": np.__version__}

    real = real_set(args.dev_file)
    y_real = real["usable"]
    real_x, real_features, reasons = _prepare_footprint(real["fields"], errors="nan")
    if any(reasons):
        raise SystemExit(f"dev maps that cannot be used: {[r for r in reasons if r]}")
    report["real"] = {"n": int(len(y_real)), "n_usable": int(y_real.sum()),
                      "quality_counts": np.bincount(real["quality"], minlength=3).tolist(),
                      "groups": "PLATEIFU (no two dev maps share one)"}
    log(f"dev maps: {len(y_real)}, {y_real.mean():.3f} usable")

    mock_x, mock_features, mock_rows, dropped, _ = mock_set(args.galaxies, args.seed, "train",
                                                            args.processes, args.real_style)
    mock_y = np.array([row["usable"] for row in mock_rows])
    report["mock_training_set"] = {"n": int(len(mock_y)), "n_usable": int(mock_y.sum()),
                                   "n_not_normalisable": dropped}
    log(f"mock fields: {len(mock_y)}, {mock_y.mean():.3f} usable ({dropped} without input)")

    spec = footprint_input_spec(np.concatenate([mock_features, real_features]))
    def standard(features):
        return ((features - np.asarray(spec["feature_mean"]))
                / np.asarray(spec["feature_scale"])).astype(np.float32)

    mock_extra, real_extra = standard(mock_features), standard(real_features)

    base = train_footprint(mock_x, mock_extra, mock_y, input_spec=spec,
                           epochs=args.pretrain_epochs, seed=args.seed,
                           meta={"name": "footprint-pretrained"})
    log("pretrained on mocks")

    z, fold_of = cross_validate(base, real, real_x, real_extra, mock_x, mock_extra, mock_y,
                                settings, args.repeats, args.folds, args.seed, log=log)
    p = cross_fitted(z, y_real, fold_of)
    cv = [scores(p[r], y_real) for r in range(args.repeats)]
    report["cross_validation"] = {
        "calibrated": summarise(cv),
        "uncalibrated": summarise([scores(_sigmoid(z[r]), y_real) for r in range(args.repeats)]),
        "per_repeat": cv,
        "p": p.tolist(),
    }
    # The pretrained network alone (no real map in training), calibrated the same way.
    z_pre = np.tile(log_odds(base, real_x, real_extra), (args.repeats, 1))
    report["cross_validation"]["mock_only"] = summarise(
        [scores(row, y_real) for row in cross_fitted(z_pre, y_real, fold_of)])
    log(f"cross-validated: {json.dumps(report['cross_validation']['calibrated'])}")

    final = fine_tune(base, real_x, real_extra, y_real, mock_x, mock_extra, mock_y, settings,
                      seed=args.seed + 7)
    slope, intercept = fit_platt(z.ravel(), np.tile(y_real, args.repeats))
    import keras
    import tensorflow as tf

    model = calibrated(final, slope, intercept, meta={
        "name": MODEL_NAME,
        "description": "Footprint CNN with symmetry features, pretrained on mock MaNGA velocity "
                       "fields, fine-tuned on 200 real expert-labelled stellar maps and "
                       "Platt-calibrated in cross-validation (scripts/train_embedded_model.py)",
        "source": "scripts/train_embedded_model.py", "seed": args.seed,
        "tensorflow": tf.__version__, "keras": keras.__version__})
    report["calibration"] = {"slope": slope, "intercept": intercept}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output, overwrite=args.overwrite)
    digest = hashlib.sha256(Path(args.output).read_bytes()).hexdigest()
    report["model"] = {"name": MODEL_NAME, "file": Path(args.output).name,
                       "bytes": os.path.getsize(args.output),
                       "sha256": digest, "parameters": model.n_params,
                       "tensorflow": tf.__version__, "keras": keras.__version__}
    log(f"wrote {args.output} ({report['model']['bytes']} bytes, sha256 {digest[:12]})")

    from kinmisalign import conf
    from kinmisalign.classifier import load_model

    others = {"previous": load_model("kinmisalign-mock-v1")}
    published_dir = Path(args.published_dir)
    if published_dir.is_dir():
        with conf.set_temp("published_model_dir", str(published_dir)):
            others["published"] = load_model("duckworth2020")
    for name, net in others.items():
        report[f"{name}_on_dev"] = whole_array_scores(net, real)
    log(f"{' and '.join(others)} network(s) scored on the dev maps")
    report["labels"] = {"plateifu": real["plateifu"].tolist(), "quality": real["quality"].tolist()}

    report["invariance_on_dev"] = invariance(model, real)
    # Mock fields of other seeds, also judged by the previous embedded network and the
    # published one (on their own input form), so that every network sees the same fields.
    report["mock_held_out"] = {}
    for offset, setting in ((1, "realistic"), (2, "shifted"), (3, "real_style")):
        x, features, rows, _, whole = mock_set(args.test_galaxies, args.seed + offset, setting,
                                               args.processes, args.real_style, spec6=True)
        entry = {"embedded": mock_scores(model.predict(x, standard(features)), rows)}
        for name, net in others.items():
            entry[name] = mock_scores(net.predict(whole), rows)
        report["mock_held_out"][setting] = entry
    log("mock held-out: " + json.dumps({k: {n: v[n]["by_field"] for n in v}
                                         for k, v in report["mock_held_out"].items()}))

    real_file = Path(args.real_maps_file)
    if real_file.is_file():
        from kinmisalign.maps import read_maps

        t = classify(read_maps(real_file), model=model)
        report["real_maps_file"] = {
            "file": real_file.name, "stellar": round(float(t["USABLE_PROB_STELLAR"][0]), 4),
            "gas": round(float(t["USABLE_PROB_GAS"][0]), 4)}
        log(f"7815-3702: {report['real_maps_file']}")

    report["time_total_s"] = round(time.time() - t0, 1)
    Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
    log(f"report in {args.report}")


if __name__ == "__main__":
    main()
