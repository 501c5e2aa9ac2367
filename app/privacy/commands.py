"""`flask omnicrm retention run` (and friends) of the privacy domain."""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup

from app import appbuilder
from app.core.context import acting_as, cli_actor
from app.privacy import accounts, digest, export, policy_versions, retention
from app.privacy.exceptions import PrivacyError
from app.privacy.policy_versions import SHIPPED_POLICY

logger = logging.getLogger(__name__)

retention_cli = AppGroup("retention", help="Data retention (privacy policy section 8).")


@retention_cli.command("run")
def retention_run_command() -> None:
    """Apply retention now and print what was removed per page."""
    with acting_as(cli_actor()):
        report = retention.run_retention()
        expired = export.purge_expired_exports()
    for line in report.lines():
        click.echo(line)
    click.echo(f"expired export files: {expired} removed")


account_cli = AppGroup("account", help="Staff accounts (privacy policy section 7).")


@account_cli.command("delete")
@click.argument("username")
def account_delete_command(username: str) -> None:
    """Open an account-deletion request for a staff user (a privacy officer approves it)."""
    user = appbuilder.sm.find_user(username=username)
    if user is None:
        raise click.UsageError(f"no user named {username!r}")
    with acting_as(cli_actor()):
        req = accounts.request_account_deletion(user.id)
    click.echo(f"Account deletion request #{req.id} opened (due {req.due_at.date().isoformat()}).")


policy_cli = AppGroup("policy", help="Privacy policy versions (privacy policy section 11).")


@policy_cli.command("publish")
@click.option("--material", "kind", flag_value="material", help="a material change: e-mails every active staff account")
@click.option("--minor", "kind", flag_value="minor", help="a minor change (wording): no mail, no banner")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, readable=True),
    help="the policy text (Markdown); default: the shipped app/privacy/policy.md",
)
def policy_publish_command(kind: str | None, path: str | None) -> None:
    """Record a new policy version (number, date, SHA-256) that /privacy then shows."""
    if kind is None:
        raise click.UsageError("say whether the change is --material (staff are told) or --minor")
    with open(path or SHIPPED_POLICY, encoding="utf-8") as fh:
        text = fh.read()
    with acting_as(cli_actor()):
        try:
            version = policy_versions.do_publish(text, material=kind == "material")
        except PrivacyError as exc:
            raise click.UsageError(str(exc)) from None
    told = " Active staff accounts are e-mailed and see a banner until they confirm." if version.material else ""
    click.echo(f"Published privacy policy version {version.version} (sha256 {version.sha256[:12]}…).{told}")


privacy_cli = AppGroup("privacy", help="Privacy requests: the Privacy Officers' daily digest.")


@privacy_cli.command("digest")
def privacy_digest_command() -> None:
    """Send today's digest now (mail + in-app notifications; once per day, so safe to repeat)."""
    with acting_as(cli_actor()):
        result = digest.run_digest()
    click.echo(f"privacy digest: {result.line()}")


def register(group: AppGroup) -> None:
    """Add this domain's commands to `flask omnicrm`."""
    group.add_command(retention_cli)
    group.add_command(account_cli)
    group.add_command(policy_cli)
    group.add_command(privacy_cli)
