"""Security headers on every answer, the pages' Content-Security-Policy, and CORS."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.web.headers import APP_CSP
from tests.conftest import add_key, make_settings


def directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}


def test_the_app_has_a_strict_policy(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        page = client.get("/")
    policy = directives(page.headers["content-security-policy"])
    assert page.headers["content-security-policy"] == APP_CSP
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert "*" in policy["img-src"]  # the images are the users' URLs, on any host
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_api_pages_load_scripts_from_the_service_only(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        for path in ("/docs", "/redoc"):
            policy = directives(client.get(path).headers["content-security-policy"])
            assert policy["script-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
            assert policy["img-src"] == ["'self'", "data:"]


def test_json_answers_and_errors_carry_nosniff(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        for answer in (client.get("/health"), client.get("/ops"), client.get("/imgs/x/y")):
            assert answer.headers["x-content-type-options"] == "nosniff", answer.url


def test_without_cors_origins_no_page_elsewhere_may_call(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        preflight = client.options(
            "/imgs",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_cors_origins_answer_the_preflight_and_the_call(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, cors_origins=["https://app.example.com"])
    key = add_key(settings, "acme")
    with TestClient(create_app(settings)) as client:
        preflight = client.options(
            "/imgs/a",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "api-key, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "api-key" in allowed and "content-type" in allowed
        call = client.get("/ops", headers={"Origin": "https://app.example.com", "API-Key": key})
        assert call.status_code == 200
        assert call.headers["access-control-allow-origin"] == "https://app.example.com"
        other = client.options(
            "/imgs",
            headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"},
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


def test_cors_origins_are_read_comma_separated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSEARCH_CORS_ORIGINS", "https://a.example, https://b.example")
    assert make_settings(tmp_path).cors_origins == ["https://a.example", "https://b.example"]
