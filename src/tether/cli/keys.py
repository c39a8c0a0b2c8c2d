"""tether key generate / tether sign: signing keys and OMS-signed releases.

Imported by `tether release` for --sign, so it stays light: tether.signing (cryptography)
is imported only when a key is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tether.cli.options import name_option, open_project, project_option, store_option
from tether.errors import TetherError
from tether.names import SIGNING_KEY_ENV
from tether.names import SIGNING_KEY_PASSWORD_ENV as PASSWORD_ENV
from tether.names import SIGSTORE_TOKEN_ENV as IDENTITY_TOKEN_ENV

if TYPE_CHECKING:
    from tether.signing import Signer, SignResult


def _signing() -> Any:
    from tether.spine import _signing

    return _signing()


def signer_from_option(spec: str | None, identity_token: str | None = None) -> Signer | None:
    """The signer for a --sign/--key value (None: no signing)."""
    if not spec:
        return None
    return _signing().load_signer(
        spec,
        password=os.environ.get(PASSWORD_ENV) or None,
        identity_token=identity_token or os.environ.get(IDENTITY_TOKEN_ENV) or None,
    )


def sign_release(*args: Any, **kwargs: Any) -> SignResult:
    return _signing().sign_release(*args, **kwargs)


def echo_signed(result: SignResult) -> None:
    click.echo(
        f"signed {result.name} {result.tag} with {result.signer}: "
        f"model.sig covers its {result.files} files"
    )


@click.group("key")
def key_group() -> None:
    """Signing keys for releases (EC keys; signatures in the OpenSSF model signing format)."""


@key_group.command("generate")
@click.option(
    "--out",
    "prefix",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("tether-signing"),
    show_default=True,
    help="Writes OUT.key (private, mode 600) and OUT.pub (public). Never overwrites.",
)
@click.option(
    "--curve",
    type=click.Choice(["p256", "p384", "p521"]),
    default="p256",
    show_default=True,
    help="Elliptic curve (all three are accepted by OMS verifiers).",
)
def key_generate_command(prefix: Path, curve: str) -> None:
    """Make a key pair for `tether release --sign` / `tether sign`.

    The private key is encrypted with $TETHER_SIGNING_KEY_PASSWORD when that is set. Keep
    it secret (e.g. a CI secret: its PEM text in $TETHER_SIGNING_KEY); commit the public
    key to each consuming project and list it in [trust] keys.
    """
    private_path = prefix.with_name(prefix.name + ".key")
    public_path = prefix.with_name(prefix.name + ".pub")
    key = _signing().generate_key(
        private_path, public_path, curve=curve, password=os.environ.get(PASSWORD_ENV) or None
    )
    click.echo(f"wrote {private_path} (private: keep it secret) and {public_path}")
    click.echo(f"key id: {key.id}")
    click.echo("in each consuming project's tether.toml:")
    click.echo(f'  [trust]\n  keys = ["{public_path.name}"]')


@click.command("sign")
@click.argument("version")
@click.option(
    "--key",
    "key_spec",
    metavar="KEY",
    envvar=SIGNING_KEY_ENV,
    help=f"EC private key: a PEM file, or PEM text in ${SIGNING_KEY_ENV} "
    f"(password: ${PASSWORD_ENV}).",
)
@click.option(
    "--sigstore",
    is_flag=True,
    help="Sign keylessly with an OIDC identity through Sigstore (needs the network; in CI "
    f"the ambient identity, else ${IDENTITY_TOKEN_ENV}).",
)
@click.option(
    "--attach",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Attach a signature made elsewhere (e.g. model_signing over `tether download`); "
    "it must cover exactly the release's files.",
)
@click.option("--replace", is_flag=True, help="Replace an existing signature (key rotation).")
@store_option
@name_option
@project_option
def sign_command(
    version: str,
    key_spec: str | None,
    sigstore: bool,
    attach: Path | None,
    replace: bool,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Sign release VERSION: adds model.sig beside it; its files do not change.

    The store's files are re-hashed first, so the signature vouches for the bytes the store
    holds. Consumers check it on every fetch once their tether.toml has a [trust] table.
    """
    # --sigstore wins over a key that only came from the environment.
    chosen = [bool(attach), sigstore, bool(key_spec) and not sigstore and not attach]
    if sum(chosen) != 1:
        raise TetherError(
            "give one of --key KEY, --sigstore or --attach FILE",
            f"e.g. tether sign {version} --key tether-signing.key",
        )
    _, opened, name = open_project(project_dir, store, name)
    if attach is not None:
        statement, hint = _signing().attach_signature(
            opened, name, version, attach.read_bytes(), replace=replace
        )
        click.echo(
            f"attached {attach} to {name} {version}: key {hint[:16]}, "
            f"covers its {len(statement.files)} files"
        )
        return
    signer = signer_from_option("sigstore" if sigstore else key_spec)
    assert signer is not None
    echo_signed(sign_release(opened, name, version, signer, replace=replace))


COMMANDS = [key_group, sign_command]
