"""Unit tests: one module at a time (images, the Hub loader, face finding), no models loaded."""
