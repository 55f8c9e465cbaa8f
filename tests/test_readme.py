"""The README stays true: its feature table is the one the code renders."""

from __future__ import annotations

from pathlib import Path

from models.features import features_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_feature_table_given_code_definitions_returns_same_table() -> None:
    text = README.read_text()
    start = text.index("<!-- features-table:start -->") + len("<!-- features-table:start -->")
    end = text.index("<!-- features-table:end -->")

    assert text[start:end].strip() == features_markdown().strip()


def test_readme_given_make_targets_names_demo_and_test() -> None:
    text = README.read_text()
    makefile = (README.parent / "Makefile").read_text()

    for target in ("demo", "test", "dev", "bench"):
        assert f"make {target}" in text
        assert f"\n{target}:" in makefile
