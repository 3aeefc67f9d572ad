"""Native Python capability providers: HTTP server, logging, key-value, messaging."""
