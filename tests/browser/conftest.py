"""Browser tests: headless Chromium (Debian's, driven by Playwright) against the running system.

One web process (uvicorn, the ASGI app, so the live stream is real), one relay and one worker
serve the whole directory; each test gets committed data of its own (a transactional database,
an empty outbox and broker) and signs its people in with real sessions. A failing test leaves
a screenshot of every page it opened in its log directory (the path is printed). With
FERRY_SCREENSHOTS=1 the tests also write the README's screenshots to docs/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.accounts.models import User
from tests.helpers.mail import MailServer, mail_server_fixture  # noqa: F401  # the SMTP server fixture
from tests.helpers.people import ensure_role_groups
from tests.helpers.processes import ROOT, processes, start_relay, start_web, start_worker
from tests.helpers.web import cookies_of

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1360, "height": 900}
# Expectations wait this long by default (a grade or a solve on a busy two-core machine).
EXPECT_TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Under make test's pytest-xdist, every browser test runs on one worker (tests/conftest.py,
    # pytest_xdist_make_scheduler): one stack and one Chromium at a time, beside the end to end tests.
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@dataclass(frozen=True)
class Stack:
    url: str
    log_dir: Path
    mail: MailServer  # where the worker sends mail (invitations, password resets)


def only_one_worker_runs_browser_tests(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Under make test's `--dist loadgroup` every browser test belongs to one worker
    (tests/conftest.py); a second worker starting a stack means that grouping broke."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or not getattr(config.option, "loadgroup", False):
        return
    claim = tmp_path_factory.getbasetemp().parent / "browser-tests-worker"  # shared by the run's workers
    try:
        with claim.open("x") as file:
            file.write(worker)
    except FileExistsError:
        owner = claim.read_text()
        if owner != worker:
            pytest.fail(f"browser tests ran on {owner} and {worker}: they must share one worker")


@pytest.fixture(scope="package")
def stack(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, mail_server: MailServer,
          pytestconfig: pytest.Config) -> Iterator[Stack]:
    """Web, relay and a worker (the solver at its default 10 s, so pages and the README's
    screenshots show the plans `make up` gives; mail to a real SMTP server) for every browser
    test; stopped after the last of them (package scope), so they never consume the events of
    later tests."""
    only_one_worker_runs_browser_tests(pytestconfig, tmp_path_factory)
    log_dir = tmp_path_factory.mktemp("browser-stack")
    web, url = start_web(log_dir)
    with processes(web):
        relay = start_relay(log_dir)
        with processes(relay):
            worker = start_worker(log_dir, OPTIMIZE_TIME_LIMIT_S="10", EMAIL_PORT=str(mail_server.port),
                                  EMAIL_HOST="127.0.0.1", FERRY_BASE_URL=url)
            with processes(worker):
                yield Stack(url, log_dir, mail_server)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module.

    Playwright's sync API keeps an event loop in this thread while it is open; Django would
    then refuse the tests' own (synchronous, sequential) database work as if it came from async
    code, so that check is off while the browser is, and only then.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--disable-dev-shm-usage", "--disable-gpu"])
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Where the test's screenshots go when it fails."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@dataclass
class Browsers:
    """Opens pages in browser contexts of their own (one per person), remembers them for the
    failure screenshots."""

    chromium: Any
    url: str
    pages: list[tuple[str, Any]] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    # What the browser refused under the Content-Security-Policy: any is a failure.
    csp_violations: list[str] = field(default_factory=list)

    def anonymous(self, name: str = "anonymous") -> Any:
        context = self.chromium.new_context(base_url=self.url, viewport=VIEWPORT)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: self._console(name, page, message))
        self.pages.append((name, page))
        return page

    def _console(self, name: str, page: Any, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"{name} on {page.url}: {message.text}")

    def signed_in(self, user: User) -> Any:
        """A page of `user`'s own browser, signed in with a real session."""
        page = self.anonymous(user.username)
        cookies = cookies_of(user)
        page.context.add_cookies([{"name": name, "value": value, "url": self.url} for name, value in cookies.items()])
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsers(stack: Stack, chromium: Any, outbox_db: None, broker: Any, log_dir: Path,
             request: pytest.FixtureRequest) -> Iterator[Browsers]:
    ensure_role_groups()
    opened = Browsers(chromium, stack.url)
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for name, page in opened.pages:
            path = log_dir / f"{request.node.name}-{name}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of {name}'s page ({page.url}): {path}")
            except Exception as exc:  # a closed page cannot be shot; the test's own error matters more
                print(f"\nno screenshot of {name}'s page: {exc}")
        print(f"web, relay and worker logs: {stack.log_dir}")
    opened.close()
    if report is not None and report.passed and opened.csp_violations:
        pytest.fail("the browser refused content under the Content-Security-Policy:\n"
                    + "\n".join(opened.csp_violations))


def readme_screenshot(page: Any, name: str) -> None:
    """docs/screenshots/<name>.png of the page as it is now, when FERRY_SCREENSHOTS=1."""
    if os.environ.get("FERRY_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
