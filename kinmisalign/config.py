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


conf = Conf()
