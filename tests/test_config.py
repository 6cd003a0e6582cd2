"""The TOML config: defaults, key-naming errors, secrets from the environment, masked repr."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import (
    API_KEY_ENV,
    TOKEN_ENV,
    Config,
    ConfigError,
    load_config,
    parse_config,
)

KEY = "sk-live-0123456789abcdef"
TOKEN = "shared-token-4f9a2c7d"

EXAMPLE = f"""
[cad]
api_url = "https://api.sonorancad.com"
api_key = "{KEY}"
server_id = 2

[listen]
host = "127.0.0.1"
port = 30126
token = "{TOKEN}"

[budget]
window_seconds = 60
update_call = 8
get_calls = 4
"""

SECRETS = f'[cad]\napi_key = "{KEY}"\n[listen]\ntoken = "{TOKEN}"\n'


def error_of(text: str, env: dict[str, str] | None = None, **kwargs: bool) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, {} if env is None else env, **kwargs)
    return str(info.value)


# --- defaults and the example keys -----------------------------------------------------


def test_empty_file_gives_the_documented_defaults() -> None:
    config = parse_config("", {}, require_secrets=False)
    assert config.cad.api_url == "https://api.sonorancad.com"
    assert config.cad.server_id == 1
    assert config.cad.api_key == ""
    assert config.listen.host == "127.0.0.1"
    assert config.listen.port == 30125
    assert config.listen.allow_remote is False
    assert config.budget.window_seconds == 60.0
    assert config.budget.update_call == 10
    assert config.budget.get_calls == 5
    assert config.budget.margin_seconds == 1.0
    assert config.tracking.min_move == 10.0
    assert config.tracking.default_radius == 50.0
    assert config.log.level == "info"
    assert config.log.format == "auto"


def test_example_keys_parse_into_their_sections() -> None:
    config = parse_config(EXAMPLE, {})
    assert config.cad.api_url == "https://api.sonorancad.com"
    assert config.cad.api_key == KEY
    assert config.cad.server_id == 2
    assert config.listen.host == "127.0.0.1"
    assert config.listen.port == 30126
    assert config.listen.token == TOKEN
    assert config.budget.window_seconds == 60.0
    assert config.budget.update_call == 8
    assert config.budget.get_calls == 4


def test_bytes_parse_like_text() -> None:
    assert parse_config(EXAMPLE.encode(), {}) == parse_config(EXAMPLE, {})


def test_parse_reads_os_environ_when_no_env_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "from-the-process-env")
    monkeypatch.setenv(TOKEN_ENV, "token-from-process-env")
    config = parse_config("")
    assert config.cad.api_key == "from-the-process-env"
    assert config.listen.token == "token-from-process-env"


# --- errors name the key --------------------------------------------------------------


def test_unknown_key_names_the_full_dotted_key() -> None:
    text = error_of(SECRETS + "[budget]\nupdate_calls = 10\n")
    assert text.startswith("budget.update_calls: unknown key")
    assert "config.example.toml" in text


def test_unknown_key_in_cad_names_the_full_dotted_key() -> None:
    assert error_of('[cad]\napikey = "x"\n').startswith("cad.apikey: unknown key")


def test_unknown_top_level_key_is_named() -> None:
    assert error_of("verbose = true\n").startswith("verbose: unknown key")


def test_unknown_section_is_named() -> None:
    assert error_of("[cads]\nserver_id = 1\n").startswith("cads: unknown key")


def test_wrong_type_names_the_key_and_the_expected_type() -> None:
    assert error_of('[listen]\nport = "30125"\n') == "listen.port: Expected `int`, got `str`"


def test_wrong_type_in_budget_names_the_key() -> None:
    text = error_of('[budget]\nwindow_seconds = "sixty"\n')
    assert text == "budget.window_seconds: Expected `float`, got `str`"


def test_out_of_range_value_names_the_key_and_the_limit() -> None:
    assert error_of("[budget]\nupdate_call = 0\n") == "budget.update_call: Expected `int` >= 1"


def test_port_above_65535_is_refused() -> None:
    assert error_of("[listen]\nport = 70000\n").startswith("listen.port: Expected `int` <= 65535")


def test_bad_enum_value_names_the_key() -> None:
    assert error_of('[log]\nlevel = "loud"\n').startswith("log.level:")


def test_section_given_as_a_value_names_the_key() -> None:
    assert error_of("cad = 1\n").startswith("cad: Expected `object`, got `int`")


def test_invalid_toml_is_reported_as_such() -> None:
    assert error_of("[cad\n").startswith("not valid TOML")


# --- secrets ---------------------------------------------------------------------------


def test_missing_api_key_names_the_key_and_its_env_var() -> None:
    text = error_of(f'[listen]\ntoken = "{TOKEN}"\n')
    assert "cad.api_key" in text
    assert API_KEY_ENV in text


def test_missing_token_names_the_key_and_its_env_var() -> None:
    text = error_of(f'[cad]\napi_key = "{KEY}"\n')
    assert "listen.token" in text
    assert TOKEN_ENV in text


def test_blank_api_key_counts_as_missing() -> None:
    assert "cad.api_key" in error_of(f'[cad]\napi_key = "   "\n[listen]\ntoken = "{TOKEN}"\n')


def test_short_token_is_refused() -> None:
    text = error_of(f'[cad]\napi_key = "{KEY}"\n[listen]\ntoken = "short"\n')
    assert "listen.token" in text
    assert "short" not in text.replace("too short", "")


def test_secrets_may_be_missing_when_not_required() -> None:
    config = parse_config("", {}, require_secrets=False)
    assert config.cad.api_key == ""
    assert config.listen.token == ""


def test_env_supplies_missing_secrets() -> None:
    config = parse_config("", {API_KEY_ENV: KEY, TOKEN_ENV: TOKEN})
    assert config.cad.api_key == KEY
    assert config.listen.token == TOKEN


def test_env_overrides_secrets_in_the_file() -> None:
    config = parse_config(SECRETS, {API_KEY_ENV: "env-key", TOKEN_ENV: "env-token-123456"})
    assert config.cad.api_key == "env-key"
    assert config.listen.token == "env-token-123456"


def test_empty_env_var_does_not_override_the_file() -> None:
    config = parse_config(SECRETS, {API_KEY_ENV: "", TOKEN_ENV: ""})
    assert config.cad.api_key == KEY
    assert config.listen.token == TOKEN


def test_env_override_is_validated_too() -> None:
    assert "listen.token" in error_of(SECRETS, {TOKEN_ENV: "tiny"})


# --- listen host and api url ----------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_non_loopback_host_is_refused_without_allow_remote(host: str) -> None:
    text = error_of(SECRETS + f'host = "{host}"\n')
    assert "listen.host" in text
    assert "allow_remote" in text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    assert parse_config(SECRETS + f'host = "{host}"\n', {}).listen.host == host


def test_non_loopback_host_is_accepted_with_allow_remote() -> None:
    config = parse_config(SECRETS + 'host = "0.0.0.0"\nallow_remote = true\n', {})
    assert config.listen.host == "0.0.0.0"
    assert config.listen.allow_remote is True


@pytest.mark.parametrize(
    "url", ["api.sonorancad.com", "ftp://api.sonorancad.com", "https://", "", "not a url"]
)
def test_bad_api_url_is_refused_naming_the_key(url: str) -> None:
    text = error_of(f'[cad]\napi_url = "{url}"\napi_key = "{KEY}"\n[listen]\ntoken = "{TOKEN}"\n')
    assert text.startswith("cad.api_url:")
    assert repr(url) in text


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "https://staging.sonorancad.com/"])
def test_other_http_api_urls_are_accepted(url: str) -> None:
    config = parse_config(f'[cad]\napi_url = "{url}"\n', {}, require_secrets=False)
    assert config.cad.api_url == url


# --- files ---------------------------------------------------------------------------


def test_missing_file_points_at_the_example(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(path) in str(info.value)
    assert "config.example.toml" in str(info.value)


def test_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {})
    assert "cannot read config file" in str(info.value)


def test_load_config_reads_and_validates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(EXAMPLE)
    assert load_config(path, {}) == parse_config(EXAMPLE, {})


# --- secrets never shown --------------------------------------------------------------


def _shown(config: Config) -> list[str]:
    return [
        repr(config),
        str(config),
        f"{config}",
        repr(config.cad),
        str(config.cad),
        repr(config.listen),
        str(config.listen),
    ]


def test_repr_shows_that_secrets_are_set_without_showing_them() -> None:
    text = repr(parse_config(SECRETS, {}))
    assert KEY not in text
    assert TOKEN not in text
    assert "api_key=<set," in text
    assert "token=<set," in text


def test_repr_says_when_a_secret_is_empty() -> None:
    assert "api_key=<empty>" in repr(parse_config("", {}, require_secrets=False))


def test_rich_repr_does_not_show_secrets() -> None:
    config = parse_config(SECRETS, {})
    for part in (config.cad, config.listen):
        shown = repr(list(part.__rich_repr__()))
        assert KEY not in shown
        assert TOKEN not in shown


secret_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=12,
    max_size=64,
)


@settings(max_examples=60, deadline=None)
@given(key=secret_text, token=secret_text)
def test_repr_and_str_never_contain_the_secrets(key: str, token: str) -> None:
    from_file = parse_config(f'[cad]\napi_key = "{key}"\n[listen]\ntoken = "{token}"\n', {})
    from_env = parse_config("", {API_KEY_ENV: key, TOKEN_ENV: token})
    for config in (from_file, from_env):
        assert config.cad.api_key == key
        assert config.listen.token == token
        for text in _shown(config):
            assert key not in text
            assert token not in text
