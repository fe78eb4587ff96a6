"""Every number in the book's hand-written prose can be checked: results come from records (the
generated pages), a paper's numbers and our settings from the papers' files; commands and
settings are written as code, formulas as math. A number typed anywhere else is an error."""

import re
from pathlib import Path

import pytest

from glitchbook import intervals

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![\w.,])(\d[\d,]*\.\d+|\d[\d,]*(?:\.\d+)?\s?%)")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*(.*)$")


def without_code_blocks(text: str) -> str:
    """`text` without its fenced code blocks; a directive's fence (`{solution}`, say) keeps
    its content, which is prose."""
    kept, fences = [], []  # the open fences: (marker, holds code)
    for line in text.splitlines():
        found = FENCE.match(line.strip())
        if found and fences and not found[2] and found[1].startswith(fences[-1][0]):
            fences.pop()
        elif found:
            info = found[2]
            fences.append((found[1], not info.startswith("{") or info.startswith(
                ("{code", "{math"))))
        elif not any(code for _, code in fences):
            kept.append(line)
    return "\n".join(kept)


def prose(text: str) -> str:
    """`text` without what is not prose: code blocks (not directives such as a solution),
    indented code, inline code, math, link targets, HTML comments, directive options."""
    text = without_code_blocks(text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", "", text)
    text = re.sub(r"`[^`\n]+`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.M)  # indented code
    return re.sub(r"^:[\w-]+:.*$", "", text, flags=re.M)


def value(token: str) -> float:
    """A number as written ('0.35', '35 %', '1,200.5') as a fraction where it is a share."""
    number = float(token.rstrip("% ").replace(",", ""))
    return number / 100 if token.endswith("%") else number


def backed(page: Path) -> set[float]:
    """The numbers a reader of `page` can find in its paper's file (the paper's numbers, our
    settings and departures; none for a page of no paper), and the level of every interval."""
    found = {intervals.LEVEL}
    paper = ROOT / "lib/glitchbook/papers" / f"{page.parent.name}.yaml"
    if paper.exists():
        text = paper.read_text()
        found |= {round(value(t), 6) for t in NUMBER.findall(text)}
        found |= {round(float(t), 6) for t in re.findall(r"(?<![\w.])\d+\.\d+", text)}
    return found


def unbacked(text: str, allowed: set[float]) -> list[str]:
    return [t for t in NUMBER.findall(prose(text)) if round(value(t), 6) not in allowed]


def test_the_rule_catches_a_typed_number_and_lets_code_and_math_pass():
    allowed = {0.5}
    assert unbacked("CLSVAE reaches an AVPR of 0.93 on 35 % corruption.", allowed) == [
        "0.93", "35 %"]
    assert unbacked("Run with `-p rate=0.02`, where $\\sigma = 0.2$; chance is 0.5.",
                    allowed) == []
    assert unbacked("````{solution} ex-1\nIt scores 0.81.\n````\n", allowed) == ["0.81"]
    assert unbacked("```{exercise}\nTry.\n```\n\n```{solution}\nIt is 0.9.\n```\n",
                    allowed) == ["0.9"]
    assert unbacked("```bash\nglitchbook run -p corruption=0.15\n```\n", allowed) == []


@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "book").rglob(
    "*.md") if not {"runs", "published"} & set(p.relative_to(ROOT / "book").parts)))
def test_no_number_in_the_prose_that_no_record_backs(page):
    assert unbacked((ROOT / page).read_text(), backed(ROOT / page)) == []
