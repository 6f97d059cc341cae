#!/usr/bin/env python3
"""Independent TLS client (Python ssl, i.e. OpenSSL) for the transport tests.

usage: sslclient.py HOST PORT CAFILE CERTFILE KEYFILE VERSION CIPHERS REQUESTHEX
VERSION is 1.2 or 1.3; CIPHERS is an OpenSSL cipher string (TLS 1.2 only).
Sends the request, reads a response of the same length and prints
"<protocol> <cipher> <response hex>".
"""
import socket
import ssl
import sys


def main():
    host, port, cafile, certfile, keyfile, version, ciphers, reqhex = sys.argv[1:9]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.load_cert_chain(certfile, keyfile)
    v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = v
    ctx.maximum_version = v
    if version == "1.2":
        ctx.set_ciphers(ciphers)
    req = bytes.fromhex(reqhex)
    with socket.create_connection((host, int(port)), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(req)
            buf = b""
            while len(buf) < len(req):
                chunk = s.recv(len(req) - len(buf))
                if not chunk:
                    break
                buf += chunk
            print(s.version(), s.cipher()[0], buf.hex())


if __name__ == "__main__":
    main()
