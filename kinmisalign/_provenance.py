"""Provenance of a run: what made an output table, kept in its ``meta`` and FITS header.

Every key is a FITS keyword (upper case, at most 8 characters) with a plain value, so
that ``Table.write`` puts them all into the header of a FITS table, ECSV keeps them in
its YAML header, and both read back to the same ``meta``. The ``KINMIS_FLAG`` bits are
written one keyword pair per bit, ``KFNAMEnn`` (name) and ``KFDESCnn`` (meaning; long
values continue on ``CONTINUE`` cards), read from `kinmisalign.batch.FLAGS` when the
table is made, so a FITS user can decode the flags from the header alone.

The package version and the PA engine a run uses are found here, for the provenance and the
checkpoint's settings alike.
"""

import hashlib
import inspect
import json
import re
import urllib.parse
from datetime import datetime, timezone

import numpy as np

from ._records import FLAGS

__all__ = ["KEYWORDS", "VERSION", "annotate", "default_pa_method", "fits_comments",
           "flag_keywords", "model_sha256", "pa_method", "redact_urls", "run_meta",
           "set_display_formats"]

try:  # written by setuptools_scm when the package is installed
    from ._version import version as VERSION
except ImportError:  # running from a source tree without an install
    VERSION = "0.0.0"

# Keyword -> FITS card comment (what the value is).
KEYWORDS = {
    "KM_VERS": "kinmisalign version",
    "KM_DATE": "UTC date and time of the run",
    "KM_PAENG": "PA fitting engine (fit_pa method)",
    "KM_LINE": "emission line of the gas field",
    "KM_MASK": "DAP mask bits that reject a spaxel",
    "KM_DAPTY": "DAP analysis type of the MAPS files",
    "KM_SRC": "where the MAPS files came from",
    "KM_MODEL": "usability network",
    "KM_MSHA": "SHA-256 of the network (layers, input, output, weights)",
    "KM_THRES": "USABLE_* = USABLE_PROB_* > this",
    "KM_FLAGS": "how to decode KINMIS_FLAG",
}
_FLAG_NAME = "KFNAME{:02d}"
_FLAG_MEANING = "KFDESC{:02d}"
_OURS = re.compile(r"KM_[A-Z]+|KFNAME[0-9]{2}|KFDESC[0-9]{2}")

# Display formats: PAs to 0.1 deg, probabilities to 0.001 (values are not rounded).
_FORMATS = {
    "PA_STELLAR": ".1f", "PA_STELLAR_ERR": ".1f", "PA_GAS": ".1f", "PA_GAS_ERR": ".1f",
    "DPA": ".1f", "DPA_ERR": ".1f", "USABLE_PROB_STELLAR": ".3f", "USABLE_PROB_GAS": ".3f",
}
_GAS_COLUMNS = ("PA_GAS", "PA_GAS_ERR", "NSPX_GAS")
_DEFAULT_LINE = "Ha-6564"

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _redact_url(url):
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    # Query strings and fragments can hold tokens: none of them is kept.
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_urls(text):
    """``text`` with every URL stripped of user, password, query and fragment.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    return _URL.sub(lambda match: _redact_url(match.group(0)), str(text))


def model_sha256(model):
    """SHA-256 of what a usability network computes.

    It covers the layers, the input shape, the input and output
    specifications (preparation, averaging, calibration) and every weight,
    not the descriptive ``meta``; so the same network gives the same digest
    whichever file or format it was read from.

    Parameters
    ----------
    model : `~kinmisalign.classifier.UsabilityModel`

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    spec = {"layers": model.layers, "input_shape": list(model.input_shape),
            "input": model.input, "output": model.output}
    digest.update(json.dumps(spec, sort_keys=True).encode("utf-8"))
    for name in sorted(model.weights):
        weights = np.ascontiguousarray(model.weights[name])
        digest.update(f"|{name}|{weights.dtype.str}|{weights.shape}|".encode())
        digest.update(weights.tobytes())
    return digest.hexdigest()


def default_pa_method():
    """The PA engine `~kinmisalign.fit_pa` uses when none is named.

    Returns
    -------
    str
        The default of its ``method`` argument.
    """
    from .pa import fit_pa

    return inspect.signature(fit_pa).parameters["method"].default


def pa_method(fit_options):
    """The PA engine of a run with these `~kinmisalign.fit_pa` options.

    Parameters
    ----------
    fit_options : dict

    Returns
    -------
    str
        ``fit_options["method"]``, or `default_pa_method` when it is not given.
    """
    return fit_options.get("method", default_pa_method())


def _pa_engine(fit_options):
    method = pa_method(fit_options)
    if method == "pafit":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"pafit {version('pafit')}"
        except PackageNotFoundError:  # pragma: no cover - pafit is a dependency
            return "pafit"
    return str(method)


def _source_text(source):
    if source is None:
        return "MAPS files given by path"
    describe = getattr(source, "describe", None)
    text = describe() if callable(describe) else repr(source)
    return redact_urls(text)


def flag_keywords():
    """The ``KINMIS_FLAG`` bit table as keywords: ``KFNAMEnn`` and ``KFDESCnn``.

    Returns
    -------
    dict
        By bit: ``KFNAMEnn`` → the flag's name, ``KFDESCnn`` → its meaning.
    """
    keywords = {}
    for name, (bit, meaning) in sorted(FLAGS.items(), key=lambda item: item[1][0]):
        keywords[_FLAG_NAME.format(bit)] = name
        keywords[_FLAG_MEANING.format(bit)] = meaning
    return keywords


def run_meta(options):
    """The provenance of a run with these options.

    Parameters
    ----------
    options : kinmisalign._records.RunOptions

    Returns
    -------
    dict
        FITS keyword → value (str, int or float); the keys are in `KEYWORDS`
        and `flag_keywords`. Without a model the model keys are left out;
        without a DAPTYPE (files given by path) ``KM_DAPTY`` is.
    """
    meta = {
        "KM_VERS": VERSION,
        "KM_DATE": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "KM_PAENG": _pa_engine(options.fit_options),
        "KM_LINE": str(options.line),
        "KM_MASK": (options.maskbits if isinstance(options.maskbits, (str, int))
                    else str(options.maskbits)),
    }
    if options.daptype:
        meta["KM_DAPTY"] = str(options.daptype)
    meta["KM_SRC"] = _source_text(options.source)
    if options.model is not None:
        meta["KM_MODEL"] = str(options.model.name or "unnamed")
        meta["KM_MSHA"] = model_sha256(options.model)
        meta["KM_THRES"] = float(options.threshold)
    meta["KM_FLAGS"] = ("bit n of KINMIS_FLAG is set for the reason named by KFNAMEnn and "
                        "explained by KFDESCnn")
    meta.update(flag_keywords())
    return meta


def fits_comments(header):
    """FITS card comments of the provenance keywords present in ``header``.

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or dict

    Returns
    -------
    dict
        keyword → comment.
    """
    comments = {key: text for key, text in KEYWORDS.items() if key in header}
    for key in header:
        if re.fullmatch(r"KFNAME[0-9]{2}", key):
            comments[key] = f"name of KINMIS_FLAG bit {int(key[-2:])}"
        elif re.fullmatch(r"KFDESC[0-9]{2}", key):
            comments[key] = f"meaning of KINMIS_FLAG bit {int(key[-2:])}"
    return comments


def set_display_formats(table, line=_DEFAULT_LINE):
    """Display formats of the output columns, and the gas line in their descriptions.

    PAs, ΔPA and their errors show 0.1 deg, probabilities 0.001; the values
    themselves are not rounded.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Changed in place.
    line : str, optional
        Emission line of the gas field.
    """
    for name, fmt in _FORMATS.items():
        if name in table.colnames:
            table[name].info.format = fmt
    if line != _DEFAULT_LINE:
        for name in _GAS_COLUMNS:
            if name in table.colnames and table[name].info.description:
                table[name].info.description = table[name].info.description.replace(
                    "H-alpha", f"{line} gas")


def annotate(table, options):
    """Add the run's provenance to ``table.meta`` and set the display formats.

    Provenance keys of an earlier run (``KM_*``, ``KFNAMEnn``, ``KFDESCnn``)
    are replaced; every other ``meta`` entry is kept as it is.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Changed in place.
    options : kinmisalign._records.RunOptions
    """
    for key in [key for key in table.meta if isinstance(key, str) and _OURS.fullmatch(key)]:
        del table.meta[key]
    table.meta.update(run_meta(options))
    set_display_formats(table, options.line)
