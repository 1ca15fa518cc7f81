"""The records of a batch run: keys, flag bits, the record layout, run options, the table.

A run turns each observation (a path, or a plate-IFU `Key` that the run's source resolves)
into one *record*: a plain dict with ``FILENAME``, ``PLATEIFU``, ``KINMIS_FLAG`` and
``KINMIS_PROBLEMS`` and the values measured (``PA_STELLAR``, ...). Records are what worker
processes send back, what the checkpoint stores as JSON and what `records_table` turns into
the output table. Everything here is shared by the batch runner (`kinmisalign.batch`), its
checkpoint (`kinmisalign._checkpoint`), its provenance (`kinmisalign._provenance`) and the
catalogue (`kinmisalign.catalogue`); it imports none of them.
"""

from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

__all__ = ["FLAGS", "flag_bit", "Key", "new_record", "is_record", "add_problem", "failed",
           "FLOAT_COLUMNS", "INT_COLUMNS", "records_table", "one_ascii_line", "RunOptions",
           "make_options", "key_column", "canonical_keys"]

# KINMIS_FLAG bits: why a value is missing or doubtful. Bits are never reused.
FLAGS = {
    "NO_MAPS": (0, "no MAPS file for this observation"),
    "BAD_MAPS": (1, "the MAPS file is unreadable, does not follow the DAP data model, or "
                    "holds another plate-IFU or DAPTYPE than requested"),
    "STELLAR_TOO_FEW": (2, "too few stellar spaxels left after masking and cleaning"),
    "GAS_TOO_FEW": (3, "too few gas spaxels left after masking and cleaning"),
    "STELLAR_FIT_FAILED": (4, "the stellar field could not be fitted (e.g. constant velocities; "
                              "with UNEXPECTED_ERROR: an error met in its fit)"),
    "GAS_FIT_FAILED": (5, "the gas field could not be fitted (e.g. constant velocities; with "
                          "UNEXPECTED_ERROR: an error met in its fit)"),
    "STELLAR_NOT_CLASSIFIED": (6, "the usability network could not judge the stellar map: it "
                                  "cannot be normalised for the network (no unmasked spaxel, "
                                  "or no velocity difference), or the network failed "
                                  "(UNEXPECTED_ERROR)"),
    "GAS_NOT_CLASSIFIED": (7, "the usability network could not judge the gas map: it cannot "
                              "be normalised for the network (no unmasked spaxel, or no "
                              "velocity difference), or the network failed "
                              "(UNEXPECTED_ERROR)"),
    "STELLAR_UNUSABLE": (8, "the usability network judges the stellar field unusable: its PA "
                            "is doubtful"),
    "GAS_UNUSABLE": (9, "the usability network judges the gas field unusable: its PA is "
                        "doubtful"),
    "INVALID_KEY": (10, "the row's plate-IFU is missing or not of the survey's form"),
    "DOWNLOAD_FAILED": (11, "the MAPS file could not be fetched from its source"),
    "UNEXPECTED_ERROR": (12, "an unexpected error stopped the measurement of this observation, "
                             "or the part of it that other bits name (the message is in "
                             "KINMIS_PROBLEMS); please report it"),
    "STELLAR_SENSE_UNDETERMINED": (13, "the two sides of the stellar kinematic axis do not "
                                       "differ significantly: PA_STELLAR gives the axis but not "
                                       "which end recedes, and DPA is masked"),
    "GAS_SENSE_UNDETERMINED": (14, "the two sides of the gas kinematic axis do not differ "
                                   "significantly: PA_GAS gives the axis but not which end "
                                   "recedes, and DPA is masked"),
    "GAS_LINE_MISSING": (15, "the MAPS file has no channel of the requested emission line, so "
                             "there is no gas field to fit or classify"),
}


def flag_bit(name):
    """The ``KINMIS_FLAG`` value of the flag ``name`` (a key of `FLAGS`)."""
    return 1 << FLAGS[name][0]


class Key(str):
    """A plate-IFU to be resolved to a MAPS file by the run's source (not a path)."""

    __slots__ = ()


def new_record(filename="", plateifu=""):
    """A record with nothing measured and nothing wrong yet: the fields every record has."""
    return {"FILENAME": filename, "PLATEIFU": plateifu, "KINMIS_FLAG": 0, "KINMIS_PROBLEMS": ""}


def is_record(value):
    """Whether ``value`` has the form of a record (e.g. as read back from a checkpoint)."""
    return (isinstance(value, dict) and isinstance(value.get("KINMIS_FLAG"), int)
            and isinstance(value.get("KINMIS_PROBLEMS"), str))


def add_problem(record, problem):
    """Append ``problem`` to the record's KINMIS_PROBLEMS ('; ' between problems)."""
    problem = str(problem)
    if problem:
        record["KINMIS_PROBLEMS"] = "; ".join(p for p in (record["KINMIS_PROBLEMS"], problem)
                                              if p)


def failed(record, flag, problem):
    """``record`` with the ``flag`` bit added to its others and ``problem`` to its list."""
    record["KINMIS_FLAG"] |= flag_bit(flag)
    add_problem(record, problem)
    return record


FLOAT_COLUMNS = ("PA_STELLAR", "PA_STELLAR_ERR", "PA_GAS", "PA_GAS_ERR", "DPA", "DPA_ERR")
INT_COLUMNS = ("NSPX_STELLAR", "NSPX_GAS")


def records_table(records, classified=False):
    """Records (dicts) to a Table with masked columns, units and descriptions."""
    table = Table()
    table["FILENAME"] = [r["FILENAME"] for r in records]
    plateifus = np.array([r["PLATEIFU"] for r in records], dtype=str)
    # Masked when unknown (a file that could not be read): files read '' back as masked.
    table["PLATEIFU"] = MaskedColumn(plateifus, mask=plateifus == "", fill_value="")
    descriptions = {
        "PA_STELLAR": "stellar kinematic PA, East of North to the receding side, [0, 360)",
        "PA_STELLAR_ERR": "1-sigma error of PA_STELLAR",
        "PA_GAS": "H-alpha kinematic PA, East of North to the receding side, [0, 360)",
        "PA_GAS_ERR": "1-sigma error of PA_GAS",
        "DPA": "stellar-gas kinematic misalignment, [0, 180]",
        "DPA_ERR": "1-sigma error of DPA (PA errors in quadrature)",
        "NSPX_STELLAR": "stellar spaxels used in the fit after cleaning",
        "NSPX_GAS": "H-alpha spaxels used in the fit after cleaning",
    }
    for name in FLOAT_COLUMNS + INT_COLUMNS:
        values = [r.get(name) for r in records]
        missing = np.array([v is None for v in values], dtype=bool)
        dtype = np.float64 if name in FLOAT_COLUMNS else np.int32
        data = np.array([0 if v is None else v for v in values], dtype=dtype)
        table[name] = MaskedColumn(data, mask=missing, description=descriptions[name],
                                   unit=u.deg if name in FLOAT_COLUMNS else None)
    if classified:
        for which in ("STELLAR", "GAS"):
            probs = [r.get(f"USABLE_PROB_{which}") for r in records]
            missing = np.array([p is None for p in probs], dtype=bool)
            table[f"USABLE_PROB_{which}"] = MaskedColumn(
                np.array([np.nan if p is None else p for p in probs], dtype=np.float32),
                mask=missing, description=f"network probability that the {which.lower()} "
                                          "field is usable")
            # Never masked: no file format keeps the value under a boolean's mask (FITS
            # writes the fill value, an ECSV file read back holds True there), so a field
            # the network did not judge is plainly not usable. USABLE_PROB_ is masked.
            usable = np.array([bool(r.get(f"USABLE_{which}", False)) and not m
                               for r, m in zip(records, missing, strict=True)], dtype=bool)
            table[f"USABLE_{which}"] = MaskedColumn(
                usable, mask=np.zeros(len(records), dtype=bool), fill_value=False,
                description=f"USABLE_PROB_{which} above the threshold; False when the "
                            "network did not judge the field")
    table["KINMIS_FLAG"] = MaskedColumn(
        np.array([r["KINMIS_FLAG"] for r in records], dtype=np.int32),
        description="bitmask: why a value is missing or doubtful (kinmisalign.batch.FLAGS)")
    problems = np.array([one_ascii_line(r["KINMIS_PROBLEMS"]) for r in records], dtype=str)
    # Masked where empty, as FITS, ECSV and CSV files all read an empty string back.
    table["KINMIS_PROBLEMS"] = MaskedColumn(
        problems, mask=problems == "", fill_value="",
        description="why values are missing or doubtful, in words; masked (empty) when "
                    "nothing went wrong")
    return table


def one_ascii_line(text):
    """``text`` on one line of ASCII: FITS tables hold ASCII only (astropy refuses to write
    anything else), and one line reads back the same from any CSV reader."""
    return " ".join(str(text).split()).encode("ascii", "backslashreplace").decode("ascii")


@dataclass(frozen=True)
class RunOptions:
    """How a run measures: everything a worker needs besides the file; small and picklable."""

    line: str
    maskbits: object
    clean_options: dict
    fit_options: dict
    model: object = None  # a UsabilityModel, or None for no classification
    threshold: float = 0.5
    source: object = None  # where MAPS files of plate-IFU keys come from
    daptype: str = ""


def make_options(*, model, threshold, line, maskbits, clean_options, fit_options, source=None,
                 daptype=""):
    """`RunOptions` with the defaults resolved from ``conf``.

    Resolved here, in the process that starts the run: worker processes do not see
    ``conf.set_temp`` values. ``model`` is loaded (`~kinmisalign.classifier.load_model`).
    """
    from .config import conf

    fit_options = dict(fit_options or {})
    fit_options.setdefault("min_points", conf.min_points)
    if model is not None:
        from .classifier import load_model

        model = load_model(model)
    if threshold is None:
        threshold = conf.usable_threshold
    return RunOptions(line=line, maskbits=conf.maskbits if maskbits is None else maskbits,
                      clean_options=dict(clean_options or {}), fit_options=fit_options,
                      model=model, threshold=float(threshold), source=source, daptype=daptype)


def key_column(table, key):
    """The name of the plate-IFU column of ``table``: ``key``, or the one found by name.

    Raises
    ------
    KeyError
        When there is no such column, or several.
    """
    if key is not None:
        if key not in table.colnames:
            raise KeyError(f"the table has no column {key!r}")
        return key
    # Marvin's query tables name columns by table: 'cube.plateifu'.
    matches = [name for name in table.colnames
               if name.strip().lower() in ("plateifu", "cube.plateifu")]
    if not matches:
        raise KeyError("the table has no PLATEIFU/plateifu column; name the key column "
                       "with key=")
    if len(matches) > 1:
        raise KeyError(f"the table has several plate-IFU columns {matches}; choose one with key=")
    return matches[0]


def canonical_keys(column):
    """Each row's plate-IFU (stripped, validated), or None with the reason."""
    from .sources import validate_plateifu

    mask = np.ma.getmaskarray(column)
    keys, reasons = [], []
    for value, masked in zip(np.asarray(column, dtype=object), mask, strict=True):
        if masked:
            keys.append(None)
            reasons.append("the plate-IFU is masked")
            continue
        try:
            keys.append(validate_plateifu(value))
            reasons.append("")
        except (TypeError, ValueError) as exc:
            keys.append(None)
            reasons.append(str(exc))
    return keys, reasons


