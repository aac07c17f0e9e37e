"""TLS wire codes as tables (RFC 8446, RFC 5246, IANA TLS registries): lookups never raise."""

from __future__ import annotations

from dataclasses import dataclass

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
CONTENT_TYPES = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData", 24: "Heartbeat"}

HANDSHAKE_TYPES = {
    0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 5: "EndOfEarlyData",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
    14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished",
    22: "CertificateStatus", 24: "KeyUpdate", 254: "MessageHash",
}

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}

ALERT_LEVELS = {1: "warning", 2: "fatal"}
ALERT_DESCRIPTIONS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
    109: "missing_extension", 110: "unsupported_extension", 111: "certificate_unobtainable",
    112: "unrecognized_name", 113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}

EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_ENCRYPT_THEN_MAC, EXT_EXTENDED_MASTER_SECRET = 0, 10, 22, 23
EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 43, 51

# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


@dataclass(frozen=True, slots=True)
class Suite:
    """A cipher suite: how its records are protected (``kind`` aead/cbc), key sizes and hashes."""

    code: int
    name: str
    kind: str              # "aead13" (TLS 1.3), "gcm", "chacha" (TLS 1.2 AEAD), "cbc"
    key_len: int
    iv_len: int            # fixed IV (implicit nonce) length
    mac: str               # HMAC hash for CBC suites ("sha1", "sha256", "sha384"); "" for AEAD
    prf: str               # PRF / HKDF hash: "sha256" or "sha384"
    cipher: str            # "aes", "chacha20"


def _s(code, name, kind, key_len, iv_len, mac, prf, cipher="aes"):
    return code, Suite(code, name, kind, key_len, iv_len, mac, prf, cipher)


SUITES: dict[int, Suite] = dict([
    _s(0x1301, "TLS_AES_128_GCM_SHA256", "aead13", 16, 12, "", "sha256"),
    _s(0x1302, "TLS_AES_256_GCM_SHA384", "aead13", 32, 12, "", "sha384"),
    _s(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "aead13", 32, 12, "", "sha256", "chacha20"),
    _s(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16, 4, "", "sha256"),
    _s(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32, 4, "", "sha384"),
    _s(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "gcm", 16, 4, "", "sha256"),
    _s(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "gcm", 32, 4, "", "sha384"),
    _s(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16, 4, "", "sha256"),
    _s(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32, 4, "", "sha384"),
    _s(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16, 4, "", "sha256"),
    _s(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32, 4, "", "sha384"),
    _s(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32, 12, "", "sha256", "chacha20"),
    _s(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32, 12, "", "sha256", "chacha20"),
    _s(0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32, 12, "", "sha256", "chacha20"),
    _s(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "cbc", 16, 0, "sha1", "sha256"),
    _s(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "cbc", 32, 0, "sha1", "sha256"),
    _s(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "cbc", 16, 0, "sha1", "sha256"),
    _s(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "cbc", 32, 0, "sha1", "sha256"),
    _s(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "cbc", 16, 0, "sha256", "sha256"),
    _s(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "cbc", 32, 0, "sha384", "sha384"),
    _s(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "cbc", 16, 0, "sha256", "sha256"),
    _s(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "cbc", 32, 0, "sha384", "sha384"),
    _s(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "cbc", 16, 0, "sha1", "sha256"),
    _s(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "cbc", 32, 0, "sha1", "sha256"),
    _s(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "cbc", 16, 0, "sha256", "sha256"),
    _s(0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "cbc", 32, 0, "sha256", "sha256"),
    _s(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "cbc", 16, 0, "sha1", "sha256"),
    _s(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "cbc", 32, 0, "sha1", "sha256"),
    _s(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", "cbc", 16, 0, "sha256", "sha256"),
    _s(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", "cbc", 32, 0, "sha256", "sha256"),
])
# Names of suites we do not decrypt (still shown by name).
OTHER_SUITE_NAMES = {0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV",
                     0x1304: "TLS_AES_128_CCM_SHA256", 0x1305: "TLS_AES_128_CCM_8_SHA256"}

GROUPS = {23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519", 30: "x448", 256: "ffdhe2048",
          257: "ffdhe3072", 258: "ffdhe4096"}


def _unknown(code: int, width: int = 4) -> str:
    return f"Unknown (0x{code:0{width}X})"


def version_name(v: int | None) -> str:
    if v is None:
        return "?"
    if (v & 0x0F0F) == 0x0A0A:
        return f"GREASE (0x{v:04X})"
    return VERSIONS.get(v, _unknown(v))


def suite_name(code: int) -> str:
    s = SUITES.get(code)
    if s is not None:
        return s.name
    if (code & 0x0F0F) == 0x0A0A:
        return f"GREASE (0x{code:04X})"
    return OTHER_SUITE_NAMES.get(code, _unknown(code))


def alert_name(desc: int) -> str:
    return ALERT_DESCRIPTIONS.get(desc, _unknown(desc, 2))


def alert_level(level: int) -> str:
    return ALERT_LEVELS.get(level, _unknown(level, 2))


def handshake_name(t: int) -> str:
    return HANDSHAKE_TYPES.get(t, _unknown(t, 2))


def content_name(t: int) -> str:
    return CONTENT_TYPES.get(t, _unknown(t, 2))


def looks_like_tls_hello(head: bytes) -> int:
    """1 when ``head`` starts with a TLS handshake record carrying a ClientHello, 2 a ServerHello, else 0."""
    if len(head) < 6 or head[0] != HANDSHAKE or head[1] != 3 or head[2] > 4:
        return 0
    length = int.from_bytes(head[3:5], "big")
    if not 4 <= length <= (1 << 14) + 2048:
        return 0
    return head[5] if head[5] in (1, 2) else 0


def looks_like_tls_records(head: bytes) -> bool:
    """``head`` opens with two consecutive protected-looking TLS records (application data, alert, change
    cipher spec; TLS 1.0-1.2 record versions): a TLS connection whose handshake is not in the capture."""
    pos = 0
    for _ in range(2):
        if pos + 5 > len(head):
            return False
        t, major, minor = head[pos], head[pos + 1], head[pos + 2]
        n = int.from_bytes(head[pos + 3:pos + 5], "big")
        if t not in (20, 21, 23) or major != 3 or not 1 <= minor <= 3 or not 1 <= n <= (1 << 14) + 2048:
            return False
        pos += 5 + n
    return True


EXT_ALPN = 16
# ALPN protocol IDs of other applications (IANA TLS ALPN registry): a ClientHello offering only these is not DICOM
# (DICOM has no ALPN ID; DCMTK and pynetdicom send none), so its connection is left alone.
OTHER_ALPN_PREFIXES = ("http/", "h2", "h3", "spdy/", "acme-tls", "imap", "pop3", "ftp", "xmpp", "dot", "doq",
                       "stun.", "smb", "irc", "postgresql", "mqtt", "coap", "webrtc", "c-webrtc", "managesieve",
                       "sunrpc", "nntp", "nnsp", "ldap", "grpc-exp")


def client_hello_alpn(head: bytes) -> list[str]:
    """The ALPN protocol names of a ClientHello at the start of ``head`` (a TLS record); [] if none or unreadable."""
    try:
        if looks_like_tls_hello(head) != 1:
            return []
        m = head[9:5 + int.from_bytes(head[3:5], "big")]
        p = 34
        p += 1 + m[p]
        p += 2 + int.from_bytes(m[p:p + 2], "big")
        p += 1 + m[p]
        end = min(len(m), p + 2 + int.from_bytes(m[p:p + 2], "big"))
        p += 2
        while p + 4 <= end:
            et, ln = int.from_bytes(m[p:p + 2], "big"), int.from_bytes(m[p + 2:p + 4], "big")
            if et == EXT_ALPN:
                ed, names, q = m[p + 6:p + 4 + ln], [], 0
                while q < len(ed):
                    n = ed[q]
                    names.append(ed[q + 1:q + 1 + n].decode("ascii", "replace"))
                    q += 1 + n
                return names
            p += 4 + ln
    except (IndexError, ValueError):
        return []
    return []


def other_application(alpn: list[str]) -> bool:
    """True when a ClientHello's ALPN offers only protocols of other applications (HTTP, mail, DNS, ...)."""
    return bool(alpn) and all(n.lower().startswith(OTHER_ALPN_PREFIXES) for n in alpn)
