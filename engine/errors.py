"""Errors the engine raises for bad input. Each message names the problem."""
from __future__ import annotations


class ProsemixError(Exception):
    """A user-facing error: bad input, a missing file, a mismatched adapter. Not a
    ValueError, so that code catching a library's ValueError never swallows one."""


class AnchorError(ProsemixError):
    """An anchor that cannot be loaded or does not fit the base model."""


class ModelError(ProsemixError):
    """A base model that is missing, unreadable or unsupported."""


class BackendUnavailable(ProsemixError):
    """An optional backend whose packages are not installed."""
