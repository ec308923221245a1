"""The read-only dashboard (#20, DESIGN §4.9): health, Prometheus metrics, a JSON API and the Mini App page."""
