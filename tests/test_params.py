"""Params validation: exactly the keys a stage reads, every problem named, in one line."""

import shutil
from pathlib import Path

import pytest

from fmnist.errors import ParamError
from fmnist.params import Params, validate
from tests.conftest import edit_params

from _shared import load_params

ROOT = Path(__file__).resolve().parents[1]
ALL_KEYS = tuple(Params.model_fields)


def write(tmp_path: Path, **changes: object) -> Path:
    """The project's params.yaml with `changes` (dotted keys reach into groups, None deletes)."""
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    return edit_params(path, **changes)


def test_the_project_params_are_valid_and_typed():
    p = load_params(ROOT / "params.yaml", ALL_KEYS)
    assert isinstance(p.lr, float) and isinstance(p.epochs, int) and p.data.mirrors
    assert set(type(p).model_fields) == set(Params.model_fields)


def test_a_stage_gets_only_its_keys(tmp_path):
    p = load_params(write(tmp_path, lr=-1, **{"tune.trials": 0}), ("seed", "data.subset"))
    assert set(type(p).model_fields) == {"seed", "data"}
    assert set(type(p.data).model_fields) == {"subset"}  # lr and tune are someone else's


@pytest.mark.parametrize(("key", "value", "message"), [
    ("lr", -1, "lr: must be greater than 0, got -1"),
    ("lr", "abc", "lr: must be a valid number"),
    ("lr", True, "lr: expected a number, not true/false"),
    ("momentum", 1.0, "momentum: must be less than 1, got 1.0"),
    ("momentum", -0.1, "momentum: must be greater than or equal to 0"),
    ("epochs", 0, "epochs: must be greater than or equal to 1, got 0"),
    ("epochs", 2.5, "epochs: must be a valid integer, got 2.5"),
    ("batch_size", 0, "batch_size: must be greater than or equal to 1"),
    ("seed", "x", "seed: must be a valid integer"),
    ("seed", True, "seed: must be a valid integer, got True"),
    ("device", "tpu", "device: device must be one of auto, cpu, cuda, cuda:N, got 'tpu'"),
    ("same_init", "yes", "same_init: must be a valid boolean"),
    ("data.val_fraction", 0, "data.val_fraction: must be greater than 0, got 0"),
    ("data.val_fraction", 1, "data.val_fraction: must be less than 1"),
    ("data.subset", -3, "data.subset: must be greater than or equal to 0, got -3"),
    ("data.timeout", "abc", "data.timeout: must be a valid number"),
    ("data.timeout", [], "data.timeout: must be a valid number"),
    ("data.timeout", -1, "data.timeout: must be greater than 0"),
    ("data.timeout", 0, "data.timeout: must be greater than 0"),
    ("data.mirrors", [], "data.mirrors: must have at least 1 item"),
    ("tune.trials", 0, "tune.trials: must be greater than or equal to 1"),
    ("tune.trial_epochs", 0, "tune.trial_epochs: must be greater than or equal to 1"),
    ("tune.final_epochs", 0, "tune.final_epochs: must be greater than or equal to 1"),
    ("tune.shift", -1, "tune.shift: must be greater than or equal to 0"),
    ("tune.precision", "fp16", "tune.precision: must be 'auto', 'bf16' or 'fp32'"),
    ("tune.storage", "tune.db", "tune.storage: must be a database URL"),
    ("tune.final_data", "val", "tune.final_data: must be 'train' or 'train+val'"),
    ("tune.tta", True, "tune.tta: must be 'none', 'flip' or 'shift'"),
    ("lr", None, "lr: missing"),
])
def test_each_invalid_value_is_named_with_what_was_expected(tmp_path, key, value, message):
    path = write(tmp_path, **{key: value})
    with pytest.raises(ParamError) as err:
        load_params(path, ALL_KEYS)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_every_invalid_key_in_one_message(tmp_path):
    path = write(tmp_path, lr=0, epochs=0, **{"data.subset": -1})
    with pytest.raises(ParamError) as err:
        load_params(path, ALL_KEYS)
    message = str(err.value)
    assert "\n" not in message and message.count("; ") == 2
    assert all(key in message for key in ("lr:", "epochs:", "data.subset:"))


@pytest.mark.parametrize(("subset", "fraction", "ok"), [(0, 0.2, True), (10, 0.2, True),
                                                        (2, 0.2, False), (10, 0.99, False)])
def test_the_split_must_leave_both_parts_non_empty(tmp_path, subset, fraction, ok):
    path = write(tmp_path, **{"data.subset": subset, "data.val_fraction": fraction})
    if ok:
        load_params(path, ("data.subset", "data.val_fraction"))
    else:
        with pytest.raises(ParamError, match="data.subset .* leaves an empty"):
            load_params(path, ("data.subset", "data.val_fraction"))


@pytest.mark.parametrize(("text", "message"), [
    (None, "params file not found"), ("lr: [1,\n", "not valid YAML at line 2"),
    ("- 1\n- 2\n", "expected a mapping of parameters")])
def test_unreadable_files(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ParamError, match=message):
        load_params(path, ("lr",))


def test_numbers_written_in_yaml_1_1_style_are_accepted(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("lr: 1e-2\nepochs: 3\n")  # YAML reads 1e-2 as a string
    assert load_params(path, ("lr", "epochs")).lr == 0.01


def test_validate_works_on_values_and_names_no_file():
    with pytest.raises(ParamError, match="^lr: must be greater than 0, got 0$"):
        validate({"lr": 0}, ("lr",))
    with pytest.raises(ParamError, match="^expected a mapping"):
        validate([1], ("lr",))


@pytest.mark.parametrize(("changes", "message"), [
    ({"epochz": 2}, "unknown key 'epochz' (did you mean 'epochs'?)"),
    ({"tune.trails": 3}, "unknown key 'tune.trails' (did you mean 'tune.trials'?)"),
    ({"data.subsets": 3}, "unknown key 'data.subsets' (did you mean 'data.subset'?)"),
])
def test_a_misspelt_key_is_refused_by_every_stage_with_the_nearest_known_one(tmp_path, changes,
                                                                            message):
    path = write(tmp_path, **changes)
    for keys in ((), ("lr",), ALL_KEYS):  # whatever the stage reads, even nothing
        with pytest.raises(ParamError) as err:
            load_params(path, keys)
        assert str(err.value) == f"{path}: {message}"
