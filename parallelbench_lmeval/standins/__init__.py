"""Small stand-ins of the real architectures, for offline tests (see each module)."""
