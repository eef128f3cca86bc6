"""The README's Deploy button carries no placeholder account; this builds the real link."""

from __future__ import annotations

import pytest

from devkit.deploy_link import deploy_link, public_repository_url


@pytest.mark.parametrize(
    ("remote", "page"),
    [
        ("git@github.com:acme/switchboard.git", "https://github.com/acme/switchboard"),
        ("https://github.com/acme/switchboard.git", "https://github.com/acme/switchboard"),
        ("https://github.com/acme/switchboard", "https://github.com/acme/switchboard"),
        ("https://me:ghp_secret@github.com/acme/sb.git", "https://github.com/acme/sb"),
        ("ssh://git@github.com/acme/switchboard.git", "https://github.com/acme/switchboard"),
    ],
)
def test_remote_becomes_public_page(remote: str, page: str) -> None:
    assert public_repository_url(remote) == page


def test_link_points_heroku_at_the_fork() -> None:
    assert deploy_link("git@github.com:acme/switchboard.git") == (
        "https://heroku.com/deploy?template=https://github.com/acme/switchboard"
    )


@pytest.mark.parametrize("remote", ["", "/srv/git/switchboard", "file:///tmp/x", "github.com"])
def test_local_or_odd_remotes_are_refused(remote: str) -> None:
    with pytest.raises(ValueError, match="not a repository URL"):
        public_repository_url(remote)
