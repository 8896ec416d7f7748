"""TLS for the sandbox: a throw-away certificate authority and a loopback server certificate it signed.

msal accepts only an https authority, so the sandbox serves TLS as well as plain HTTP on its one port (the
server tells them apart by the first byte a client sends; see `hub.sandbox.server`). `material()` creates, once
per process, an EC P-256 CA and a server certificate for localhost, 127.0.0.1, ::1 and this host's name, valid
for a week, in a private temporary directory removed at exit. Clients trust the sandbox by passing the CA file
(`Material.ca_file`) as requests' / msal's `verify`; nothing is added to a system trust store.

    m = material()
    ctx = m.server_context()     # ssl.SSLContext for the server side
    requests.get("https://127.0.0.1:<port>/...", verify=m.ca_file)
"""

from __future__ import annotations

import atexit
import ipaddress
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

_lock = threading.Lock()
_material: "Material | None" = None


@dataclass(frozen=True)
class Material:
    ca_file: str  # PEM of the CA certificate: what clients pass as `verify`
    cert_file: str  # server certificate chain (leaf + CA), PEM
    key_file: str  # server private key, PEM (owner-only)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def ca_pem(self) -> str:
        return Path(self.ca_file).read_text(encoding="ascii")


def material() -> Material:
    """The process's sandbox TLS material (created on first use)."""
    global _material
    with _lock:
        if _material is None:
            _material = _create()
        return _material


def _create() -> Material:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    until = now + timedelta(days=7)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pmo-hub sandbox CA (throw-away)")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                     x509.IPAddress(ipaddress.ip_address("::1"))]
    host = socket.gethostname()
    if host and host != "localhost":
        names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="pmo-hub-sandbox-tls-"))  # mkdtemp: mode 0700
    atexit.register(shutil.rmtree, folder, True)
    pem = serialization.Encoding.PEM
    ca_file = folder / "sandbox-ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file = folder / "server.pem"
    cert_file.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_file = folder / "server.key"
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return Material(str(ca_file), str(cert_file), str(key_file))
