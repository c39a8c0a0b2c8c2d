"""tether key generate / tether sign: signing keys and OMS-signed releases.

Imported by `tether release` for --signing-key, so it stays light: tether.signing
(cryptography) is imported by the spine only when a key is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tether.cli.options import name_option, project_option, signing_key_option, store_option
from tether.names import SIGNING_KEY_PASSWORD_ENV as PASSWORD_ENV
from tether.names import SIGSTORE_TOKEN_ENV as IDENTITY_TOKEN_ENV

if TYPE_CHECKING:
    from tether.signing import Signer
    from tether.spine import SignResult


def _password() -> str | None:
    return os.environ.get(PASSWORD_ENV) or None


def _identity_token(given: str | None = None) -> str | None:
    return given or os.environ.get(IDENTITY_TOKEN_ENV) or None


def signer_from_option(spec: str | None, identity_token: str | None = None) -> Signer | None:
    """The signer for a --signing-key value (None: no signing)."""
    if not spec:
        return None
    from tether.spine import load_signer

    return load_signer(spec, password=_password(), identity_token=_identity_token(identity_token))


def sign_release(*args: Any, **kwargs: Any) -> SignResult:
    """tether.spine.sign_release, imported when `tether release --signing-key` signs."""
    from tether.spine import sign_release

    return sign_release(*args, **kwargs)


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
    """Make a key pair for `tether release --signing-key` / `tether sign`.

    The private key is encrypted with $TETHER_SIGNING_KEY_PASSWORD when that is set. Keep
    it secret (e.g. a CI secret: its PEM text in $TETHER_SIGNING_KEY); commit the public
    key to each consuming project and list it in [trust] keys.
    """
    from tether.spine import generate_signing_key

    written = generate_signing_key(prefix, curve=curve, password=_password())
    click.echo(f"wrote {written.private} (private: keep it secret) and {written.public}")
    click.echo(f"key id: {written.key_id}")
    click.echo("in each consuming project's tether.toml:")
    click.echo(f'  [trust]\n  keys = ["{written.public.name}"]')


@click.command("sign")
@click.argument("version")
@signing_key_option(old="--key")
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
    signing_key: str | None,
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
    from tether.spine import sign_version

    result = sign_version(
        project_dir,
        version,
        signing_key=signing_key,
        sigstore=sigstore,
        attach=attach,
        replace=replace,
        password=_password(),
        identity_token=_identity_token(),
        store=store,
        name=name,
    )
    if attach is None:
        echo_signed(result)
        return
    click.echo(
        f"attached {attach} to {result.name} {result.version}: {result.signer}, "
        f"covers its {result.files} files"
    )


COMMANDS = [key_group, sign_command]
