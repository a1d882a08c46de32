"""How the CLI prints: one console, status colours, cells that fit a table row."""

from __future__ import annotations

from typing import Any

from rich.console import Console

STATUS_COLORS = {
    "released": "green",
    "done": "green",
    "failed": "red",
    "building": "yellow",
    "pending": "yellow",
    "running": "yellow",
}


def console() -> Console:
    """The console every command prints its tables to (stdout)."""
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, 200)  # no wrapping of tables and URLs in pipes and logs
    return out


def status(value: str | None) -> str:
    """A version's or a report's status, coloured by how it ended (rich markup)."""
    return "-" if value is None else f"[{STATUS_COLORS.get(value, 'white')}]{value}[/]"


def one_line(text: str) -> str:
    """`text` on one line of at most 80 characters."""
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def cell(value: Any) -> str:
    """A value as a table cell: `-` for none, floats to four significant digits."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
