"""The HTML report is a jinja2 template with autoescaping on: whatever the crawl or a user put in a report (a URL,
a dataset name, page text, a removed span) shows as text, never as markup. Checked by parsing the page the way a
browser's tokenizer does (html.parser) and listing every element and attribute it holds."""
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

from corpus import report

# What a hostile page or a careless --reference NAME=PATH could carry: a script, an element with an event
# handler, quotes that would close an attribute, and an ampersand that would start an entity.
HOSTILE_URL = 'https://evil.example/?q="><script>alert(1)</script>&amp=1'
HOSTILE_NAME = 'wiki<script>alert("name")</script>&co'
HOSTILE_TEXT = '</p><img src=x onerror="alert(2)"> Tom & "Jerry" <b>'

# The elements and attributes the template itself writes; anything else on the page was injected.
TEMPLATE_ELEMENTS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "p", "code",
                     "section", "table", "tr", "th", "td", "div", "img", "b", "br", "small", "ul", "li"}
TEMPLATE_ATTRIBUTES = {"lang", "charset", "id", "class", "alt", "src"}


class Page(HTMLParser):
    """Every element (tag, attributes) and the text of a page, after entity decoding."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.elements, self.texts = [], []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def assert_no_injected_markup(page: Page):
    tags = {tag for tag, _ in page.elements}
    assert tags <= TEMPLATE_ELEMENTS, tags - TEMPLATE_ELEMENTS
    attributes = {name for _, attrs in page.elements for name in attrs}
    assert attributes <= TEMPLATE_ATTRIBUTES, attributes - TEMPLATE_ATTRIBUTES
    assert all(attrs["src"].startswith("data:image/png;base64,") for tag, attrs in page.elements if tag == "img")


def write_reports(out: Path, reports: dict[str, object]):
    (out / "reports").mkdir(parents=True, exist_ok=True)
    for name, content in reports.items():
        (out / "reports" / name).write_text(json.dumps(content))


def test_the_check_sees_markup_that_is_not_escaped():
    """The parser check above can fail: the same strings written raw inject a script and an event handler."""
    page = Page(f"<p>{HOSTILE_NAME} {HOSTILE_TEXT}</p>")
    tags = {tag for tag, _ in page.elements}
    assert "script" in tags and {"onerror"} <= {name for _, attrs in page.elements for name in attrs}


def test_hostile_strings_in_the_funnel_and_mixture_show_as_text(tmp_path):
    """Two plot-free sections: a drop reason and a dataset name, a note and a warning from the reports."""
    out = tmp_path / "OUT<&>"
    funnel = [{"stage": "extract", "in": 10, "out": 7, "dropped": {HOSTILE_NAME: 3}, "unit": "WARC records"}]
    mixture = {"budget_tokens": 1_220_204, "note": HOSTILE_TEXT, "source": HOSTILE_URL, "warnings": [HOSTILE_TEXT],
               "datasets": [{"dataset": HOSTILE_NAME, "documents": 3, "epochs": None, "paper": None,
                             "train_tokens": 31_158, "val_tokens": 766, "weight": 1.0}]}
    write_reports(out, {"funnel.json": funnel, "mixture.json": mixture})
    page = Page(report.write_report(out).read_text())
    assert_no_injected_markup(page)
    assert [attrs["id"] for tag, attrs in page.elements if tag == "section"] == ["funnel", "mixture"]
    for shown in (f"{HOSTILE_NAME} 3", HOSTILE_URL, HOSTILE_TEXT, "1,220,204 tokens", "31,158", "100.0%",
                  str(out.resolve())):
        assert shown in page.text, shown


def test_an_out_without_reports_is_a_page_without_sections(tmp_path):
    page = Page(report.write_report(tmp_path).read_text())
    assert [tag for tag, _ in page.elements if tag == "section"] == []
    assert "GPT-3 corpus report" in page.text


def _make_hostile(reports: Path):
    """The demo's own reports with hostile strings where the crawl or the user puts text."""
    def edit(name, change):
        content = json.loads((reports / name).read_text())
        change(content)
        (reports / name).write_text(json.dumps(content))

    def quality(q):
        q["classifier"]["source"] = HOSTILE_TEXT
        q["resampling"]["examples"]["kept"][0]["url"] = HOSTILE_URL

    def dedup(d):
        d["datasets"][HOSTILE_NAME] = d["datasets"].pop("common_crawl")
        member = d["clusters"][0]["members"][0]
        member.update(url=HOSTILE_URL, text=HOSTILE_TEXT, dataset=HOSTILE_NAME)
        d["clusters"][0]["kept"] = HOSTILE_NAME

    def contamination(c):
        c["datasets"][HOSTILE_NAME] = c["datasets"].pop("common_crawl")
        c["spans"].insert(0, {"matched": HOSTILE_NAME, "url": HOSTILE_URL, "before": HOSTILE_TEXT,
                              "match": "<script>alert(3)</script>", "after": '" & done'})

    def mixture(m):
        m["datasets"][0]["dataset"] = HOSTILE_NAME
        m["warnings"].append(HOSTILE_TEXT)
    for name, change in (("quality.json", quality), ("dedup.json", dedup), ("contamination.json", contamination),
                         ("mixture.json", mixture)):
        edit(name, change)


def test_hostile_strings_in_every_stage_report_show_as_text(demo_run, tmp_path):
    """The demo run's real reports (every stage section), with URLs, dataset names, page text and a removed span
    replaced by markup: the page holds only the template's own elements, and shows each string as written."""
    out = tmp_path / "out"
    shutil.copytree(demo_run["out"] / "reports", out / "reports")
    _make_hostile(out / "reports")
    page = Page(report.write_report(out).read_text())
    assert_no_injected_markup(page)
    assert [attrs["id"] for tag, attrs in page.elements if tag == "section"] == \
        ["funnel", "quality", "dedup", "contamination", "mixture"]
    cluster_size = json.loads((out / "reports" / "dedup.json").read_text())["clusters"][0]["size"]
    for shown in (HOSTILE_URL, HOSTILE_NAME, HOSTILE_TEXT, f"{HOSTILE_NAME} in {HOSTILE_URL}: …{HOSTILE_TEXT}",
                  '<script>alert(3)</script>" & done…', f"Cluster of {cluster_size} (kept {HOSTILE_NAME})"):
        assert shown in page.text, shown
