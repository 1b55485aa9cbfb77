"""``syncline secrets``: generate a key and rotate the stored secrets to the newest key."""

from __future__ import annotations

from typing import Annotated

import typer
from cryptography.fernet import Fernet
from rich.console import Console

from syncline.cli.common import _as_cli_user, _context, _setup_logging
from syncline.settings import get_settings

secrets_app = typer.Typer(help="The secret key and the encrypted secrets.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@secrets_app.command("generate-key")
def generate_key() -> None:
    """Print a new random Fernet key (put it first in SYNCLINE_SECRET_KEY, then rotate)."""
    typer.echo(Fernet.generate_key().decode())


@secrets_app.command("rotate")
def rotate(
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="First put a freshly generated key at the top of the key file "
            "(only when the keys come from the key file, not SYNCLINE_SECRET_KEY).",
        ),
    ] = False,
) -> None:
    """Re-encrypt every stored secret with the newest key (the first one listed).

    Every key listed still decrypts; once this succeeded and every process runs with the new
    key first, the old keys can be removed.
    """
    from syncline.security.keys import default_key_file, write_key_file
    from syncline.security.secrets import SecretError
    from syncline.services.secret_rotation import rotate_secrets

    _setup_logging("WARNING")
    settings = get_settings()
    if new_key:
        if settings.secret_key:
            err_console.print(
                "[red]--new-key writes the key file, but SYNCLINE_SECRET_KEY is set: put "
                "`syncline secrets generate-key` first in it and rotate without --new-key[/red]"
            )
            raise typer.Exit(1)
        path = settings.secret_key_file or default_key_file(settings.data_dir)
        old = path.read_text() if path.exists() else ""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_key_file(path, Fernet.generate_key().decode() + "\n" + old)
        console.print(f"new key added at the top of {path}")
    with _as_cli_user(), _context(settings) as ctx, ctx.sessions() as session:
        try:
            report = rotate_secrets(session, ctx.secrets)
        except SecretError as exc:
            err_console.print(f"[red]nothing rotated: {exc}[/red]")
            raise typer.Exit(1) from None
    console.print(
        f"rotated {report.sources} source(s) and {report.destinations} destination(s) "
        f"to the newest key ({report.changed} config(s) rewritten)"
    )
