"""A command group whose bare form lists: `hydro models` and `hydro models MODEL` still list, while
`hydro models delete ...` runs the subcommand."""

from __future__ import annotations

import click


class ListingGroup(click.Group):
    """Runs its `list` command when no subcommand is named (any other first word is `list`'s argument)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)
