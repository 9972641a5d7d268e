"""The step plan as an SVG drawn on the server, with the case's current step highlighted."""

from __future__ import annotations

from markupsafe import Markup, escape

from domain.procedure import STAGES
from domain.states import CaseState

S = CaseState


def _boxes() -> list[tuple[str, frozenset[CaseState]]]:
    """The procedure's stages grouped by their box, in plan order (domain/procedure.py)."""
    boxes: dict[str, set[CaseState]] = {}
    for stage in STAGES:
        if stage.box is not None:
            boxes.setdefault(stage.box, set()).add(stage.state)
    return [(box, frozenset(states)) for box, states in boxes.items()]


STEPS = _boxes()
# Closed states that are a step of their own in the drawing; the others close from any step.
FINAL_STEPS = frozenset(s.state for s in STAGES if s.state.is_closed and s.box is not None)
BOX_W, BOX_H, GAP_X, GAP_Y = 150, 54, 30, 40


def current_step(path: list[CaseState]) -> int:
    """Index of the step the case is at; a withdrawn or expired case shows where it stopped."""
    open_states = [state for state in path if not state.is_closed or state in FINAL_STEPS]
    look = open_states[-1] if open_states else S.REQUESTED
    for index, (_label, states) in enumerate(STEPS):
        if look in states:
            return index
    return 0


def step_diagram(path: list[CaseState]) -> Markup:
    """`path`: the states the case went through, in order (its transitions). Only the steps
    on it are drawn as done: a member skips the intake call and the diagram says so. Two
    drawings, five steps a row for wide screens and two for phones; the stylesheet shows one."""
    return Markup(f'<div class="diagram-wrap">{_drawing(path, 5, "wide")}'
                  f'{_drawing(path, 2, "narrow")}</div>')


def _drawing(path: list[CaseState], per_row: int, variant: str) -> str:
    state = path[-1] if path else S.REQUESTED
    now = current_step(path)
    visited = {index for index, (_label, states) in enumerate(STEPS) if states & set(path)}
    PER_ROW = per_row  # noqa: N806
    rows = (len(STEPS) + PER_ROW - 1) // PER_ROW
    width = PER_ROW * BOX_W + (PER_ROW - 1) * GAP_X + 20
    height = rows * BOX_H + (rows - 1) * GAP_Y + 20
    label = f"Stap {now + 1} van {len(STEPS)}: {STEPS[now][0]} ({state.label})"
    parts = [
        f'<svg class="diagram {variant}" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for index, (text, _states) in enumerate(STEPS):
        row, col = divmod(index, PER_ROW)
        x, y = 10 + col * (BOX_W + GAP_X), 10 + row * (BOX_H + GAP_Y)
        done, current = index in visited and index != now, index == now
        fill = "#00557f" if current else ("#d7e7f0" if done else "#ffffff")
        ink = "#ffffff" if current else "#1b1b1b"
        stroke = "#00557f" if current or done else "#8a8a8a"
        weight = "bold" if current else "normal"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{x + BOX_W / 2}" y="{y + BOX_H / 2 + 5}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="14" font-weight="{weight}" fill="{ink}">'
            f"{escape(text)}</text>"
        )
        if col < PER_ROW - 1 and index < len(STEPS) - 1:
            ax = x + BOX_W
            parts.append(f'<line x1="{ax + 2}" y1="{y + BOX_H / 2}" x2="{ax + GAP_X - 4}" '
                         f'y2="{y + BOX_H / 2}" stroke="#4a4a4a" stroke-width="2"/>')
        elif index < len(STEPS) - 1:
            parts.append(f'<line x1="{x + BOX_W / 2}" y1="{y + BOX_H + 2}" '
                         f'x2="{10 + BOX_W / 2}" y2="{y + BOX_H + GAP_Y - 4}" '
                         f'stroke="#4a4a4a" stroke-width="2"/>')
    if state.is_closed and state is not S.CERTIFIED:
        parts.append(f'<text x="{width - 10}" y="{height - 2}" text-anchor="end" '
                     f'font-family="sans-serif" font-size="13" fill="#a4000f">'
                     f"{escape(state.label)}</text>")
    parts.append("</svg>")
    return "".join(parts)
