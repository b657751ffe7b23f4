"""metpot: multi-omics subtyping and outcome modelling of tumour metastatic potential."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("metpot")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
