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


# --- fixed test vectors: a change to the format breaks every key already issued -----------

VECTORS = [
    # (key id, secret, the full key a client holds)
    (
        "0123456789ABCDEF",
        "abcdefghijklmnopqrstuvwxyz012345",
        "a2v2_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123451to77U",
    ),
    (
        "zzzzzzzzzzzzzzzz",
        "00000000000000000000000000000000",
        "a2v2_zzzzzzzzzzzzzzzz_000000000000000000000000000000004rL4kr",
    ),
    # A CRC32 small enough that its base62 form is padded with a leading "0".
    (
        "K000000000000006",
        "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS",
        "a2v2_K000000000000006_SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS0VF6Ea",
    ),
]


@pytest.mark.parametrize(("key_id", "secret", "full"), VECTORS)
def test_a_key_string_is_exactly_prefix_id_secret_and_checksum(
    key_id: str, secret: str, full: str
) -> None:
    assert keyformat.compose(key_id, secret) == full
    assert len(full) == 5 + 16 + 1 + 32 + 6
    assert keyformat.parse_full_key(full) == keyformat.PresentedKey(key_id, secret)
    # Surrounding whitespace (a copied line) is forgiven; the checksum is over the key itself.
    assert keyformat.parse_full_key(f"  {full}\n") == keyformat.PresentedKey(key_id, secret)


def test_the_checksum_is_crc32_in_six_base62_digits() -> None:
    # zlib.crc32(b"a2v2_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz012345") == 1350393846
    # == 1*62^5 + 29*62^4 + 24*62^3 + 7*62^2 + 7*62 + 56, digits 0-9, a-z, A-Z.
    assert keyformat.checksum("a2v2_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz012345") == "1to77U"
    assert keyformat.checksum("") == "000000"  # crc32 of nothing is 0


def test_new_ids_and_secrets_have_their_length_and_use_the_whole_alphabet() -> None:
    ids = [keyformat.new_key_id() for _ in range(50)]
    secrets_ = [keyformat.new_secret() for _ in range(50)]
    assert {len(i) for i in ids} == {16} and {len(s) for s in secrets_} == {32}
    used = set("".join(ids + secrets_))
    assert used <= set(keyformat.ALPHABET)
    assert len(used) > 55  # 2,400 draws from 62 characters: every one all but surely appears
    full = keyformat.compose(ids[0], secrets_[0])
    assert keyformat.parse_full_key(full).secret == secrets_[0]


@pytest.mark.parametrize(
    "value",
    [
        "a2v2_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123451to77u",  # checksum case
        "a2v2_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123461to77U",  # secret changed
        "A2V2_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123451to77U",  # prefix case
        "a2v2_0123456789ABCDE_abcdefghijklmnopqrstuvwxyz0123451to77U",  # id 15 characters
        "a2v2_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz01231to77U",  # secret 30 characters
        "a2v2_0123456789ABCDEF-abcdefghijklmnopqrstuvwxyz0123451to77U",  # separator
        "a2v2_0123456789ABCDE!_abcdefghijklmnopqrstuvwxyz0123451to77U",  # not base62
        "0123456789ABCDEF",  # a key id alone
    ],
)
def test_near_misses_of_a_valid_key_are_malformed(value: str) -> None:
    with pytest.raises(keyformat.MalformedKey):
        keyformat.parse_full_key(value)


def test_the_two_header_form_checks_both_shapes_and_forgives_whitespace() -> None:
    key_id, secret = "0123456789ABCDEF", "abcdefghijklmnopqrstuvwxyz012345"
    expected = keyformat.PresentedKey(key_id, secret)
    assert keyformat.parse_key_id_and_secret(f" {key_id} ", f" {secret}\t") == expected
    assert keyformat.parse_key_id_and_secret(f"a2v2_{key_id}", secret) == expected
    for bad_id, bad_secret in [
        (key_id[:-1], secret),
        (key_id + "0", secret),
        (f"a2v3_{key_id}", secret),
        (f"a2v2_{key_id}_", secret),
        (key_id, secret + "0"),
        (key_id, secret[:-1] + "-"),
        (key_id, "VFz" + secret[3:] + "1to77U"),  # the secret with a checksum glued on
    ]:
        with pytest.raises(
            keyformat.MalformedKey, match=r"^The API key id or secret is malformed\.$"
        ):
            keyformat.parse_key_id_and_secret(bad_id, bad_secret)
