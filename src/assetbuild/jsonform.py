"""The JSON form of a stored value, for ``show --json``: plain JSON data, bytes as
``{"__bytes__": "<base64>"}``, and for anything else an error naming the part that has none."""

from __future__ import annotations

from typing import Any, NoReturn

from .errors import ValueNotFound

_JSON_SCALARS = (str, int, float, bool, type(None))


def json_form(asset: str, value: Any, where: str = "value", path: frozenset[int] = frozenset()) -> Any:
    """``value`` as JSON data for ``show --json``: bytes become ``{"__bytes__": base64}``,
    tuples lists; ValueNotFound says which part (``value["rows"][3]``) cannot be shown."""
    if isinstance(value, _JSON_SCALARS):
        if isinstance(value, float) and value - value != 0:  # nan, inf, -inf: JSON has no number for them
            _not_json(asset, f"{where} is {value!r}, a float", None)
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        import base64

        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple, dict)):
        if id(value) in path:
            _not_json(asset, f"{where} contains itself", None)
        inner = path | {id(value)}
        if not isinstance(value, dict):
            return [json_form(asset, v, f"{where}[{i}]", inner) for i, v in enumerate(value)]
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if not isinstance(k, _JSON_SCALARS):
                _not_json(asset, f"a key of {where}, {k!r}, is", k)
            out[k] = json_form(asset, v, f"{where}[{k!r}]", inner)
        return out
    _not_json(asset, f"{where} is", value)


def metadata_form(value: Any) -> Any:
    """Recorded metadata (an observation's) for ``--json``: a nan or infinite float as its repr
    (``"nan"``, ``"-inf"``), as typed metadata gives it (``metadata.typed``), not refused like a
    value's: the observation it belongs to is shown whole."""
    if isinstance(value, float) and value - value != 0:
        return repr(value)
    if isinstance(value, dict):
        return {k: metadata_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [metadata_form(v) for v in value]
    return value


def json_text(doc: Any, **dumps: Any) -> str:
    """A ``--json`` document as strict JSON (RFC 8259, which ``jq``, JavaScript and Go read): a
    nan or infinite float in it as its repr (``metadata_form``), never the ``NaN`` or
    ``Infinity`` Python's json writes by default and strict parsers refuse."""
    import json

    try:
        return json.dumps(doc, allow_nan=False, **dumps)
    except ValueError:  # (the common document has none: written without a walk)
        return json.dumps(metadata_form(doc), allow_nan=False, **dumps)


def _not_json(asset: str, what: str, value: Any) -> NoReturn:
    kind = "" if value is None else " of type " + \
        f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    raise ValueNotFound(f"the value of {asset!r} cannot be shown as JSON: {what}{kind} (JSON has "
                        'strings, numbers, booleans, null, lists, objects, and bytes as {"__bytes__": '
                        "base64}); show it without --json")
