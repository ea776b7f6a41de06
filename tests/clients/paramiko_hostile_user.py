#!/usr/bin/env python3
"""Offers KEY to the bastion as the user name USER_HEX (hex of its UTF-8 bytes, which may hold
newlines, ESC and bidirectional controls that OpenSSH's client would refuse to send). Prints
"refused" when the bastion refuses it, as it must: no such user exists.

usage: paramiko_hostile_user.py BASTION_PORT KNOWN_HOSTS KEY USER_HEX
"""
import sys

import paramiko


def main() -> int:
    port, known_hosts_path, key_path, user_hex = sys.argv[1:5]
    user = bytes.fromhex(user_hex).decode("utf-8")
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts_path)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect("127.0.0.1", port=int(port), username=user,
                       pkey=paramiko.Ed25519Key.from_private_key_file(key_path),
                       allow_agent=False, look_for_keys=False, timeout=10)
        print("accepted")
    except paramiko.AuthenticationException:
        print("refused")
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
