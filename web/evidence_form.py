"""The points and hours (R6) as a form, row by row, no JSON: used where staff open a case from
an e-mailed request and where they enter the counts for a request that came in by the way in.

Without JavaScript a form cannot grow rows, so "Meer regels" posts the form back with the
typed values kept and more empty rows. Empty rows are skipped; the service's errors are put on
the row and field they belong to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from web.forms import small_int

ROWS = {"activities": 6, "work_hours": 3, "bot_days": 5}
MORE = 5
MAX_ROWS = 200
ROW_FIELDS = {"activities": ("on", "points", "category", "accredited", "title"),
              "work_hours": ("start", "end", "hours", "description"),
              "bot_days": ("on",)}
CATEGORIES = {"course": "Cursus", "other": "Overige activiteit"}
ERROR_KEY = re.compile(r"evidence\.(activities|work_hours|bot_days)\.(\d+)\.(\w+)")

Rows = dict[str, list["Row"]]
Origin = dict[str, list[int]]


@dataclass
class Row:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def empty_rows() -> Rows:
    return {part: [Row(dict.fromkeys(ROW_FIELDS[part], "")) for _ in range(n)]
            for part, n in ROWS.items()}


def posted_rows(form: dict[str, str]) -> tuple[Rows, bool]:
    """The rows as typed, and whether "Meer regels" was pressed (then with more empty rows)."""
    counts = {}
    for part, default in ROWS.items():
        typed = form.get(f"{part}-rows", "")
        number = small_int(typed, digits=3)
        counts[part] = min(MAX_ROWS, number) if number is not None else default
    more = form.get("meer", "")
    if more in counts:
        counts[more] = min(MAX_ROWS, counts[more] + MORE)
    rows = {part: [Row({name: form.get(f"{part}-{i}-{name}", "") for name in ROW_FIELDS[part]})
                   for i in range(count)] for part, count in counts.items()}
    return rows, more in counts


def stored_rows(evidence: dict[str, Any]) -> Rows:
    """The case's stored evidence as rows, with room for more."""
    rows: Rows = {}
    for part, default in ROWS.items():
        items = evidence.get(part, [])
        filled = [Row({name: _shown(item.get(name), name) for name in ROW_FIELDS[part]})
                  for item in items]
        spare = MORE if items else default
        rows[part] = filled + [Row(dict.fromkeys(ROW_FIELDS[part], "")) for _ in range(spare)]
    return rows


def _shown(value: Any, name: str) -> str:
    if name == "accredited":
        return "ja" if value else ""
    if value is None:
        return ""
    text = str(value)
    return text.replace(".", ",") if name in ("points", "hours") else text


def _number(text: str) -> str:
    """Dutch decimal comma accepted: "1,5" points."""
    return text.strip().replace(",", ".")


def evidence_from(rows: Rows) -> tuple[dict[str, list[dict[str, Any]]], Origin]:
    """The service's evidence input, and per part which form row each item came from."""
    evidence: dict[str, list[dict[str, Any]]] = {part: [] for part in ROWS}
    origin: Origin = {part: [] for part in ROWS}
    for part, part_rows in rows.items():
        for index, row in enumerate(part_rows):
            typed = {k: v.strip() for k, v in row.values.items() if k != "accredited"}
            if not any(typed.values()):
                continue
            item: dict[str, Any] = dict(typed)
            if part == "activities":
                item["points"] = _number(typed["points"])
                item["accredited"] = row.values.get("accredited") == "ja"
            if part == "work_hours":
                item["hours"] = _number(typed["hours"])
            evidence[part].append(item)
            origin[part].append(index)
    return evidence, origin


def place_errors(errors: dict[str, str], rows: Rows, origin: Origin) -> dict[str, str]:
    """Puts each row error (`evidence.activities.2.points`) on its row; returns the errors that
    belong to no row, keyed without the `evidence.` prefix."""
    rest = {}
    for key, message in errors.items():
        found = ERROR_KEY.fullmatch(key)
        if found and int(found.group(2)) < len(origin[found.group(1)]):
            row = rows[found.group(1)][origin[found.group(1)][int(found.group(2))]]
            row.errors[found.group(3)] = message
        else:
            rest[key.removeprefix("evidence.")] = message
    return rest
