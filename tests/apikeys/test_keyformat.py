from __future__ import annotations

import pytest

from apikeys import keyformat


def test_a_composed_key_parses_back_to_its_id_and_secret() -> None:
    key_id, secret = keyformat.new_key_id(), keyformat.new_secret()
    full = keyformat.compose(key_id, secret)

    assert full.startswith("a2v2_")
    assert keyformat.parse_full_key(full) == keyformat.PresentedKey(key_id, secret)


def test_the_secret_carries_at_least_128_random_bits() -> None:
    import math

    bits = keyformat.SECRET_LENGTH * math.log2(len(keyformat.ALPHABET))
    assert bits >= 128
    assert len({keyformat.new_secret() for _ in range(200)}) == 200


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # checksum digit
        lambda k: k.replace("a2v2_", "a2v3_"),  # prefix
        lambda k: k[:20] + ("x" if k[20] != "x" else "y") + k[21:],  # a typo in the secret
        lambda k: k + "0",  # too long
        lambda k: k[:-2],  # too short
        lambda k: "",
    ],
)
def test_a_mangled_key_is_rejected_without_a_lookup(mangle) -> None:
    full = keyformat.compose(keyformat.new_key_id(), keyformat.new_secret())
    with pytest.raises(keyformat.MalformedKey):
        keyformat.parse_full_key(mangle(full))


def test_the_two_header_form_accepts_the_id_with_or_without_prefix() -> None:
    key_id, secret = keyformat.new_key_id(), keyformat.new_secret()
    expected = keyformat.PresentedKey(key_id, secret)
    assert keyformat.parse_key_id_and_secret(key_id, secret) == expected
    assert keyformat.parse_key_id_and_secret(f"a2v2_{key_id}", secret) == expected
    with pytest.raises(keyformat.MalformedKey):
        keyformat.parse_key_id_and_secret(key_id, secret[:-1])
