"""The key that encrypts stored OAuth tokens (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

Where it comes from: `SFXERO_SECRET_KEY` (a Fernet key, e.g. from a secret manager) when set; otherwise
the file `SFXERO_SECRET_KEY_FILE` (default `.sfxero/secret.key`), generated on first use with mode 0600.
The key is never written to the database, logs, run metadata or error messages; losing it only means
connecting again (`sfxero connect xero`), since the stored tokens become unreadable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet

from ..errors import ConfigError

DEFAULT_KEY_FILE = Path(".sfxero/secret.key")


def key_file(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("SFXERO_SECRET_KEY_FILE") or DEFAULT_KEY_FILE)


def _read_or_create(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    try:
        # link, not replace: two processes creating the key at once must end up agreeing on one.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


def token_cipher(environ: Mapping[str, str] = os.environ) -> Fernet:
    """The Fernet that encrypts `oauth_token` rows; ConfigError (naming the variable, not the value) if bad."""
    raw = environ.get("SFXERO_SECRET_KEY")
    source = "SFXERO_SECRET_KEY"
    if not raw:
        path = key_file(environ)
        source = f"SFXERO_SECRET_KEY_FILE ({path})"
        try:
            raw = _read_or_create(path).decode("ascii", "replace")
        except OSError as exc:
            raise ConfigError(source, f"cannot read or create the key file: {exc.strerror}") from None
    try:
        return Fernet(raw.encode("ascii", "replace") if isinstance(raw, str) else raw)
    except (ValueError, TypeError):
        raise ConfigError(source, "is not a Fernet key (32 url-safe base64-encoded bytes; make one with "
                          "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
                          ) from None

