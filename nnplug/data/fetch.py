"""Fetch a published file or archive so that its destination is either complete and verified or absent.

Everything is written under a temporary name in the destination's own folder (so the final
``os.replace`` is an atomic rename on one file system), checked against the published MD5 and only
then moved into place. A failed checksum, a dropped connection or an interrupt removes the temporary
files and leaves the destination untouched, so simply running again retries from scratch.
"""
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request

from tqdm import tqdm

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download could not be completed; nothing was installed."""


class ChecksumError(DownloadError):
    """The downloaded bytes are not the published ones."""


def fetch_file(url, dest, md5, *, timeout=60):
    """Download ``url`` to the file ``dest`` after verifying its MD5; return ``dest``."""
    parent = _parent_of(dest)
    fd, part = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".part", dir=parent)
    try:
        with os.fdopen(fd, "wb") as out:
            _check_md5(url, md5, _stream(url, out, timeout))
        os.replace(part, dest)
    except BaseException:  # including KeyboardInterrupt: never leave a partial file behind
        os.unlink(part)
        raise
    return dest


def fetch_archive(url, dest_dir, md5, *, timeout=60):
    """Download the tar archive at ``url``, verify its MD5 and install its one top-level folder as
    ``dest_dir``; return ``dest_dir``."""
    parent = _parent_of(dest_dir)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(dest_dir)}.", suffix=".part", dir=parent)
    try:
        archive = os.path.join(work, "archive")
        with open(archive, "wb") as out:
            _check_md5(url, md5, _stream(url, out, timeout))
        extracted = os.path.join(work, "extracted")
        try:
            with tarfile.open(archive) as tar:
                # The "data" filter refuses absolute paths, links out of the folder and device files.
                tar.extractall(extracted, filter="data")
        except tarfile.TarError as exc:
            raise DownloadError(f"cannot extract {url}: {exc}") from exc
        top = _single_folder(extracted, url)
        try:
            os.replace(top, dest_dir)
        except OSError as exc:
            raise DownloadError(
                f"cannot install {url} as {dest_dir}: {exc.strerror}; "
                "remove that folder (it must be absent or empty) and run again"
            ) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest_dir


def _parent_of(path):
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return parent


def _stream(url, out, timeout):
    """Copy ``url`` into the open file ``out`` with a progress bar; return the MD5 hex digest."""
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.length  # None when the server does not say
            # disable=None: a bar on a terminal, silence in logs and pipes.
            with tqdm(total=length, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=os.path.basename(url), disable=None) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
        raise DownloadError(f"could not download {url}: {exc}") from exc
    # http.client returns a short body without complaint when the connection drops early.
    if length is not None and received != length:
        raise DownloadError(f"transfer of {url} was cut off after {received} of {length} bytes")
    return digest.hexdigest()


def _check_md5(url, expected, actual):
    if actual != expected.lower():
        raise ChecksumError(
            f"checksum mismatch for {url}: expected MD5 {expected}, got {actual}; nothing was installed"
        )


def _single_folder(extracted, url):
    entries = os.listdir(extracted)
    if len(entries) != 1 or not os.path.isdir(os.path.join(extracted, entries[0])):
        raise DownloadError(f"archive {url} should hold exactly one top-level folder, found {sorted(entries)}")
    return os.path.join(extracted, entries[0])
