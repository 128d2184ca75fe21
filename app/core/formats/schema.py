"""What every declared format shares: strict pydantic models, and pydantic's errors turned into ours.

Why pydantic v2 (not msgspec): it exports JSON Schema (``docs/formats``) from the same declarations, reports
every failure with its location (``("maps", "L1F3", "rating")``), which becomes the field our errors name
(``maps.L1F3.rating``), and validates plain dicts from ``json.loads`` (our reader has already checked size, depth,
numbers and surrogates, see :mod:`app.core.formats.jsonio`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from pydantic import Strict as StrictFlag
from pydantic_core import ErrorDetails

from app.core.formats.jsonio import Fail

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]  # where pydantic found a problem: keys and list indices from the root


class Closed(BaseModel):
    """A JSON object with exactly these keys: strict types (1 is not true, "3" is not 3), unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Open(BaseModel):
    """A JSON object whose unknown keys are ignored (a reader of version N reads additions that keep N)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


# a JSON list of two whole numbers (JSON has no tuples: a list is what a pair arrives as)
Pair = Annotated[tuple[Annotated[StrictInt, Field(ge=0)], Annotated[StrictInt, Field(ge=0)]], StrictFlag(False)]


def validate(model: type[M], data: object, fail: Fail, *, prefix: str | None = None) -> M:
    """``model`` from parsed JSON; the first problem raises ``fail(reason, field)`` in our words."""
    try:
        return model.model_validate(data)  # strict by each model's config; enums read from their values
    except ValidationError as err:
        problems = err.errors(include_url=False)
        extra = [p for p in problems if p["type"] == "extra_forbidden"]
        first = extra[0] if extra else problems[0]
        if first["type"] == "extra_forbidden":  # the field named is the first unknown key
            keys = sorted(str(p["loc"][-1]) for p in extra if p["loc"][:-1] == first["loc"][:-1])
            where = field_path((*_without_union_tags(first["loc"][:-1], data), keys[0]), prefix)
            raise fail(f"unknown key(s) {keys}", where) from None
        loc = _without_union_tags(first["loc"], data)
        if first["type"] == "missing" and loc and isinstance(loc[-1], int):  # a pair given one item: the pair
            raise fail(f"too few items: item {loc[-1]} is missing", field_path(loc[:-1], prefix)) from None
        raise fail(reason(first), field_path(loc, prefix)) from None


def field_path(loc: Loc, prefix: str | None = None) -> str | None:
    """``("clips", 0, "sha256")`` -> ``"clips[0].sha256"`` (after ``prefix``); ``()`` -> ``prefix``."""
    out = prefix or ""
    for part in loc:
        if part == "[key]":  # the key of a mapping itself was refused: the field is that entry
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


def reason(problem: ErrorDetails) -> str:
    """One pydantic error in the words the app has always used."""
    kind, value, ctx = problem["type"], problem.get("input"), problem.get("ctx") or {}
    words: dict[str, Callable[[], str]] = {
        "missing": lambda: "missing",
        "int_type": lambda: f"expected a whole number, got {kind_of(value)}",
        "int_from_float": lambda: f"expected a whole number, got {kind_of(value)}",
        "float_type": lambda: f"expected a number, got {kind_of(value)}",
        "finite_number": lambda: f"expected a finite number, got {kind_of(value)}",
        "bool_type": lambda: f"expected true or false, got {kind_of(value)}",
        "string_type": lambda: f"expected text, got {kind_of(value)}",
        "list_type": lambda: f"expected a list, got {kind_of(value)}",
        "tuple_type": lambda: f"expected a list, got {kind_of(value)}",
        "dict_type": lambda: f"expected an object, got {kind_of(value)}",
        "model_type": lambda: f"expected an object, got {kind_of(value)}",
        "model_attributes_type": lambda: f"expected an object, got {kind_of(value)}",
        "dataclass_type": lambda: f"expected an object, got {kind_of(value)}",
        "literal_error": lambda: f"expected one of {_choices(ctx.get('expected', ''))}, got {value!r}",
        "enum": lambda: f"expected one of {ctx.get('expected', '')}, got {value!r}",
        "union_tag_invalid": lambda: f"unknown type {ctx.get('tag')!r}, expected one of {ctx.get('expected_tags')}",
        "union_tag_not_found": lambda: f"missing key '{ctx.get('discriminator', 'type').strip(chr(39))}'",
        "greater_than": lambda: f"invalid value {value!r} (expected > {ctx.get('gt')})",
        "greater_than_equal": lambda: f"invalid value {value!r} (expected >= {ctx.get('ge')})",
        "less_than": lambda: f"invalid value {value!r} (expected < {ctx.get('lt')})",
        "less_than_equal": lambda: f"invalid value {value!r} (expected <= {ctx.get('le')})",
        "too_short": lambda: f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}",
        "too_long": lambda: f"expected at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}",
        "string_pattern_mismatch": lambda: f"invalid text {str(value)[:40]!r}",
    }
    if kind in words:
        return words[kind]()
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", problem["msg"]))
    return str(problem["msg"])


def _choices(expected: str) -> str:
    """pydantic's ``"'A', 'B' or 'R'"`` as ``A, B, R``."""
    return ", ".join(part.strip().strip("'") for part in expected.replace(" or ", ", ").split(","))


def kind_of(value: object) -> str:
    """How a JSON value reads in a message: ``the text 'abc'``, ``the number 3``, ``a list``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, type(value).__name__)


def _without_union_tags(loc: Loc, data: object) -> Loc:
    """Drop the member name pydantic puts in a tagged union's location (``body.0.conv2d.kernel_size``): a part that
    is not a key of the object there but its ``type``."""
    out: list[int | str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


__all__ = ["Closed", "Open", "Pair", "field_path", "kind_of", "reason", "validate"]
