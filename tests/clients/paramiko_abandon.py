#!/usr/bin/env python3
"""Jumps that give up half way, as paramiko's Channel.close() or a killed ControlMaster does: the
direct-tcpip channel gets EOF and CLOSE while the inner SSH handshake is still running, before the
inner authentication ends. Each abandoned hop is done ROUNDS times after the client's banner only,
and ROUNDS times after the inner key exchange; then one real jump on the same bastion connection
must still work. Prints its output and exits with its status.

usage: paramiko_abandon.py BASTION_PORT KNOWN_HOSTS KEY LOGIN TARGET ROUNDS
"""
import sys
import time

import paramiko

import bastion_login


def abandon_after_banner(bastion, target):
    tunnel = bastion.open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0))
    tunnel.sendall(b"SSH-2.0-abandoning\r\n")
    tunnel.close()


def abandon_after_key_exchange(bastion, target, known_hosts):
    tunnel = bastion.open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0))
    inner = paramiko.Transport(tunnel)
    inner.start_client(timeout=10)
    key = inner.get_remote_server_key()
    if known_hosts.lookup(target) is None or key.get_base64() not in [
            k.get_base64() for k in known_hosts.lookup(target).values()]:
        raise RuntimeError("the inner host key is not the one known for " + target)
    tunnel.close()  # EOF and CLOSE, with no authentication sent
    inner.close()


def main() -> int:
    port, known_hosts_path, key_path, login, target, rounds = sys.argv[1:7]
    key = paramiko.Ed25519Key.from_private_key_file(key_path)
    known_hosts = paramiko.HostKeys(known_hosts_path)
    bastion = bastion_login.connect(port, known_hosts_path, key)
    transport = bastion.get_transport()
    for _ in range(int(rounds)):
        abandon_after_banner(transport, target)
        abandon_after_key_exchange(transport, target, known_hosts)
    time.sleep(0.5)  # let the bastion handle the last close before the real jump

    tunnel = transport.open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0))
    inner = paramiko.SSHClient()
    inner.load_host_keys(known_hosts_path)
    inner.set_missing_host_key_policy(paramiko.RejectPolicy())
    inner.connect(target, username=login, pkey=key, sock=tunnel,
                  allow_agent=False, look_for_keys=False, timeout=10)
    _, stdout, _ = inner.exec_command("echo still-serving")
    sys.stdout.write(stdout.read().decode())
    status = stdout.channel.recv_exit_status()
    inner.close()
    bastion.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
