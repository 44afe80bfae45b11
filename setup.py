"""Builds the optional C accelerator codec._fastscan; everything else is in pyproject.toml.

``optional=True``: when no C compiler is available the install still succeeds
and codec.lines uses its pure-Python walk, which gives identical results.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("codec._fastscan", ["codec/_fastscan.c"], optional=True)])
