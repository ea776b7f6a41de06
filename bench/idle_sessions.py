#!/usr/bin/env python3
"""Holds N idle `-J` sessions open through the bastion, each an authenticated inner connection
with a shell-like command waiting on the target, from one process (asyncssh), as N users leaving
their terminals open would. At each CHECKPOINT (and at N) it prints "ready K" and waits for
SIGUSR1 before it opens more, so that the caller can measure the bastion there; after N it holds
the sessions until SIGTERM.

usage: idle_sessions.py BASTION_PORT KNOWN_HOSTS KEY LOGIN TARGET N [CHECKPOINT...]
"""
import asyncio
import resource
import signal
import sys
import warnings

warnings.simplefilter("ignore")  # asyncssh imports ciphers that cryptography calls deprecated
import asyncssh  # noqa: E402


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
    checkpoints = sorted({int(c) for c in sys.argv[7:] if 0 < int(c) < count})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    resume = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, resume.set)
    sessions = []
    for stage in checkpoints + [count]:
        while len(sessions) < stage and not stop.is_set():  # in waves, as users arrive
            wave = [open_one(int(port), known_hosts, key, login, target)
                    for _ in range(min(50, stage - len(sessions)))]
            sessions.extend(await asyncio.gather(*wave))
        if stop.is_set():
            break
        print(f"ready {len(sessions)}", flush=True)
        if stage != count:  # on until SIGUSR1, or SIGTERM
            await asyncio.wait([asyncio.create_task(resume.wait()),
                                asyncio.create_task(stop.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            resume.clear()
    await stop.wait()
    for outer, inner, process in sessions:
        process.stdin.write_eof()
        inner.close()
        outer.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
