#!/usr/bin/python3
"""PyKMIP client interop script for Coffer's end-to-end tests.

Usage: pykmip_client.py HOST PORT CERT KEY CA

Runs create, create key pair, register, get, get attributes, locate,
activate, revoke and destroy with PyKMIP's ProxyKmipClient (KMIP 1.1) and
asserts each result. Prints one "ok STEP" line per passed step and, last, a
JSON object with identifiers and key material (hex) for the Go test to
check independently. Exits 1 at the first failed assertion.
"""
import binascii
import json
import sys

from kmip.core import enums
from kmip.core.factories import attributes as attrfactory
from kmip.pie import client as pieclient
from kmip.pie import exceptions
from kmip.pie import objects


def check(cond, step, detail=""):
    if not cond:
        print("FAIL %s %s" % (step, detail))
        sys.exit(1)
    print("ok %s" % step)
    sys.stdout.flush()


def attr_map(attrs):
    out = {}
    for a in attrs:
        out[a.attribute_name.value] = a.attribute_value
    return out


def main():
    host, port, cert, key, ca = sys.argv[1:6]
    c = pieclient.ProxyKmipClient(
        hostname=host, port=int(port), cert=cert, key=key, ca=ca,
        ssl_version="PROTOCOL_SSLv23",
        kmip_version=enums.KMIPVersion.KMIP_1_1)
    c.open()
    out = {}
    try:
        # Create a named AES-256 key.
        uid = c.create(enums.CryptographicAlgorithm.AES, 256, name="pykmip-aes",
                       cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                                 enums.CryptographicUsageMask.DECRYPT])
        check(isinstance(uid, str) and uid != "", "create", uid)
        out["created"] = uid

        # Get: a symmetric key of 32 bytes.
        k = c.get(uid)
        check(isinstance(k, objects.SymmetricKey) and len(k.value) == 32
              and k.cryptographic_algorithm == enums.CryptographicAlgorithm.AES
              and k.cryptographic_length == 256, "get", repr(k))
        out["created_key"] = binascii.hexlify(k.value).decode()

        # Get Attributes: the ones asked for, with the values created.
        ruid, attrs = c.get_attributes(uid, ["Cryptographic Algorithm", "Cryptographic Length", "State", "Name"])
        m = attr_map(attrs)
        check(ruid == uid
              and m.get("Cryptographic Algorithm").value == enums.CryptographicAlgorithm.AES
              and m.get("Cryptographic Length").value == 256
              and m.get("State").value == enums.State.PRE_ACTIVE
              and m.get("Name").name_value.value == "pykmip-aes", "get_attributes", repr(m))

        # Locate by name finds exactly this key.
        f = attrfactory.AttributeFactory()
        found = c.locate(attributes=[f.create_attribute(enums.AttributeType.NAME, "pykmip-aes")])
        check(found == [uid], "locate", repr(found))

        # Activate, then State is Active.
        c.activate(uid)
        _, attrs = c.get_attributes(uid, ["State"])
        check(attr_map(attrs)["State"].value == enums.State.ACTIVE, "activate")

        # Create Key Pair: RSA 2048, both halves readable.
        pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048,
                                      public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
                                      private_usage_mask=[enums.CryptographicUsageMask.SIGN])
        check(pub and priv and pub != priv, "create_key_pair", "%r %r" % (pub, priv))
        pk = c.get(pub)
        sk = c.get(priv)
        check(isinstance(pk, objects.PublicKey) and isinstance(sk, objects.PrivateKey)
              and pk.cryptographic_length == 2048, "get_key_pair", "%r %r" % (pk, sk))
        out["public"], out["private"] = pub, priv

        # Register a known AES-128 key; Get returns the same bytes.
        material = bytes(range(16))
        reg = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, material,
                                   [enums.CryptographicUsageMask.ENCRYPT], "pykmip-registered")
        ruid = c.register(reg)
        got = c.get(ruid)
        check(ruid and ruid != uid and got.value == material, "register", repr(ruid))
        out["registered"] = ruid

        # Revoke (Cessation of Operation): the active key becomes Deactivated.
        c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid, revocation_message="interop")
        _, attrs = c.get_attributes(uid, ["State"])
        check(attr_map(attrs)["State"].value == enums.State.DEACTIVATED, "revoke")

        # Destroy it; a later Get fails with Item Not Found.
        c.destroy(uid)
        try:
            c.get(uid)
            check(False, "destroy", "Get after Destroy succeeded")
        except exceptions.KmipOperationFailure as e:
            check(e.reason == enums.ResultReason.ITEM_NOT_FOUND, "destroy", repr(e))
        out["destroyed"] = uid
    finally:
        c.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
