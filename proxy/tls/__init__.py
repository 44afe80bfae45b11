"""TLS domains: muxscope's own CA and certificates (pki), the ssl contexts that check what WezTerm
checks (contexts), and their assembly for the proxy (setup). The transport is proxy.relay.sides.tls."""
