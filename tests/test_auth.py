import pytest

from unishelf.auth import ANONYMOUS, Users, hash_password, verify_password
from unishelf.config import ConfigError, load_config


def test_hashes_are_salted_and_verify():
    first, second = hash_password("secret", iterations=1000), hash_password("secret", iterations=1000)
    assert first != second and first.startswith("pbkdf2_sha256$1000$")
    assert verify_password("secret", first) and verify_password("secret", second)
    assert not verify_password("Secret", first)
    assert not verify_password("secret", "md5$x$y$z") and not verify_password("secret", "garbage")


def test_users_authenticate_with_roles_and_anonymous_only_when_allowed():
    entries = [{"name": "cat1", "password_hash": hash_password("pw", iterations=1000),
                "roles": ["cataloguer"], "library": "NORTH"}]
    users = Users(entries, anonymous=True)
    user = users.authenticate("cat1", "pw")
    assert user.has("cataloguer") and not user.has("ill-staff") and user.library == "NORTH"
    assert users.authenticate("cat1", "wrong") is None
    assert users.authenticate("nobody", "pw") is None
    assert users.authenticate(None, None) is ANONYMOUS
    assert Users(entries, anonymous=False).authenticate(None, None) is None


def test_config_users_need_a_proper_hash(tmp_path):
    path = tmp_path / "users.yaml"
    path.write_text("users: [{name: x, password_hash: plain, roles: [searcher]}]\n")
    with pytest.raises(ConfigError, match=r"users\[0\]\.password_hash"):
        load_config(path)
    path.write_text(f"users: [{{name: x, password_hash: '{hash_password('p', iterations=1000)}', roles: [admin]}}]\n"
                    "access: {anonymous: false}\n")
    users = Users.from_config(load_config(path))
    assert users.authenticate("x", "p").has("cataloguer") and users.authenticate(None, None) is None


def test_user_commands_keep_accounts_in_the_store_as_hashes(tmp_path):
    import subprocess
    import sys

    from conftest import REPO, make_catalog

    def unishelf(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "unishelf.cli", "--data-dir", str(tmp_path), "user", *args],
                              input=stdin, capture_output=True, text=True, cwd=REPO)

    added = unishelf("add", "alice", "--role", "cataloguer", "--library", "NORTH", "--password-stdin", stdin="s3cret\n")
    assert added.returncode == 0, added.stderr
    assert unishelf("add", "bob", "--role", "searcher", "--library", "NOWHERE", "--password-stdin",
                    stdin="x\n").returncode == 2
    listed = unishelf("list").stdout
    assert "alice" in listed and "cataloguer" in listed and "NORTH" in listed and "s3cret" not in listed
    catalog = make_catalog(tmp_path)
    try:
        with catalog.store.reading() as reader:
            assert reader.user("alice")["password_hash"].startswith("pbkdf2_sha256$")
        users = Users.from_config(catalog.config, catalog.store)
        alice = users.authenticate("alice", "s3cret")
        assert alice.has("cataloguer") and alice.library == "NORTH"
        assert users.authenticate("alice", "wrong") is None
        assert unishelf("remove", "alice").returncode == 0
        assert users.authenticate("alice", "s3cret") is None       # takes effect without a restart
        assert unishelf("remove", "alice").returncode == 1
    finally:
        catalog.close()
