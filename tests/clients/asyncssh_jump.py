#!/usr/bin/env python3
"""Jumps through the bastion the way asyncssh users do: connect(..., tunnel=bastion). Prints the
command's output and exits with its status.

usage: asyncssh_jump.py BASTION_PORT KNOWN_HOSTS KEY LOGIN TARGET COMMAND
"""
import asyncio
import sys

import asyncssh


async def main() -> int:
    port, known_hosts, key_path, login, target, command = sys.argv[1:7]
    async with asyncssh.connect("127.0.0.1", port=int(port), username="alice",
                                client_keys=[key_path], known_hosts=known_hosts,
                                agent_path=None, config=None) as bastion:
        async with asyncssh.connect(target, username=login, client_keys=[key_path],
                                    known_hosts=known_hosts, agent_path=None, config=None,
                                    tunnel=bastion) as inner:
            result = await inner.run(command)
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            return result.exit_status


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(), 60)))
