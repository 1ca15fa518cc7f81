"""The ``kinmisalign`` command line."""

import argparse
import logging
import os
import re
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _add_fit(subparsers):
    p = subparsers.add_parser(
        "fit", help="fit the stellar and gas PAs of one MAPS file",
        description="Read a DAP MAPS file, clean both velocity fields, fit their kinematic "
                    "position angles and print them with the misalignment.",
    )
    p.add_argument("maps_file", help="a manga-<plate>-<ifu>-MAPS-<DAPTYPE>.fits.gz file")
    p.add_argument("--plot", metavar="FILE", help="write the QA figure to FILE (png, pdf, ...)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --plot file")
    p.add_argument("--maskbits", default=None,
                   help="'any' (default: any DAP mask bit rejects a spaxel) or 'donotuse'")
    p.add_argument("--line", default="Ha-6564", help="emission line of the gas field")
    p.add_argument("--model", help="usability network: 'embedded', 'duckworth2020' or a model "
                                   "file (default: conf.usability_model)")
    p.set_defaults(func=_cmd_fit)


def _add_run(subparsers):
    p = subparsers.add_parser(
        "run", help="add kinematic columns to a catalogue (DRPall, DAPall, ...)",
        description="Measure every observation of a catalogue with a plate-IFU column and "
                    "write the catalogue with the kinematic columns added.",
    )
    p.add_argument("catalogue", help="input table (FITS, ECSV, CSV, ...)")
    p.add_argument("-o", "--output", required=True,
                   help="output table; the format follows the extension (.fits, .ecsv, .csv)")
    p.add_argument("--hdu", help="FITS extension of the input (e.g. HYB10-MILESHC-MASTARSSP "
                                 "in a DAPall file); an extension named after a DAPTYPE also "
                                 "sets --daptype")
    p.add_argument("--source", help="MAPS files: a directory, 'sas' (the survey's server) or a "
                                    "URL (default: conf.maps_source)")
    p.add_argument("--daptype", help="DAP analysis type (default: the --hdu DAPTYPE, else "
                                     "conf.daptype)")
    p.add_argument("--key", metavar="COLUMN",
                   help="the plate-IFU column, when it is not named PLATEIFU or plateifu")
    p.add_argument("--line", default="Ha-6564",
                   help="emission line of the gas field (default Ha-6564)")
    p.add_argument("--model", help="usability network: 'embedded', 'duckworth2020' or a model "
                                   "file (default: conf.usability_model)")
    p.add_argument("-w", "--workers", type=int, default=1,
                   help="worker processes (default 1: measure in this process)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="SQLite file keeping each finished observation; rerun the same command "
                        "to resume an interrupted run without measuring them again")
    p.add_argument("--fresh-checkpoint", action="store_true",
                   help="discard the results already in the checkpoint file and start afresh")
    p.set_defaults(func=_cmd_run)


# Output formats that cannot keep a table's meta: the provenance goes to a sidecar file.
_PLAIN_TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_PROVENANCE = re.compile(r"KM_[A-Z]+|KFNAME[0-9]{2}|KFDESC[0-9]{2}")
EXIT_WRONG_DAPTYPE = 3


def _sidecar(output):
    """The provenance file written beside a plain-text output, or None."""
    if str(output).lower().endswith(_PLAIN_TEXT_SUFFIXES):
        return f"{output}.provenance.json"
    return None


def _daptype_from_hdu(hdu):
    """The DAPTYPE that names a FITS extension (DAPall names them so), or None."""
    from .sources import validate_daptype

    try:
        daptype = validate_daptype(hdu)
    except ValueError:
        return None
    # A DAPTYPE joins its binning and templates with dashes; 'DAPALL' or '1' is none.
    return daptype if "-" in daptype else None


def _daptypes_in(source):
    """DAPTYPEs of the MAPS files a local source could find (others: an empty list)."""
    from .sources import RELEASES, LocalSource, parse_maps_filename

    def daptype_of(name):
        keys = parse_maps_filename(name)
        return _daptype_from_hdu(keys[1]) if keys else None

    if not isinstance(source, LocalSource):
        return []
    found = set()
    if source.layout in ("auto", "tree"):
        for base in [source.directory, *(source.directory / sub for sub in RELEASES.values())]:
            if not base.is_dir():
                continue
            for entry in os.scandir(base):
                daptype = _daptype_from_hdu(entry.name)
                # One MAPS file of that type below <DAPTYPE>/<plate>/<ifu>/ is enough.
                if daptype and entry.is_dir() and any(
                        daptype_of(path.name) == daptype
                        for path in Path(entry.path).glob("*/*/*")):
                    found.add(daptype)
    if source.layout in ("auto", "flat"):
        for entry in os.scandir(source.directory):
            daptype = daptype_of(entry.name)
            if daptype and entry.is_file():
                found.add(daptype)
    return sorted(found)


def _count(n):
    return f"{n:,}"


def _summary(out, output):
    """What a run did, in a few lines: rows measured, flags set, where it was written."""
    from .batch import FLAGS

    stellar = ~np.ma.getmaskarray(out["PA_STELLAR"])
    gas = ~np.ma.getmaskarray(out["PA_GAS"])
    measured = int(np.count_nonzero(stellar | gas))
    line = out.meta.get("KM_LINE", "Ha-6564")
    lines = [f"{_count(len(out))} rows: {_count(measured)} measured, "
             f"{_count(len(out) - measured)} not measured",
             f"measured: PA_STELLAR {_count(np.count_nonzero(stellar))}, "
             f"PA_GAS {_count(np.count_nonzero(gas))} ({line}), "
             f"DPA {_count(np.count_nonzero(~np.ma.getmaskarray(out['DPA'])))}"]
    if "KM_MODEL" in out.meta:
        usable = [_count(np.count_nonzero(np.ma.filled(out[f"USABLE_{which}"], False)))
                  for which in ("STELLAR", "GAS")]
        lines.append(f"usable ({out.meta['KM_MODEL']}, p > {out.meta['KM_THRES']:g}): "
                     f"USABLE_STELLAR {usable[0]}, USABLE_GAS {usable[1]}")
    flags = np.ma.filled(out["KINMIS_FLAG"], 0).astype(np.int64)
    counts = [f"{_count(n)} {name}"
              for name, (bit, _) in sorted(FLAGS.items(), key=lambda item: item[1][0])
              if (n := int(np.count_nonzero(flags & (1 << bit))))]
    lines.append(f"KINMIS_FLAG: {', '.join(counts) if counts else 'none set'}")
    lines.append(f"written to {output}")
    return lines


def _write(out, output, overwrite):
    """Write the table; FITS headers get comments, plain text a provenance sidecar."""
    import io
    import json

    lower = str(output).lower()
    if lower.endswith(_FITS_SUFFIXES):
        from astropy.io import fits

        from ._provenance import fits_comments

        # Through astropy's own writer (mixin columns, masks), then the cards get comments.
        buffer = io.BytesIO()
        out.write(buffer, format="fits")
        buffer.seek(0)
        with fits.open(buffer) as hdul:
            header = hdul[1].header
            for key, comment in fits_comments(header).items():
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    header.comments[key] = comment
                    str(header.cards[key])  # formats the card: warns when it is too long
                if caught:  # no room beside the value (the SHA-256): no comment
                    header.comments[key] = ""
            hdul.writeto(output, overwrite=overwrite)
        return
    if lower.endswith(_PLAIN_TEXT_SUFFIXES):
        # Plain-text writers print values as displayed (PAs to 0.1 deg): write every digit.
        out = out.copy(copy_data=False)
        for column in out.itercols():
            column.info.format = None
    out.write(output, overwrite=overwrite)
    sidecar = _sidecar(output)
    if sidecar:
        provenance = {key: value for key, value in out.meta.items()
                      if isinstance(key, str) and _PROVENANCE.fullmatch(key)}
        with open(sidecar, "w", encoding="utf-8") as fh:
            json.dump(provenance, fh, indent=1)
            fh.write("\n")


def _daptype_hint(out, source, output):
    """Warn when most rows have no MAPS file; exit status 3 when another DAPTYPE is there."""
    from .batch import FLAGS

    no_maps = int(np.count_nonzero(np.ma.filled(out["KINMIS_FLAG"], 0)
                                   & (1 << FLAGS["NO_MAPS"][0])))
    if not len(out) or 2 * no_maps < len(out):
        return 0
    daptype = out.meta.get("KM_DAPTY", "")
    others = [d for d in _daptypes_in(source) if d != daptype]
    what = (f"kinmisalign run: warning: {_count(no_maps)} of {_count(len(out))} rows are "
            f"NO_MAPS: no MAPS file of DAPTYPE {daptype}")
    if not others:
        print(f"{what} for them from {out.meta.get('KM_SRC', 'the source')}; check --source "
              "and --daptype", file=sys.stderr)
        return 0
    options = " or ".join(f"--daptype {d}" for d in others)
    print(f"{what} for them in {source.directory}, which holds MAPS files of DAPTYPE "
          f"{', '.join(others)}: rerun with {options} (and --overwrite to replace {output})",
          file=sys.stderr)
    return EXIT_WRONG_DAPTYPE


def _checkpoint_items(path):
    """Item names held by a checkpoint file (empty when it cannot be read)."""
    import sqlite3
    from contextlib import closing

    if not os.path.isfile(path):
        return set()
    try:
        with closing(sqlite3.connect(path, timeout=1.0)) as conn:
            return {row[0] for row in conn.execute("SELECT item FROM results")}
    except sqlite3.Error:
        return set()


def _report_interrupt(args, table):
    """Ctrl-C: what the checkpoint keeps and the command that resumes."""
    if not args.checkpoint:
        print("kinmisalign run: interrupted; nothing was kept (give --checkpoint FILE to make "
              "a run resumable)", file=sys.stderr)
        return
    from ._checkpoint import item_id
    from ._records import Key, canonical_keys, key_column

    held = _checkpoint_items(args.checkpoint)
    try:
        keys, _ = canonical_keys(table[key_column(table, args.key)])
    except KeyError:  # interrupted before the key column was checked
        of = ""
    else:
        wanted = {item_id(Key(k)) for k in keys if k is not None}
        held &= wanted
        of = f" of {_count(len(wanted))}"
    # The same command resumes, without discarding what the checkpoint now holds.
    argv = [a for a in args.argv if not (a.startswith("--f")
                                         and "--fresh-checkpoint".startswith(a.split("=")[0]))]
    print(f"kinmisalign run: interrupted; the checkpoint {args.checkpoint} holds "
          f"{_count(len(held))}{of} observations. Resume with:\n"
          f"  {shlex.join(['kinmisalign', *argv])}", file=sys.stderr)


def _cmd_run(args):
    from astropy.table import Table

    from .catalogue import add_kinematic_columns
    from .sources import get_source

    for path in (args.output, _sidecar(args.output)):
        if path and os.path.lexists(path) and not args.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if args.fresh_checkpoint and not args.checkpoint:
        raise ValueError("--fresh-checkpoint needs --checkpoint FILE")
    daptype = args.daptype
    hdu_daptype = _daptype_from_hdu(args.hdu) if args.hdu else None
    if hdu_daptype and daptype is None:
        daptype = hdu_daptype
        print(f"kinmisalign run: DAPTYPE {daptype} (from --hdu)", file=sys.stderr)
    elif hdu_daptype and daptype.strip() != hdu_daptype:
        raise ValueError(f"--hdu {args.hdu} is the extension of DAPTYPE {hdu_daptype}, but "
                         f"--daptype {daptype} was given: drop --daptype, or read the "
                         f"extension of {daptype.strip()}")
    read_kwargs = {}
    if args.hdu:
        read_kwargs["hdu"] = int(args.hdu) if args.hdu.isdigit() else args.hdu
    try:
        table = Table.read(args.catalogue, **read_kwargs)
    except FileNotFoundError:
        raise
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise ValueError(f"cannot read the catalogue {args.catalogue}: {exc}") from exc
    source = get_source(args.source)  # made here: the DAPTYPE hint looks into it
    try:
        out = add_kinematic_columns(table, source=source, daptype=daptype, model=args.model,
                                    key=args.key, line=args.line,
                                    parallel=args.workers if args.workers > 1 else False,
                                    progress_bar=False if args.no_progress else "auto",
                                    checkpoint=args.checkpoint,
                                    fresh_checkpoint=args.fresh_checkpoint)
    except KeyboardInterrupt:
        _report_interrupt(args, table)
        return 130
    _write(out, args.output, args.overwrite)
    for line in _summary(out, args.output):
        print(line)
    if _sidecar(args.output):
        print(f"provenance written to {_sidecar(args.output)} ({args.output.rsplit('.', 1)[-1]}"
              " cannot keep it: .ecsv and .fits keep it in the table)")
    return _daptype_hint(out, source, args.output)


def _add_demo(subparsers):
    p = subparsers.add_parser(
        "demo", help="run the whole pipeline offline on mock MaNGA galaxies",
        description="Write a catalogue of mock galaxies with MAPS files, measure them and "
                    "compare the results with the truth. Needs no network.",
    )
    p.add_argument("-o", "--output", default="kinmisalign-demo",
                   help="output directory (default: ./kinmisalign-demo)")
    p.add_argument("-n", "--ngalaxies", type=int, default=36, help="number of mock galaxies")
    p.add_argument("--seed", type=int, default=2020, help="random seed of the mock catalogue")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (table, figures, mock MAPS files)")
    p.add_argument("-w", "--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: one per core; 1 measures in this process)")
    p.set_defaults(func=_cmd_demo)


def _format_pa(fit):
    return f"{fit.pa.to_value('deg'):6.1f} ± {fit.pa_err.to_value('deg'):.1f} deg"


def _usability(model, maps):
    """(p, verdict) of the stellar and gas fields; p is NaN for a field the model cannot judge."""
    from .config import conf

    threshold = float(conf.usable_threshold)
    probs, reasons = model.predict_fields([maps.stellar, maps.gas])
    verdicts = []
    for p, reason in zip(probs, reasons, strict=True):
        if not np.isfinite(p):
            verdicts.append(f"not classified ({reason or 'no usable input'})")
        else:
            verdicts.append("usable" if p > threshold else "unusable")
    return [float(p) for p in probs], verdicts, threshold


def _cmd_fit(args):
    from .classifier import load_model
    from .maps import read_maps
    from .measure import measure_maps

    if args.plot and os.path.lexists(args.plot) and not args.overwrite:
        raise FileExistsError(f"{args.plot} exists; pass --overwrite to replace it")
    model = load_model(args.model)
    maps = read_maps(args.maps_file, line=args.line, maskbits=args.maskbits)
    result = measure_maps(maps)
    probs, verdicts, threshold = _usability(model, maps)
    print(f"{maps.plateifu or args.maps_file} ({maps.meta.get('DAPTYPE', '?')}; "
          f"gas line {args.line})")
    for label, fit, reason in (("stellar", result.stellar_fit, result.stellar_problem),
                               ("gas", result.gas_fit, result.gas_problem)):
        if fit is None:
            print(f"  PA_{label:<8s} not measured: {reason}")
        else:
            sense = "" if fit.sense_determined else (
                f"; axis only: sense of rotation undetermined, the sides differ by "
                f"{fit.sense_significance:.1f} standard errors")
            print(f"  PA_{label:<8s} {_format_pa(fit)}  ({fit.npoints} spaxels{sense})")
    if result.dpa is None:
        undetermined = [label for label, fit in (("stellar", result.stellar_fit),
                                                 ("gas", result.gas_fit))
                        if fit is not None and not fit.sense_determined]
        why = (f": sense of rotation undetermined ({' and '.join(undetermined)})"
               if undetermined else "")
        print(f"  DPA         not measured{why}")
    else:
        print(f"  DPA         {result.dpa.to_value('deg'):6.1f} ± "
              f"{result.dpa_err.to_value('deg'):.1f} deg ({result.dpa_class})")
    for label, p, verdict in zip(("stellar", "gas"), probs, verdicts, strict=True):
        shown = f"{p:6.3f}" if np.isfinite(p) else "     -"
        print(f"  USABLE_{label:<8s}{shown}  {verdict}")
    print(f"  (usability network {model.name or 'unnamed'}: usable when p > {threshold:g})")
    if args.plot:
        from .plotting import plot_velocity_fields

        fig = plot_velocity_fields(result.stellar, result.gas, result.stellar_fit,
                                   result.gas_fit, title=maps.plateifu, usability=probs,
                                   threshold=threshold)
        fig.savefig(args.plot)
        print(f"  QA figure written to {args.plot}")
    return 0


def _cmd_demo(args):
    from .demo import run_demo

    run_demo(args.output, n=args.ngalaxies, seed=args.seed, overwrite=args.overwrite,
             parallel=args.workers if args.workers > 1 else False)
    return 0


def main(argv=None):
    """Run the ``kinmisalign`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="kinmisalign",
        description="Kinematic position angles and star-gas misalignment for MaNGA.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_fit(subparsers)
    _add_run(subparsers)
    _add_demo(subparsers)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv  # to print the command that resumes an interrupted run
    from .exceptions import KinmisalignError

    # The library's notes (e.g. "resuming: 7 of 19 already measured") go to stderr.
    logger = logging.getLogger("kinmisalign")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"kinmisalign {args.command}: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        return args.func(args)
    except (KinmisalignError, FileNotFoundError, FileExistsError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"kinmisalign {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"kinmisalign {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
