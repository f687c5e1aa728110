"""Errors a user can act on. Each message says what was wrong and what was expected."""


class MGSelectError(Exception):
    """Base class for every error this package raises on purpose."""


class InputError(MGSelectError, ValueError):
    """An observation (image, state, instruction) or a call argument is malformed."""


class BundleError(MGSelectError):
    """A policy bundle directory is missing a part or has a bad one; the message names the part."""


class InvalidActionTokens(MGSelectError):
    """A token sequence does not decode to exactly horizon x dim action values."""
