"""The generated parts of the manual are current: docs/configuration.md against the settings
class, docs/api.md against the OpenAPI document. A stale page fails here; `make docs`
rewrites it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from tools import reference_docs

ROOT = reference_docs.ROOT


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return reference_docs.openapi_document()


@pytest.mark.parametrize("relative", sorted(reference_docs.GENERATED))
def test_generated_page_is_current(relative: str) -> None:
    current, expected = reference_docs.regenerate(relative)
    assert current == expected, f"{relative} is stale: run `make docs` and commit the result"


def test_every_setting_is_in_the_configuration_page() -> None:
    page = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    missing = [n.upper() for n in Settings.model_fields if f"| `{n.upper()}` |" not in page]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    """The description is the documentation: the code is its single source."""
    assert [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()] == []


def test_a_new_setting_makes_the_page_stale() -> None:
    """The check can fail: a setting added to the class is missing from the committed page."""

    class More(Settings):
        brand_new_setting: int = Field(default=7, ge=1, le=9, description="Something new.")

    table = reference_docs.configuration_table(More)
    assert "| `BRAND_NEW_SETTING` | `7` | 1 – 9 | Something new. |" in table
    current = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    source = reference_docs.GENERATED["docs/configuration.md"][0]
    assert reference_docs.splice(current, table, source) != current


def test_a_setting_without_a_description_cannot_be_documented() -> None:
    class Undocumented(Settings):
        secret_knob: int = 1

    with pytest.raises(ValueError, match="secret_knob has no description"):
        reference_docs.configuration_table(Undocumented)


def test_every_operation_is_in_the_api_reference(openapi: dict[str, Any]) -> None:
    page = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    operations = [(m.upper(), p) for p, ops in openapi["paths"].items() for m in ops]
    assert len(operations) > 40
    assert [f"{m} {p}" for m, p in operations if f"### `{m} {p}`" not in page] == []
    schemas = openapi["components"]["schemas"]
    assert [name for name in schemas if f"\n### {name}\n" not in page] == []


def test_the_api_reference_does_not_depend_on_the_environment(
    openapi: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """METRICS_PORT takes /metrics off the API: the service's own settings see it, in the
    environment and in a .env file, and the reference does not."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("METRICS_PORT=9464\nTOKEN_SIGNING_SECRET=" + "e" * 40 + "\n")
    monkeypatch.setenv("MAX_REQUEST_BYTES", "4096")
    affected = create_app(Settings(), embedded_worker=False).openapi()
    assert "/metrics" not in affected["paths"] and "/metrics" in openapi["paths"]

    assert reference_docs.openapi_document() == openapi
    assert reference_docs.configuration_table() == reference_docs.configuration_table(Settings)


def test_splice_needs_its_markers() -> None:
    with pytest.raises(reference_docs.StaleError):
        reference_docs.splice("# A page without markers\n", "| x |", "somewhere")


def test_check_mode_reports_a_stale_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`python -m tools.reference_docs --check` exits 1 naming the page, and writes nothing."""
    page = tmp_path / "docs" / "configuration.md"
    page.parent.mkdir()
    stale = (
        (ROOT / "docs/configuration.md")
        .read_text(encoding="utf-8")
        .replace("| `PORT` |", "| `PORT_` |")
    )
    page.write_text(stale, encoding="utf-8")
    monkeypatch.setattr(reference_docs, "ROOT", tmp_path)
    monkeypatch.setattr(
        reference_docs,
        "GENERATED",
        {"docs/configuration.md": reference_docs.GENERATED["docs/configuration.md"]},
    )
    assert reference_docs.main(["--check"]) == 1
    assert page.read_text(encoding="utf-8") == stale
    assert reference_docs.main([]) == 0
    assert reference_docs.main(["--check"]) == 0
    assert "| `PORT` |" in page.read_text(encoding="utf-8")
