"""The ``kinmisalign`` command line."""

import argparse
import os
import sys

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
                                 "in a DAPall file)")
    p.add_argument("--source", help="MAPS files: a directory, 'sas' (the survey's server) or a "
                                    "URL (default: conf.maps_source)")
    p.add_argument("--daptype", help="DAP analysis type (default: conf.daptype)")
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


def _cmd_run(args):
    import numpy as np
    from astropy.table import Table

    from .catalogue import add_kinematic_columns

    if os.path.lexists(args.output) and not args.overwrite:
        raise FileExistsError(f"{args.output} exists; pass --overwrite to replace it")
    if args.fresh_checkpoint and not args.checkpoint:
        raise ValueError("--fresh-checkpoint needs --checkpoint FILE")
    read_kwargs = {"hdu": args.hdu} if args.hdu else {}
    try:
        table = Table.read(args.catalogue, **read_kwargs)
    except FileNotFoundError:
        raise
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise ValueError(f"cannot read the catalogue {args.catalogue}: {exc}") from exc
    out = add_kinematic_columns(table, source=args.source, daptype=args.daptype,
                                model=args.model,
                                parallel=args.workers if args.workers > 1 else False,
                                progress_bar=False if args.no_progress else "auto",
                                checkpoint=args.checkpoint,
                                fresh_checkpoint=args.fresh_checkpoint)
    out.write(args.output, overwrite=args.overwrite)
    measured = int(np.count_nonzero(~np.ma.getmaskarray(out["PA_STELLAR"])))
    print(f"{len(out)} rows, {measured} with a stellar PA; written to {args.output}")
    return 0


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


def _cmd_fit(args):
    from .maps import read_maps
    from .measure import measure_maps

    if args.plot and os.path.lexists(args.plot) and not args.overwrite:
        raise FileExistsError(f"{args.plot} exists; pass --overwrite to replace it")
    maps = read_maps(args.maps_file, line=args.line, maskbits=args.maskbits)
    result = measure_maps(maps)
    print(f"{maps.plateifu or args.maps_file} ({maps.meta.get('DAPTYPE', '?')})")
    for label, fit, reason in (("stellar", result.stellar_fit, result.stellar_problem),
                               ("gas", result.gas_fit, result.gas_problem)):
        if fit is None:
            print(f"  PA_{label:<8s} not measured: {reason}")
        else:
            print(f"  PA_{label:<8s} {_format_pa(fit)}  ({fit.npoints} spaxels)")
    if result.dpa is None:
        print("  DPA         not measured")
    else:
        print(f"  DPA         {result.dpa.to_value('deg'):6.1f} ± "
              f"{result.dpa_err.to_value('deg'):.1f} deg ({result.dpa_class})")
    if args.plot:
        from .plotting import plot_velocity_fields

        fig = plot_velocity_fields(result.stellar, result.gas, result.stellar_fit,
                                   result.gas_fit, title=maps.plateifu)
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
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from .exceptions import KinmisalignError

    try:
        return args.func(args)
    except (KinmisalignError, FileNotFoundError, FileExistsError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"kinmisalign {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
