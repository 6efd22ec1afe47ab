"""The stack's `security` block: each mistake is refused with one line naming file and key."""

from __future__ import annotations

from typing import Any

import pytest

from infra.catalog import catalog
from infra.settings import DEEPSEEK_API_HOST, MeshMode, parse_settings
from tests.test_settings import SOURCE, broken, raw


def _security(values: dict[str, Any], **keys: Any) -> None:
    values["security"] = {**values.get("security", {}), **keys}


def _jwt(values: dict[str, Any], **keys: Any) -> None:
    values["security"]["jwt"] = {**values["security"]["jwt"], **keys}


def test_shipped_prod_is_strict_enforcing_and_names_its_token() -> None:
    settings = parse_settings(raw("prod"), SOURCE)
    security = settings.security
    assert security.mtls is MeshMode.STRICT
    assert security.admission.value == "enforce"
    assert security.jwt is not None and security.jwt.issuer.startswith("https://")
    assert set(security.masking.entities) <= set(catalog().presidio_entities)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_permissive_mtls_is_refused_outside_dev(stack: str) -> None:
    line = broken(stack, lambda v: _security(v, mtls="permissive"))
    assert line.startswith(f"{SOURCE}: inferstack:security.mtls: 'permissive' in {stack}")
    assert "allowed: strict" in line


def test_dev_may_be_permissive() -> None:
    settings = parse_settings(raw("dev"), SOURCE)
    assert settings.security.mtls is MeshMode.PERMISSIVE


def test_warn_only_admission_is_refused_in_prod() -> None:
    line = broken("prod", lambda v: _security(v, admission="warn"))
    assert line.startswith(f"{SOURCE}: inferstack:security.admission: 'warn' in prod")


def test_an_issuer_that_is_not_https_is_refused() -> None:
    line = broken("prod", lambda v: _jwt(v, issuer="http://auth.example.com/"))
    assert line == (
        f"{SOURCE}: inferstack:security.jwt.issuer: 'http://auth.example.com/' is not an https URL; "
        "allowed: https://<host>/..."
    )


def test_a_jwks_uri_that_is_not_https_is_refused() -> None:
    line = broken("prod", lambda v: _jwt(v, jwksUri="auth.example.com/jwks.json"))
    assert line.startswith(
        f"{SOURCE}: inferstack:security.jwt.jwksUri: 'auth.example.com/jwks.json' is not an https URL"
    )


def test_a_jwks_uri_on_another_host_is_refused_unless_said() -> None:
    other = "https://keys.example.net/jwks.json"
    line = broken("prod", lambda v: _jwt(v, jwksUri=other))
    assert line.startswith(f"{SOURCE}: inferstack:security.jwt.jwksUri: host 'keys.example.net'")
    assert "jwksOnOtherHost: true" in line
    values = raw("prod")
    _jwt(values, jwksUri=other, jwksOnOtherHost=True)
    jwt = parse_settings(values, SOURCE).security.jwt
    assert jwt is not None and jwt.jwks_uri == other


def test_an_entity_the_analyzer_does_not_know_is_refused() -> None:
    line = broken("prod", lambda v: _security(v, masking={"entities": ["PERSON", "EMAIL_ADDRES"]}))
    assert line.startswith(
        f"{SOURCE}: inferstack:security.masking.entities[1]: 'EMAIL_ADDRES' is not an entity"
    )
    assert "did you mean EMAIL_ADDRESS" in line


@pytest.mark.parametrize("host", ["104.18.0.0/16", "203.0.113.7"])
def test_an_egress_allow_by_ip_range_is_refused(host: str) -> None:
    line = broken("prod", lambda v: _security(v, egress=[{"host": host}]))
    assert line.startswith(f"{SOURCE}: inferstack:security.egress[0].host: '{host}' is an IP range")
    assert "allowed: a DNS name" in line


def test_an_egress_host_that_is_not_a_name_is_refused() -> None:
    line = broken("prod", lambda v: _security(v, egress=[{"host": "https://api.example.com"}]))
    assert line.startswith(
        f"{SOURCE}: inferstack:security.egress[0].host: 'https://api.example.com' is not a DNS name"
    )


def test_the_deepseek_api_is_a_named_egress_only_when_it_is_a_fallback() -> None:
    values = raw("prod")
    _security(values, egress=[{"host": "*.example.com", "port": 8443}])
    security = parse_settings(values, SOURCE).security
    assert [(h.host, h.port) for h in security.egress_hosts(True)] == [
        (DEEPSEEK_API_HOST, 443),
        ("*.example.com", 8443),
    ]
    assert [h.host for h in security.egress_hosts(False)] == ["*.example.com"]


def test_a_receiver_with_a_bad_address_is_refused() -> None:
    def change(values: dict[str, Any]) -> None:
        values["monitoring"]["receivers"][0]["emails"] = ["oncall-at-example.com"]

    line = broken("prod", change)
    assert line == (
        f"{SOURCE}: inferstack:monitoring.receivers[0].emails[0]: 'oncall-at-example.com' is not an e-mail "
        "address; allowed: name@example.com"
    )


def test_prod_pages_critical_alerts_to_a_receiver() -> None:
    receivers = parse_settings(raw("prod"), SOURCE).monitoring.receivers
    assert any("critical" in [s.value for s in r.severities] for r in receivers)
