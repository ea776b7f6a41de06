#!/usr/bin/env python3
"""Jumps through the bastion the way paramiko users do: a direct-tcpip channel on the bastion
connection carries a second Transport to the target. Prints the command's output and exits with
its status.

usage: paramiko_jump.py BASTION_PORT KNOWN_HOSTS KEY LOGIN TARGET COMMAND
"""
import sys

import paramiko

import bastion_login


def main() -> int:
    port, known_hosts, key_path, login, target, command = sys.argv[1:7]
    key = paramiko.Ed25519Key.from_private_key_file(key_path)
    bastion = bastion_login.connect(port, known_hosts, key)
    tunnel = bastion.get_transport().open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0))
    inner = paramiko.SSHClient()
    inner.load_host_keys(known_hosts)  # the inner host key, listed under the target's name
    inner.set_missing_host_key_policy(paramiko.RejectPolicy())
    inner.connect(target, username=login, pkey=key, sock=tunnel,
                  allow_agent=False, look_for_keys=False, timeout=10)
    _, stdout, stderr = inner.exec_command(command)
    out = stdout.read()
    status = stdout.channel.recv_exit_status()
    sys.stdout.write(out.decode())
    sys.stderr.write(stderr.read().decode())
    inner.close()
    bastion.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
