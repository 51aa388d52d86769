"""Executors: where the same grade-one-submission step runs (this machine's pool of warm
sandboxed workers; more to come)."""
