#!/usr/bin/env python3
"""Asks one bastion connection for destinations it refuses, one direct-tcpip channel after the
other, up to TRIES times, reading each refusal to its end; then opens one to TARGET, which it may
reach. Prints how many refusals the bastion opened a channel for (each carries its reason),
whether the connection is still up, and what TARGET's channel starts with; exits 0.

usage: paramiko_refused.py BASTION_PORT KNOWN_HOSTS KEY TRIES TARGET
"""
import sys

import paramiko

import bastion_login


def main() -> int:
    port, known_hosts_path, key_path, tries, target = sys.argv[1:6]
    key = paramiko.Ed25519Key.from_private_key_file(key_path)
    bastion = bastion_login.connect(port, known_hosts_path, key)
    transport = bastion.get_transport()
    opened = 0
    for i in range(int(tries)):
        try:
            tunnel = transport.open_channel("direct-tcpip", ("nowhere-%d" % i, 22),
                                            ("127.0.0.1", 0), timeout=10)
        except paramiko.ChannelException:
            continue  # refused at the open: no channel
        except (paramiko.SSHException, EOFError, OSError):
            break
        opened += 1
        tunnel.settimeout(10)
        try:
            while tunnel.recv(4096):
                pass
            tunnel.close()
        except (OSError, EOFError):
            break  # the bastion closed the connection under this channel
    print("opened %d, connection %s" % (opened, "up" if transport.is_active() else "down"))
    try:
        tunnel = transport.open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0), timeout=10)
        tunnel.settimeout(10)
        first = tunnel.recv(8)
        print("then %s: %s" % (target, "SSH banner" if first == b"SSH-2.0-" else repr(first)))
    except (paramiko.SSHException, EOFError, OSError) as e:
        print("then %s: %s" % (target, type(e).__name__))
    bastion.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
