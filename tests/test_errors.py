"""The error types: what the stages turn into one line, and what callers can catch."""

import pytest

from fmnist.errors import DataError, FmnistError, ParamError, TrainingError, VerificationError


@pytest.mark.parametrize("kind", [DataError, ParamError, TrainingError, VerificationError])
def test_every_error_is_ours(kind):
    assert issubclass(kind, FmnistError)


def test_bad_input_errors_are_value_errors():
    assert issubclass(DataError, ValueError) and issubclass(ParamError, ValueError)
    assert not issubclass(TrainingError, ValueError)
