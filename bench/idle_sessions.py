#!/usr/bin/env python3
"""Holds N idle `-J` sessions open through the bastion, each an authenticated inner connection
with a shell-like command waiting on the target, from one process (asyncssh), as N users leaving
their terminals open would. Prints "ready N" once all are open, then holds them until SIGTERM.

usage: idle_sessions.py BASTION_PORT KNOWN_HOSTS KEY LOGIN TARGET N
"""
import asyncio
import resource
import signal
import sys

import asyncssh


async def open_one(port, known_hosts, key, login, target):
    outer = await asyncssh.connect("127.0.0.1", port=port, username="alice", client_keys=[key],
                                   known_hosts=known_hosts, agent_path=None, config=None)
    inner = await asyncssh.connect(target, username=login, client_keys=[key],
                                   known_hosts=known_hosts, agent_path=None, config=None,
                                   tunnel=outer)
    process = await inner.create_process("cat")  # waits for input, like an idle shell
    return outer, inner, process


async def main() -> int:
    port, known_hosts, key, login, target, count = sys.argv[1:7]
    count = int(count)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sessions = []
    for start in range(0, count, 50):  # in waves, as users arrive
        wave = [open_one(int(port), known_hosts, key, login, target)
                for _ in range(min(50, count - start))]
        sessions.extend(await asyncio.gather(*wave))
    print(f"ready {len(sessions)}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for outer, inner, process in sessions:
        process.stdin.write_eof()
        inner.close()
        outer.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
