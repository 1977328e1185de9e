"""Browser crawl shared by the XSS and CSP suites: every page a role can open, loaded in Chromium
with everything that would show script running or a policy broken watched."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import User
from django.test import Client
from django.urls import resolve, reverse
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Request

from tests.factories import PASSWORD
from tests.security.test_idor_matrix import Route, url_for, walk
from tests.security.world import World

# Pages a browser cannot "open": downloads, JSON, the admin (staff only), logging out.
NOT_PAGES = ("exports:export_file", "annotation:import_report_file", "logout", "password_change_done")

# Defines the function every payload calls, counts its calls, and records CSP violations. Runs
# before any script of the page.
WATCH = """
window.__xss = 0;
window.xss = function () { window.__xss += 1; };
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || ''));
});
"""

DOM_CHECK = (Path(__file__).parent / "dom_check.js").read_text()


@dataclass
class Visit:
    role: str
    url: str
    status: int
    text: str = ""
    executed: int = 0
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    dom: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


def page_urls(world: World) -> list[str]:
    """Every HTML page of the site for ``world``: the resolver's GET-able routes, ids filled in."""
    urls = []
    for route in walk():
        if route.name.startswith(("admin:", "api-")) and route.name != "api-docs":
            continue
        if route.name in NOT_PAGES:
            continue
        if route.kwargs:
            urls.append(url_for(route, world))
            # The same page for the other stream (dynamic or static) and the failed export.
            if "stream_id" in route.kwargs:
                other = world.dynamic_stream if f"/{world.stream.pk}/" in urls[-1] else world.stream
                kwargs = dict(resolve(urls[-1]).kwargs)
                kwargs["stream_id"] = other.pk
                urls.append(reverse(route.name, kwargs=kwargs))
            if "export_id" in route.kwargs:
                urls.append(urls[-1].replace(f"/{world.export.pk}/", f"/{world.failed_export.pk}/"))
        else:
            urls.append(reverse(route.name))
    return sorted(set(urls))


def routes_crawled() -> list[Route]:
    return [r for r in walk() if not r.name.startswith("admin:") and r.name not in NOT_PAGES]


def openable(user: User, urls: list[str]) -> list[str]:
    """The URLs that answer ``user`` with an HTML page (200): asked through Django's test client
    first, so the browser is not sent to 403/404/405s, redirects and downloads."""
    client = Client()
    client.force_login(user)
    found = []
    for url in urls:
        response = client.get(url)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            found.append(url)
    return found


def signed_in_context(browser: Browser, base_url: str, user: User, *, bypass_csp: bool = False) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", bypass_csp=bypass_csp)
    context.set_default_timeout(15_000)
    context.add_init_script(WATCH)
    page = context.new_page()
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    page.close()
    return context


def visit_all(context: BrowserContext, base_url: str, role: str, urls: list[str]) -> list[Visit]:
    """Opens each URL in one page of ``context``; returns what each showed (200s only: pages the
    role may not open answer 403/404/405 and render no user text)."""
    page: Page = context.new_page()
    current: dict[str, Visit] = {}

    def on_dialog(dialog: Dialog) -> None:
        current["visit"].dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        # Chromium asks for /favicon.ico by itself on pages without an icon link (the admin's).
        if message.type in ("error", "warning") and not where.endswith("/favicon.ico"):
            current["visit"].console.append(f"{message.text} ({where})")

    def on_request(request: Request) -> None:
        if not request.url.startswith(base_url) and not request.url.startswith(("data:", "about:")):
            current["visit"].external.append(request.url)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: current["visit"].console.append(f"pageerror: {exc}"))
    page.on("request", on_request)
    page.on(
        "response",
        lambda response: (
            current["visit"].console.append(f"HTTP {response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    visits = []
    for url in urls:
        visit = current["visit"] = Visit(role=role, url=url, status=0)
        response = page.goto(base_url + url, wait_until="load")
        visit.status = response.status if response is not None else 0
        if visit.status != 200:
            continue
        page.wait_for_timeout(30)  # autofocus/onfocus, srcdoc frames and animation starts fire now
        visit.executed = int(page.evaluate("window.__xss"))
        visit.violations = list(page.evaluate("window.__csp"))
        visit.dom = list(page.evaluate(DOM_CHECK))
        # The page's text (closed <details> included) and its form fields' values (edit forms).
        visit.text = str(
            page.evaluate(
                "document.body.textContent + ' ' + Array.from(document.querySelectorAll('input, textarea'))"
                ".map((e) => e.value).join(' ')"
            )
        )
        visits.append(visit)
    page.close()
    return visits
