"""``flask subscribers import|export``: moving an office's subscriber list in and out as CSV; ``rebuild-months``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import phonenumbers
from flask import current_app
from flask.cli import AppGroup

from core.extensions import db
from crm.activity import rebuild_months
from crm.exporter import export_subscribers
from crm.import_file import ImportFileError, check_file
from crm.importer import REJECTED, import_subscribers

subscribers_cli = AppGroup(
    "subscribers", help="Import and export the subscriber book as CSV; rebuild the customer reports' monthly roll-up."
)
SHOWN_REJECTIONS = 20


def _open(path: Path, encoding: str):
    return path.open(encoding=encoding, newline="")


@subscribers_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report everything, save nothing.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
@click.option("--region", default=None, help="Country for numbers without a code (default: DEFAULT_REGION).")
@click.option("--encoding", default="utf-8-sig", show_default=True, help="The file's encoding (e.g. cp1256).")
def import_command(file, dry_run, report_path, region, encoding):
    """Import subscribers from a CSV file; rejected rows are reported, not fatal.

    Completed chunks of 1,000 rows are committed as the import goes, so the live office can keep
    writing; running the same file again adds nothing twice.
    """
    region = (region or current_app.config["DEFAULT_REGION"]).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise click.ClickException(f"unknown region {region!r}: give a two-letter country code such as IR")
    try:
        # A first pass reads the whole file without the database: a file that breaks halfway (a bad
        # byte, a broken quote) is refused before any row is saved.
        with _open(file, encoding) as stream:
            check_file(stream)
        with _open(file, encoding) as stream:
            report = import_subscribers(stream, region, dry_run=dry_run, commit_chunks=True)
    except OSError as exc:
        db.session.rollback()
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        db.session.rollback()
        raise click.ClickException(
            f"{file} is not {encoding} text; save it as UTF-8 or give its encoding, e.g. --encoding cp1256"
        ) from None
    except LookupError:
        raise click.ClickException(f"unknown encoding {encoding!r}") from None
    except ImportFileError as exc:
        db.session.rollback()
        raise click.ClickException(f"{file}: {exc}") from None
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()

    counts = ", ".join(f"{name} {value}" for name, value in report.counts().items())
    click.echo(f"{counts}{' (dry run: nothing saved)' if dry_run else ''}")
    if report.ignored_columns:
        click.echo(f"columns not read: {', '.join(report.ignored_columns)}")
    if report_path is not None:
        try:
            with report_path.open("w", encoding="utf-8-sig", newline="") as out:
                report.write_csv(out)
        except OSError as exc:
            raise click.ClickException(f"cannot write the report to {report_path}: {exc.strerror or exc}") from None
        click.echo(f"report: {report_path}")
    else:
        rejected = [entry for entry in report.entries if entry.outcome == REJECTED]
        for entry in rejected[:SHOWN_REJECTIONS]:
            click.echo(f"line {entry.line}: rejected: {entry.reason}", err=True)
        if len(rejected) > SHOWN_REJECTIONS:
            click.echo(f"… and {len(rejected) - SHOWN_REJECTIONS} more rejected; see --report", err=True)


@subscribers_cli.command("export")
@click.argument("file")
def export_command(file):
    """Write every subscriber to a CSV file (``-`` for standard output), one row per address."""
    if file == "-":
        count = export_subscribers(sys.stdout)
    else:
        path = Path(file)
        partial = path.with_name(f".{path.name}.partial")
        try:
            # With a BOM, so that a spreadsheet opens the Persian text as UTF-8; complete or not at all.
            with partial.open("w", encoding="utf-8-sig", newline="") as out:
                count = export_subscribers(out)
            os.replace(partial, path)
        except OSError as exc:
            raise click.ClickException(f"cannot write {file}: {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
    # On standard output the CSV stays alone; the count goes to standard error.
    click.echo(f"exported {count} subscribers", err=file == "-")


@subscribers_cli.command("rebuild-months")
@click.option("--subscriber", "subscriber_ids", type=int, multiple=True, help="Only this subscriber (repeatable).")
def rebuild_months_command(subscriber_ids):
    """Recompute from the bookings each subscriber's trips per office month (what retention and cohorts read)."""
    rows = rebuild_months(subscriber_ids or None)
    db.session.commit()
    click.echo(f"{rows} subscriber months rebuilt")
