"""Which registers have a policy file, and reading one: a file is checked whole when it is read,
borrowed criteria included, so a mistake names its file and field for the operator to fix."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from pydantic import TypeAdapter, ValidationError

from policies.register import RegisterPolicy
from policies.schema import PolicyError
from policies.texts import (
    ERR_CODE_MISMATCH,
    ERR_CRITERIA_BOTH,
    ERR_CRITERIA_CHAIN,
    ERR_CRITERIA_NONE,
    ERR_FIELD,
    ERR_INVALID_FILE,
    ERR_NOT_TOML,
    ERR_UNKNOWN_CODE,
)

_POLICY_ADAPTER: TypeAdapter[RegisterPolicy] = TypeAdapter(RegisterPolicy)


def _registers_dir() -> Traversable:
    return resources.files(__package__ or "policies").joinpath("registers")


def available_codes(directory: Traversable | None = None) -> tuple[str, ...]:
    """Register codes with a policy file, sorted."""
    folder = directory if directory is not None else _registers_dir()
    return tuple(
        sorted(
            item.name.removesuffix(".toml").upper()
            for item in folder.iterdir()
            if item.is_file() and item.name.endswith(".toml")
        )
    )


@cache
def specialisations() -> dict[str, str]:
    """Code -> Dutch name of each specialisation register (its policy file says it is one),
    in the order of their names: the choices wherever a specialisation is asked for."""
    policies = [load_policy(code) for code in available_codes()]
    return {p.code: p.name for p in sorted(policies, key=lambda p: p.name) if p.is_specialisation}


def load_policy(code: str, *, directory: Traversable | None = None) -> RegisterPolicy:
    """The policy of register ``code`` (case-insensitive); ``PolicyError`` if it is unknown
    or its file is invalid. ``directory`` replaces the packaged files (tests, a register's
    own configuration)."""
    folder = directory if directory is not None else _registers_dir()
    normalised = code.strip().upper()
    if not normalised.isalnum():
        known = ", ".join(available_codes(folder)) or "-"
        raise PolicyError(ERR_UNKNOWN_CODE.format(code=code, known=known))
    if directory is None:
        return _load_packaged(normalised)
    return _load(normalised, folder)


@cache
def _load_packaged(code: str) -> RegisterPolicy:
    # Policies are frozen, so handing out one shared instance per register is safe.
    return _load(code, _registers_dir())


def _load(code: str, folder: Traversable) -> RegisterPolicy:
    raw = _read_raw(code, folder)
    filename = _filename(code)
    source = raw.get("criteria_from")
    if source is not None and "criteria" in raw:
        raise PolicyError(
            ERR_INVALID_FILE.format(
                file=filename, details=ERR_FIELD.format(field="criteria", message=ERR_CRITERIA_BOTH)
            ),
            file=filename,
            field="criteria",
        )
    if isinstance(source, str):
        borrowed = _load(source.strip().upper(), folder)
        if borrowed.criteria_from is not None:
            raise PolicyError(
                ERR_INVALID_FILE.format(
                    file=filename,
                    details=ERR_FIELD.format(
                        field="criteria_from",
                        message=ERR_CRITERIA_CHAIN.format(source=borrowed.code),
                    ),
                ),
                file=filename,
                field="criteria_from",
            )
        raw = {**raw, "criteria_from": borrowed.code, "criteria": borrowed.criteria}
    elif source is None and "criteria" not in raw:
        raise PolicyError(
            ERR_INVALID_FILE.format(
                file=filename, details=ERR_FIELD.format(field="criteria", message=ERR_CRITERIA_NONE)
            ),
            file=filename,
            field="criteria",
        )
    try:
        policy = _POLICY_ADAPTER.validate_python(raw)
    except ValidationError as err:
        problems = err.errors(include_url=False)
        fields = [".".join(str(part) for part in p["loc"]) or "(bestand)" for p in problems]
        details = "; ".join(
            ERR_FIELD.format(field=field, message=p["msg"])
            for field, p in zip(fields, problems, strict=True)
        )
        raise PolicyError(
            ERR_INVALID_FILE.format(file=filename, details=details),
            file=filename,
            field=fields[0],
        ) from err
    if policy.code != code:
        raise PolicyError(
            ERR_CODE_MISMATCH.format(file=filename, code=policy.code, expected=code),
            file=filename,
            field="code",
        )
    return policy


def _filename(code: str) -> str:
    return f"{code.lower()}.toml"


def _read_raw(code: str, folder: Traversable) -> dict[str, object]:
    filename = _filename(code)
    item = folder.joinpath(filename)
    if not item.is_file():
        known = ", ".join(available_codes(folder)) or "-"
        raise PolicyError(ERR_UNKNOWN_CODE.format(code=code, known=known), file=filename)
    try:
        return tomllib.loads(item.read_text(encoding="utf-8"), parse_float=Decimal)
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(ERR_NOT_TOML.format(file=filename, message=err), file=filename) from err
