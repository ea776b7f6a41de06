"""The outer login to the bastion that the paramiko clients share: user alice with her key,
the bastion's host key checked against KNOWN_HOSTS (never trusted on first use)."""
import paramiko


def connect(port, known_hosts_path, key):
    bastion = paramiko.SSHClient()
    bastion.load_host_keys(known_hosts_path)
    bastion.set_missing_host_key_policy(paramiko.RejectPolicy())
    bastion.connect("127.0.0.1", port=int(port), username="alice", pkey=key,
                    allow_agent=False, look_for_keys=False, timeout=10)
    return bastion
