"""The pipeline's parameters for the stages, validated with pydantic: types, ranges, relations,
and unknown (misspelt) keys, every problem of the keys a stage reads in one ParamError line."""

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.functional_validators import AfterValidator, BeforeValidator
from pydantic.types import StrictBool, StrictInt

from fmnist.data.classes import TRAIN_SAMPLES
from fmnist.data.splits import split_sizes
from fmnist.errors import ParamError
from fmnist.runtime import resolve_device


def _no_bool(value: Any) -> Any:
    """pydantic reads True as 1.0; a yes/no where a number belongs is a mistake."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


def _device(name: str) -> str:
    resolve_device(name)  # raises ValueError naming what is wrong (unknown, or no CUDA here)
    return name


def _storage(url: str) -> str:
    if not re.match(r"^[a-z][a-z0-9+]*://", url):
        raise ValueError(f"must be a database URL such as sqlite:///studies/tune.db or "
                         f"postgresql+psycopg://user@host/db, got {url!r}")
    return url


Number = Annotated[float, BeforeValidator(_no_bool)]
Count = Annotated[StrictInt, Field(ge=1)]
Text = Annotated[str, Field(min_length=1)]


class _Group(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)


class DataParams(_Group):
    """`data:`: where the raw files come from and how they are split."""

    mirrors: Annotated[list[Text], Field(min_length=1)]
    timeout: Annotated[Number, Field(gt=0)]
    val_fraction: Annotated[Number, Field(gt=0, lt=1)]
    subset: Annotated[StrictInt, Field(ge=0)]


class TuneParams(_Group):
    """`tune:`: the search's budget and storage, the final training's length."""

    trials: Count
    trial_epochs: Count
    trial_samples: Annotated[StrictInt, Field(ge=0)]
    final_epochs: Count
    final_data: Literal["train", "train+val"]
    tta: Literal["none", "flip", "shift"]
    shift: Annotated[StrictInt, Field(ge=0, le=8)]
    precision: Literal["auto", "bf16", "fp32"]
    storage: Annotated[str, AfterValidator(_storage)]
    study: Text
    heartbeat: Annotated[StrictInt, Field(ge=1)]


class Params(_Group):
    """Every parameter of the pipeline."""

    seed: Annotated[StrictInt, Field(ge=0)]
    batch_size: Count
    lr: Annotated[Number, Field(gt=0)]
    momentum: Annotated[Number, Field(ge=0, lt=1)]
    epochs: Count
    device: Annotated[str, AfterValidator(_device)]
    deterministic: StrictBool
    same_init: StrictBool
    data: DataParams
    tune: TuneParams


def validate(raw: Any, keys: Sequence[str]) -> Any:
    """The parameters `keys` (dotted for groups: "data.subset") of mapping `raw`, validated."""
    if not isinstance(raw, dict):
        raise ParamError("expected a mapping of parameters at the top level")
    if unknown := _unknown(raw, Params):
        raise ParamError(unknown)
    try:
        params = _part(Params, list(keys)).model_validate(raw)
    except ValidationError as err:
        raise ParamError("; ".join(_describe(error) for error in err.errors())) from None
    _check_relations(params)
    return params


def _unknown(raw: dict[str, Any], model: type[BaseModel], prefix: str = "") -> str | None:
    """The first key of `raw` that `model` does not know, with the nearest one it does."""
    for key, value in raw.items():
        if key not in model.model_fields:
            near = difflib.get_close_matches(str(key), model.model_fields, n=1, cutoff=0)
            return f"unknown key '{prefix}{key}' (did you mean '{prefix}{near[0]}'?)"
        group = model.model_fields[key].annotation
        if isinstance(value, dict) and isinstance(group, type) and issubclass(group, BaseModel):
            found = _unknown(value, group, f"{prefix}{key}.")
            if found:
                return found
    return None


def _part(model: type[BaseModel], keys: list[str]) -> type[BaseModel]:
    """A model with only `keys` of `model` (dotted keys reach into groups), same checks."""
    fields: dict[str, Any] = {}
    nested: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        head, _, rest = key.partition(".")
        if head not in model.model_fields:
            raise KeyError(f"{model.__name__} has no parameter {head!r}")
        if rest:
            nested[head].append(rest)
        else:
            info = model.model_fields[head]
            fields[head] = (info.annotation, info)
    for head, rest in nested.items():
        if head not in fields:
            fields[head] = (_part(model.model_fields[head].annotation, rest), ...)
    return create_model(f"{model.__name__}Part", __base__=_Group, **fields)


def _describe(error: Any) -> str:
    """One pydantic error as `key: what was expected, got value`."""
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"{key}: missing"
    if error["type"] == "value_error":  # our own validators' messages say what they got
        return f"{key}: {error['msg'].removeprefix('Value error, ')}"
    message = re.sub(r"^(Input|String|List) should", "must", error["msg"])
    return f"{key}: {message}, got {error['input']!r}"


def _check_relations(params: Any) -> None:
    """ParamError unless checks across keys pass: the split must leave both parts non-empty."""
    data = getattr(params, "data", None)
    if data is None or not {"subset", "val_fraction"} <= type(data).model_fields.keys():
        return
    try:
        split_sizes(data.subset or TRAIN_SAMPLES, data.val_fraction)
    except ValueError as err:
        raise ParamError(f"data.subset {data.subset} with data.val_fraction: {err}") from None
