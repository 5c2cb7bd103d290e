"""Conventions as tests: every setting is documented, README names the real commands."""

from __future__ import annotations

from pathlib import Path

from pixsearch.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"PIXSEARCH_{name.upper()}" not in text]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert [name for name, f in Settings.model_fields.items() if not f.description] == []


def test_readme_commands_exist_in_the_makefile() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("serve", "test"):
        assert f"make {target}" in readme
        assert f"\n{target}:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_monitoring_docs_and_dashboard_name_real_metrics() -> None:
    import json
    import re

    from prometheus_client.parser import text_string_to_metric_families

    from pixsearch.monitoring.metrics import DatabaseCollector, Metrics

    metrics = Metrics(per_org=True)
    real = {family.name for family in text_string_to_metric_families(metrics.render().decode())}
    real |= {family.name for family in DatabaseCollector(None, per_org=True).describe()}  # type: ignore[arg-type]
    dashboard = (ROOT / "docs" / "grafana-dashboard.json").read_text()
    panels = json.loads(dashboard)["panels"]
    assert panels and all(panel["targets"] for panel in panels)
    text = (ROOT / "docs" / "monitoring.md").read_text() + dashboard
    named = {
        re.sub(r"_(total|bucket|sum|count)$", "", name)
        for name in re.findall(r"\bpixsearch_[a-z_]+", text)
    }
    assert named - real == set()
    assert len(real) == 15
