"""NSS key log files (``SSLKEYLOGFILE``, ``SSLContext.keylog_filename``, OpenSSL's keylog callback).

Each line is ``LABEL <client_random hex> <secret hex>``: ``CLIENT_RANDOM`` carries a TLS 1.2 master
secret; ``CLIENT_HANDSHAKE_TRAFFIC_SECRET`` / ``SERVER_HANDSHAKE_TRAFFIC_SECRET`` /
``CLIENT_TRAFFIC_SECRET_0`` / ``SERVER_TRAFFIC_SECRET_0`` the TLS 1.3 secrets. Bad lines are skipped
and counted, never raised.
"""

from __future__ import annotations

import os
from pathlib import Path

LABELS = frozenset({"CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                    "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET",
                    "CLIENT_EARLY_TRAFFIC_SECRET", "EARLY_EXPORTER_SECRET"})
MAX_LINES = 1 << 20


class KeyLog:
    """Secrets by client random: ``secrets[client_random][label] = secret``."""

    def __init__(self) -> None:
        self.secrets: dict[bytes, dict[str, bytes]] = {}
        self.bad_lines = 0
        self.sources: list[str] = []
        self.files: dict[str, int] = {}      # path → size read (a live peer's key log grows: ``refresh``)
        self.blobs_seen = 0                  # pcapng secrets taken from a reader's list so far

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __len__(self) -> int:
        return len(self.secrets)

    def add_text(self, text: str | bytes, source: str = "") -> int:
        """Read NSS key log lines; returns how many secrets were taken."""
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("ascii", "replace")
        n = 0
        for i, line in enumerate(text.splitlines()):
            if i >= MAX_LINES:
                break
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 3 or parts[0] not in LABELS:
                self.bad_lines += 1
                continue
            try:
                cr, secret = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            except ValueError:
                self.bad_lines += 1
                continue
            if len(cr) != 32 or not secret:
                self.bad_lines += 1
                continue
            self.secrets.setdefault(cr, {})[parts[0]] = secret
            n += 1
        if source and n:
            self.sources.append(source)
        return n

    def add_file(self, path: str | os.PathLike) -> int:
        data = Path(path).read_bytes()
        self.files[str(path)] = len(data)
        return self.add_text(data, str(path))

    def refresh(self) -> int:
        """Re-read key log files that grew since (live capture: the peer writes its keys as it goes)."""
        n = 0
        for path, size in list(self.files.items()):
            try:
                if os.path.getsize(path) != size:
                    n += self.add_file(path)
            except OSError:
                pass
        return n

    def take_secrets(self, blobs) -> None:
        """Take the pcapng Decryption Secrets Blocks of a reader (a list it fills as it reads) not yet taken."""
        if blobs is None:
            return
        for blob in blobs[self.blobs_seen:]:
            self.add_text(blob, "pcapng Decryption Secrets Block")
        self.blobs_seen = len(blobs)

    def get(self, client_random: bytes, label: str) -> bytes | None:
        return self.secrets.get(client_random, {}).get(label)


def load_keylogs(paths=(), secrets=(), *, environ: bool = True) -> KeyLog:
    """A key log from files (``--tls-keylog``), pcapng Decryption Secrets Blocks (bytes), and, when no file was
    given, ``SSLKEYLOGFILE`` from the environment. A file that cannot be read raises OSError (the caller says so)."""
    kl = KeyLog()
    for p in paths or ():
        kl.add_file(p)
    for blob in secrets or ():
        kl.add_text(blob, "pcapng Decryption Secrets Block")
    if environ and not paths:
        env = os.environ.get("SSLKEYLOGFILE")
        if env and os.path.isfile(env):
            try:
                kl.add_file(env)
            except OSError:
                pass
    return kl


_CONFIGURED: list[str] | None = None


def configure(paths) -> None:
    """Set the key log files every analyzer of this process uses (``--tls-keylog``); empty: ``SSLKEYLOGFILE``."""
    global _CONFIGURED
    _CONFIGURED = [str(p) for p in paths or ()]


def configured() -> tuple[str, ...]:
    """The key log files :func:`configure` set (``--tls-keylog``), for work sent to other processes."""
    return tuple(_CONFIGURED or ())


def default_keylog() -> KeyLog:
    """A fresh key log from the configured files, else from ``SSLKEYLOGFILE`` (unreadable files are skipped)."""
    kl = KeyLog()
    for p in _CONFIGURED or ():
        try:
            kl.add_file(p)
        except OSError:
            pass
    if not _CONFIGURED:
        env = os.environ.get("SSLKEYLOGFILE")
        if env:
            try:
                kl.add_file(env)
            except OSError:
                kl.files[env] = -1           # may appear later (a live peer creates it)
    return kl
