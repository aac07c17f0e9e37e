"""DICOM over TLS: recognise TLS streams, read their handshake, decrypt them with a key log (sans-I/O).

``record.TlsConnection`` turns the TCP bytes of one connection into decrypted application data with
its frame map plus the connection's facts (``session.TlsInfo``); ``keylog`` reads NSS key logs,
``keys`` holds the TLS 1.2 PRF and TLS 1.3 HKDF-Expand-Label. Nothing is imported here, so that
recognising TLS (``tables.looks_like_tls_hello``) costs no ``cryptography`` import.
"""
