"""AES-128-CBC payload codec of charger firmware v0.4.0 and later."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import InvalidMessageError

KEY_PREFIX = b"abcdabcd1234"
IV = b"abcd1234abcd1234"
BLOCK_SIZE = 16


def is_plain_json(payload: bytes) -> bool:
    """Plain payloads are JSON objects; anything else may be encrypted.

    A ciphertext can start with ``{`` too: with a fixed key and IV, every
    report of some serial numbers does. Callers fall back to decrypting.
    """
    return payload[:1] == b"{"


class PayloadCodec:
    """Encrypt and decrypt payloads for one charger.

    The key is a fixed prefix plus the serial number's last four characters,
    the IV is fixed, and padding is NUL bytes (not PKCS#7).
    """

    def __init__(self, serial_number: str) -> None:
        suffix = serial_number[-4:].encode("ascii")
        if len(suffix) != 4:
            raise ValueError("serial number needs at least four ASCII characters")
        self._cipher = Cipher(algorithms.AES(KEY_PREFIX + suffix), modes.CBC(IV))

    def encrypt(self, plaintext: bytes) -> bytes:
        """Pad with NULs to a block multiple and encrypt."""
        padded = plaintext + b"\x00" * (-len(plaintext) % BLOCK_SIZE)
        encryptor = self._cipher.encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt and strip the NUL padding."""
        if not ciphertext or len(ciphertext) % BLOCK_SIZE:
            raise InvalidMessageError("encrypted payload is not a multiple of 16 bytes")
        decryptor = self._cipher.decryptor()
        return (decryptor.update(ciphertext) + decryptor.finalize()).rstrip(b"\x00")
