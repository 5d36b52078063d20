"""The local stack's state file (it holds the local share secret) lives where only its user can reach it."""
from __future__ import annotations

import json
import os

import pytest

from liveinsight import cli


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    """A fresh temporary directory as the system's, and no XDG runtime directory."""
    monkeypatch.setattr(cli.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(cli, "LOCAL_STACK_FILE", None)
    return tmp_path


def test_the_file_is_in_a_per_user_directory_only_its_user_can_open(tmp):
    cli._write_stack_file({"api": "http://127.0.0.1:8000", "share_secret": "s"})
    path = tmp / f"liveinsight-{os.getuid()}" / cli.STACK_FILE_NAME
    assert path.parent.stat().st_mode & 0o777 == 0o700 and path.stat().st_mode & 0o777 == 0o600
    assert cli.local_stack()["api"] == "http://127.0.0.1:8000"


def test_a_link_planted_where_the_file_goes_is_never_followed(tmp, capsys):
    # GIVEN the per-user directory with a link where the stack file goes, to a file of someone else's choosing
    directory = cli.runtime_dir()
    target = tmp / "elsewhere.json"
    target.write_text(json.dumps({"api": "http://evil.example", "share_secret": "planted"}))
    (directory / cli.STACK_FILE_NAME).symlink_to(target)
    # THEN it is neither read nor written through
    assert cli.local_stack() == {}
    cli._write_stack_file({"api": "http://127.0.0.1:8000", "share_secret": "mine"})
    assert json.loads(target.read_text())["share_secret"] == "planted"
    assert "not recording the running stack" in capsys.readouterr().err


def test_a_directory_someone_else_can_use_is_refused_by_name(tmp, capsys):
    shared = tmp / f"liveinsight-{os.getuid()}"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    with pytest.raises(OSError, match=str(shared)):
        cli.runtime_dir()
    cli._write_stack_file({"share_secret": "s"})
    assert not list(shared.iterdir())
    assert str(shared) in capsys.readouterr().err
    assert cli.local_stack() == {}


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root (CI runs as root)")
def test_a_file_owned_by_another_user_is_ignored(tmp):
    cli._write_stack_file({"api": "http://127.0.0.1:8000"})
    os.chown(tmp / f"liveinsight-{os.getuid()}" / cli.STACK_FILE_NAME, 12345, 12345)
    assert cli.local_stack() == {}
