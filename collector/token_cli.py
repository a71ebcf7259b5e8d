"""`asrwatch token`: make tokens and the `sha256:<hex>` hashes the config file takes.

Tokens are read from stdin, never from an argument, so they stay out of shell history and
of `ps` listings.
"""

from __future__ import annotations

import secrets
import sys

import typer

token_app = typer.Typer(help="Bearer tokens: hash one for the config file, or make a new one.",
                        no_args_is_help=True)


@token_app.command("hash")
def hash_command() -> None:
    """Print the config form (sha256:<hex>) of the token read from stdin.

    printf %s "$TOKEN" | asrwatch token hash
    """
    from asrwatch.settings import hash_token

    token = sys.stdin.read().strip()
    if not token:
        raise typer.BadParameter("no token on stdin (pipe it in: printf %s \"$TOKEN\" | asrwatch token hash)")
    if any(ch.isspace() for ch in token):
        raise typer.BadParameter("a bearer token is one line without spaces; stdin held more")
    typer.echo(hash_token(token))


@token_app.command("new")
def new_command() -> None:
    """Print a fresh random token (give it to the client) and its hash (put it in the config)."""
    from asrwatch.settings import hash_token

    token = secrets.token_urlsafe(32)
    typer.echo(f"token: {token}")
    typer.echo(f"hash:  {hash_token(token)}")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
