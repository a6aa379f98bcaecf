"""Every kind of our errors, raised in a stage, is one `error:` line and exit status 1.

The kinds are found in `fmnist.errors`, not listed here: a new kind that is not a FmnistError
would end a stage in a traceback, and this test fails for it.
"""

import inspect

import pytest

from fmnist import errors

import _shared

KINDS = [kind for _, kind in inspect.getmembers(errors, inspect.isclass)
         if kind.__module__ == errors.__name__]


def test_the_kinds_the_package_raises_are_all_defined_here():
    assert {kind.__name__ for kind in KINDS} >= {
        "FmnistError", "DataError", "ParamError", "TrainingError", "VerificationError",
        "StorageError"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_a_stage_prints_it_as_one_line_and_exits_1(kind, capsys):
    def main() -> None:
        raise kind("models/custom.pt: first line\n    second line")

    with pytest.raises(SystemExit) as done:
        _shared.run(main)
    assert done.value.code == 1
    assert capsys.readouterr().err == "error: models/custom.pt: first line second line\n"


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_naming_the_params_key_keeps_the_kind(kind):
    expected = pytest.raises(kind, match=r"^tune\.storage: cannot connect$")
    with expected, _shared.param("tune.storage"):
        raise kind("cannot connect")
