"""The package version: one home, read by pyproject.toml (hatch) and the User-Agent."""

__version__ = "0.1.0"
