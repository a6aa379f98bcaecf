"""Exceptions raised for bad input, with messages meant for people."""


class FmnistError(Exception):
    """Base class of the project's errors; a stage prints its message as one line and exits 1."""


class DataError(FmnistError, ValueError):
    """A data file is missing, malformed, corrupt or fails verification."""


class ParamError(FmnistError, ValueError):
    """A parameter value is missing, of the wrong type or out of range."""


class VerificationError(FmnistError):
    """Our ops disagree with PyTorch's beyond the tolerance."""


class TrainingError(FmnistError):
    """Training diverged: a loss became NaN, infinite, or grew far past its starting value."""


class StorageError(FmnistError):
    """The tuning study's database cannot be reached or used."""
