"""Fetch a published file or archive with pooch, so that its destination is complete and verified, or absent.

pooch downloads into a temporary file beside the destination, checks the published MD5 and only
then moves it into place; a failed checksum, a dropped connection or an interrupt removes the
temporary file. An archive is then extracted into a temporary folder beside its destination and
renamed into place, so a half-extracted folder never looks like a data set either. Running again
retries from scratch.
"""
import os
import re
import shutil
import sys
import tarfile
import tempfile
from contextlib import contextmanager

TIMEOUT = 60  # seconds without an answer before a download gives up


class DownloadError(RuntimeError):
    """A download could not be completed; nothing was installed."""


class ChecksumError(DownloadError):
    """The downloaded bytes are not the published ones."""


def fetch_file(url, dest, md5):
    """Download ``url`` to the file ``dest`` after verifying its MD5; return ``dest``.

    Raises ``ChecksumError`` for other bytes than the published ones and ``DownloadError`` for a
    transfer that failed; either way ``dest`` is left as it was.
    """
    import pooch  # on first download only: the command line does not pay for it

    dest = os.path.abspath(dest)
    with _quiet(pooch):
        try:
            pooch.retrieve(url, known_hash=f"md5:{md5}", fname=os.path.basename(dest), path=os.path.dirname(dest),
                           downloader=pooch.HTTPDownloader(timeout=TIMEOUT, progressbar=sys.stderr.isatty()))
        except ValueError as exc:  # pooch's checksum mismatch
            found = re.search(r"but got (\w+)", str(exc))
            raise ChecksumError(f"checksum mismatch for {url}: expected MD5 {md5}, got "
                                f"{found.group(1) if found else 'other bytes'}; nothing was installed") from None
        except Exception as exc:  # noqa: BLE001  requests' and the OS's errors: refused, timed out, cut off
            raise DownloadError(f"could not download {url}: {_reason(exc)}; nothing was installed") from None
    return dest


def fetch_archive(url, dest_dir, md5):
    """Download the tar archive at ``url``, verify its MD5 and install its one top-level folder as
    ``dest_dir``; return ``dest_dir``. Nothing is left behind when any step fails."""
    parent = os.path.dirname(os.path.abspath(dest_dir))
    made = not os.path.isdir(parent)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(dest_dir)}.", suffix=".part", dir=parent)
    installed = False
    try:
        archive = fetch_file(url, os.path.join(work, "archive"), md5)
        extracted = os.path.join(work, "extracted")
        try:
            with tarfile.open(archive) as tar:
                # the "data" filter refuses absolute paths, links out of the folder and device files
                tar.extractall(extracted, filter="data")
        except tarfile.TarError as exc:
            raise DownloadError(f"cannot extract {url}: {exc}") from exc
        entries = os.listdir(extracted)
        if len(entries) != 1 or not os.path.isdir(os.path.join(extracted, entries[0])):
            raise DownloadError(f"archive {url} should hold exactly one top-level folder, found {sorted(entries)}")
        try:
            os.replace(os.path.join(extracted, entries[0]), dest_dir)
        except OSError as exc:
            raise DownloadError(f"cannot install {url} as {dest_dir}: {exc.strerror}; remove that folder "
                                f"(it must be absent or empty) and run again") from None
        installed = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if made and not installed:
            os.rmdir(parent)  # made for this download, and empty again
    return dest_dir


@contextmanager
def _quiet(pooch):
    """Without pooch's "Downloading data from ..." lines: the progress bar, or an error, says enough."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(exc):
    """The innermost cause in one line ("[Errno 111] Connection refused", "404 Client Error: ...")."""
    while exc.__context__ is not None and not str(exc):
        exc = exc.__context__
    text = " ".join(str(exc).split()) or type(exc).__name__
    cut = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", text)
    if cut:
        read, more = int(cut.group(1)), int(cut.group(2))
        return f"the transfer was cut off after {read} of {read + more} bytes"
    host = re.search(r"NameResolutionError\(.*?host='([^']+)'", text) or re.search(r"host='([^']+)'.*Failed to resolve", text)
    if host:
        return f"cannot resolve {host.group(1)} (no network, or an unknown host)"
    refused = re.search(r"\[Errno \d+\] [^'\")]+", text)
    return refused.group(0).strip() if refused else text if len(text) <= 200 else text[:197] + "..."
