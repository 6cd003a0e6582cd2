"""The TOML config: defaults, key-naming errors, secrets from the environment, masked repr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import build
from bridge.config import (
    API_KEY_ENV,
    RESOURCE_KEEPALIVE_SECONDS,
    TOKEN_ENV,
    Config,
    ConfigError,
    TlsConfig,
    config_warnings,
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
    assert config.budget.get_calls == 4
    assert config.tracking.close_check_seconds == 30.0
    assert config.budget.margin_seconds == 1.0
    assert config.tracking.min_move == 10.0
    assert config.tracking.default_radius == 50.0
    assert config.tracking.lead is True
    assert config.tracking.trails is True
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


def test_missing_file_points_at_init(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(path) in str(info.value)
    assert "sonoran-bridge init --config" in str(info.value)


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


def _stand_in(secret: str) -> str:
    """A secret of the same length that shares no character with `secret`."""
    filler = next(c for c in "ABCDEFGH" if c not in secret)
    return filler * len(secret)


@settings(max_examples=60, deadline=None)
@given(key=secret_text, token=secret_text)
def test_repr_and_str_never_contain_the_secrets(key: str, token: str) -> None:
    # A drawn key can be a substring of the rest of the config ("sonorancad.com" is in the
    # API URL), so "key not in text" would fail for nothing. Instead: the text shown must be
    # exactly the text shown for other secrets of the same lengths, which a secret that leaks
    # in any form (whole, a part, a prefix) changes.
    other_key, other_token = _stand_in(key), _stand_in(token)
    baseline = _shown(parse_config("", {API_KEY_ENV: other_key, TOKEN_ENV: other_token}))
    from_file = parse_config(f'[cad]\napi_key = "{key}"\n[listen]\ntoken = "{token}"\n', {})
    from_env = parse_config("", {API_KEY_ENV: key, TOKEN_ENV: token})
    for config in (from_file, from_env):
        assert config.cad.api_key == key
        assert config.listen.token == token
        assert _shown(config) == baseline


def test_the_secret_check_is_not_fooled_by_a_key_found_in_the_api_url() -> None:
    key = "api.sonorancad.com"
    shown = _shown(parse_config("", {API_KEY_ENV: key, TOKEN_ENV: TOKEN}))
    baseline = _shown(parse_config("", {API_KEY_ENV: _stand_in(key), TOKEN_ENV: _stand_in(TOKEN)}))
    assert any(key in text for text in shown)  # in the URL: a plain "not in" cannot hold
    assert shown == baseline


# --- secrets pasted with stray characters ------------------------------------------------


@pytest.mark.parametrize("padding", [" ", "\t", "\n", "  \r\n", "\u00a0"])
def test_whitespace_around_secrets_is_stripped_in_the_file_and_the_env(padding: str) -> None:
    key, token = json.dumps(f"{padding}{KEY}{padding}"), json.dumps(f"{TOKEN}{padding}")
    text = f"[cad]\napi_key = {key}\n[listen]\ntoken = {token}\n"  # JSON escapes are TOML's
    config = parse_config(text, {})
    assert (config.cad.api_key, config.listen.token) == (KEY, TOKEN)
    config = parse_config("", {API_KEY_ENV: f"{KEY}{padding}", TOKEN_ENV: f"{padding}{TOKEN}"})
    assert (config.cad.api_key, config.listen.token) == (KEY, TOKEN)


@pytest.mark.parametrize(
    ("bad", "what"),
    [("\u201d", "U+201D"), ("\u2013", "U+2013"), ("\\u0007", "U+0007"), ("é", "U+00E9")],
)
@pytest.mark.parametrize(
    ("where", "named"),
    [
        ("file_key", "cad.api_key"),
        ("file_token", "listen.token"),
        ("env_key", f"${API_KEY_ENV}"),
        ("env_token", f"${TOKEN_ENV}"),
    ],
)
def test_a_secret_that_is_not_printable_ascii_is_refused_naming_the_key(
    bad: str, what: str, where: str, named: str
) -> None:
    secret = f"abc{bad}defghijklmnop"
    env: dict[str, str] = {}
    text = SECRETS
    if where == "file_key":
        text = text.replace(KEY, secret)
    elif where == "file_token":
        text = text.replace(TOKEN, secret)
    else:
        env = {API_KEY_ENV if where == "env_key" else TOKEN_ENV: secret.replace("\\u0007", "\a")}
    message = error_of(text, env)
    assert message.startswith(named) and what in message and "character 4" in message
    assert "abc" not in message and "defghijklmnop" not in message  # the secret is not echoed


def test_an_env_var_of_blanks_does_not_hide_the_file_secret() -> None:
    config = parse_config(SECRETS, {API_KEY_ENV: "   ", TOKEN_ENV: "\t"})
    assert (config.cad.api_key, config.listen.token) == (KEY, TOKEN)


# --- config that guarantees trouble ------------------------------------------------------


def warnings_of(text: str) -> list[str]:
    return config_warnings(parse_config(SECRETS + text, {}))


def test_the_default_config_draws_no_warning() -> None:
    assert warnings_of("") == []


@pytest.mark.parametrize(
    ("budget", "named"),
    [
        ("update_call = 11", "budget.update_call = 11"),
        ("get_calls = 6", "budget.get_calls = 6"),
        ("window_seconds = 30", "budget.window_seconds = 30"),
        ("window_seconds = 61", "budget.window_seconds = 61"),
    ],
)
def test_a_budget_beyond_the_real_apis_limits_is_warned_about(budget: str, named: str) -> None:
    (warning,) = warnings_of(f"[budget]\n{budget}\n")
    assert warning.startswith(named) and "api.sonorancad.com" in warning


def test_reads_that_leave_sonorancads_poll_no_room_are_warned_about() -> None:
    (warning,) = warnings_of("[budget]\nget_calls = 5\n")
    assert warning.startswith("budget.get_calls = 5") and "sonorancad" in warning
    assert warnings_of("[budget]\nget_calls = 4\n") == []


def test_any_budget_may_be_used_against_another_cad() -> None:
    text = "[budget]\nupdate_call = 100\nwindow_seconds = 2\n"
    config = parse_config(SECRETS.replace("[listen]", text + "[listen]"), {})
    config.cad.api_url = "http://127.0.0.1:8080"
    assert config_warnings(config) == []


def test_an_idle_timeout_below_the_resources_keepalive_is_warned_about() -> None:
    (warning,) = warnings_of("idle_timeout_seconds = 30\n")
    assert warning.startswith("listen.idle_timeout_seconds = 30") and "keepalive" in warning
    assert "sonoran_bridge_keepalive_ms" in warning
    assert warnings_of("idle_timeout_seconds = 45\n") == []


def test_the_keepalive_assumed_is_the_resources_default() -> None:
    resource = Path(__file__).parent.parent / "lua_resource"
    settings = (resource / "shared/settings.lua").read_text()  # reads every convar
    default = f"{RESOURCE_KEEPALIVE_SECONDS * 1000:.0f}"
    assert f'convar = "sonoran_bridge_keepalive_ms", default = {default},' in settings
    transport = (resource / "server/transport.js").read_text()
    assert f"integer(settings.keepalive_ms, {default})" in transport
    assert "Math.floor(cfg.keepaliveMs / 3)" in transport  # so silence may last 4/3 of it


@pytest.mark.parametrize("url", ["http://cad.example.org", "http://192.168.1.5:8080/"])
def test_a_plain_http_api_url_beyond_loopback_is_refused_unless_allowed(url: str) -> None:
    text = SECRETS.replace("[listen]", f'api_url = "{url}"\n[listen]')
    message = error_of(text)
    assert message.startswith("cad.api_url") and "in clear" in message
    assert "cad.allow_plain_http" in message
    allowed = parse_config(text.replace("[listen]", "allow_plain_http = true\n[listen]"), {})
    assert allowed.cad.api_url == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://127.0.0.2", "http://[::1]:9"])
def test_plain_http_to_loopback_needs_no_opt_in(url: str) -> None:
    assert parse_config(f'[cad]\napi_url = "{url}"\n', {}, require_secrets=False)


def test_a_tilde_in_the_state_file_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/operator")
    monkeypatch.setenv("USERPROFILE", "/home/operator")
    config = parse_config(
        '[budget]\nstate_file = "~/bridge/spent.json"\n', {}, require_secrets=False
    )
    assert config.budget.state_file == str(Path("/home/operator/bridge/spent.json"))


def test_a_tilde_in_the_config_path_is_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    (tmp_path / "bridge.toml").write_text(SECRETS)
    assert load_config("~/bridge.toml", {}).cad.api_key == KEY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[log]\nlevel = "verbose"\n',
            "log.level: expected one of 'debug', 'info', 'warning', 'error'; got 'verbose'",
        ),
        (
            '[log]\nformat = "pretty"\n',
            "log.format: expected one of 'auto', 'json', 'console'; got 'pretty'",
        ),
        (
            "[log]\nformat = 3\n",
            "log.format: expected one of 'auto', 'json', 'console'; Expected `str`, got `int`",
        ),
    ],
)
def test_an_enum_error_lists_the_choices(text: str, expected: str) -> None:
    assert error_of(text) == expected


def test_postal_offer_folder_must_be_an_existing_full_path(tmp_path: Path) -> None:
    base = '[cad]\napi_key = "k-123456789012"\n[listen]\ntoken = "t-123456789012"\n'
    config = parse_config(base + f"[postal]\noffer_folder = '{tmp_path}'\n", {})
    assert config.postal.offer_folder == str(tmp_path)
    build.load(config)
    for bad in (str(tmp_path / "missing"), "resources", str(tmp_path / "x.json")):
        (tmp_path / "x.json").write_text("[]")
        with pytest.raises(ConfigError, match=r"postal\.offer_folder"):
            build.load(parse_config(base + f"[postal]\noffer_folder = '{bad}'\n", {}))


def test_checking_the_config_opens_nothing_it_names(tmp_path: Path) -> None:
    """The shape is the config's to check; the files and the URL it names are read once, by
    `build.load`, which names the key of the first that cannot be used."""
    gone = tmp_path / "gone"
    text = (
        '[cad]\napi_key = "k-123456789012"\n[listen]\ntoken = "t-123456789012"\n'
        f'[budget]\nshared_url = "rediss://cache/0?ssl_ca={gone}/ca.pem"\n'
        f"[postal]\nfile = '{gone}/postals.json'\noffer_folder = '{gone}'\n"
        f"[tls]\ncert_file = '{gone}/cert.pem'\nkey_file = '{gone}/key.pem'\n"
    )
    config = parse_config(text, {})
    assert (config.postal.file, config.tls.cert_file) == (
        f"{gone}/postals.json",
        f"{gone}/cert.pem",
    )
    with pytest.raises(ConfigError, match=r"^budget\.shared_url: ssl_ca = .*: no such file"):
        build.load(config)
    config.budget.shared_url = ""
    with pytest.raises(ConfigError, match=r"^postal\.offer_folder = "):
        build.load(config)
    config.postal.offer_folder = ""
    with pytest.raises(ConfigError, match=r"^tls\.cert_file = .*: no such file"):
        build.load(config)
    config.tls = TlsConfig()
    with pytest.raises(ConfigError, match=r"^postal\.file: .*cannot read it"):
        build.load(config)
    config.postal.file = ""
    assert build.load(config) == build.Resources()


def test_trails_can_be_turned_off_and_reach_the_planner_s_settings() -> None:
    assert build.settings_from(parse_config("", {}, require_secrets=False)).trails is True
    off = parse_config("[tracking]\ntrails = false\n", {}, require_secrets=False)
    assert off.tracking.trails is False
    assert build.settings_from(off).trails is False
    with pytest.raises(ConfigError, match=r"tracking\.trails"):
        parse_config('[tracking]\ntrails = "yes"\n', {}, require_secrets=False)
