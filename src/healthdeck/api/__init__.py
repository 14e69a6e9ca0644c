"""The HTTP API of `healthdeck serve`: one process owns the store, ingests and answers reads.

Nothing here is imported by the CLI at start-up except `tokens`, which needs no web stack.
"""
