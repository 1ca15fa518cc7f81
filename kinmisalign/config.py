"""Configuration of kinmisalign, through `astropy.config`."""

from astropy import config as _config

__all__ = ["Conf", "conf"]


class Conf(_config.ConfigNamespace):
    """Configuration parameters for `kinmisalign`."""

    maskbits = _config.ConfigItem(
        ["any", "donotuse"],
        "Which DAP mask bits make a spaxel unusable: 'any' (every bit, as Duckworth et al. 2020) "
        "or 'donotuse' (bit 30 only).",
    )
    min_points = _config.ConfigItem(
        20, "Minimum number of spaxels left after cleaning for a position-angle fit."
    )
    daptype = _config.ConfigItem(
        "HYB10-MILESHC-MASTARSSP",
        "DAP analysis type (binning and templates) of the MAPS files used by catalogue runs; "
        "DR17 default.",
    )
    usability_model = _config.ConfigItem(
        "embedded",
        "Default velocity-field usability model of classify: 'embedded' (the network shipped "
        "with kinmisalign, trained on mock velocity fields; works offline, no TensorFlow), "
        "'duckworth2020' (the published network, fetched on first use) or the path of a model "
        "file (.npz).",
    )
    usable_threshold = _config.ConfigItem(
        0.5, "A field is flagged usable when its network probability is above this threshold."
    )
    published_model_url = _config.ConfigItem(
        "https://raw.githubusercontent.com/Chris-Duckworth/kin_mis_classifications",
        "Base URL of the raw files of the repository holding the published Duckworth et al. "
        "(2020) model; '/<commit>/NN/fit-model/<model>/<file>' is appended. Point it at a "
        "mirror with the same layout.",
    )
    published_model_dir = _config.ConfigItem(
        "",
        "Local directory holding a copy of the published SavedModel (saved_model.pb and "
        "variables/); when set it is read instead of downloading.",
    )
    download_timeout = _config.ConfigItem(
        60.0, "Timeout in seconds of each download."
    )
    download_retries = _config.ConfigItem(
        2,
        "Further attempts after a download fails with a server error (5xx), a connection "
        "error or a timeout, with a short growing pause between them; a missing file (404) "
        "is never retried.",
    )
    download_max_size = _config.ConfigItem(
        2000.0,
        "Largest file accepted from a download, in megabytes (10**6 bytes); a larger one is "
        "stopped as soon as the limit is passed and nothing is kept.",
    )
    maps_source = _config.ConfigItem(
        "sas",
        "Where MAPS files come from by default: 'sas' (the survey data server at "
        "sas_base_url), the URL of a mirror with the same layout, 'marvin' (through Marvin, "
        "with its own release and mode; needs the marvin extra), or a local directory "
        "(survey layout <DAPTYPE>/<plate>/<ifu>/ or all files side by side).",
    )
    sas_base_url = _config.ConfigItem(
        "https://data.sdss.org/sas",
        "Base URL of the SDSS Science Archive Server (or a mirror with its layout); "
        "'/dr17/manga/spectro/analysis/...' is appended. HTTPS by default; a plain-HTTP "
        "mirror is used only when set here or passed explicitly.",
    )


conf = Conf()
