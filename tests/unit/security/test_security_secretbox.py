"""Credentials sealed with AES-GCM: round trips, context binding, tampering, rotation, key files."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxplane.errors import ConfigError
from voxplane.security import Keyring, Sealed, load_keyring, mask_secret

SECRET = "sk-proj-THIS-IS-THE-PROVIDER-KEY-1234"
CONTEXT = "tenant-1:cred-1"
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def _ring(**keys: bytes) -> Keyring:
    return Keyring(keys, primary=next(iter(keys)))


def _open_fails(ring: Keyring, sealed: Sealed, context: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ring.open(sealed, context=context)
    assert expected in str(caught.value)
    assert SECRET not in str(caught.value)


def test_seal_then_open_round_trips() -> None:
    ring = _ring(k1=KEY_A)
    sealed = ring.seal(SECRET, context=CONTEXT)
    assert sealed.key_id == "k1"
    assert ring.open(sealed, context=CONTEXT) == SECRET
    assert ring.open(ring.seal("", context=CONTEXT), context=CONTEXT) == ""
    assert ring.open(ring.seal("ünïcødé ☎", context=CONTEXT), context=CONTEXT) == "ünïcødé ☎"


def test_blob_hides_the_plaintext_and_never_repeats() -> None:
    ring = _ring(k1=KEY_A)
    first, second = ring.seal(SECRET, context=CONTEXT), ring.seal(SECRET, context=CONTEXT)
    assert SECRET.encode() not in first.blob
    assert b"PROVIDER" not in first.blob
    assert first.blob != second.blob  # a fresh nonce each time
    assert len(first.blob) == 12 + len(SECRET) + 16


def test_another_context_does_not_open() -> None:
    ring = _ring(k1=KEY_A)
    sealed = ring.seal(SECRET, context=CONTEXT)
    _open_fails(ring, sealed, "tenant-2:cred-1", "wrong key or tampered data")
    _open_fails(ring, sealed, "tenant-1:cred-2", "wrong key or tampered data")


@pytest.mark.parametrize("index", [0, 11, 12, 20, -1])
def test_a_flipped_bit_does_not_open(index: int) -> None:
    ring = _ring(k1=KEY_A)
    blob = bytearray(ring.seal(SECRET, context=CONTEXT).blob)
    blob[index] ^= 0x01
    _open_fails(ring, Sealed("k1", bytes(blob)), CONTEXT, "wrong key or tampered data")


@pytest.mark.parametrize("blob", [b"", b"x" * 27, b"x" * 28, b"x" * 200])
def test_truncated_or_forged_blobs_do_not_open(blob: bytes) -> None:
    _open_fails(_ring(k1=KEY_A), Sealed("k1", blob), CONTEXT, "wrong key or tampered data")


def test_a_key_under_the_same_id_but_other_bytes_does_not_open() -> None:
    sealed = _ring(k1=KEY_A).seal(SECRET, context=CONTEXT)
    _open_fails(_ring(k1=KEY_B), sealed, CONTEXT, "wrong key or tampered data")


def test_rotation_seals_with_the_new_primary_and_opens_old_blobs() -> None:
    old_sealed = _ring(k1=KEY_A).seal(SECRET, context=CONTEXT)
    rotated = Keyring({"k1": KEY_A, "k2": KEY_B}, primary="k2")
    new_sealed = rotated.seal(SECRET, context=CONTEXT)
    assert new_sealed.key_id == "k2"
    assert rotated.open(old_sealed, context=CONTEXT) == SECRET
    assert rotated.open(new_sealed, context=CONTEXT) == SECRET
    retired = _ring(k2=KEY_B)
    _open_fails(retired, old_sealed, CONTEXT, "unknown key id 'k1'")


@pytest.mark.parametrize(
    ("keys", "primary"),
    [({"k1": b"short"}, "k1"), ({"k1": KEY_A}, "k2"), ({"bad id": KEY_A}, "bad id"),
     ({"x" * 33: KEY_A}, "x" * 33), ({}, "k1")],
)  # fmt: skip
def test_invalid_keyrings_are_config_errors(keys: dict[str, bytes], primary: str) -> None:
    with pytest.raises(ConfigError):
        Keyring(keys, primary=primary)


def test_dump_then_parse_keeps_keys_and_primary() -> None:
    ring = Keyring({"k1": KEY_A, "k2": KEY_B}, primary="k2")
    text = ring.dump()
    assert text.splitlines()[0].startswith("k2:")
    again = Keyring.parse(text)
    assert again.primary == "k2"
    assert again.open(ring.seal(SECRET, context=CONTEXT), context=CONTEXT) == SECRET
    assert again.open(_ring(k1=KEY_A).seal(SECRET, context=CONTEXT), context=CONTEXT) == SECRET
    assert base64.urlsafe_b64encode(KEY_A).decode() not in repr(ring)


def test_parse_accepts_both_alphabets_comments_and_blank_lines() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF] * 10 + [0, 1])  # encodes with + and / (or - and _)
    text = (
        "# production keys\n\n"
        f"  new : {base64.urlsafe_b64encode(raw).decode().rstrip('=')}  \n"
        f"old:{base64.standard_b64encode(raw).decode()}\n"
    )
    ring = Keyring.parse(text)
    assert ring.primary == "new"
    assert ring.key_ids == ("new", "old")
    sealed = Keyring({"old": raw}, primary="old").seal(SECRET, context=CONTEXT)
    assert ring.open(sealed, context=CONTEXT) == SECRET


KEY_TEXT = base64.b64encode(KEY_A).decode()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"# comment\n\n{KEY_TEXT}\n", 3),  # no key id
        (f"k1:{KEY_TEXT}\nk2:{KEY_TEXT[:-8]}\n", 2),  # too short
        (f"k1:{KEY_TEXT}!!\n", 1),  # not base64
        (f"k1:{KEY_TEXT}\nk1:{KEY_TEXT}\n", 2),  # duplicate
        (f"bad id:{KEY_TEXT}\n", 1),
        ("k1:\n", 1),
        (f"k1:{base64.b64encode(KEY_A + b'x').decode()}\n", 1),  # too long
    ],
)
def test_parse_errors_name_the_line_and_hide_the_key(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        Keyring.parse(text)
    message = str(caught.value)
    assert f"line {line}" in message
    assert KEY_TEXT[:12] not in message


@pytest.mark.parametrize("text", ["", "\n# only a comment\n"])
def test_parse_without_keys_is_an_error(text: str) -> None:
    with pytest.raises(ConfigError, match="no secret keys"):
        Keyring.parse(text)


def test_load_keyring_creates_a_private_file_then_reloads_it(tmp_path: Path) -> None:
    key_file = tmp_path / "deep" / "dir" / "secret.keys"
    created = load_keyring(key_file=key_file, env_value=None, create=True)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.keys"]  # no temp left
    sealed = created.seal(SECRET, context=CONTEXT)
    reloaded = load_keyring(key_file=key_file, env_value=None, create=True)
    assert reloaded.primary == created.primary
    assert reloaded.open(sealed, context=CONTEXT) == SECRET
    assert key_file.read_text() == created.dump()


def test_load_keyring_without_create_explains_how_to_provide_keys(tmp_path: Path) -> None:
    key_file = tmp_path / "missing.keys"
    with pytest.raises(ConfigError, match="VOXPLANE_SECRET_KEYS"):
        load_keyring(key_file=key_file, env_value=None, create=False)
    assert not key_file.exists()
    with pytest.raises(ConfigError, match="VOXPLANE_SECRET_KEYS"):
        load_keyring(key_file=None, env_value=None, create=True)


def test_env_value_takes_precedence_over_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.keys"
    key_file.write_text(_ring(filekey=KEY_A).dump())
    ring = load_keyring(key_file=key_file, env_value=_ring(envkey=KEY_B).dump(), create=True)
    assert ring.key_ids == ("envkey",)
    assert load_keyring(key_file=key_file, env_value="  \n", create=False).key_ids == ("filekey",)


def test_bad_env_and_bad_file_say_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"VOXPLANE_SECRET_KEYS: line 1"):
        load_keyring(key_file=None, env_value=KEY_TEXT, create=False)
    key_file = tmp_path / "secret.keys"
    key_file.write_text(f"k1:{KEY_TEXT}\nk2:nope\n")
    with pytest.raises(ConfigError, match=r"secret.keys: line 2") as caught:
        load_keyring(key_file=key_file, env_value=None, create=False)
    assert KEY_TEXT not in str(caught.value)


def test_a_loose_key_file_still_loads(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.keys"
    key_file.write_text(_ring(k1=KEY_A).dump())
    os.chmod(key_file, 0o644)
    assert load_keyring(key_file=key_file, env_value=None, create=False).key_ids == ("k1",)


@pytest.mark.parametrize(
    ("secret", "masked"),
    [("sk-proj-abcdefghijklmnopwxyz", "sk-p…wxyz"), ("abcdefghijkl", "••••ijkl"),
     ("abcdefghijk", "••••jk"),
     ("abcdefgh", "••••gh"), ("abcdefg", "••••"), ("", "••••"), ("sixteen-chars-ok", "sixt…s-ok")],
)  # fmt: skip
def test_mask_secret_examples(secret: str, masked: str) -> None:
    assert mask_secret(secret) == masked


@given(st.text(alphabet=st.characters(exclude_characters="•…"), max_size=200))
def test_mask_secret_reveals_at_most_eight_characters(secret: str) -> None:
    masked = mask_secret(secret)
    revealed = masked.replace("•", "").replace("…", "")
    assert len(revealed) <= 8
    assert len(revealed) <= len(secret) // 2
    assert masked != secret
    if "…" in masked:
        head, tail = masked.split("…")
        assert secret.startswith(head)
        assert secret.endswith(tail)
    else:
        assert secret.endswith(revealed)
