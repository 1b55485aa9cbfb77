"""The secret key: scrypt from a passphrase, several keys, rotation, the key file's place."""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from syncline.bootstrap import build_context
from syncline.cli import app
from syncline.context import AppContext
from syncline.security.keys import derive_key, legacy_key, load_keys, parse_keys
from syncline.security.secrets import SecretBox, SecretError
from syncline.settings import Settings, get_settings
from syncline.store.db import upgrade
from syncline.store.tables import Destination, Source, Workspace

PASSPHRASE = "correct horse battery staple"
PG_DSN = "postgresql://app:dsn-pass-31337@db/crm"
HOOK_URL = "http://u:url-pass-4242@hooks.example.com/in?api_key=qs-key-5151"


def test_kdf_known_answer() -> None:
    """scrypt(N=2^15, r=8, p=1) with the documented salt, checked against hashlib's scrypt."""
    expected = b"0-qG7NOuv6ESCmw_vWwQGQp9MqhnVha5gj_sx1no8xI="
    assert derive_key(PASSPHRASE) == expected
    raw = hashlib.scrypt(
        PASSPHRASE.encode(),
        salt=b"syncline/secret-key/v2",
        n=2**15,
        r=8,
        p=1,
        maxmem=2**26,
        dklen=32,
    )
    assert base64.urlsafe_b64encode(raw) == expected
    # the former derivation was one SHA-256: it is only ever used to decrypt
    assert derive_key(PASSPHRASE) != legacy_key(PASSPHRASE)


def test_several_keys_newest_first_and_legacy_values_still_decrypt() -> None:
    new = Fernet.generate_key().decode()
    ring = parse_keys(f"{new}, {PASSPHRASE}")
    assert ring.keys == (new.encode(), derive_key(PASSPHRASE))
    box = SecretBox(ring.keys, fallbacks=ring.fallbacks)
    old_value = "enc:v1:" + Fernet(legacy_key(PASSPHRASE)).encrypt(b"from-sha256").decode()
    assert box.decrypt(old_value) == "from-sha256"
    sealed = box.encrypt("fresh")
    assert Fernet(new.encode()).decrypt(sealed[len("enc:v1:") :].encode()) == b"fresh"


def _store(tmp_path: Path, secret_key: str) -> AppContext:
    settings = Settings(data_dir=tmp_path / "data", secret_key=secret_key)
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    return build_context(settings)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SYNCLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("SYNCLINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNCLINE_SECRET_KEY_FILE", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _plant_old_install(tmp_path: Path) -> dict[str, str]:
    """Configs as an older version wrote them: SHA-256 key, a URL password in clear."""
    ctx = _store(tmp_path, PASSPHRASE)
    legacy = "enc:v1:" + Fernet(legacy_key(PASSPHRASE)).encrypt(PG_DSN.encode()).decode()
    with ctx.sessions.begin() as s:
        ws = Workspace(name="w")
        s.add(ws)
        s.flush()
        src = Source(workspace_id=ws.id, name="pg", type="postgres", config={"dsn": legacy})
        dest = Destination(
            workspace_id=ws.id,
            name="hook",
            type="webhook",
            config={"url": HOOK_URL, "headers": {"X-Key": "hdr-5757"}, "hmac_secret": None},
        )
        s.add_all([src, dest])
        s.flush()
        ids = {"source": src.id, "destination": dest.id}
    ctx.dispose()
    return ids


def test_rotate_with_the_cli_then_drop_the_old_key(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _plant_old_install(cli_env)
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("SYNCLINE_SECRET_KEY", f"{new},{PASSPHRASE}")
    result = CliRunner().invoke(app, ["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "rotated 1 source(s) and 1 destination(s)" in result.output

    # Only the new key now: everything decrypts, nothing is left in clear in the file.
    ctx = _store(cli_env, new)
    try:
        with ctx.sessions() as s:
            src = s.get(Source, ids["source"])
            dest = s.get(Destination, ids["destination"])
            assert src is not None and dest is not None
            assert ctx.secrets.decrypt_config(src.config)["dsn"] == PG_DSN
            clear = ctx.secrets.decrypt_config(dest.config)
            assert clear["url"] == HOOK_URL and clear["headers"] == {"X-Key": "hdr-5757"}
            stored_dsn = src.config["dsn"]
        old_box = SecretBox(legacy_key(PASSPHRASE))
        with pytest.raises(SecretError):
            old_box.decrypt(stored_dsn)
        with ctx.engine.connect() as conn:
            raw = str(conn.execute(sa.text("SELECT config FROM destinations")).all())
        assert "url-pass-4242" not in raw and "qs-key-5151" not in raw and "hdr-5757" not in raw
    finally:
        ctx.dispose()
    db = (cli_env / "data" / "syncline.db").read_bytes()
    for secret in (b"dsn-pass-31337", b"url-pass-4242", b"qs-key-5151", b"hdr-5757"):
        assert secret not in db


def test_rotate_refuses_when_a_key_is_missing(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant_old_install(cli_env)
    monkeypatch.setenv("SYNCLINE_SECRET_KEY", Fernet.generate_key().decode())
    result = CliRunner().invoke(app, ["secrets", "rotate"])
    assert result.exit_code == 1 and "nothing rotated" in result.output


def test_key_file_lives_outside_the_data_dir_and_rotates(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCLINE_SECRET_KEY", raising=False)
    data = cli_env / "data"
    ring = load_keys(None, data)
    key_file = cli_env / "config" / "syncline" / "secret.key"
    assert key_file.exists() and not (data / "secret.key").exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert ring.keys == (key_file.read_text().strip().encode(),)

    created = CliRunner().invoke(app, ["workspace", "create", "W", "--json"])
    assert created.exit_code == 0, created.output
    ctx = build_context(get_settings())
    with ctx.sessions.begin() as s:
        ws_id = s.scalars(sa.select(Workspace.id)).one()
        sealed = ctx.secrets.encrypt_config({"dsn": PG_DSN}, spec={"dsn": "secret"})
        s.add(Source(workspace_id=ws_id, name="pg", type="postgres", config=sealed))
    ctx.dispose()

    result = CliRunner().invoke(app, ["secrets", "rotate", "--new-key"])
    assert result.exit_code == 0, result.output
    lines = key_file.read_text().split()
    assert len(lines) == 2 and lines[1].encode() == ring.keys[0]
    only_new = SecretBox(lines[0].encode())
    ctx = build_context(get_settings())
    with ctx.sessions() as s:
        dsn = s.scalars(sa.select(Source.config)).one()["dsn"]
    ctx.dispose()
    assert only_new.decrypt(dsn) == PG_DSN


def test_an_existing_key_file_in_the_data_dir_is_still_used(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key = Fernet.generate_key()
    (data / "secret.key").write_bytes(key + b"\n")
    assert load_keys(None, data).keys == (key,)
