"""The served schema as SDL (``finora schema``)."""

from __future__ import annotations

from schema.schema import schema


def sdl() -> str:
    return schema.as_str() + "\n"
