"""``voxplane admin``: bad arguments are one line and exit 2; nothing is created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxplane.cli.main import main


@pytest.mark.parametrize(
    ("email", "password", "named"),
    [("not-an-email", "a long secret", "--email"), ("o@acme.test", "short", "--password")],
)
def test_bad_arguments_are_one_line_and_create_nothing(
    email: str, password: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["admin", "bootstrap", "--tenant", "acme", "--email", email, "--password", password]
    code = main([*argv, "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and named in err
    assert password not in err
    assert not (tmp_path / "data").exists()


def test_bootstrap_then_create_tenant_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    first = ["--tenant", "acme", "--email", "o@acme.test", "--password", "a long secret"]
    assert main(["admin", "bootstrap", *first, *data]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["api_key"].startswith("vxp_")
    second = ["--tenant", "beta", "--email", "o@beta.test", "--password", "a long secret"]
    assert main(["admin", "create-tenant", *second, *data]) == 0
    other = json.loads(capsys.readouterr().out)
    assert other["tenant_id"] != made["tenant_id"]
    assert main(["admin", "create-tenant", *second, *data]) == 2
    assert "already exists" in capsys.readouterr().err


def test_an_existing_account_owns_a_new_tenant_without_its_password_being_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    first = ["--tenant", "acme", "--email", "o@acme.test", "--password", "a long secret"]
    assert main(["admin", "bootstrap", *first, *data]) == 0
    owner = json.loads(capsys.readouterr().out)["user_id"]
    guessed = ["--tenant", "beta", "--email", "o@acme.test", "--password", "a long secret"]
    assert main(["admin", "create-tenant", *guessed, *data]) == 2  # even the right one
    err = capsys.readouterr().err
    assert "password" in err and "a long secret" not in err
    assert (
        main(["admin", "create-tenant", "--tenant", "beta", "--email", "o@acme.test", *data]) == 0
    )
    assert json.loads(capsys.readouterr().out)["user_id"] == owner
    new = ["--tenant", "gamma", "--email", "o@gamma.test", *data]
    assert main(["admin", "create-tenant", *new]) == 2
    assert "needs a password" in capsys.readouterr().err
