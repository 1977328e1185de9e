"""The browser suites use the shared ``browser`` fixture (tests/browser.py, registered in
tests/conftest.py): one Playwright per process."""
