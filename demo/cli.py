"""``flask demo seed``: load the demo office into an empty database; ``flask demo drive``: simulate its drivers."""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup

from core.extensions import db

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("seed")
@click.option("--seed", "random_seed", default=1404, show_default=True, help="Random seed.")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) when the database has data.")
def seed_command(random_seed, if_empty):
    """Load the demo office into an empty database."""
    from demo.seed import database_is_empty, seed_demo

    if not database_is_empty():
        if if_empty:
            click.echo("demo: the database already has data; nothing loaded")
            return
        raise click.ClickException("the database is not empty: demo data loads only into an empty one")
    summary = seed_demo(random_seed)
    db.session.commit()
    for name, count in summary.items():
        click.echo(f"{name}: {count}")


@demo_cli.command("drive")
@click.option(
    "--drivers",
    "count",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many drivers to simulate.",
)
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between two ticks.",
)
def drive_command(count, interval):
    """Simulate some of the demo's drivers (positions, offers, trips, breaks) until SIGTERM or Ctrl-C."""
    from demo.simulator import DriverSimulator

    # The flask command sets up no logging: without a handler the simulator's INFO lines would go nowhere.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    DriverSimulator(limit=count).run(interval=interval)
