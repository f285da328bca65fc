"""Thin command-line programs: `python -m train.<name> --help`."""
