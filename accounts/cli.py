"""``flask user …``: staff accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from accounts.roles import STAFF_ROLES
from accounts.services import AccountError, create_user, find_user, issue_token
from core.extensions import db

user_cli = AppGroup("user", help="Manage staff accounts.")


@user_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in STAFF_ROLES]))
@click.option("--name", "display_name", default="", help="The name shown on screens.")
@click.option("--language", type=click.Choice(["fa", "en"]), default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_command(username, role, display_name, language, password_stdin):
    """Create a staff account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(username, password, role, display_name, language)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"created {user.role} {user.username}")


@user_cli.command("token")
@click.argument("username")
@click.option("--label", default="cli", help="What the token is for.")
def token_command(username, label):
    """Print a new API bearer token for a user."""
    user = find_user(username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    token = issue_token(user, label)
    db.session.commit()
    click.echo(token)
