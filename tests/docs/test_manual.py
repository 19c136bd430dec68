"""The manual holds together: the README stays a front door, every relative link and anchor
resolves (as GitHub renders them), every `make` target it names exists, and the hand-written
lists of operations and commands are complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from balance_manager import cli
from tools import reference_docs

ROOT = reference_docs.ROOT
PAGES = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        ROOT / "bench/README.md",
        ROOT / "src/stripe_sandbox/README.md",
    ]
)
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text without code blocks and code spans (a link there is not a link)."""
    return CODE.sub(lambda m: m.group(0) if "](" not in m.group(0) else "", FENCE.sub("", text))


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation (but `-` and `_`)
    dropped, spaces to hyphens, `-1`, `-2`, … on repeats."""
    seen: dict[str, int] = {}
    anchors = set()
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading is None:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move detail into docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no such heading")
    assert broken == []


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Two words\n\nSee [a](#two-words), [b](#three), [c](gone.md).\n")
    found = LINK.findall(_prose(page.read_text()))
    assert found == ["#two-words", "#three", "gone.md"]
    assert _anchors(page) == {"title", "two-words"}


def test_every_make_target_named_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    named = {
        target
        for page in PAGES
        for target in re.findall(
            r"(?:`|^)make ([a-z][\w-]*)", page.read_text(encoding="utf-8"), re.MULTILINE
        )
    }
    assert {"demo", "test", "docs"} <= named
    assert sorted(named - targets) == []


def _commands(group: TyperGroup, prefix: str = "") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append(f"{prefix}{name}")
    return found


def test_the_cli_page_lists_every_command() -> None:
    page = (ROOT / "docs/operations/cli.md").read_text(encoding="utf-8")
    group = typer.main.get_command(cli.app)
    assert isinstance(group, TyperGroup)
    commands = _commands(group)
    assert {"serve", "worker", "keys create", "webhooks recover"} <= set(commands)
    assert [c for c in commands if f"balance-manager {c}" not in page] == []


def test_the_api_guide_lists_every_path() -> None:
    guide = (ROOT / "docs/api-guide.md").read_text(encoding="utf-8")
    paths = reference_docs.openapi_document()["paths"]
    missing = [p for p in paths if not re.search(re.escape(p) + r"(?![\w/{}-])", guide)]
    assert missing == []
