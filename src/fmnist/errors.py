"""Exceptions raised for bad input, with messages meant for people."""


class FmnistError(Exception):
    """Base class of the project's errors; the stages print its message and exit non-zero."""


class DataError(FmnistError, ValueError):
    """A data file is missing, malformed or fails verification."""


class ParamError(FmnistError):
    """A parameter in params.yaml is missing or out of range."""


class VerificationError(FmnistError):
    """Our ops disagree with PyTorch's beyond the tolerance."""


class TrainingError(FmnistError):
    """Training diverged (NaN or infinite loss)."""
