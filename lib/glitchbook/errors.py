"""Errors that glitchbook raises for bad input; each carries a message meant for a person."""


class GlitchbookError(Exception):
    """Base class: the CLI prints these as one clear line instead of a traceback."""


class ConfigError(GlitchbookError, ValueError):
    """An unknown name or an invalid value in a configuration or a parameter."""


class DatasetUnavailable(GlitchbookError):
    """A dataset that must be downloaded is neither on disk nor reachable."""


class ChecksumError(GlitchbookError):
    """A file on disk does not match its published checksum."""


class UnreadableRecord(GlitchbookError):
    """A run record that cannot be read: torn, edited by hand, or written by another tool."""


class NonFiniteLossError(GlitchbookError, FloatingPointError):
    """Training produced a NaN or infinite loss."""
