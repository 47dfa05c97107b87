"""The attention views in a real browser: headless Chromium driven by Playwright, every network
request refused. bertviz's head and model views draw once the bridge has inlined their libraries
(installed from npm into a temporary folder for the test), stay empty without it, and the
course's explorer redraws when the head changes.

Needs Debian's ``chromium`` and the ``playwright`` package (``.ci/run`` installs both); skipped
where either is missing, unless ``COURSE_REQUIRE_BROWSER=1`` (set in CI), where it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from course_utils.viz import attention as A

REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]", "it", "slept", "[SEP]"]


def unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (COURSE_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        unavailable("no chromium on this machine (apt install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def libraries(tmp_path_factory) -> Path:
    """The three libraries from npm (the test's only download), or from COURSE_JS_DIR."""
    given = os.environ.get(A.LIBRARY_FOLDER_VARIABLE)
    if given:
        try:
            A.find_libraries(given)
            return Path(given)
        except FileNotFoundError:
            pass
    if shutil.which("npm") is None:
        unavailable("npm is needed to fetch require.js, d3 and jQuery for the test")
    folder = tmp_path_factory.mktemp("js")
    command = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder),
               *(package for package, _ in A.LIBRARIES.values())]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        unavailable(f"npm install failed: {result.stderr[-500:]}")
    A.find_libraries(folder)
    return folder


@pytest.fixture
def open_page(browser, tmp_path):
    """Write an HTML fragment to a file and open it with every non-file request refused; the
    refused addresses and the page's JavaScript errors are recorded on the page object."""
    pages = []

    def open_(fragment: str):
        path = tmp_path / f"page{len(pages)}.html"
        path.write_text(f"<!doctype html><html><body>{fragment}</body></html>", encoding="utf-8")
        page = browser.new_page()
        page.refused, page.errors = [], []
        page.on("pageerror", lambda error: page.errors.append(str(error)))

        def refuse(route):
            if route.request.url.startswith("file:"):
                return route.continue_()
            page.refused.append(route.request.url)
            return route.abort()

        page.route("**/*", refuse)
        page.goto(path.as_uri())
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def weights():
    torch.manual_seed(0)
    return torch.softmax(torch.randn(2, 4, len(TOKENS), len(TOKENS)) * 2, -1)


def test_head_view_draws_its_attention_lines_offline(open_page, libraries, weights):
    page = open_page(A.head_view(weights, TOKENS, sentence_b_start=5, library_folder=libraries).data)
    page.wait_for_selector("svg line", state="attached", timeout=15_000)
    assert page.locator("svg line").count() >= len(TOKENS) ** 2  # one line per pair, per head shown
    assert page.locator("select#layer option").count() == 2
    assert page.refused == [] and page.errors == []


def test_model_view_draws_every_head_offline(open_page, libraries, weights):
    page = open_page(A.model_view(weights, TOKENS, library_folder=libraries).data)
    page.wait_for_selector("svg", state="attached", timeout=15_000)
    page.wait_for_function("document.querySelectorAll('svg line').length > 0", timeout=15_000)
    assert page.refused == [] and page.errors == []


def test_without_the_bridge_the_view_is_empty_offline(open_page, weights):
    page = open_page(A.head_view(weights, TOKENS, offline=False).data)
    page.wait_for_timeout(1_500)
    assert any("cdnjs.cloudflare.com" in url for url in page.refused)  # it tried the CDN
    assert page.locator("select#layer option").count() == 0  # the student's empty "Layer" dropdown
    assert page.locator("svg line").count() == 0


def test_the_explorer_changes_its_picture_with_the_head(open_page, weights):
    page = open_page(A.explorer_html([("first", TOKENS, weights), ("second", TOKENS, weights.flip(-1))]))
    root = ".course-attention-explorer"
    page.wait_for_function(f"document.querySelector('{root}').dataset.drawn === '0/0/1'")
    picture = lambda: page.evaluate(f"document.querySelector('{root} canvas').toDataURL()")  # noqa: E731
    head_1 = picture()
    page.select_option(f"{root} select.head", "2")
    head_2 = picture()
    page.select_option(f"{root} select.head", "0")
    grid = picture()
    page.select_option(f"{root} select.sample", "1")
    other_sentence = picture()
    assert len({head_1, head_2, grid, other_sentence}) == 4
    assert page.evaluate(f"document.querySelector('{root}').dataset.drawn") == "1/0/0"
    assert page.locator(f"{root} select.head option").count() == 1 + 4  # all heads, then each head
    assert page.refused == [] and page.errors == []
