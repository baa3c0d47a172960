"""Browser tests: the app in headless Chromium (marked browser; skip with -m \"not browser\")."""
