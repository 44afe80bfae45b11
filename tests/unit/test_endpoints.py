"""--listen / --upstream parsing: every accepted form, and every error names the fix."""

from __future__ import annotations

import pytest

from proxy.relay.endpoints import (
    AddressError,
    ExecAddress,
    SshAddress,
    StdioAddress,
    TcpAddress,
    UnixAddress,
    is_loopback_host,
    parse_listen,
    parse_metrics_addr,
    parse_upstream,
)

# -- accepted forms -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "allow_remote", "want"),
    [
        ("stdio", False, StdioAddress()),
        ("unix:/tmp/muxscope.sock", False, UnixAddress("/tmp/muxscope.sock")),
        ("unix:relative/p.sock", False, UnixAddress("relative/p.sock")),
        ("unix:/tmp/with:colon.sock", False, UnixAddress("/tmp/with:colon.sock")),
        ("tcp:127.0.0.1:7000", False, TcpAddress("127.0.0.1", 7000)),
        ("tcp:127.1.2.3:0", False, TcpAddress("127.1.2.3", 0)),
        ("tcp:localhost:65535", False, TcpAddress("localhost", 65535)),
        ("tcp:[::1]:7000", False, TcpAddress("::1", 7000)),
        ("tcp:0.0.0.0:7000", True, TcpAddress("0.0.0.0", 7000)),
        ("tcp:[::]:7000", True, TcpAddress("::", 7000)),
        ("tcp:example.com:7000", True, TcpAddress("example.com", 7000)),
        ("ssh:127.0.0.1:2222", False, SshAddress("127.0.0.1", 2222)),
        ("ssh:0.0.0.0:2222", True, SshAddress("0.0.0.0", 2222)),
    ],
)
def test_parse_listen_forms(spec, allow_remote, want):
    got = parse_listen(spec, allow_remote)
    assert got == want
    # str() is the canonical spelling and parses back to the same address
    # (SshAddress prints in the ssh://HOST:PORT form of --upstream)
    if not isinstance(got, SshAddress):
        assert parse_listen(str(got), allow_remote) == got


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("unix:/run/user/1000/wezterm/sock", UnixAddress("/run/user/1000/wezterm/sock")),
        ("tcp:127.0.0.1:7000", TcpAddress("127.0.0.1", 7000)),
        # upstreams may be anywhere: no loopback rule
        ("tcp:10.0.0.5:7000", TcpAddress("10.0.0.5", 7000)),
        ("tcp:mux.example.com:7000", TcpAddress("mux.example.com", 7000)),
        ("tcp:[fe80::1]:7000", TcpAddress("fe80::1", 7000)),
        ("exec:wezterm cli proxy", ExecAddress(("wezterm", "cli", "proxy"))),
        ("exec:ssh myhost wezterm cli --prefer-mux proxy",
         ExecAddress(("ssh", "myhost", "wezterm", "cli", "--prefer-mux", "proxy"))),
        ("exec:sh -c 'echo a b; exec cat'", ExecAddress(("sh", "-c", "echo a b; exec cat"))),
        ("exec:/opt/my\\ tools/peer --x", ExecAddress(("/opt/my tools/peer", "--x"))),
        ("ssh://host", SshAddress("host", None, None)),
        ("ssh://me@host", SshAddress("host", None, "me")),
        ("ssh://me@host:2222", SshAddress("host", 2222, "me")),
        ("ssh://host:22", SshAddress("host", 22, None)),
        ("ssh://me@[::1]:2222", SshAddress("::1", 2222, "me")),
        ("ssh://a@b@host", SshAddress("host", None, "a@b")),
    ],
)
def test_parse_upstream_forms(spec, want):
    got = parse_upstream(spec)
    assert got == want
    assert parse_upstream(str(got)) == got


def test_loopback_hosts():
    for host in ("localhost", "127.0.0.1", "127.255.0.9", "::1"):
        assert is_loopback_host(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.example.com", ""):
        assert not is_loopback_host(host), host


def test_tcp_address_str_brackets_ipv6():
    assert str(TcpAddress("::1", 7)) == "tcp:[::1]:7"
    assert str(TcpAddress("127.0.0.1", 7)) == "tcp:127.0.0.1:7"
    assert TcpAddress("::1", 7).is_loopback and not TcpAddress("10.1.1.1", 7).is_loopback


# -- errors: each names the problem and the fix -------------------------------------

LISTEN_ERRORS = [
    # (spec, allow_remote, words that must appear: the problem and the fix)
    ("", False, ["expected", "unix:PATH", "tcp:HOST:PORT", "stdio"]),
    ("/tmp/sock", False, ["expected", "unix:PATH", "tcp:HOST:PORT", "stdio"]),
    ("STDIO", False, ["expected", "stdio"]),
    ("udp:127.0.0.1:7000", False, ["unknown kind 'udp'", "unix:PATH", "tcp:HOST:PORT"]),
    ("exec:cat", False, ["unknown kind 'exec'", "unix:PATH"]),
    ("unix:", False, ["needs a path", "unix:/tmp/muxscope.sock"]),
    ("tcp:", False, ["expected HOST:PORT", "127.0.0.1:7000"]),
    ("tcp:7000", False, ["expected HOST:PORT", "127.0.0.1:7000"]),
    ("tcp::7000", False, ["expected HOST:PORT", "127.0.0.1:7000"]),
    ("tcp:127.0.0.1:", False, ["port", "not a number"]),
    ("tcp:127.0.0.1:http", False, ["port 'http' is not a number"]),
    ("tcp:127.0.0.1:70000", False, ["70000", "out of range 0-65535"]),
    ("tcp:127.0.0.1:-1", False, ["out of range 0-65535"]),
    ("tcp:[::1]7000", False, ["expected [IPV6]:PORT"]),
    ("tcp:[::1", False, ["expected [IPV6]:PORT"]),
    ("tcp:0.0.0.0:7000", False, ["not a loopback address", "unauthenticated", "127.0.0.1", "--allow-remote"]),
    ("tcp:[::]:7000", False, ["not a loopback address", "--allow-remote"]),
    ("tcp:192.168.1.4:7000", False, ["not a loopback address", "--allow-remote"]),
    ("tcp:example.com:7000", False, ["not a loopback address", "--allow-remote"]),
    ("ssh:0.0.0.0:2222", False, ["not a loopback address", "--allow-remote"]),
    ("ssh:2222", False, ["expected HOST:PORT"]),
]


@pytest.mark.parametrize(("spec", "allow_remote", "words"), LISTEN_ERRORS)
def test_parse_listen_errors(spec, allow_remote, words):
    with pytest.raises(AddressError) as info:
        parse_listen(spec, allow_remote)
    msg = str(info.value)
    assert "\n" not in msg
    assert "--listen" in msg, msg  # names the option at fault
    for w in words:
        assert w in msg, (w, msg)


def test_allow_remote_does_not_excuse_a_bad_port():
    with pytest.raises(AddressError, match="out of range"):
        parse_listen("tcp:0.0.0.0:99999", allow_remote=True)


UPSTREAM_ERRORS = [
    ("", ["expected", "unix:PATH", "tcp:HOST:PORT", "exec:COMMAND", "ssh://"]),
    ("/run/wezterm/sock", ["expected", "unix:PATH", "exec:COMMAND"]),
    ("stdio", ["expected", "unix:PATH", "exec:COMMAND"]),
    ("ssh:host:22", ["unknown kind 'ssh'", "ssh://[USER@]HOST[:PORT]"]),
    ("http://host:80", ["unknown kind 'http'", "unix:PATH"]),
    ("unix:", ["needs the mux server's socket path"]),
    ("tcp:7000", ["expected HOST:PORT", "127.0.0.1:7000"]),
    ("tcp:host:port", ["port 'port' is not a number"]),
    ("tcp:host:65536", ["out of range 0-65535"]),
    ("exec:", ["needs a command", "exec:ssh host wezterm cli proxy"]),
    ("exec:   ", ["needs a command", "exec:ssh host wezterm cli proxy"]),
    ("exec:ssh 'host", ["cannot split the command", "No closing quotation"]),
    ("ssh://", ["expected ssh://[USER@]HOST[:PORT]"]),
    ("ssh://me@", ["expected ssh://[USER@]HOST[:PORT]"]),
    ("ssh://host:ssh", ["port 'ssh' is not a number"]),
    ("ssh://host:99999", ["out of range 0-65535"]),
]


@pytest.mark.parametrize(("spec", "words"), UPSTREAM_ERRORS)
def test_parse_upstream_errors(spec, words):
    with pytest.raises(AddressError) as info:
        parse_upstream(spec)
    msg = str(info.value)
    assert "\n" not in msg
    assert "--upstream" in msg, msg
    for w in words:
        assert w in msg, (w, msg)


def test_address_error_is_a_value_error():
    # the CLI turns ValueError into one line on stderr; AddressError must be one
    assert issubclass(AddressError, ValueError)


# -- --metrics HOST:PORT (the same host/port rules) ------------------------


def test_parse_metrics_addr_forms():
    assert parse_metrics_addr("127.0.0.1:9464", False) == ("127.0.0.1", 9464)
    assert parse_metrics_addr("localhost:0", False) == ("localhost", 0)
    assert parse_metrics_addr("[::1]:9464", False) == ("::1", 9464)
    assert parse_metrics_addr("0.0.0.0:9464", True) == ("0.0.0.0", 9464)


@pytest.mark.parametrize(
    ("spec", "allow_remote", "words"),
    [
        ("9464", False, ["expected HOST:PORT", "127.0.0.1:9464"]),
        (":9464", False, ["expected HOST:PORT", "127.0.0.1:9464"]),
        ("127.0.0.1:abc", False, ["port 'abc' is not a number"]),
        ("127.0.0.1:99999", False, ["out of range 0-65535"]),
        ("0.0.0.0:9464", False, ["not loopback", "--allow-remote"]),
    ],
)
def test_parse_metrics_addr_errors(spec, allow_remote, words):
    with pytest.raises(AddressError) as info:
        parse_metrics_addr(spec, allow_remote)
    msg = str(info.value)
    assert "--metrics" in msg
    for w in words:
        assert w in msg, (w, msg)
