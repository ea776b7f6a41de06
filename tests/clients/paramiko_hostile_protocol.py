#!/usr/bin/env python3
"""Clients that break the SSH protocol on purpose, each on its own connection, case N from
address PREFIX + N (so that the penalties one case earns never refuse the next):

  success_before_auth     USERAUTH_SUCCESS from the client after the key exchange (the
                          CVE-2018-10933 class: a server that believed it would skip auth)
  channel_before_auth     CHANNEL_OPEN "session" before any authentication
  forward_before_auth     GLOBAL_REQUEST tcpip-forward before any authentication
  oversized_packet        one 1 MiB packet after the key exchange (SSH's limit is 256 KiB)
  malformed_userauth      USERAUTH_REQUEST whose user name claims 4 GiB (libssh drops it without
                          a reply: the connection ends at the login grace time)
  garbage_length          a version line, then a packet length of 0xFFFFFFFF (plain text)
  long_version_line       a 300-byte version line without CRLF, then 64 KiB of junk
  unknown_channel_after_auth  authenticated, then CHANNEL_DATA for a channel never opened

For each case it prints one line, "CASE: OUTCOME SECONDS", where OUTCOME is "closed" when the
bastion ended the connection after the hostile bytes were sent, or what went wrong ("channel
opened", "still open", "setup failed ..." when the connection broke before them). SECONDS run
from the hostile bytes. Data for a
channel that does not exist is a client's bug, not an attack, and may also be "ignored" (the
connection goes on, as the SSH spec allows). Exits 0 when every case ended as it should.

usage: paramiko_hostile_protocol.py PORT PREFIX KNOWN_HOSTS KEY TARGET   (PREFIX: "127.0.5.")
"""
import socket
import struct
import sys
import time

import paramiko
from paramiko.common import (cMSG_CHANNEL_DATA, cMSG_GLOBAL_REQUEST, cMSG_IGNORE,
                             cMSG_USERAUTH_REQUEST, cMSG_USERAUTH_SUCCESS)

WAIT = 15.0  # seconds the bastion gets to close a connection
SENT_AT = None  # when the current case sent its hostile bytes


def mark_sent():
    global SENT_AT  # pylint: disable=global-statement
    SENT_AT = time.monotonic()


def connect(port, source):
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=WAIT,
                                    source_address=(source, 0))
    return sock


def transport(port, source):
    t = paramiko.Transport(connect(port, source))
    t.start_client(timeout=WAIT)
    return t


def closed_within(t):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not t.is_active():
            return True
        time.sleep(0.02)
    return False


def send(t, *parts):
    m = paramiko.Message()
    for kind, value in parts:
        getattr(m, "add_" + kind)(value)
    # Marked first: the bastion may close the connection while a long packet is still being
    # written (it reads the length and stops there), and the write then fails under the client.
    mark_sent()
    t._send_message(m)  # pylint: disable=protected-access


def session_refused(t):
    """What came of asking for a session channel on unauthenticated `t`."""
    try:
        t.open_session(timeout=WAIT)
        return "channel opened"
    except (paramiko.SSHException, EOFError, OSError):
        pass
    return "closed" if closed_within(t) else "still open"


def success_before_auth(port, source, _args):
    t = transport(port, source)
    send(t, ("byte", cMSG_USERAUTH_SUCCESS))
    return session_refused(t)


def channel_before_auth(port, source, _args):
    t = transport(port, source)
    mark_sent()  # the CHANNEL_OPEN itself
    return session_refused(t)


def forward_before_auth(port, source, _args):
    t = transport(port, source)
    send(t, ("byte", cMSG_GLOBAL_REQUEST), ("string", "tcpip-forward"), ("boolean", True),
         ("string", "127.0.0.1"), ("int", 0))
    return "closed" if closed_within(t) else "still open"


def oversized_packet(port, source, _args):
    t = transport(port, source)
    send(t, ("byte", cMSG_IGNORE), ("string", b"x" * (1 << 20)))
    return "closed" if closed_within(t) else "still open"


def malformed_userauth(port, source, _args):
    t = transport(port, source)
    m = paramiko.Message()
    m.add_byte(cMSG_USERAUTH_REQUEST)
    m.add_bytes(struct.pack(">I", 0xFFFFFFF0) + b"alice")  # a length far past the packet's end
    mark_sent()
    t._send_message(m)  # pylint: disable=protected-access
    return "closed" if closed_within(t) else "still open"


def raw_closed_within(sock):
    sock.settimeout(WAIT)
    deadline = time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def garbage_length(port, source, _args):
    sock = connect(port, source)
    sock.sendall(b"SSH-2.0-hostile\r\n" + b"\xff\xff\xff\xff" + b"\x00" * 64)
    mark_sent()
    return "closed" if raw_closed_within(sock) else "still open"


def long_version_line(port, source, _args):
    sock = connect(port, source)
    mark_sent()
    try:
        sock.sendall(b"SSH-2.0-" + b"v" * 292 + b"z" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        return "closed"
    return "closed" if raw_closed_within(sock) else "still open"


def unknown_channel_after_auth(port, source, args):
    known_hosts_path, key_path, args_target = args
    sock = connect(port, source)
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts_path)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=int(port), username="alice", sock=sock,
                   pkey=paramiko.Ed25519Key.from_private_key_file(key_path),
                   allow_agent=False, look_for_keys=False, timeout=WAIT)
    t = client.get_transport()
    send(t, ("byte", cMSG_CHANNEL_DATA), ("int", 12345), ("string", b"to nowhere"))
    time.sleep(1)
    if not t.is_active():
        return "closed"
    # Still up: the connection must still work as one.
    t.open_channel("direct-tcpip", (args_target, 22), ("127.0.0.1", 0)).close()
    client.close()
    return "ignored"


CASES = [success_before_auth, channel_before_auth, forward_before_auth, oversized_packet,
         malformed_userauth, garbage_length, long_version_line, unknown_channel_after_auth]


def main():
    port, prefix = sys.argv[1:3]
    args = sys.argv[3:6]
    failures = 0
    global SENT_AT  # pylint: disable=global-statement
    for n, case in enumerate(CASES, start=1):
        started = time.monotonic()
        SENT_AT = None
        try:
            outcome = case(port, prefix + str(n), args)
        except paramiko.ChannelException as e:
            outcome = f"channel refused ({e})"  # on a connection that is still up
        except (paramiko.SSHException, EOFError, OSError) as e:
            if isinstance(e, socket.timeout):
                outcome = "timed out"
            elif SENT_AT is None:
                outcome = f"setup failed ({type(e).__name__}: {e})"
            else:
                outcome = "closed"  # the bastion ended the connection under the client's feet
        since = SENT_AT if SENT_AT is not None else started
        print(f"{case.__name__}: {outcome} {time.monotonic() - since:.2f}s", flush=True)
        failures += outcome not in ("closed", "ignored" if case is unknown_channel_after_auth else "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
