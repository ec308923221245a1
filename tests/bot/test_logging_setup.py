import logging

import pytest

from bot.logging_setup import SecretMaskingFilter, mask, register_secret


def test_registered_secrets_and_token_shapes_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("sk-very-secret-key")
    token = "123456789:AAEhBOweik9ai2o5WPZ6zs9hKZq4pIu8Q2k"
    assert "sk-very-secret-key" not in mask("key sk-very-secret-key used")
    assert token not in mask(f"https://api.telegram.org/bot{token}/getMe")
    logger = logging.getLogger("test.mask")
    logger.addFilter(SecretMaskingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("calling %s with %s", f"/bot{token}/sendMessage", "sk-very-secret-key")
    assert token not in caplog.text and "sk-very-secret-key" not in caplog.text
    assert "***" in caplog.text


def test_urls_in_log_lines_lose_their_userinfo_and_secret_params(caplog: pytest.LogCaptureFixture) -> None:
    """Issue #12 item 11: a key embedded in a URL (never registered as a secret) reached the output."""
    logger = logging.getLogger("test.mask.url")
    logger.addFilter(SecretMaskingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("LLM at %s failed", "http://u:URLKEY77@llm.internal/v1?api_key=QKEY88&x=1")
    assert "URLKEY77" not in caplog.text and "QKEY88" not in caplog.text
    assert "http://***@llm.internal/v1?api_key=***&x=1" in caplog.text
