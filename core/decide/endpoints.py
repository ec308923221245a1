"""Whether an LLM endpoint is a local or LAN server (Ollama, llama.cpp, vLLM, LM Studio) rather than a paid API.

A local endpoint needs no API key, selects the LLM engine by itself, costs nothing unless prices are set,
and gets a longer default time budget (a CPU answers in tens of seconds, not in one or two).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_LOCAL_NAMES = ("localhost", "host.docker.internal")
_LOCAL_SUFFIXES = (".localhost", ".local", ".lan", ".internal", ".home.arpa")


def is_local_endpoint(url: str) -> bool:
    """Loopback, private (RFC 1918 / ULA), link-local or CGNAT addresses, `localhost`, mDNS/LAN names, and
    single-label hosts (a Docker Compose service such as `http://ollama:11434/v1`)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if not host:
        return False
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare service name; public names always have a dot
    if address.is_unspecified or address.is_loopback or address.is_private or address.is_link_local:
        return True
    return address in ipaddress.ip_network("100.64.0.0/10")  # CGNAT / Tailscale
