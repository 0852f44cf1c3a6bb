"""Click parameter types the `halo` commands share."""

from __future__ import annotations

import click

from halo_platform.core.text import plain_number


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


class PlainNumber(click.ParamType):
    """A number written in the digits 0-9, with an optional decimal point (`core.text.plain_number`,
    as the Control Center's forms read one): click's float, Python's float(), also took other
    scripts' digits (`--rate ١٢`: a key limited to 12 requests a second), `1_0`, `1e3`, `inf`, `nan`."""

    name = "number"

    def convert(self, value: str | float, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):  # a default
            return value
        number = plain_number(value)
        if number is None:
            self.fail(f"{value!r} is not a number written in the digits 0-9 (and a decimal point)", param, ctx)
        return number


NUMBER = PlainNumber()


class PathGiven(click.Path):
    """A path argument, refused with one line when it holds a NUL: no command line holds one, but
    a caller in-process can, and the path's check (`os.stat`) failed with a ValueError's stack.
    Refused empty too: as a path, '' is the current folder ('not a file: .', a bench's scratch
    files written in it), not the file the user left blank."""

    def convert(self, value, param: click.Parameter | None, ctx: click.Context | None):  # noqa: ANN001, ANN201
        if value == "":
            self.fail("empty: a path names a file or folder", param, ctx)
        if isinstance(value, str) and "\x00" in value:
            self.fail("a path holds no NUL character", param, ctx)
        return super().convert(value, param, ctx)
