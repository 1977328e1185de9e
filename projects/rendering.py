"""Safe rendering of untrusted text (model output, imported data, guidelines) as markdown.

markdown-it-py parses with raw HTML *disabled* (HTML in the source is shown as text), Pygments
highlights fenced code, and nh3 (ammonia) sanitises the result against an allow-list, so no
script, event handler, ``javascript:`` URL, iframe, form or style attribute survives.

Images are never loaded: a markdown image becomes the placeholder ``[image: <alt text>]`` (a
span, no ``src``), so untrusted text cannot make an annotator's browser fetch a URL of its choice
(a tracking pixel that reports who reads what, and when). The CSP's ``img-src 'self' data:``
would block other sites too; this holds without it.

A fenced block becomes one ``<pre class="highlight"><code>`` with Pygments' token spans
inside: the highlighter returns the whole block, and markdown-it uses output that starts with
``<pre`` as is instead of wrapping it in a second ``<pre><code>`` (nested ``<pre>`` is invalid).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from html import escape
from typing import Any

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

_ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "span",
}  # fmt: skip
# Classes only where this module's own markup puts them: the code block and Pygments' tokens.
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "pre": {"class"},
    "span": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
# nowrap: only the token spans; _highlight writes the one <pre><code> around them.
_FORMATTER = HtmlFormatter(nowrap=True)


@lru_cache(maxsize=64)
def _lexer(lang: str) -> Lexer:
    # Looking a lexer up by name scans Pygments' registry (~0.3 ms); a lexer keeps no state between
    # texts, so one per language name is reused.
    try:
        return get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        return TextLexer()


def _highlight(code: str, lang: str, _attrs: str) -> str:
    lexer = _lexer(lang)
    # Starts with "<pre": markdown-it uses it as the whole block. The language name (untrusted)
    # is not echoed into the markup.
    return f'<pre class="highlight"><code>{highlight(code, lexer, _FORMATTER)}</code></pre>'


def _image_placeholder(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return (
        f'<span class="image-placeholder">[image: {escape(alt)}]</span>'
        if alt
        else '<span class="image-placeholder">[image]</span>'
    )


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_placeholder)
    return md


# Rendered texts are kept per process: an item is shown to ``overlap`` annotators, again on every
# reload, and its context is often shared by many items (one prompt, many response pairs). Parsing,
# highlighting and sanitising cost milliseconds; a lookup costs microseconds. Only texts up to
# _CACHED_CHARS are kept, so the cache stays within a few tens of megabytes.
_CACHED_CHARS = 16_384


def render_markdown(text: str) -> SafeString:
    text = text or ""
    if len(text) <= _CACHED_CHARS:
        return _render_cached(text)
    return _render(text)


@lru_cache(maxsize=2048)
def _render_cached(text: str) -> SafeString:
    return _render(text)


def _render(text: str) -> SafeString:
    html = _parser().render(text)
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 — nh3 output is sanitised against the allow-list above
