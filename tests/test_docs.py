"""The README and the pages of docs/ hold together: no dead link, no test or class that is gone.

Every relative link (and image) of README.md and docs/*.md must reach a file or
folder of the repository, and a ``#section`` must be a heading of the page it
points to, named as GitHub names it. A test a page names, as
``tests/test_x.py::test_name`` or as a link whose text is the test's name, must
exist, and so must a class or function that a link to a Python file names.
Absolute links (http, https) are not fetched. Every quoted run's result is
marked as one machine's.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", flags=re.M | re.S)
# [text](target) and ![alt](target), the text allowing one level of brackets; a title after
# the target ("...") is allowed and ignored.
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", flags=re.M)
TEST_ID = re.compile(r"tests/(test_\w+\.py)::(\w+)")
NAME = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)`")
# A line that only a run prints: a final result or a timing, which differ from machine to machine.
RUN_OUTPUT = re.compile(r"^(completed|early stopped|diverged|interrupted): .* epochs in "
                        r"|ratio per pair|^workload +implementation|killed of the rest", flags=re.M)
MEASURED = "<!-- measured"


def without_code_blocks(text):
    """``text`` with its fenced code blocks blanked out (their lines kept, empty)."""
    return FENCE.sub(lambda match: "\n" * match.group(0).count("\n"), text)


def slug(heading):
    """GitHub's anchor of a heading: lowercase, punctuation but - and _ dropped, - for spaces."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page):
    """Every anchor of a markdown page: its headings' slugs, a repeated one numbered -1, -2..."""
    seen = {}
    for match in HEADING.finditer(without_code_blocks(page.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        yield base if count == 0 else f"{base}-{count}"


def links(page):
    """(text, target) of every link and image of ``page``, code blocks left out."""
    return LINK.findall(without_code_blocks(page.read_text(encoding="utf-8")))


def dead_links(page, root=ROOT):
    """The links of ``page`` that lead nowhere, each with the reason, as strings."""
    dead = []
    for _, target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            dead.append(f"{target}: no such file")
        elif root not in where.parents and where != root:
            dead.append(f"{target}: outside the repository")
        elif anchor and where.suffix != ".md":
            dead.append(f"{target}: an anchor into a file that is not a markdown page")
        elif anchor and anchor not in set(anchors(where)):
            dead.append(f"{target}: no heading #{anchor} in {where.name}")
    return dead


def defined(path):
    """The names a Python file defines at the top, and for each class its own names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {}
    for node in tree.body:
        inside = set()
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    inside.add(item.name)
                elif isinstance(item, ast.Assign):
                    inside.update(t.id for t in item.targets if isinstance(t, ast.Name))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = inside
        elif isinstance(node, ast.Assign):
            names.update((t.id, set()) for t in node.targets if isinstance(t, ast.Name))
    return names


def missing_names(page):
    """Tests and code that ``page`` names but that do not exist, as strings."""
    text = page.read_text(encoding="utf-8")
    missing = []
    for file, name in TEST_ID.findall(text):  # tests/test_x.py::test_name, code blocks too
        path = ROOT / "tests" / file
        if not path.is_file() or name not in defined(path):
            missing.append(f"tests/{file}::{name}")
    for label, target in links(page):  # [`Name`](file.py), [`Class.method`](file.py)
        name = NAME.fullmatch(label.strip())
        path = (page.parent / target.partition("#")[0]).resolve()
        if not name or path.suffix != ".py" or not path.is_file():
            continue
        top, _, attribute = name.group(1).partition(".")
        names = defined(path)
        if top not in names or (attribute and attribute not in names[top]):
            missing.append(f"{name.group(1)} in {target}")
    return missing


def unmarked_runs(page):
    """The first line of each code block that quotes a run's output without a measured mark."""
    text = page.read_text(encoding="utf-8")
    unmarked = []
    for block in FENCE.finditer(text):
        if not RUN_OUTPUT.search(block.group(0)):
            continue
        before = [line for line in text[:block.start()].splitlines() if line.strip()]
        if not before or not before[-1].startswith(MEASURED):
            line = text[:block.start()].count("\n") + 1
            unmarked.append(f"{page.name} line {line}")
    return unmarked


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_leads_somewhere(page):
    assert dead_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_test_and_class_a_page_names_exists(page):
    assert missing_names(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_quoted_run_is_marked_as_one_machines(page):
    assert unmarked_runs(page) == []
    if MEASURED in page.read_text(encoding="utf-8"):
        assert "one machine" in page.read_text(encoding="utf-8"), page.name


def test_every_page_of_docs_is_reached_from_the_readme_or_another_page():
    reached = {(page.parent / target.partition("#")[0]).resolve()
               for page in PAGES for _, target in links(page)}
    assert [page.name for page in PAGES[1:] if page not in reached] == []


def test_the_link_pattern_finds_the_readmes_links():
    found = set(links(ROOT / "README.md"))
    assert {("The mathematics", "docs/maths.md"), ("`Dense`", "layers.py"),
            ("Which figures are the same everywhere",
             "docs/problems.md#which-figures-are-the-same-everywhere")} <= found
    assert not any("```" in text or "```" in target for text, target in found)


def test_the_slugs_are_githubs():
    for heading, anchor in [
            ("Compare the optimizers: `--optimizer all`", "compare-the-optimizers---optimizer-all"),
            ("The optimizers' defaults, and the book's", "the-optimizers-defaults-and-the-books"),
            ("Images: `--conv C [C ...]`, `--kernel K`", "images---conv-c-c----kernel-k"),
            ("A [linked](x.md) heading_with_underscore", "a-linked-heading_with_underscore")]:
        assert slug(heading) == anchor


def test_a_dead_link_a_wrong_anchor_and_a_link_out_of_the_repository_are_caught(tmp_path):
    root = tmp_path / "repository"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "real.md").write_text("# Real page\n\n## A section: `--flag`\n")
    (tmp_path / "elsewhere.md").write_text("outside the repository")
    page = root / "README.md"
    page.write_text(
        "[fine](docs/real.md) [fine too](docs/real.md#a-section---flag) [here](#top)\n"
        "![gone](docs/missing.png) [gone](docs/missing.md) [wrong](docs/real.md#no-section)\n"
        "[away](../elsewhere.md) [web](https://example.com/missing) <https://example.com>\n"
        "\n# Top\n\n```\n[in code](not/a/link.md)\n```\n")
    assert dead_links(page, root=root) == [
        "docs/missing.png: no such file",
        "docs/missing.md: no such file",
        "docs/real.md#no-section: no heading #no-section in real.md",
        "../elsewhere.md: outside the repository",
    ]


def test_a_repeated_heading_gets_a_numbered_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Notes\n\n```\n# not a heading\n```\n## Notes\n")
    assert list(anchors(page)) == ["notes", "notes-1", "notes-2"]


def test_a_test_or_a_class_that_is_gone_is_caught(tmp_path):
    for name in ("layers.py", "tests/test_activations.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"))
    page = tmp_path / "page.md"
    page.write_text(
        "Run `python -m pytest tests/test_layers.py::test_no_such_test` and\n"
        "tests/test_layers.py::test_dense_gradients_with_all_regularisers.\n"
        "[`Dense`](layers.py) [`Dense.backward`](layers.py) [`Dense.parameters`](layers.py)\n"
        "[`Dense.no_such_method`](layers.py) [`NoSuchLayer`](layers.py#L1)\n"
        "[`test_relu_values_and_gradient_at_zero`](tests/test_activations.py)\n"
        "[`test_gone`](tests/test_activations.py) [layers.py](layers.py)\n")
    assert missing_names(page) == [
        "tests/test_layers.py::test_no_such_test",
        "Dense.no_such_method in layers.py",
        "NoSuchLayer in layers.py#L1",
        "test_gone in tests/test_activations.py",
    ]


def test_a_quoted_run_without_its_mark_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "One machine's runs.\n\n<!-- measured: python main.py -->\n```\n$ python main.py\n"
        "completed: 10/10 epochs in 0.1 s; training accuracy 0.9\n```\n\nAnd again:\n\n"
        "```\ncompleted: 10/10 epochs in 0.1 s; training accuracy 0.9\n```\n"
        "\n```\npython main.py --epochs 10\n```\n")
    assert unmarked_runs(page) == ["page.md line 11"]
