"""The AES-128-CBC payload codec of firmware v0.4.0 and later."""

from __future__ import annotations

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import pytest

from custom_components.novabot.protocol import (
    InvalidMessageError,
    PayloadCodec,
    decode_message,
)
from custom_components.novabot.protocol.crypto import is_plain_json

SERIAL = "LFIC1230700123"
QUERY = b'{"get_lora_info":null}'  # 22 bytes: two blocks once padded
# Computed once from the document's recipe (below, independently of the codec).
QUERY_CIPHERTEXT = bytes.fromhex(
    "2a968bf900b4f6ce158ffde3093e8f114850c8cd2a20fc1ce70153f7bd6b87b5"
)


def reference_encrypt(serial_number: str, plaintext: bytes) -> bytes:
    """The document's recipe, built from raw AES blocks (CBC chained by hand).

    key = "abcdabcd1234" + last 4 characters of the serial number,
    IV = "abcd1234abcd1234", NUL padding to a multiple of 16.
    """
    key = b"abcdabcd1234" + serial_number[-4:].encode()
    padded = plaintext + b"\x00" * (-len(plaintext) % 16)
    block_cipher = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    previous, ciphertext = b"abcd1234abcd1234", b""
    for start in range(0, len(padded), 16):
        block = bytes(
            a ^ b for a, b in zip(padded[start : start + 16], previous, strict=True)
        )
        previous = block_cipher.update(block)
        ciphertext += previous
    return ciphertext


def test_known_answer_vector() -> None:
    assert reference_encrypt(SERIAL, QUERY) == QUERY_CIPHERTEXT
    assert PayloadCodec(SERIAL).encrypt(QUERY) == QUERY_CIPHERTEXT
    assert PayloadCodec(SERIAL).decrypt(QUERY_CIPHERTEXT) == QUERY


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 33, 250])
def test_codec_matches_the_reference_for_every_padding_length(length: int) -> None:
    plaintext = bytes(range(1, 256))[:length]

    assert PayloadCodec(SERIAL).encrypt(plaintext) == reference_encrypt(
        SERIAL, plaintext
    )


@pytest.mark.parametrize(
    "plaintext",
    [b"{}", QUERY, b'{"up_status_info":{"charger_status":285212929}}', b"x" * 16],
)
def test_encrypt_then_decrypt_returns_the_plaintext(plaintext: bytes) -> None:
    codec = PayloadCodec(SERIAL)

    ciphertext = codec.encrypt(plaintext)

    assert len(ciphertext) % 16 == 0
    assert ciphertext != plaintext
    assert codec.decrypt(ciphertext) == plaintext


def test_padding_is_nul_bytes_not_pkcs7() -> None:
    ciphertext = PayloadCodec(SERIAL).encrypt(QUERY)
    raw = (
        Cipher(algorithms.AES(b"abcdabcd12340123"), modes.CBC(b"abcd1234abcd1234"))
        .decryptor()
        .update(ciphertext)
    )

    assert raw == QUERY + b"\x00" * 10
    unpadder = padding.PKCS7(128).unpadder()
    with pytest.raises(ValueError, match="padding"):
        unpadder.update(raw) + unpadder.finalize()


def test_block_aligned_plaintext_gets_no_extra_block() -> None:
    assert len(PayloadCodec(SERIAL).encrypt(b"y" * 32)) == 32


def test_key_uses_the_last_four_characters_of_the_serial_number() -> None:
    same_suffix = PayloadCodec("LFIC9999990123")
    other_suffix = PayloadCodec("LFIC1230700124")

    assert same_suffix.encrypt(QUERY) == QUERY_CIPHERTEXT
    assert other_suffix.encrypt(QUERY) != QUERY_CIPHERTEXT


def test_iv_is_fixed_so_equal_plaintexts_give_equal_ciphertexts() -> None:
    assert PayloadCodec(SERIAL).encrypt(QUERY) == PayloadCodec(SERIAL).encrypt(QUERY)


@pytest.mark.parametrize("serial_number", ["", "LFI", "LFIC12é"])
def test_serial_number_needs_four_ascii_characters(serial_number: str) -> None:
    with pytest.raises(ValueError, match=r"four ASCII|ascii"):
        PayloadCodec(serial_number)


def test_wrong_key_makes_decode_message_raise_invalid_message_error() -> None:
    ciphertext = PayloadCodec(SERIAL).encrypt(
        b'{"up_status_info":{"charger_status":1}}'
    )

    with pytest.raises(InvalidMessageError, match="wrong key"):
        decode_message(ciphertext, PayloadCodec("LFIC1230709999"))


@pytest.mark.parametrize("length", [0, 1, 15, 17, 33])
def test_ciphertext_length_must_be_a_positive_multiple_of_16(length: int) -> None:
    with pytest.raises(InvalidMessageError, match="multiple of 16"):
        PayloadCodec(SERIAL).decrypt(b"\x01" * length)


def test_plain_json_is_recognised_by_its_first_byte() -> None:
    assert is_plain_json(b'{"a":1}')
    assert is_plain_json(b"{")
    assert not is_plain_json(b"")
    assert not is_plain_json(b' {"a":1}')
    assert not is_plain_json(QUERY_CIPHERTEXT)
