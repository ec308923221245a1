"""scrub_url: no userinfo, secret query value or bot token survives in a URL that is shown or logged."""

from __future__ import annotations

import pytest

from core.urls import scrub_url, scrub_urls_in


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:KEY123@host/v1", "http://***@host/v1"),
        ("https://KEY123@api.example.com:8443/v1", "https://***@api.example.com:8443/v1"),
        ("https://host/v1?api_key=KEY123&model=x", "https://host/v1?api_key=***&model=x"),
        ("https://host/v1?token=KEY123", "https://host/v1?token=***"),
        ("https://api.telegram.org/bot123456:AAKEY123abc/getMe", "https://api.telegram.org/bot***/getMe"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ],
)
def test_scrub_url_hides_every_secret(url: str, shown: str) -> None:
    assert scrub_url(url) == shown
    assert "KEY123" not in scrub_url(url)


def test_scrub_urls_in_free_text() -> None:
    text = "cannot reach http://u:KEY123@10.0.0.1:8000/v1: ConnectError; see https://x.org/?secret=KEY123"
    out = scrub_urls_in(text)
    assert "KEY123" not in out and "http://***@10.0.0.1:8000/v1:" in out and "cannot reach" in out


def test_unparseable_url_is_never_shown_as_is() -> None:
    assert scrub_url("http://[KEY123") == "<unparseable URL>"
