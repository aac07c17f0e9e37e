"""Key schedules: the TLS 1.2 PRF (RFC 5246 §5, §6.3) and TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1, §7.3).

Only what decryption from a key log needs: from a TLS 1.2 master secret to the key block, and from a
TLS 1.3 traffic secret to the record key and IV (and the next secret after a KeyUpdate, §7.2).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha1": hashes.SHA1}
DIGEST_LEN = {"sha1": 20, "sha256": 32, "sha384": 48}


def p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """RFC 5246 §5 P_hash: HMAC-hash chained until ``length`` bytes."""
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return bytes(out[:length])


def prf12(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.2 PRF(secret, label, seed) with the suite's PRF hash (SHA-256 unless the suite says SHA-384)."""
    return p_hash(hash_name, secret, label + seed, length)


def key_block12(suite, master: bytes, client_random: bytes, server_random: bytes) -> dict:
    """RFC 5246 §6.3: client/server write MAC keys, keys and IVs from the master secret."""
    mac_len = DIGEST_LEN[suite.mac] if suite.mac else 0
    n = 2 * (mac_len + suite.key_len + suite.iv_len)
    kb = prf12(suite.prf, master, b"key expansion", server_random + client_random, n)
    out, i = {}, 0
    for name, size in (("client_mac", mac_len), ("server_mac", mac_len), ("client_key", suite.key_len),
                       ("server_key", suite.key_len), ("client_iv", suite.iv_len), ("server_iv", suite.iv_len)):
        out[name] = kb[i:i + size]
        i += size
    return out


def hkdf_expand_label(hash_name: str, secret: bytes, label: str, context: bytes, length: int) -> bytes:
    """RFC 8446 §7.1 HKDF-Expand-Label(Secret, Label, Context, Length)."""
    full = b"tls13 " + label.encode("ascii")
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return HKDFExpand(HASHES[hash_name](), length, info).derive(secret)


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """RFC 5869 HKDF-Extract (used by the RFC 8448 key schedule test)."""
    if not salt:
        salt = bytes(DIGEST_LEN[hash_name])
    return hmac.new(salt, ikm, hash_name).digest()


def derive_secret(hash_name: str, secret: bytes, label: str, messages: bytes) -> bytes:
    """RFC 8446 §7.1 Derive-Secret(Secret, Label, Messages)."""
    h = hashlib.new(hash_name, messages).digest()
    return hkdf_expand_label(hash_name, secret, label, h, DIGEST_LEN[hash_name])


def traffic_keys13(suite, secret: bytes) -> tuple[bytes, bytes]:
    """RFC 8446 §7.3: (write key, write IV) of a traffic secret."""
    return (hkdf_expand_label(suite.prf, secret, "key", b"", suite.key_len),
            hkdf_expand_label(suite.prf, secret, "iv", b"", 12))


def next_secret13(suite, secret: bytes) -> bytes:
    """RFC 8446 §7.2: application_traffic_secret_N+1 after a KeyUpdate."""
    return hkdf_expand_label(suite.prf, secret, "traffic upd", b"", DIGEST_LEN[suite.prf])
