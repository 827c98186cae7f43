"""Configuration: a TOML file plus secrets from files or the environment, validated into Settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_account import Account

from clearinghouse.config import ConfigError, load_settings

KEY = b"\x11" * 32
CONFIG = """
database_url = "sqlite:///ledger.sqlite3"

[signer]
keystore = "sender.json"
passphrase_file = "passphrase.txt"

[auth]
pepper_file = "pepper.txt"

[http]
host = "127.0.0.1"
port = 8935

[chain.static]
deposit_wei = 1000000000000000000
reserve_wei = 500000000000000000
withdraw_round = 0
current_round = 3500
current_round_block_hash = "0x4141414141414141414141414141414141414141414141414141414141414141"
last_l1_block = 20000000

[policy]
max_ticket_ev_wei = 2000000000000
max_price_wei_per_unit = "1/1000"
"""


def secret_file(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("CLEARINGHOUSE_DATABASE_URL", "CLEARINGHOUSE_KEY_PASSPHRASE", "CLEARINGHOUSE_API_KEY_PEPPER"):
        monkeypatch.delenv(variable, raising=False)
    keystore = Account.encrypt(KEY, "correct horse", kdf="pbkdf2", iterations=1000)
    secret_file(tmp_path / "sender.json", json.dumps(keystore))
    secret_file(tmp_path / "passphrase.txt", "correct horse\n")
    secret_file(tmp_path / "pepper.txt", "ab" * 32)
    path = tmp_path / "clearinghouse.toml"
    path.write_text(CONFIG)
    return path


def test_a_complete_configuration_loads(config: Path) -> None:
    settings = load_settings(config)
    assert settings.database_url == "sqlite:///ledger.sqlite3"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8935)
    assert settings.static_chain is not None and settings.live_chain is None
    assert settings.static_chain.deposit_wei == 10**18 and settings.static_chain.last_l1_block == 20_000_000
    # The configured round is the static view's only open round, with the configured hash.
    assert settings.static_chain.round_block_hashes == ((3500, b"\x41" * 32),)
    assert settings.static_chain.ticket_validity_period_rounds == 1
    assert settings.policy.max_ticket_ev_wei == 2 * 10**12
    assert str(settings.policy.max_price) == "1/1000"
    assert settings.private_key() == KEY
    assert settings.api_key_pepper() == b"\xab" * 32
    assert settings.webhook is None
    assert (settings.rate_limit.default, settings.rate_limit.per_gateway) == (None, {})


def test_environment_overrides_secrets(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARINGHOUSE_DATABASE_URL", "postgresql+psycopg://ch:pw@db/ch")
    monkeypatch.setenv("CLEARINGHOUSE_API_KEY_PEPPER", "cd" * 40)
    (config.parent / "passphrase.txt").unlink()
    monkeypatch.setenv("CLEARINGHOUSE_KEY_PASSPHRASE", "correct horse")
    settings = load_settings(config)
    assert settings.database_url == "postgresql+psycopg://ch:pw@db/ch"
    assert settings.api_key_pepper() == b"\xcd" * 40
    assert settings.private_key() == KEY


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("port = 8935", "port = 70000"), "http.port must be an integer in [1, 65535]"),
        (lambda text: text.replace("[chain.static]", "[chain.other]"), "unknown setting 'chain.other'"),
        (lambda text: text.split("[chain.static]")[0], "no chain view: set chain.rpc_url (or CLEARINGHOUSE_RPC_URL)"),
        (lambda text: text.replace("port = 8935", "prot = 8935"), "unknown setting 'http.prot'; did you mean 'http.port'?"),
        (lambda text: text.replace("current_round = 3500", "current_round = -1"),
         "chain.static.current_round must be an integer in [0, "),
        (lambda text: text.replace("current_round = 3500", 'current_round = "35x"'),
         "chain.static.current_round must be an integer in [0, "),
        (lambda text: text.replace('"1/1000"', '"-1"'), "policy.max_price_wei_per_unit must be a string"),
        (lambda text: text + "\n[[broken", "not valid TOML"),
        (lambda text: text.replace("[chain.static]", '[chain]\nrpc_url = "ws://x"\n[chain.static]'),
         "chain.rpc_url must be an http"),
        (lambda text: re.sub(r"current_round_block_hash = .*\n", "", text),
         "chain.static.current_round_block_hash is missing: the block hash the RoundsManager recorded for "
         "current_round"),
        (lambda text: re.sub(r'current_round_block_hash = ".*"', 'current_round_block_hash = "0x41"', text),
         "chain.static.current_round_block_hash must be 0x and 64 hex digits, got '0x41'"),
        (lambda text: re.sub(r'current_round_block_hash = ".*"', f'current_round_block_hash = "0x{"zz" * 32}"', text),
         "chain.static.current_round_block_hash must be hex"),
        (lambda text: re.sub(r'current_round_block_hash = ".*"', f'current_round_block_hash = "0x{"00" * 32}"', text),
         "chain.static.current_round_block_hash is all zeros"),
    ],
)
def test_errors_name_the_setting(config: Path, edit: object, message: str) -> None:
    config.write_text(edit(CONFIG))  # type: ignore[operator]
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(config)


def test_secrets_readable_by_others_are_refused(config: Path) -> None:
    (config.parent / "sender.json").chmod(0o644)
    with pytest.raises(ConfigError, match=r"accessible by group or others \(mode 644\); chmod 600"):
        load_settings(config).private_key()


def test_a_wrong_passphrase_or_short_pepper_fails_without_echoing_secrets(config: Path) -> None:
    secret_file(config.parent / "passphrase.txt", "wrong horse")
    secret_file(config.parent / "pepper.txt", "ab" * 8)
    settings = load_settings(config)
    with pytest.raises(ConfigError) as info:
        settings.private_key()
    assert "horse" not in str(info.value) and "cannot decrypt" in str(info.value)
    with pytest.raises(ConfigError, match="at least 32 bytes, got 8"):
        settings.api_key_pepper()


def test_a_live_chain_section_replaces_the_static_view(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = CONFIG.split("[chain.static]")[0] + (
        '[chain]\nrpc_url = "http://127.0.0.1:8545"\n'
        'controller = "0x5FbDB2315678afecb367f032d93F642f64180aa3"\nrefresh_s = 0.5\nstart_block = 0\n'
        '\n[policy]\nmax_ticket_ev_wei = "2000000000000"\n'
    )
    config.write_text(live)
    settings = load_settings(config)
    assert settings.static_chain is None and settings.live_chain is not None
    assert (settings.live_chain.refresh_s, settings.live_chain.stale_after_s) == (0.5, 30.0)
    assert settings.policy.max_ticket_ev_wei == 2 * 10**12
    monkeypatch.setenv("CLEARINGHOUSE_RPC_URL", "https://user:secret@rpc.example/v3/abcdef0123456789abcdef")
    assert load_settings(config).live_chain.rpc_url.endswith("abcdef")  # type: ignore[union-attr]


def test_rate_limits_and_webhook(config: Path) -> None:
    config.write_text(CONFIG + """
[rate_limit]
calls_per_s = 20
burst = 40

[rate_limit.gateways.3]
calls_per_s = 0.5
burst = 2

[webhook]
url = "https://auth.example/authorize"
gateway_id = 3
headers = { "X-Api-Key" = "webhook-secret" }
""")
    settings = load_settings(config)
    assert settings.rate_limit.default == (20.0, 40)
    assert settings.rate_limit.per_gateway == {3: (0.5, 2)}
    assert settings.webhook is not None and settings.webhook.gateway_id == 3
    assert "webhook-secret" not in repr(settings)
    config.write_text(CONFIG + "\n[rate_limit]\ncalls_per_s = 0\nburst = 1\n")
    with pytest.raises(ConfigError, match=r"rate_limit.calls_per_s must be a number in \(0, 1000000\]"):
        load_settings(config)


def test_plain_http_on_a_public_address_is_refused_unless_declared(config: Path) -> None:
    config.write_text(CONFIG.replace('host = "127.0.0.1"', 'host = "0.0.0.0"'))
    with pytest.raises(ConfigError, match="http.host '0.0.0.0' is not a loopback address"):
        load_settings(config)
    config.write_text(CONFIG.replace('host = "127.0.0.1"', 'host = "0.0.0.0"\nallow_plain_public = true'))
    assert load_settings(config).http.allow_plain_public is True
    config.write_text(CONFIG.replace('host = "127.0.0.1"', 'host = "localhost"'))
    assert load_settings(config).http.is_loopback


LIVE_CHAIN = (
    '[chain]\nrpc_url = "http://127.0.0.1:8545"\n'
    'controller = "0x5FbDB2315678afecb367f032d93F642f64180aa3"\n'
)


def test_the_event_watcher_needs_a_start_block_and_takes_confirmations(config: Path) -> None:
    base = CONFIG.split("[chain.static]")[0]
    config.write_text(base + LIVE_CHAIN)
    with pytest.raises(ConfigError, match="chain.start_block is missing: the first block the event watcher scans"):
        load_settings(config)
    config.write_text(base + LIVE_CHAIN + "start_block = 120000000\nconfirmations = 0\nwatch_poll_s = 0.5\n")
    live = load_settings(config).live_chain
    assert live is not None and (live.start_block, live.confirmations, live.watch_poll_s) == (120_000_000, 0, 0.5)
    config.write_text(base + LIVE_CHAIN + "start_block = 1\n")
    live = load_settings(config).live_chain
    assert live is not None and (live.confirmations, live.watch_poll_s) == (20, 5.0)  # chain.limits defaults
    config.write_text(base + LIVE_CHAIN + "start_block = 1\nconfirmations = 50001\n")
    with pytest.raises(ConfigError, match=r"chain.confirmations must be an integer in \[0, 50000\]"):
        load_settings(config)


def test_the_rpc_url_is_not_in_the_settings_repr(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text(CONFIG.split("[chain.static]")[0] + LIVE_CHAIN + "start_block = 0\n")
    monkeypatch.setenv("CLEARINGHOUSE_RPC_URL", "https://rpc.example/v3/0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("CLEARINGHOUSE_ALERT_WEBHOOK_URL", "https://hooks.example/T0/secret-token")
    settings = load_settings(config)
    assert "0123456789abcdef" not in repr(settings) and "secret-token" not in repr(settings)


def test_health_thresholds_and_the_alert_webhook(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLEARINGHOUSE_ALERT_WEBHOOK_URL", raising=False)
    assert load_settings(config).health.alert_webhook_url is None
    config.write_text(CONFIG + """
[health]
deposit_face_value_multiple_warn = 4
gas_balance_warn_wei = "20000000000000000"
runway_warn_s = 7200
watcher_lag_warn_s = 30
burn_window_s = 900
alert_webhook_url = "https://hooks.example/clearinghouse"
""")
    health = load_settings(config).health
    thresholds = health.thresholds
    assert (thresholds.deposit_face_value_multiple_warn, thresholds.gas_balance_warn_wei) == (4, 2 * 10**16)
    assert (thresholds.runway_warn_s, thresholds.watcher_lag_warn_s, health.burn_window_s) == (7200.0, 30.0, 900.0)
    assert health.alert_webhook_url == "https://hooks.example/clearinghouse"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("deposit_face_value_multiple_warn = 0", r"health.deposit_face_value_multiple_warn must be an integer in \[1,"),
        ("burn_window_s = 5", "health.burn_window_s must be at least 10 s, got 5"),
        ('alert_webhook_url = "ftp://x"', "health.alert_webhook_url must be an http"),
        ("watcher_lag_warn_s = -1", r"health.watcher_lag_warn_s must be a number of seconds in \(0, 86400\]"),
    ],
)
def test_bad_health_settings_name_the_setting(config: Path, setting: str, message: str) -> None:
    config.write_text(CONFIG + f"\n[health]\n{setting}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_rates_need_the_chain_for_chainlink_and_default_to_the_manual_table(config: Path) -> None:
    assert load_settings(config).rates.aggregator is None  # only the manual table prices
    aggregator = '[rates]\naggregator = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612"\n'
    config.write_text(CONFIG + aggregator)
    with pytest.raises(ConfigError, match=r"rates.aggregator is read through \[chain\] rpc_url"):
        load_settings(config)
    config.write_text(CONFIG.split("[chain.static]")[0] + LIVE_CHAIN + "start_block = 0\n" + aggregator
                      + "heartbeat_s = 3600\nmanual_max_age_s = 86400\n")
    rates = load_settings(config).rates
    assert (rates.aggregator, rates.heartbeat_s, rates.manual_max_age_s, rates.sequencer_grace_s) == (
        "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612", 3600, 86400.0, 3600)
    config.write_text(CONFIG + '[rates]\nsequencer_uptime_feed = "0x12"\n')
    with pytest.raises(ConfigError, match="rates.sequencer_uptime_feed must be a 0x-prefixed 20-byte address"):
        load_settings(config)


def test_recipient_sanity_settings(config: Path) -> None:
    """[policy] max_face_value_wei caps every ticket; active_orchestrators_only needs a chain."""
    assert load_settings(config).policy.max_face_value_wei is None
    config.write_text(CONFIG + 'max_face_value_wei = "5000000000000000"\n')
    assert load_settings(config).policy.max_face_value_wei == 5 * 10**15
    config.write_text(CONFIG + "max_face_value_wei = 0\n")
    with pytest.raises(ConfigError, match=r"policy.max_face_value_wei must be an integer in \[1, "):
        load_settings(config)
    config.write_text(CONFIG + "active_orchestrators_only = true\n")
    with pytest.raises(ConfigError, match="policy.active_orchestrators_only needs \\[chain\\] rpc_url"):
        load_settings(config)
    config.write_text(CONFIG + 'active_orchestrators_only = "yes"\n')
    with pytest.raises(ConfigError, match="policy.active_orchestrators_only must be true or false"):
        load_settings(config)


@pytest.mark.parametrize(("section", "message"), [
    ('issuer = "https://signer.example/"\nsigning_keys_file = "k.json"', "oidc.issuer must be an http"),
    ('issuer = "signer.example"\nsigning_keys_file = "k.json"', "oidc.issuer must be an http"),
    ('issuer = "https://signer.example"', "oidc.signing_keys_file must be a non-empty string"),
    ('issuer = "https://s"\nsigning_keys_file = "k.json"\nuser_token_lifetime_s = 3601', "oidc.user_token_lifetime_s"),
    ('issuer = "https://s"\nsigning_keys_file = "k.json"\napp_token_lifetime_s = 0', "oidc.app_token_lifetime_s"),
    ('issuer = "https://s"\nsigning_keys_file = "k.json"\nclock_skew_s = 121', "oidc.clock_skew_s"),
    ('issuer = "https://s"\nsigning_keys_file = "k.json"\nuser_token_scope = "users:write"', "oidc.user_token_scope"),
])
def test_oidc_settings_are_checked_naming_the_setting(config: Path, section: str, message: str) -> None:
    config.write_text(CONFIG + f"\n[oidc]\n{section}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_oidc_settings_load_with_their_defaults(config: Path) -> None:
    assert load_settings(config).oidc is None  # no section: no provider
    config.write_text(CONFIG + '\n[oidc]\nissuer = "https://signer.example"\nsigning_keys_file = "k.json"\n')
    oidc = load_settings(config).oidc
    assert oidc is not None and oidc.signing_keys_file == config.parent / "k.json"
    assert (oidc.audience, oidc.user_token_lifetime_s, oidc.app_token_lifetime_s, oidc.clock_skew_s,
            oidc.user_token_scope) == ("clearinghouse", 300, 3600, 30, "sign:job")


def test_events_are_on_when_a_sink_is_set_and_their_urls_stay_hidden(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(config).events.enabled is False  # no sink: no outbox rows nobody reads
    config.write_text(CONFIG + """
[events]
nats_url = "nats://user:hunter2@broker:4222"
http_url = "https://ingest.example/api/v1/events?token=s3cret"
unsent_max = 5000
retention_s = 172800
""")
    events = load_settings(config).events
    assert (events.enabled, events.unsent_max, events.retention_s, events.refusal_samples_max) == (True, 5000, 172800.0, 10)
    assert "hunter2" not in repr(load_settings(config)) and "s3cret" not in repr(load_settings(config))
    monkeypatch.setenv("CLEARINGHOUSE_EVENTS_ENABLED", "false")
    assert load_settings(config).events.enabled is False


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('nats_url = "http://broker:4222"', "events.nats_url must be a nats:// or tls:// URL"),
        ('http_url = "ftp://x"', r"events.http_url must be an http\(s\) URL"),
        ("batch_max = 0", r"events.batch_max must be an integer in \[1, 1000\]"),
        ('nats_subject_prefix = "a.>"', "events.nats_subject_prefix must be NATS tokens"),
        ("retention_s = 0", r"events.retention_s must be a number of seconds in \(0, "),
    ],
)
def test_events_settings_errors_name_the_setting(config: Path, setting: str, message: str) -> None:
    config.write_text(CONFIG + f"\n[events]\n{setting}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)
