"""Ed25519 under agentbus's one acceptance rule (PROTOCOL.md §6.2, docs/signature-rule.md).

``verify`` is true iff all of:

1. the public key is 32 bytes and the signature 64 bytes;
2. S = sig[32:64] (little-endian) < L;
3. R = sig[0:32] is not on libsodium's small-order blocklist (top bit masked) and its y < p;
4. A is canonical (y < p), not on the blocklist, and decodes to a curve point;
5. the cofactorless equation, compared as bytes: encode([S]B - [k]A) == R.

Items 1-4 (except A's on-curve decode) are byte comparisons done here, in front of libsodium
(PyNaCl); libsodium's ``crypto_sign_open`` (``crypto_sign_verify_detached`` over sig || message) computes item 5 and the decode. So this
module gives the same verdict as the verifier, the TS receivers and an audit re-check on every
signature, whatever the libsodium build (an ``ED25519_COMPAT`` build would otherwise differ).
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions

L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19

# libsodium's ge25519_has_small_order blocklist (ed25519_ref10.c), compared with the top bit masked.
SMALL_ORDER_BLOCKLIST: tuple[bytes, ...] = tuple(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def _masked(point: bytes) -> bytes:
    return point[:31] + bytes([point[31] & 0x7F])


def point_is_canonical(point: bytes) -> bool:
    """y (the 255 low bits, little-endian) < p."""
    return int.from_bytes(_masked(point), "little") < P


def point_has_small_order(point: bytes) -> bool:
    return _masked(point) in SMALL_ORDER_BLOCKLIST


def scalar_is_canonical(s: bytes) -> bool:
    return int.from_bytes(s, "little") < L


def acceptable(public_key: bytes, signature: bytes) -> bool:
    """Rule items 1-4 (minus A's on-curve decode): False means every conforming verifier rejects."""
    if not isinstance(public_key, (bytes, bytearray, memoryview)) or not isinstance(
        signature, (bytes, bytearray, memoryview)
    ):
        return False
    a = bytes(public_key)
    sig = bytes(signature)
    if len(a) != 32 or len(sig) != 64:
        return False
    r = sig[:32]
    if not scalar_is_canonical(sig[32:]):
        return False
    if point_has_small_order(r) or not point_is_canonical(r):
        return False
    if point_has_small_order(a) or not point_is_canonical(a):
        return False
    return True


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """The acceptance rule. Never raises: any bad input is False."""
    if not acceptable(public_key, signature):
        return False
    try:
        nacl.bindings.crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte RFC 8032 seed."""
    if len(seed) != 32:
        raise ValueError("seed: expected 32 bytes")
    pk, _sk = nacl.bindings.crypto_sign_seed_keypair(bytes(seed))
    return pk


class Signer:
    """A prepared signer for one seed (deterministic RFC 8032 §5.1.6 signatures)."""

    __slots__ = ("_sk", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("seed: expected 32 bytes")
        pk, sk = nacl.bindings.crypto_sign_seed_keypair(bytes(seed))
        self.public_key: bytes = pk
        self._sk = bytearray(sk)

    def sign(self, message: bytes) -> bytes:
        if not self._sk:
            raise ValueError("signer destroyed")
        signed: bytes = nacl.bindings.crypto_sign(bytes(message), bytes(self._sk))
        return signed[:64]

    def destroy(self) -> None:
        for i in range(len(self._sk)):
            self._sk[i] = 0
        self._sk = bytearray()

    def __repr__(self) -> str:
        return "Signer(<secret>)"
