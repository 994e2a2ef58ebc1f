"""A key ring: one active signing key and the previous ones, still published until they retire.

    <folder>/ring.json      {"active": kid, "previous": {kid: retire_after}, "retired": [kid]}
    <folder>/<kid>.pem      each private key (0600)

Rotation makes a new key active and keeps the old one in the JWKS (and accepted) for the
longest token lifetime, so no token signed by it fails before it expires; `retire` then drops
keys whose time has passed. Every issuer sharing the folder (the monolith while it issues, the
users service) signs with the same active key and publishes the same set. Changes are written
under a file lock and replace `ring.json` atomically; readers reload when it changes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servicekit.web.files import atomic_write, file_lock, file_version
from servicekit.web.jwt.keys import SigningKey, generate_private_pem
from servicekit.web.jwt.verifiers import LocalKeys

MANIFEST = "ring.json"


@dataclass(frozen=True)
class RingState:
    active: SigningKey
    previous: dict[str, float]  # kid -> retire after (epoch seconds)
    keys: tuple[SigningKey, ...]  # active first, then the previous ones
    resolver: LocalKeys  # kid -> public key, over `keys`


class KeyRing:
    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self._cache: tuple[tuple[int, int, int], RingState] | None = None
        self._lock = threading.Lock()

    # files --------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with file_lock(self.manifest_path):
            yield

    def _manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {}
        return {"previous": {}, "retired": [], **data}

    def _write_manifest(self, data: dict[str, Any]) -> None:
        atomic_write(self.manifest_path, json.dumps(data, indent=2, sort_keys=True))

    def _write_key(self, pem: bytes) -> SigningKey:
        key = SigningKey.from_pem(pem)
        path = self.folder / f"{key.kid}.pem"
        if not path.exists():
            atomic_write(path, pem, mode=0o600)
        return key

    def _key(self, kid: str) -> SigningKey:
        return SigningKey.from_pem((self.folder / f"{kid}.pem").read_bytes())

    # reading ------------------------------------------------------------------------------
    def state(self) -> RingState:
        """The current ring, re-read only when `ring.json` changed. LookupError when empty."""
        version = file_version(self.manifest_path)
        if version is None:
            raise LookupError(f"no key ring in {self.folder}")
        with self._lock:
            if self._cache and self._cache[0] == version:
                return self._cache[1]
            data = self._manifest()
            active = self._key(data["active"])
            previous = {kid: float(t) for kid, t in data["previous"].items()}
            keys = (active, *(self._key(kid) for kid in sorted(previous)))
            state = RingState(
                active=active, previous=previous, keys=keys, resolver=LocalKeys(list(keys))
            )
            self._cache = (version, state)
            return state

    # changing -----------------------------------------------------------------------------
    def ensure(self, *, seed_pem: bytes | None, lifetime: int, now: float | None = None) -> None:
        """Make the ring usable: an empty ring starts with `seed_pem` (or a new key) as active.

        A seed the ring has never seen (an issuer's key made before the ring existed) joins as
        a previous key for `lifetime` seconds, so the tokens it signed keep verifying.
        """
        with self._locked():
            data = self._manifest()
            if not data.get("active"):
                key = self._write_key(seed_pem or generate_private_pem())
                self._write_manifest({"active": key.kid, "previous": {}, "retired": []})
                return
            if seed_pem is None:
                return
            kid = SigningKey.from_pem(seed_pem).kid
            known = {data["active"], *data["previous"], *data["retired"]}
            if kid not in known:
                self._write_key(seed_pem)
                data["previous"][kid] = (now if now is not None else time.time()) + lifetime
                self._write_manifest(data)

    def rotate(self, *, lifetime: int, now: float | None = None) -> tuple[str, str]:
        """A new active key; the old one stays published `lifetime` seconds. (old, new) kids."""
        with self._locked():
            data = self._manifest()
            if not data.get("active"):
                raise LookupError(f"no key ring in {self.folder} to rotate")
            key = self._write_key(generate_private_pem())
            old = data["active"]
            data["previous"][old] = (now if now is not None else time.time()) + lifetime
            data["active"] = key.kid
            self._write_manifest(data)
            return old, key.kid

    def retire(self, *, now: float | None = None, force: bool = False) -> list[str]:
        """Drop the previous keys whose time has passed (all of them with `force`)."""
        moment = now if now is not None else time.time()
        with self._locked():
            data = self._manifest()
            gone = [kid for kid, t in data.get("previous", {}).items() if force or t <= moment]
            for kid in gone:
                del data["previous"][kid]
                data["retired"].append(kid)
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / f"{kid}.pem").unlink()
            if gone:
                self._write_manifest(data)
            return gone
