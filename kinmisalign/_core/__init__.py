"""Array-level building blocks of kinmisalign.

Everything here takes and returns plain numpy arrays: no astropy units, no
file I/O, no containers. The public, Quantity-aware layer (``cleaning.py``,
``pa.py``, ...) validates its inputs and calls into these modules.
"""

__all__ = []
