"""The optional compiled record walk of the analyzer's fast path (issue 18, item 5).

Everything else is declared in pyproject.toml. ``optional=True``: a machine without a C compiler
still installs dicomsniff, and the pure-Python fast path runs (``dicomsniff.pipeline._cwalk`` is None).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("dicomsniff.capture._walk", ["dicomsniff/capture/_walk.c"], optional=True,
                  extra_compile_args=["-O2"]),
    ],
)
