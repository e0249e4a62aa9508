"""Starting from what users have: a folder of images or a table becomes a catalog and a starter config."""

from tasks.starter.init import CATALOG_NAME, CONFIG_NAME, InitRequest, InitResult, init_project
from tasks.starter.mapping import ColumnGuess, guess_columns

__all__ = ["CATALOG_NAME", "CONFIG_NAME", "ColumnGuess", "InitRequest", "InitResult", "guess_columns", "init_project"]
