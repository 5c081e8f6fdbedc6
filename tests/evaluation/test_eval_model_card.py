"""Model cards: both renderings, self-contained HTML with no external links."""

import re

import numpy as np
import pytest

from karpa.evaluation.model_card import (
    Comparison,
    MetricEntry,
    ModelCard,
    to_html,
    to_markdown,
    write_model_card,
)
from karpa.evaluation.plots import reliability_diagram


@pytest.fixture
def card(tmp_path):
    rng = np.random.default_rng(0)
    figure = reliability_diagram(
        rng.dirichlet(np.ones(3), 100), rng.integers(0, 3, 100), tmp_path / "fig" / "rel.png"
    )
    return ModelCard(
        application="intent",
        model_name="karpa-intent",
        summary="Routes customer messages to one of 12 intents or <out-of-scope>.",
        details={"version": "3", "run_id": "abc123"},
        data={"train": 120, "test": 480, "labels per class": {"refund": 10, "track": 10}},
        metrics=[
            MetricEntry("accuracy", 0.812, 0.79, 0.833, "test split, 480 messages"),
            MetricEntry("ece", 0.041, protocol="15 bins | top class"),
        ],
        protocol={"oos_threshold": 0.42, "bootstrap": 2000},
        comparisons=[
            Comparison(
                "tfidf_logreg", "baseline", "accuracy", 0.556, 0.51, 0.60, 0.256, 0.21, 0.30
            ),
            Comparison("scratch", "ablation", "accuracy", 0.48),
        ],
        slices=[
            {
                "slice": "message_length",
                "bucket": "<=5",
                "n": 100,
                "metric": "accuracy",
                "value": 0.7,
                "low": 0.6,
                "high": 0.79,
            },
        ],
        figures={"Reliability diagram": figure},
        limits=["Trained on synthetic data | demo only."],
    )


def test_html_is_self_contained(card):
    page = to_html(card)
    assert page.startswith("<!DOCTYPE html>")
    assert "http" not in page.lower()
    assert "<link" not in page and "<script" not in page and "url(" not in page
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "&lt;out-of-scope&gt;" in page  # user text is escaped
    assert "0.8120" in page and "[0.7900, 0.8330]" in page
    assert "tfidf_logreg" in page and "ablation" in page and "message_length" in page


def test_markdown_has_every_section(card, tmp_path):
    text = to_markdown(card, base_dir=tmp_path)
    for heading in [
        "# Model card: intent",
        "## Data",
        "## Metrics",
        "## Baselines and ablation",
        "## Slices",
        "## Figures",
        "## Known limits",
        "## Evaluation protocol",
    ]:
        assert heading in text
    assert "](fig/rel.png)" in text
    assert "| ece | 0.0410 |  | 15 bins \\| top class |" in text  # a pipe cannot end a cell
    assert "- Trained on synthetic data | demo only." in text
    assert "intents or \\<out-of-scope>." in text  # not swallowed as an HTML tag
    assert "| <=5 |" in text
    assert "| accuracy | 0.8120 | [0.7900, 0.8330] | test split, 480 messages |" in text


def test_write_model_card_from_plain_dict(card, tmp_path):
    raw = {
        "application": "recommendation",
        "model_name": "karpa-rec",
        "metrics": [{"name": "hr@10", "value": 0.3, "low": 0.28, "high": 0.32}],
        "comparisons": [
            {"model": "popularity", "kind": "baseline", "metric": "hr@10", "value": 0.1}
        ],
    }
    paths = write_model_card(raw, tmp_path / "card")
    assert paths["markdown"].read_text().startswith("# Model card: recommendation")
    html_text = paths["html"].read_text()
    assert "popularity" in html_text and "None recorded." in html_text
    assert "Not provided." in html_text  # no slices given: said, not hidden
    assert sorted(p.name for p in (tmp_path / "card").iterdir()) == [
        "model_card.html",
        "model_card.md",
    ]


def test_bad_card_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        ModelCard.from_dict({"application": "x", "model_name": "y", "colour": "red"})
    missing = ModelCard("x", "y", figures={"plot": tmp_path / "nope.png"})
    with pytest.raises(FileNotFoundError):
        to_html(missing)


def test_hostile_values_are_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    figure = tmp_path / "f.png"
    figure.write_bytes(b"\x89PNG not really")
    card = ModelCard(
        application=evil,
        model_name=evil,
        summary=evil,
        details={evil: evil},
        data={evil: [evil]},
        metrics=[MetricEntry(evil, 0.5, protocol=evil)],
        comparisons=[Comparison(evil, evil, evil, 0.1)],
        slices=[{"slice": evil, "bucket": evil, "metric": evil, "value": 0.1}],
        figures={'" onerror="alert(1)': figure},
        limits=[evil],
    )
    page = to_html(card)
    assert "<script" not in page and '" onerror' not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 15
    assert 'alt="&#34; onerror=&#34;alert(1)"' in page  # an attribute cannot be broken out of
