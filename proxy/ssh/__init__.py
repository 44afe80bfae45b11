"""SSH transports with asyncssh: muxscope as the SSH server a domain dials, and as an SSH client upstream."""
