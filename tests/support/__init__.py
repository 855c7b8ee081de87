"""What the tests (and the docs' examples that need a Hub) use beside the library, never installed: a local
Hub API server (``hub_server``), tiny random model repos for it (``tiny_repos``) and the straightforward
LEAD that the fast path is checked against (``lead_reference``). Run the server from the checkout:
``python -m tests.support.hub_server --tiny-models``."""
