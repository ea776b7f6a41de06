#!/usr/bin/env python3
"""A slow disk: a FUSE file system that mirrors BACKING at MOUNTPOINT, with writes throttled to
RATE bytes per second (for the whole file system) and every fsync delayed by SYNC_MS. It runs in
the foreground until unmounted (fusermount -u MOUNTPOINT) or sent SIGTERM.

usage: slow_fs.py BACKING MOUNTPOINT RATE SYNC_MS
"""
import errno
import os
import sys
import threading
import time

from fusepy import FUSE, FuseOSError, Operations


class SlowPassthrough(Operations):
    def __init__(self, backing, rate, sync_ms):
        self.backing = backing
        self.rate = rate
        self.sync_s = sync_ms / 1000.0
        self.throttle = threading.Lock()

    def _path(self, path):
        return os.path.join(self.backing, path.lstrip("/"))

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO) from e

    def access(self, path, amode):
        if not os.access(self._path(path), amode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = self._call(os.lstat, self._path(path))
        return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode",
                                            "st_mtime", "st_nlink", "st_size", "st_uid")}

    def readdir(self, path, fh):
        return [".", ".."] + self._call(os.listdir, self._path(path))

    def statfs(self, path):
        st = self._call(os.statvfs, self._path(path))
        return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                            "f_favail", "f_ffree", "f_files", "f_flag",
                                            "f_frsize", "f_namemax")}

    def chmod(self, path, mode):
        return self._call(os.chmod, self._path(path), mode)

    def chown(self, path, uid, gid):
        return self._call(os.chown, self._path(path), uid, gid)

    def mkdir(self, path, mode):
        return self._call(os.mkdir, self._path(path), mode)

    def rmdir(self, path):
        return self._call(os.rmdir, self._path(path))

    def unlink(self, path):
        return self._call(os.unlink, self._path(path))

    def rename(self, old, new):
        return self._call(os.rename, self._path(old), self._path(new))

    def utimens(self, path, times=None):
        return self._call(os.utime, self._path(path), times)

    def open(self, path, flags):
        return self._call(os.open, self._path(path), flags)

    def create(self, path, mode, fi=None):
        uid, gid, _ = fuse_context()
        fd = self._call(os.open, self._path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        os.fchown(fd, uid, gid)  # as the caller would own it on a real disk
        return fd

    def read(self, path, size, offset, fh):
        return self._call(os.pread, fh, size, offset)

    def write(self, path, data, offset, fh):
        with self.throttle:
            time.sleep(len(data) / self.rate)
        return self._call(os.pwrite, fh, data, offset)

    def truncate(self, path, length, fh=None):
        if fh is not None:
            return self._call(os.ftruncate, fh, length)
        return self._call(os.truncate, self._path(path), length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        time.sleep(self.sync_s)
        return self._call(os.fdatasync if datasync else os.fsync, fh)

    def release(self, path, fh):
        return self._call(os.close, fh)


def fuse_context():
    from fusepy import fuse_get_context  # pylint: disable=import-outside-toplevel
    return fuse_get_context()


def main():
    backing, mountpoint, rate, sync_ms = sys.argv[1:5]
    FUSE(SlowPassthrough(os.path.realpath(backing), float(rate), float(sync_ms)), mountpoint,
         foreground=True, nothreads=False, allow_other=True, default_permissions=True)


if __name__ == "__main__":
    main()
