"""Errors a user can act on: the CLI prints their message on one line and exits non-zero."""


class InputError(Exception):
    """Bad input: the message names the file, line or option at fault."""
