"""Click parameter types the `halo` commands share."""

from __future__ import annotations

import click


class GivenText(click.ParamType):
    """An optional option's text, refused when empty: `--as-of ''` or `--type ''` is a value left
    blank, not the option left out (today, the default type), as `--by ''` is refused too. REST
    reads an empty query parameter as its default (a form's field left empty); a command has no form."""

    name = "text"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value == "":
            self.fail("empty (leave the option out for its default)", param, ctx)
        return value


GIVEN = GivenText()
