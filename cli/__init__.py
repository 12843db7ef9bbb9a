"""The `lmforge` command line (Typer): a module per group of commands, assembled in cli.app."""
