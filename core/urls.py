"""URLs as they may be shown or logged: userinfo (`http://user:KEY@host`), secret-looking query values
(`?api_key=…`) and Telegram bot tokens in a path (`/bot123:AA…/`) replaced by `***` (issue #12 item 11)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session|jwt|bearer", re.IGNORECASE)
_BOT_TOKEN_IN_PATH = re.compile(r"/bot\d{3,}:[A-Za-z0-9_-]+")
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def scrub_url(url: str) -> str:
    """The URL without its secrets; anything unparseable comes back as a placeholder, never as is."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
        path = _BOT_TOKEN_IN_PATH.sub(f"/bot{MASK}", parts.path)
        return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))
    except ValueError:
        return "<unparseable URL>"


def scrub_urls_in(text: str) -> str:
    """Every URL inside a free text (an error message, a log line) scrubbed."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: scrub_url(m.group(0)), text)
