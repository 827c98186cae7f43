"""The settings registry: environment overlay and flags, typo protection, the README's table,
the template's defaults, and the [http] TLS, [log] and [metrics] sections."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from clearinghouse.cli.init import config_template
from clearinghouse.config import (
    OTHER_VARIABLES,
    SECRET_VARIABLES,
    SECTIONS,
    SETTINGS,
    ConfigError,
    layered,
    load_settings,
)
from tests.test_config import CONFIG, secret_file

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in [s.env for s in SETTINGS if s.env] + [v.env for v in SECRET_VARIABLES]:
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "clearinghouse.toml"
    path.write_text(CONFIG)
    return path


def test_every_setting_has_one_systematic_variable() -> None:
    variables = [s.env for s in SETTINGS if s.env]
    assert len(variables) == len(set(variables))
    legacy = {"chain.rpc_url": "CLEARINGHOUSE_RPC_URL", "health.alert_webhook_url": "CLEARINGHOUSE_ALERT_WEBHOOK_URL"}
    for setting in SETTINGS:
        expected = legacy.get(setting.name, "CLEARINGHOUSE_" + setting.name.replace(".", "_").upper())
        assert setting.env == (None if setting.kind == "table" else expected), setting.name
    assert {s.section for s in SETTINGS} <= {section.name for section in SECTIONS}


def test_flag_beats_environment_beats_file_beats_default(config: Path) -> None:
    file_only = layered(tomllib.loads(CONFIG), environ={})
    assert file_only.sources["http.port"] == "file" and "chain.confirmations" not in file_only.sources
    environ = {"CLEARINGHOUSE_HTTP_PORT": "9001", "CLEARINGHOUSE_POLICY_MAX_TICKET_EV_WEI": "7"}
    assert load_settings(config, environ=environ).http.port == 9001
    assert load_settings(config, environ=environ).policy.max_ticket_ev_wei == 7
    assert load_settings(config, {"http.port": 9002}, environ).http.port == 9002
    assert load_settings(config, {"http.port": None}, environ).http.port == 9001  # a flag not given
    assert load_settings(config, environ={}).policy.deposit_multiplier == 1  # default
    both = layered(tomllib.loads(CONFIG), environ, {"http.port": 9002})
    assert (both.sources["http.port"], both.sources["policy.max_ticket_ev_wei"]) == (
        "flag", "env CLEARINGHOUSE_POLICY_MAX_TICKET_EV_WEI")


def test_the_process_environment_is_read_by_default(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARINGHOUSE_HTTP_HOST", "localhost")
    monkeypatch.setenv("CLEARINGHOUSE_LOG_FORMAT", "text")
    settings = load_settings(config)
    assert (settings.http.host, settings.log.format) == ("localhost", "text")


def test_variables_are_validated_as_the_file_would_be(config: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("CLEARINGHOUSE_HTTP_PORT (setting http.port) must be an "
                                                    "integer, got 'eighty'")):
        load_settings(config, environ={"CLEARINGHOUSE_HTTP_PORT": "eighty"})
    with pytest.raises(ConfigError, match=re.escape("http.port must be an integer in [1, 65535], got 0")):
        load_settings(config, environ={"CLEARINGHOUSE_HTTP_PORT": "0"})
    with pytest.raises(ConfigError, match="must be true or false, got 'maybe'"):
        load_settings(config, environ={"CLEARINGHOUSE_HTTP_ALLOW_PLAIN_PUBLIC": "maybe"})
    assert load_settings(config, environ={"CLEARINGHOUSE_CHAIN_STATIC_DEPOSIT_WEI": "10000000000000000000"}
                         ).static_chain.deposit_wei == 10**19  # type: ignore[union-attr]


def test_a_bad_secret_variable_is_refused_without_echoing_it(config: Path) -> None:
    config.write_text(CONFIG.split("[chain.static]")[0] + '[chain]\ncontroller = "0x5FbDB2315678afecb367f032d93F642f64180aa3"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={"CLEARINGHOUSE_RPC_URL": "wss://user:s3cret@rpc.example/"})
    assert "chain.rpc_url must be an http(s) URL" in str(info.value) and "s3cret" not in str(info.value)


def test_a_variable_turns_an_optional_section_on(config: Path) -> None:
    grpc = load_settings(config, environ={"CLEARINGHOUSE_GRPC_HOST": "127.0.0.1", "CLEARINGHOUSE_GRPC_PORT": "9936"}).grpc
    assert grpc is not None and grpc.port == 9936


def test_legacy_secret_variables_still_work(config: Path) -> None:
    live = CONFIG.split("[chain.static]")[0] + '[chain]\ncontroller = "0x5FbDB2315678afecb367f032d93F642f64180aa3"\n'
    config.write_text(live)
    environ = {"CLEARINGHOUSE_RPC_URL": "http://127.0.0.1:8545", "CLEARINGHOUSE_CHAIN_START_BLOCK": "5",
               "CLEARINGHOUSE_ALERT_WEBHOOK_URL": "https://hooks.example/x",
               "CLEARINGHOUSE_DATABASE_URL": "postgresql+psycopg://ch:pw@db/ch"}
    settings = load_settings(config, environ=environ)
    assert settings.live_chain is not None and settings.live_chain.rpc_url == "http://127.0.0.1:8545"
    assert settings.live_chain.start_block == 5
    assert settings.health.alert_webhook_url == "https://hooks.example/x"
    assert settings.database_url == "postgresql+psycopg://ch:pw@db/ch"


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("CLEARINGHOUSE_HTTP_PORTT", "CLEARINGHOUSE_HTTP_PORTT is not a setting; did you mean 'CLEARINGHOUSE_HTTP_PORT'?"),
        ("CLEARINGHOUSE_CHAIN_RPC_URL", "CLEARINGHOUSE_CHAIN_RPC_URL is not a setting; did you mean 'CLEARINGHOUSE_RPC_URL'?"),
        ("CLEARINGHOUSE_POLICY_MAX_TICKET_EV", "CLEARINGHOUSE_POLICY_MAX_TICKET_EV is not a setting"),
    ],
)
def test_an_unknown_setting_variable_is_an_error_naming_it(config: Path, variable: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(config, environ={variable: "1"})


def test_documented_non_setting_variables_are_not_typos(config: Path) -> None:
    environ = {v.env: "x" * 64 for v in SECRET_VARIABLES} | dict.fromkeys(OTHER_VARIABLES, "1")
    environ |= {"CLEARINGHOUSE_TEST_POSTGRES_URL": "postgresql://x", "PATH": "/bin"}
    assert load_settings(config, environ=environ).http.port == 8935


def test_unknown_keys_in_the_file_are_errors_naming_them(config: Path) -> None:
    config.write_text(CONFIG + "\n[helth]\nrunway_warn_s = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'helth'; did you mean 'health'?"):
        load_settings(config)
    config.write_text(CONFIG.replace("[policy]", "[policy]\nmax_ticket_ev = 1"))
    with pytest.raises(ConfigError, match="unknown setting 'policy.max_ticket_ev'; did you mean 'policy.max_ticket_ev_wei'"):
        load_settings(config)
    config.write_text(CONFIG + "\n[rate_limit.gateways.3]\ncalls_per_s = 1\nburst = 1\n")
    assert load_settings(config).rate_limit.per_gateway == {3: (1.0, 1)}  # tables of ids are free-form


def test_uncommenting_every_default_changes_nothing(config: Path) -> None:
    """The registry's defaults are the ones validation applies."""
    always_on = {s.name for s in SECTIONS if not s.optional}
    values: dict[str, object] = dict(tomllib.loads(CONFIG)["http"].items())
    values = {f"http.{k}": v for k, v in values.items()}
    base = {"database_url": "sqlite:///ledger.sqlite3", "signer.keystore": "sender.json",
            "signer.passphrase_file": "passphrase.txt", "auth.pepper_file": "pepper.txt",
            "chain.rpc_url": "http://127.0.0.1:8545", "chain.controller": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "chain.start_block": 0} | values
    config.write_text(config_template(base))
    commented = load_settings(config, environ={})
    defaults = {s.name: s.default for s in SETTINGS if s.default is not None and s.section in always_on}
    config.write_text(config_template(defaults | base))
    assert load_settings(config, environ={}) == commented
    assert len(defaults) > 20


def test_readme_lists_every_setting_and_variable() -> None:
    readme = README.read_text()
    missing = [s.env for s in SETTINGS if s.env and s.env not in readme]
    missing += [f"[{s.section}] {s.key}" for s in SETTINGS if not re.search(rf"\b{s.key}\b", readme)]
    missing += [v.env for v in SECRET_VARIABLES if v.env not in readme]
    assert not missing, f"README.md's configuration table lacks: {', '.join(missing)}"


def test_log_and_metrics_sections(config: Path, tmp_path: Path) -> None:
    defaults = load_settings(config, environ={})
    assert (defaults.log.level, defaults.log.format, defaults.metrics.enabled) == ("info", "json", True)
    assert defaults.metrics.token() is None
    secret_file(tmp_path / "metrics.token", "ab" * 32)
    config.write_text(CONFIG + '\n[log]\nlevel = "debug"\nformat = "text"\n'
                               '[metrics]\nenabled = false\ntoken_file = "metrics.token"\n')
    settings = load_settings(config, environ={})
    assert (settings.log.level, settings.log.format, settings.metrics.enabled) == ("debug", "text", False)
    assert settings.metrics.token() == "ab" * 32
    secret_file(tmp_path / "metrics.token", "ab" * 8)
    with pytest.raises(ConfigError, match="metrics token must hold at least 32 random bytes, got 8"):
        settings.metrics.token()
    secret_file(tmp_path / "metrics.token", "ab" * 32, mode=0o640)
    with pytest.raises(ConfigError, match="metrics.token_file .* is accessible by group or others"):
        settings.metrics.token()
    with pytest.raises(ConfigError, match="log.level must be one of debug, info, warning, error, got 'loud'"):
        load_settings(config, environ={"CLEARINGHOUSE_LOG_LEVEL": "loud"})


def test_http_tls_allows_a_public_host_and_checks_the_key_file(config: Path, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("certificate")
    secret_file(tmp_path / "key.pem", "key")
    public = CONFIG.replace('host = "127.0.0.1"', 'host = "0.0.0.0"')
    config.write_text(public)
    with pytest.raises(ConfigError, match="set http.cert_file and http.key_file for HTTPS"):
        load_settings(config)
    config.write_text(public.replace("port = 8935", 'port = 8935\ncert_file = "cert.pem"\nkey_file = "key.pem"'))
    http = load_settings(config).http
    assert http.tls_files() == (tmp_path / "cert.pem", tmp_path / "key.pem")
    (tmp_path / "key.pem").chmod(0o644)
    with pytest.raises(ConfigError, match=r"http.key_file .*key.pem is accessible by group or others \(mode 644\)"):
        http.tls_files()
    config.write_text(public.replace("port = 8935", 'port = 8935\ncert_file = "cert.pem"'))
    with pytest.raises(ConfigError, match="http.cert_file and http.key_file go together"):
        load_settings(config)
