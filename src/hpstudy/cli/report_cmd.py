"""Report commands (report, reproduce, dashboard)."""

from __future__ import annotations

from typing import Any


def add_commands(commands: Any) -> None:
    """Register the report commands."""
