from __future__ import annotations

import pytest

from core.config import LlmConfig
from core.decide.engines import build_engine
from core.decide.ensemble import EnsembleEngine
from core.decide.llm import LlmEngine
from core.decide.rules import RulesEngine
from core.errors import UserInputError


async def test_build_each_kind() -> None:
    assert isinstance(build_engine("rules"), RulesEngine)
    llm = build_engine("llm", llm_config=LlmConfig(), api_key="sk-x")
    assert isinstance(llm, LlmEngine) and llm.name == "llm"
    local = build_engine("ensemble", llm_config=LlmConfig(base_url="http://localhost:11434/v1"))
    assert isinstance(local, EnsembleEngine) and local.name == "ensemble"
    await llm.close()
    await local.close()


def test_bad_kind_and_missing_key_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="llm, rules, trend or ensemble"):
        build_engine("gpt")
    with pytest.raises(UserInputError, match="LLM_API_KEY"):
        build_engine("llm", llm_config=LlmConfig(base_url="https://api.openai.com/v1"))
