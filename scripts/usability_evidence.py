"""The evidence for the usability networks on real expert-labelled maps, in one command.

Prints the side-by-side table (accuracy at 0.5, ROC AUC, calibration error)
of: always answering "usable"; kinmisalign's embedded network,
cross-validated on the dev maps (from the probabilities its training run
recorded: every map judged by a model that never saw it); the previous
embedded network (trained on mocks only); and the published network of
Duckworth et al. (2020) when its files are found. Then draws, for the real
maps, the seed's three confusion matrices (confidence 0.5, 0.8, 0.99), the
usability histogram split by expert class and a reliability diagram::

    python scripts/usability_evidence.py ../shared/data/real-stellar-maps-dev.fits.gz

The published network was trained on expert labels of the same survey
release and saw many of these galaxies, so its figures here are optimistic.
Its input is the whole array (SPEC section 6), so it is scored on the maps as
stored (zero-padded to 76 x 76) and cut to the size of a MAPS array of their
bundle (as it was trained); kinmisalign's networks give the same verdict in
both forms.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KINMISALIGN_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

__all__ = ["rows", "draw", "main"]


def _metrics(p, y):
    from train_embedded_model import auc

    from kinmisalign.classifier import calibration_error

    p = np.asarray(p, dtype=np.float64)
    return {"accuracy": float(np.mean((p > 0.5) == y)), "auc": auc(p, y),
            "ece": calibration_error(y, p)}


def _name(report):
    """The model's name, as the report gives it."""
    return report["model"].get("name", report["model"]["file"].removesuffix(".npz"))


def rows(report, real, published_dir=None):
    """The table's rows: (model, how it was scored, accuracy, AUC, ECE) as text."""
    from astropy import units as u
    from train_embedded_model import maps_size_crop

    from kinmisalign import conf
    from kinmisalign.classifier import load_model, prepare_input
    from kinmisalign.fields import VelocityField

    y = real["usable"]
    out = [("always 'usable'", "", f"{y.mean():.3f}", "-", "-")]
    per_repeat = [_metrics(p, y) for p in np.asarray(report["cross_validation"]["p"])]

    def spread(key):
        values = [r[key] for r in per_repeat]
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    n_rep, n_folds = len(per_repeat), report["folds"]
    out.append((_name(report),
                f"{n_rep} x {n_folds}-fold cross-validation",
                spread("accuracy"), spread("auc"), spread("ece")))
    cut = [maps_size_crop(v, pid) for v, pid in zip(real["vel"], real["plateifu"], strict=True)]
    cut_fields = [VelocityField.from_array(v * u.km / u.s, mask=(v == 0)) for v in cut]
    models = [("kinmisalign-mock-v1", load_model("kinmisalign-mock-v1"), "mocks only")]
    if published_dir is not None and Path(published_dir).is_dir():
        with conf.set_temp("published_model_dir", str(published_dir)):
            models.append(("duckworth2020", load_model("duckworth2020"),
                           "trained on many of these galaxies"))
    else:
        out.append(("duckworth2020", "files not found", "-", "-", "-"))
    for name, net, note in models:
        for form, fields in (("as stored, 76 x 76", real["fields"]),
                             ("cut to MAPS size", cut_fields)):
            m = _metrics(net.predict(prepare_input(fields)), y)
            out.append((name, f"{form}; {note}", f"{m['accuracy']:.3f}", f"{m['auc']:.3f}",
                        f"{m['ece']:.3f}"))
    return out


def _table(rows_):
    header = ("model", "scored", "accuracy at 0.5", "AUC", "ECE (10 bins)")
    widths = [max(len(str(r[i])) for r in [header, *rows_]) for i in range(5)]
    line = "  ".join("=" * w for w in widths)
    text = [line, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    text += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows_]
    return "\n".join([*text, line])


def draw(report, quality, directory):
    """The figures, from the cross-validated probabilities of the first repeat."""
    from matplotlib.figure import Figure

    from kinmisalign.classifier import (
        plot_confusion_matrix,
        plot_probability_by_quality,
        plot_reliability_diagram,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    p = np.asarray(report["cross_validation"]["p"][0])
    y = quality >= 1
    fig = Figure(figsize=(8, 3.1), layout="constrained")
    for ax, f in zip(fig.subplots(1, 3), (0.5, 0.8, 0.99), strict=True):
        kept = np.maximum(p, 1 - p) >= f
        plot_confusion_matrix(y[kept], p[kept], ax=ax, colorbar=False)
        ax.set_title(f"confidence {f:g}\n{kept.sum()} of {p.size} kept, "
                     f"{np.mean((p[kept] > 0.5) == y[kept]):.1%} right", fontsize=10)
    paths = [directory / "confusion-matrices.png"]
    fig.savefig(paths[-1], dpi=150)
    fig = plot_probability_by_quality(quality, p, title="cross-validated p(use), real maps")
    paths.append(directory / "usability-by-quality.png")
    fig.savefig(paths[-1], dpi=150)
    fig = Figure(figsize=(5, 5.6), layout="constrained")
    ax = fig.add_subplot()
    plot_reliability_diagram(y, p, ax=ax, label=f"{_name(report)}, cross-validated")
    published = report.get("published_on_dev", {}).get("cut_to_maps_size")
    if published:
        plot_reliability_diagram(y, published["p"], ax=ax, counts=False,
                                 label="duckworth2020 (saw many of them)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    ax.set_title("real maps")
    paths.append(directory / "reliability.png")
    fig.savefig(paths[-1], dpi=150)
    return paths


def main(argv=None):
    """Print the table and draw the figures."""
    from train_embedded_model import REPORT_FILE, real_set

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dev_file", help="real-stellar-maps-dev.fits.gz")
    parser.add_argument("--report", default=str(REPORT_FILE),
                        help="the training run's report (default: the embedded model's)")
    parser.add_argument("--published-dir", default=str(SHARED / "models" / "duckworth2020-fcn"))
    parser.add_argument("--figures", default="usability-evidence",
                        help="directory for the figures")
    args = parser.parse_args(argv)
    report = json.loads(Path(args.report).read_text())
    digest = hashlib.sha256(Path(args.dev_file).read_bytes()).hexdigest()
    if digest != report["dev_file"]["sha256"]:
        parser.error(f"{args.dev_file} is not the file the report's model was trained on")
    real = real_set(args.dev_file)
    model_file = ROOT / "kinmisalign" / "data" / report["model"]["file"]
    same = (model_file.is_file()
            and hashlib.sha256(model_file.read_bytes()).hexdigest() == report["model"]["sha256"])
    print(f"{len(real['usable'])} real stellar maps, {real['usable'].mean():.1%} usable by the "
          f"experts; {report['model']['file']} "
          f"{'is the shipped model file' if same else 'DIFFERS from the shipped model file'}")
    print(_table(rows(report, real, args.published_dir)))
    for path in draw(report, real["quality"], args.figures):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
