"""https fetches verify the certificate against the host name, although the connection goes to
the checked address: a server with a certificate nobody signed is not fetched from."""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.media.exceptions import FetchFailed
from app.media.fetch import fetch


class _Png(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"\x89PNG")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def self_signed_server(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Png)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], str(tmp_path / "cert.pem")
    finally:
        server.shutdown()
        server.server_close()


def test_an_untrusted_certificate_is_not_fetched_from(self_signed_server):
    port, _cert = self_signed_server
    with pytest.raises(FetchFailed, match="network error: SSLError"):
        fetch(f"https://localhost:{port}/a.png", "image", f"localhost:{port}")


def test_the_certificate_is_checked_for_the_host_name_not_the_address(self_signed_server):
    """Trusting the server's own certificate: the fetch succeeds over the pinned address, and
    fails when the same server is reached under a name its certificate does not carry."""
    port, cert = self_signed_server
    got = fetch(f"https://localhost:{port}/a.png", "image", f"localhost:{port}", ca_certs=cert)
    assert got.data == b"\x89PNG"
    with pytest.raises(FetchFailed, match="network error"):
        fetch(f"https://127.0.0.1:{port}/a.png", "image", f"127.0.0.1:{port}", ca_certs=cert)
