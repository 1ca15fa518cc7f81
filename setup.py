"""Build of the compiled extension; the package metadata is in setup.cfg."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension("kinmisalign._core._symmetry_scan", ["kinmisalign/_core/_symmetry_scan.pyx"]),
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
