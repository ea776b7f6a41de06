#!/usr/bin/env python3
"""A light SSH target for bench/idle: one asyncssh process that holds many sessions, where
10,000 sshd processes would not fit the machine. It behaves like a production target where that
matters to the bastion: it accepts only LOGIN, only with the keys in AUTHORIZED_KEYS, and runs
every command as a `cat > /dev/null` that ends at EOF. Prints "listening" once it accepts.

usage: light_target.py PORT HOST_KEY AUTHORIZED_KEYS LOGIN
"""
import asyncio
import resource
import signal
import sys
import warnings

warnings.simplefilter("ignore")  # asyncssh imports ciphers that cryptography calls deprecated
import asyncssh  # noqa: E402


class Server(asyncssh.SSHServer):
    def __init__(self, login, keys):
        self._login = login
        self._keys = keys

    def begin_auth(self, username):
        return True  # authentication is always required

    def public_key_auth_supported(self):
        return True

    def validate_public_key(self, username, key):
        return username == self._login and key.public_data in self._keys


async def hold(process):
    """Reads the session's input until EOF, as `cat > /dev/null` would."""
    try:
        while await process.stdin.read(65536):
            pass
    except (asyncssh.Error, OSError):
        pass
    process.exit(0)


async def main() -> int:
    port, host_key, authorized, login = sys.argv[1:5]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    keys = {k.public_data for k in asyncssh.load_public_keys(authorized)}
    server = await asyncssh.listen(
        "127.0.0.1", int(port), server_host_keys=[host_key], backlog=4096,
        server_factory=lambda: Server(login, keys), process_factory=hold, encoding=None,
        keepalive_interval=0, login_timeout=120)
    print("listening", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
