"""Registry credentials and the token dance, for tether.stores.oci.

Three ways a registry asks for credentials, all answered from the same lookup:

* none (a local or public registry): requests go out bare;
* ``WWW-Authenticate: Basic realm=...`` (Distribution with htpasswd, Harbor behind a proxy):
  the username and password go with every request;
* ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` (GHCR, Docker Hub, Harbor,
  ECR, Distribution with token auth): a token for the scope is fetched from the realm,
  with the username and password as basic auth when we have them (anonymous otherwise),
  then sent as ``Authorization: Bearer``; tokens are cached per scope.

Credentials come from ``TETHER_OCI_USERNAME`` / ``TETHER_OCI_PASSWORD``, else from the
Docker config (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``): a credential
helper named in ``credHelpers`` / ``credsStore``, or an ``auths`` entry with base64
``auth`` (``user:password``) or ``username`` / ``password`` fields.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tether.names import DOCKER_CONFIG_ENV
from tether.names import HF_CONFIG_FILE as DOCKER_AUTH_FILE  # same file name, docker's meaning
from tether.names import OCI_PASSWORD_ENV as PASSWORD_ENV
from tether.names import OCI_USERNAME_ENV as USERNAME_ENV

log = logging.getLogger(__name__)


#: Docker Hub's registry answers at registry-1.docker.io; its credentials are filed under
#: this historical key in ~/.docker/config.json.
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    #: Where they came from, for error messages (never the secret itself).
    source: str

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: scheme and lower-cased parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


# auth-param = token "=" ( token / quoted-string ), RFC 7235; quoted strings may hold commas.
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?=\s|$|,)")


def parse_www_authenticate(header: str) -> list[Challenge]:
    """All challenges of a ``WWW-Authenticate`` value (a server may offer several)."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        if header[pos] in ", \t":
            pos += 1
            continue
        scheme = _SCHEME.match(header, pos)
        if scheme is None:
            break
        pos = scheme.end()
        params: dict[str, str] = {}
        while pos < len(header):
            param = _PARAM.match(header, pos)
            if param is None:
                break
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[param.group(1).lower()] = value
            pos = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), params))
    return challenges


# --- where credentials come from ---------------------------------------------------------


def docker_config_path() -> Path:
    folder = os.environ.get(DOCKER_CONFIG_ENV)
    return Path(folder) / DOCKER_AUTH_FILE if folder else Path.home() / ".docker" / DOCKER_AUTH_FILE


def _host_keys(host: str) -> list[str]:
    """The keys a Docker config may file ``host``'s credentials under."""
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in DOCKER_HUB_HOSTS:
        keys = [DOCKER_HUB_AUTH_KEY, *DOCKER_HUB_HOSTS, *keys]
    return keys


def _normalise_key(key: str) -> str:
    """``https://host:5000/v2/`` -> ``host:5000`` (entries are written in many forms)."""
    return re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]


def find_credentials(host: str) -> Credentials | None:
    """Credentials for registry ``host`` (``host[:port]``), or None to go anonymous."""
    user, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if user and password is not None:
        return Credentials(user, password, f"${USERNAME_ENV}/${PASSWORD_ENV}")
    path = docker_config_path()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable Docker config %s: %s", path, exc)
        return None
    if not isinstance(config, dict):
        return None
    keys = _host_keys(host)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers, dict) and helpers.get(key):
            return _from_helper(str(helpers[key]), key)
    auths = config.get("auths") or {}
    if isinstance(auths, dict):
        wanted = {_normalise_key(k) for k in keys}
        for key, entry in auths.items():
            if _normalise_key(key) in wanted and isinstance(entry, dict):
                found = _from_auth_entry(entry, f"{path} auths[{key!r}]")
                if found is not None:
                    return found
    if config.get("credsStore"):
        for key in keys[:2]:
            found = _from_helper(str(config["credsStore"]), key, quiet=True)
            if found is not None:
                return found
    return None


def _from_auth_entry(entry: dict, source: str) -> Credentials | None:
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            log.warning("ignoring malformed 'auth' in %s", source)
            return None
        if sep:
            return Credentials(user, password, source)
    if entry.get("username") and entry.get("password") is not None:
        return Credentials(str(entry["username"]), str(entry["password"]), source)
    return None


def _from_helper(helper: str, server: str, *, quiet: bool = False) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` (the protocol Docker itself uses)."""
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(
            [program, "get"], input=server, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        if not quiet:
            log.warning("credential helper %s failed for %s: %s", program, server, exc)
        return None
    if done.returncode != 0:
        if not quiet:
            log.warning("credential helper %s has nothing for %s", program, server)
        return None
    try:
        data = json.loads(done.stdout)
        return Credentials(str(data["Username"]), str(data["Secret"]), program)
    except (ValueError, KeyError, TypeError):
        return None


# --- bearer tokens ------------------------------------------------------------------------


@dataclass
class Token:
    value: str
    expires: float  # time.monotonic() after which it is not reused

    def fresh(self) -> bool:
        return time.monotonic() < self.expires


def token_request_params(challenge: Challenge, scopes: list[str]) -> list[tuple[str, str]]:
    """Query parameters for the realm: service, then one ``scope`` per scope, deduplicated."""
    params = []
    if challenge.params.get("service"):
        params.append(("service", challenge.params["service"]))
    seen = []
    for scope in [*challenge.params.get("scope", "").split(" "), *scopes]:
        if scope and scope not in seen:
            seen.append(scope)
    params += [("scope", scope) for scope in seen]
    return params


def parse_token_response(data: object) -> Token:
    """The token of a realm's JSON answer (``token`` or ``access_token``, ``expires_in``)."""
    if not isinstance(data, dict):
        raise ValueError("token response is not a JSON object")
    value = data.get("token") or data.get("access_token")
    if not isinstance(value, str) or not value:
        raise ValueError("token response holds no 'token' or 'access_token'")
    try:
        lifetime = float(data.get("expires_in") or 60)
    except (TypeError, ValueError):
        lifetime = 60.0
    # renew a little early so a long upload does not start with a token about to expire
    return Token(value, time.monotonic() + max(lifetime - 10.0, 5.0))
