"""Command-line parsing shared by our management commands."""

from __future__ import annotations

from typing import NoReturn

from django.core.management.base import CommandError, CommandParser


class OneLineErrorParser(CommandParser):
    """A bad argument is one line naming it and what is accepted, then exit code 2.

    argparse prints the whole usage first, which for a command with subcommands is a
    screenful that hides the one line that matters.
    """

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
        raise CommandError(f"Error: {message}")
