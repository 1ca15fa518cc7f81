"""Train kinmisalign's embedded usability network on mock MaNGA velocity fields.

Writes ``kinmisalign/data/usability-fcn-mock-v1.npz`` (the model behind
``load_model('embedded')``) and ``scripts/train_embedded_model-report.json``
(the numbers quoted in ``docs/classifier.rst``). Needs the ``nn`` extra
(TensorFlow, Keras 3); everything is seeded, so a run on the same software
gives the same model.

Training set
------------
Galaxies from `kinmisalign.mock.random_galaxy` (the realistic mix derived
from the expert table of Duckworth et al. 2020), drawn so that unusable fields
are common enough to learn from (about 40 % of the samples, against ~27 % in
the survey) while each kind of unusable field keeps its realistic share:

* 60 % of galaxies drawn as the survey mix, 15 % with unusable stars (noise
  dominated, slow rotators, two components; their gas is then mostly
  unusable too, as in the survey), 15 % with usable stars but unusable gas
  (depleted or absent, no rotation, patchy, mergers), 5 % with a tiny
  footprint (coverage 0.15-0.45 of the bundle, both fields), 5 % with strong
  non-circular motions (a kinematic PA turning by 45-120 deg across the
  bundle, in one field);
* binning HYB10 50 %, VOR10 30 %, SPX 20 %; all bundle sizes; the map sizes
  of `kinmisalign.mock.MAP_SIZES` and, for 30 % of galaxies, one spaxel
  smaller (even sizes, as the DR15 file 7815-3702 has: 42 x 42);
* arrays from `kinmisalign.mock.make_maps_arrays`, so the DAP's quirks are
  there: values kept at masked spaxels, zeros outside the footprint, bins
  repeating one value;
* both fields of every galaxy are independent samples; fields with nothing
  unmasked (absent gas) cannot be normalised and are left out, as
  `classify` would report them.

Labels: ``usable = MockGalaxy.quality(field) >= 1`` (the expert-like rules
of `kinmisalign.mock.MockGalaxy.quality`), and in addition a field is
unusable when fewer than 100 of its spaxels are unmasked (a tiny footprint,
25 arcsec^2) or when its PA turns by more than 40 deg (strong non-circular
motions).

Held-out checks (other seeds and settings)
------------------------------------------
``realistic``: the survey mix as drawn by ``random_galaxy`` alone, HYB10.
``shifted``: settings the training never saw: every field twice as noisy
(labels recomputed), maps padded by 6 spaxels beyond any training size, the
footprint rotated by up to 30 deg, VOR10 binning, the training's class mix.
``files``: the survey mix (HYB10 and VOR10) written as DR15 and DR17 MAPS
files and read back with `kinmisalign.read_maps`, as survey files are.
Each is scored against its labels (SPEC §8 table, accuracy per kind of
field) and against the published network of Duckworth et al. (2020) when its
files are available.

Usage::

    python scripts/train_embedded_model.py [--epochs 50] [--galaxies 20000]
"""

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from astropy import units as u

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KINMISALIGN_SHARED", ROOT.parent / "shared"))

SEED = 20260101
MODEL_NAME = "kinmisalign-mock-v1"
MODEL_FILE = ROOT / "kinmisalign" / "data" / "usability-fcn-mock-v1.npz"
REPORT_FILE = ROOT / "scripts" / "train_embedded_model-report.json"
MIN_SPAXELS = 100
MAX_TWIST = 40.0
KMS = u.km / u.s

__all__ = ["draw_galaxy", "label", "make_set", "file_set", "main"]


def draw_galaxy(rng, setting):
    """One mock galaxy and the name of the case it was drawn as."""
    from kinmisalign import mock

    if setting == "realistic":
        return mock.random_galaxy(rng, binning="HYB10"), "realistic"
    binning = str(rng.choice(["HYB10", "VOR10", "SPX"], p=[0.5, 0.3, 0.2]))
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
    """Expert-like usability of one mock field (module docstring)."""
    f = getattr(gal, which)
    return bool(gal.quality(which) >= 1 and int((mask == 0).sum()) >= MIN_SPAXELS
                and abs(f.pa_twist) <= MAX_TWIST)


def make_set(n_galaxies, seed, setting):
    """Network inputs, labels, groups and a per-sample description of one mock set."""
    from kinmisalign import mock
    from kinmisalign.classifier._input import _prepare
    from kinmisalign.fields import VelocityField

    rng = np.random.default_rng(seed)
    fields, y, groups, rows = [], [], [], []
    for index in range(n_galaxies):
        gal, case = draw_galaxy(rng, setting)
        gal = dataclasses.replace(gal, mangaid=f"1-{setting}-{index}")
        maps = mock.make_maps_arrays(gal)
        for which in ("stellar", "gas"):
            vel, mask = getattr(maps, f"{which}_vel"), getattr(maps, f"{which}_mask")
            fields.append(VelocityField.from_array(vel * KMS, mask=mask, name=which))
            y.append(label(gal, which, mask))
            groups.append(gal.mangaid)
            rows.append((case, which, getattr(gal, which).kind, gal.binning, gal.bundle_size,
                         gal.shape[0]))
    x, reasons = _prepare(fields, errors="nan")
    keep = np.array([not r for r in reasons])
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    return x[keep], np.array(y)[keep], np.array(groups)[keep], rows, int((~keep).sum())


def file_set(n_galaxies, seed, directory):
    """Realistic mocks written as DR15 and DR17 MAPS files and read back with read_maps.

    Returns the network input read from the files, the same from the arrays
    (no I/O), the labels and the per-sample description.
    """
    from kinmisalign import mock
    from kinmisalign.classifier._input import _prepare
    from kinmisalign.fields import VelocityField
    from kinmisalign.maps import read_maps

    rng = np.random.default_rng(seed)
    from_files, from_arrays, y, rows = [], [], [], []
    for index in range(n_galaxies):
        gal = mock.random_galaxy(rng, binning=str(rng.choice(["HYB10", "VOR10"])))
        layout = "DR15" if index % 2 else "DR17"
        maps = mock.make_maps_arrays(gal)
        path = mock.write_maps(maps, Path(directory) / f"mock-{index}.fits.gz", layout=layout)
        read = read_maps(path)
        for which in ("stellar", "gas"):
            mask = getattr(maps, f"{which}_mask")
            from_files.append(getattr(read, which))
            from_arrays.append(VelocityField.from_array(getattr(maps, f"{which}_vel") * KMS,
                                                        mask=mask))
            y.append(label(gal, which, mask))
            rows.append((layout, which, getattr(gal, which).kind, gal.binning, gal.bundle_size,
                         gal.shape[0]))
    xf, reasons = _prepare(from_files, errors="nan")
    xa, _ = _prepare(from_arrays, errors="nan")
    keep = np.array([not r for r in reasons])
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    return xf[keep], xa[keep], np.array(y)[keep], rows


def accuracy_by(p, y, rows, column, prefix_field=False):
    """Accuracy of p > 0.5 per value of one column of the sample description."""
    out = {}
    for value in sorted({(r[1] + ":" if prefix_field else "") + str(r[column]) for r in rows}):
        sel = np.array([((r[1] + ":" if prefix_field else "") + str(r[column])) == value
                        for r in rows])
        out[value] = {"n": int(sel.sum()),
                      "accuracy": round(float(np.mean((p[sel] > 0.5) == y[sel])), 4)}
    return out


def composition(y, rows):
    """Counts of samples by label and by case, kind, binning and bundle size."""
    out = {"n": int(len(y)), "n_usable": int(np.sum(y)), "n_unusable": int(len(y) - np.sum(y))}
    for name, col in (("case", 0), ("kind", 2), ("binning", 3), ("bundle", 4)):
        counts = {}
        for r, label_ in zip(rows, y, strict=True):
            key = f"{r[1]}:{r[col]}" if name == "kind" else str(r[col])
            usable, unusable = counts.get(key, (0, 0))
            counts[key] = (usable + int(label_), unusable + int(not label_))
        out[name] = {k: {"usable": v[0], "unusable": v[1]} for k, v in sorted(counts.items())}
    return out


def score(model, x, y):
    """SPEC §8 table and confusion matrix as plain JSON-able numbers."""
    from kinmisalign.classifier.evaluation import confusion_matrix, evaluate

    p = model.predict(x)
    table = evaluate(None, p, y)
    return p, {
        "table": [{k: float(row[k]) for k in table.colnames} for row in table],
        "baseline_accuracy": table.meta["baseline_accuracy"],
        "confusion_matrix": confusion_matrix(y, p).tolist(),
    }


def main(argv=None):
    """Run the training and write the model and the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galaxies", type=int, default=20000, help="training galaxies")
    parser.add_argument("--test-galaxies", type=int, default=3000, help="per held-out set")
    parser.add_argument("--file-galaxies", type=int, default=300,
                        help="held-out galaxies written to MAPS files and read back")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", default=str(MODEL_FILE))
    parser.add_argument("--report", default=str(REPORT_FILE))
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing model file and report")
    args = parser.parse_args(argv)
    for out in (args.output, args.report):
        if Path(out).exists() and not args.overwrite:
            parser.error(f"{out} exists; pass --overwrite to replace it")

    from kinmisalign import conf
    from kinmisalign.classifier import _published, classify, load_model
    from kinmisalign.classifier._embedded import EMBEDDED_MODELS
    from kinmisalign.classifier.training import train
    from kinmisalign.maps import read_maps

    t0 = time.time()
    report = {"seed": args.seed, "epochs": args.epochs, "galaxies": args.galaxies,
              "load_average_start": list(os.getloadavg()), "cpus": os.cpu_count(),
              "python": sys.version.split()[0], "platform": platform.platform()}
    x, y, groups, rows, n_dropped = make_set(args.galaxies, args.seed, "train")
    report["training_set"] = dict(composition(y, rows), n_not_normalisable=n_dropped)
    report["time_generate_s"] = round(time.time() - t0, 1)
    print(f"training set: {len(y)} fields, {np.mean(y):.3f} usable "
          f"({report['time_generate_s']} s)", flush=True)

    t1 = time.time()
    model, history = train(x, y, groups, architecture="fcn", epochs=args.epochs, batch_size=64,
                           seed=args.seed, validation=0.2, verbose=2,
                           meta={"name": MODEL_NAME,
                                 "description": EMBEDDED_MODELS[MODEL_NAME]["description"],
                                 "source": "scripts/train_embedded_model.py"})
    report["time_train_s"] = round(time.time() - t1, 1)
    report["history"] = history
    import keras
    import tensorflow as tf

    report["tensorflow"], report["keras"] = tf.__version__, keras.__version__
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output, overwrite=args.overwrite)
    report["model_file_bytes"] = os.path.getsize(args.output)
    print(f"trained in {report['time_train_s']} s; wrote {args.output} "
          f"({report['model_file_bytes']} bytes)", flush=True)

    published = None
    published_dir = SHARED / "models" / "duckworth2020-fcn"
    if published_dir.is_dir():
        with conf.set_temp("published_model_dir", str(published_dir)):
            published = load_model("duckworth2020")

    report["held_out"] = {}
    for offset, setting in ((1, "realistic"), (2, "shifted")):
        xs, ys, _, rows_s, dropped = make_set(args.test_galaxies, args.seed + offset, setting)
        p, numbers = score(model, xs, ys)
        numbers["accuracy_by_kind"] = accuracy_by(p, ys, rows_s, 2, prefix_field=True)
        numbers["accuracy_by_binning"] = accuracy_by(p, ys, rows_s, 3)
        numbers["accuracy_by_bundle"] = accuracy_by(p, ys, rows_s, 4)
        entry = {"seed": args.seed + offset, "composition": composition(ys, rows_s),
                 "n_not_normalisable": dropped, "embedded": numbers}
        if published is not None:
            q, entry["published"] = score(published, xs, ys)
            entry["agreement_with_published"] = float(np.mean((p > 0.5) == (q > 0.5)))
        report["held_out"][setting] = entry
        print(setting, json.dumps({k: v for k, v in entry.items() if k != "composition"}),
              flush=True)

    # The DAP's file quirks: the same kind of mocks through DR15 and DR17 files.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        xf, xa, yf, rows_f = file_set(args.file_galaxies, args.seed + 3, tmp)
    pf, numbers = score(model, xf, yf)
    numbers["accuracy_by_layout"] = accuracy_by(pf, yf, rows_f, 0)
    entry = {"seed": args.seed + 3, "n": int(len(yf)), "embedded": numbers,
             "max_abs_p_difference_file_vs_arrays": float(np.max(np.abs(pf - model.predict(xa))))}
    if published is not None:
        qf, entry["published"] = score(published, xf, yf)
        entry["agreement_with_published"] = float(np.mean((pf > 0.5) == (qf > 0.5)))
    report["held_out"]["files"] = entry
    print("files", json.dumps(entry), flush=True)

    reg = _published.check_inputs()
    report["spec9_inputs"] = {"order": ["rot", "rot90", "-rot", "noise", "zeros", "disk"],
                              "embedded": [round(float(v), 4) for v in model.predict(reg)]}
    if published is not None:
        report["spec9_inputs"]["published"] = [round(float(v), 4) for v in published.predict(reg)]

    real = SHARED / "data" / "manga-7815-3702-MAPS-HYB10-GAU-MILESHC.fits.gz"
    if real.exists():
        maps = read_maps(real)
        report["real_7815_3702"] = {}
        for name, net in (("embedded", model), ("published", published)):
            if net is None:
                continue
            t = classify(maps, model=net)
            report["real_7815_3702"][name] = {
                "stellar": round(float(t["USABLE_PROB_STELLAR"][0]), 4),
                "gas": round(float(t["USABLE_PROB_GAS"][0]), 4)}
        print("7815-3702", report["real_7815_3702"], flush=True)

    report["time_total_s"] = round(time.time() - t0, 1)
    report["load_average_end"] = list(os.getloadavg())
    Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
    print(f"total {report['time_total_s']} s; report in {args.report}")


if __name__ == "__main__":
    main()
