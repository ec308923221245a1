"""Decision engines: rules, LLM (prompt, parsing, cache, capabilities, usage), ensemble, and the engine factory.

Imports `core` models and protocols and `core.market` types; never execution or services.
"""
