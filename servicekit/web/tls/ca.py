"""A small local certificate authority for mTLS inside the fleet (docs/mtls.md).

    python -m servicekit.web.tls.ca init            # the CA key and certificate
    python -m servicekit.web.tls.ca issue catalog   # catalog.pem: key + server/client certificate
    python -m servicekit.web.tls.ca rotate catalog  # a new catalog.pem, the old one kept beside it
    python -m servicekit.web.tls.ca rollover        # CA rollover, step 1: a new CA, both trusted
    python -m servicekit.web.tls.ca rotate --all    #   step 2: every certificate from the new CA
    python -m servicekit.web.tls.ca finish          #   step 3: the old CA no longer trusted

Files go to servicekit.web.tls.tls_dir() (STRANGLER_TLS_DIR, else `<data folder>/tls/`);
private keys are 0600 and every file is replaced atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import sys
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from servicekit.web.files import atomic_write
from servicekit.web.tls import CA_KEY, ca_cert_path, identity_path, tls_dir

CA_DAYS = 3650
SERVICE_DAYS = 90
PRIVATE = 0o600
PUBLIC = 0o644


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "strangler local CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, *, days: int
) -> x509.CertificateBuilder:
    """A certificate for `key`, valid from five minutes ago (clock skew) for `days`."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def make_ca(
    common_name: str = "strangler local CA",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA key and certificate (pure: writes nothing)."""
    key = _key()
    cert = (
        _builder(_name(common_name), _name(common_name), key, days=CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_identity(
    name: str,
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    days: int = SERVICE_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and a certificate good for serving and for calling as a client, for `name`
    (SAN: 127.0.0.1, ::1, localhost and the service name)."""
    key = _key()
    names = [
        x509.DNSName(name),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        _builder(_name(name), ca_cert.subject, key, days=days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def ca_init(*, environ: Mapping[str, str] | None = None, force: bool = False) -> Path:
    """Write the CA key and certificate; an existing CA is kept unless `force`."""
    folder = tls_dir(environ=environ)
    cert_path = ca_cert_path(environ=environ)
    if cert_path.exists() and not force:
        return cert_path
    key, cert = make_ca()
    atomic_write(folder / CA_KEY, _key_pem(key), mode=PRIVATE)
    atomic_write(cert_path, _cert_pem(cert), mode=PUBLIC)
    return cert_path


def _load_ca(
    environ: Mapping[str, str] | None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    folder = tls_dir(environ=environ)
    if not ca_cert_path(environ=environ).exists():
        raise SystemExit(f"no CA in {folder}: run `python -m servicekit.web.tls.ca init` first")
    key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(ca_cert_path(environ=environ).read_bytes())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, cert


def identity_issue(name: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """Write `<name>.pem` (key then certificate, 0600), replacing any current one at once."""
    ca_key, ca_cert = _load_ca(environ)
    key, cert = make_identity(name, ca_key=ca_key, ca_cert=ca_cert)
    path = identity_path(name, environ=environ)
    atomic_write(path, _key_pem(key) + _cert_pem(cert), mode=PRIVATE)
    return path


def identity_rotate(
    name: str, *, environ: Mapping[str, str] | None = None
) -> tuple[Path, Path | None]:
    """Keep the current `<name>.pem` as `<name>.<UTC stamp>.pem` and issue a new one.

    The old certificate stays valid until it expires: clients still holding it keep being
    served while each server picks up its new pair (a graceful gunicorn reload, HUP)."""
    current = identity_path(name, environ=environ)
    kept: Path | None = None
    if current.exists():
        stamp = _stamp()
        kept = current.with_name(f"{name}.{stamp}.pem")
        atomic_write(kept, current.read_bytes(), mode=PRIVATE)
    return identity_issue(name, environ=environ), kept


def _stamp() -> str:
    return _now().strftime("%Y%m%dT%H%M%S%fZ")


def identities(*, environ: Mapping[str, str] | None = None) -> list[str]:
    """The names with a current `<name>.pem` in the folder (rotated-out pairs left aside)."""
    folder = tls_dir(environ=environ)
    return sorted(p.stem for p in folder.glob("*.pem") if "." not in p.stem)


def ca_rollover(*, environ: Mapping[str, str] | None = None) -> Path:
    """Step 1 of a CA rollover: a new CA key signs from now on, and `ca.crt` becomes the new
    CA's certificate followed by the old one(s), so every party trusts both while certificates
    from either are in use. The old key and certificate are kept as `ca.<stamp>.key/.crt`.

    Then reload every party's trust (gunicorn and the gRPC server re-read `ca.crt` for each new
    connection; clients when rebuilt), reissue every certificate (`rotate --all`), reload, and
    only then `finish`."""
    folder = tls_dir(environ=environ)
    _load_ca(environ)  # a CA to roll over from
    stamp = _stamp()
    current = ca_cert_path(environ=environ).read_bytes()
    atomic_write(folder / f"ca.{stamp}.key", (folder / CA_KEY).read_bytes(), mode=PRIVATE)
    atomic_write(folder / f"ca.{stamp}.crt", current, mode=PUBLIC)
    key, cert = make_ca(f"strangler local CA {stamp}")  # a name of its own: no chain ambiguity
    atomic_write(ca_cert_path(environ=environ), _cert_pem(cert) + current, mode=PUBLIC)
    atomic_write(folder / CA_KEY, _key_pem(key), mode=PRIVATE)
    return ca_cert_path(environ=environ)


def ca_finish(*, environ: Mapping[str, str] | None = None, force: bool = False) -> Path:
    """Step 3 of a CA rollover: `ca.crt` trusts the current CA only. Refused while a current
    certificate in the folder is still from an old CA (unless `force`)."""
    _ca_key, ca_cert = _load_ca(environ)
    stale = [
        name
        for name in identities(environ=environ)
        if certificate_of(identity_path(name, environ=environ)).issuer != ca_cert.subject
    ]
    if stale and not force:
        raise SystemExit(
            f"still signed by an old CA: {', '.join(stale)}; run `rotate --all` and reload first"
        )
    atomic_write(ca_cert_path(environ=environ), _cert_pem(ca_cert), mode=PUBLIC)
    return ca_cert_path(environ=environ)


def certificate_of(path: Path) -> x509.Certificate:
    """The certificate in a `<name>.pem` (or a bare certificate file)."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.web.tls.ca", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="make the CA key and certificate (kept if present)")
    init.add_argument("--force", action="store_true", help="replace an existing CA")
    commands.add_parser("rollover", help="a new CA signs; ca.crt trusts the new and the old CA")
    finish = commands.add_parser("finish", help="ca.crt trusts the current CA only")
    finish.add_argument("--force", action="store_true", help="even if old certificates remain")
    for command, text in (
        ("issue", "make NAME's key and server+client certificate"),
        ("rotate", "issue a new pair for NAME, keeping the old one beside it"),
    ):
        sub = commands.add_parser(command, help=text)
        sub.add_argument("names", nargs="*", metavar="NAME")
        if command == "rotate":
            sub.add_argument("--all", action="store_true", help="every current certificate")
    args = parser.parse_args(argv)
    if args.command in ("init", "rollover", "finish"):
        if args.command == "init":
            print(ca_init(force=args.force))
        elif args.command == "rollover":
            print(f"{ca_rollover()} trusts the new and the old CA; now `rotate --all`")
        else:
            print(ca_finish(force=args.force))
        return 0
    names = identities() if getattr(args, "all", False) else args.names
    if not names:
        parser.error(f"{args.command}: name at least one certificate")
    for name in names:
        if args.command == "issue":
            print(identity_issue(name))
        else:
            path, kept = identity_rotate(name)
            print(f"{path} (previous kept as {kept})" if kept else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
