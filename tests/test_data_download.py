"""Downloads against a real HTTP server on 127.0.0.1: verified, atomic, retryable."""
import io
import os
import tarfile

import numpy as np
import pytest
from data_fixtures import LocalServer, cifar_archive, md5, mnist_files, write_cifar_folder

from nnplug import data
from nnplug.data.fetch import ChecksumError, DownloadError
from nnplug_std.datasets.idx import load_idx_dataset


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def archive(tmp_path_factory):
    return cifar_archive(str(tmp_path_factory.mktemp("archive")))


def test_a_good_archive_installs_and_loads(server, archive, tmp_path):
    content, (x_train, _, x_test, _) = archive
    url = server.serve("/cifar-10-python.tar.gz", content)
    root = tmp_path / "cifar"
    d = data.load("cifar10", root=str(root), download=True, url=url, md5=md5(content), normalize="none", val_size=10)
    np.testing.assert_array_equal(d["X_test"], x_test.reshape(-1, 3, 32, 32))
    assert sorted(os.listdir(tmp_path)) == ["cifar"]  # no temporary file or folder left beside it
    assert "data_batch_5" in os.listdir(root)


def test_a_corrupted_archive_fails_its_checksum_and_leaves_nothing(server, archive, tmp_path):
    content = bytearray(archive[0])
    content[len(content) // 2] ^= 0xFF
    url = server.serve("/cifar-10-python.tar.gz", bytes(content))
    expected = md5(archive[0])
    with pytest.raises(ChecksumError) as error:
        data.load("cifar10", root=str(tmp_path / "cifar"), download=True, url=url, md5=expected)
    message = str(error.value)
    assert url in message and f"expected MD5 {expected}" in message and f"got {md5(bytes(content))}" in message
    assert os.listdir(tmp_path) == []


def test_an_interrupted_transfer_leaves_nothing_and_a_retry_succeeds(server, archive, tmp_path):
    content = archive[0]
    url = server.serve("/cifar-10-python.tar.gz", content, cut=len(content) // 3)
    root = str(tmp_path / "cifar")
    with pytest.raises(DownloadError, match=rf"could not download {url}: the transfer was cut off after "
                                            rf"{len(content) // 3} of {len(content)} bytes"):
        data.load("cifar10", root=root, download=True, url=url, md5=md5(content))
    assert os.listdir(tmp_path) == []

    server.serve("/cifar-10-python.tar.gz", content)
    d = data.load("cifar10", root=root, download=True, url=url, md5=md5(content), val_size=10)
    assert d["X_train"].shape == (40, 3, 32, 32)
    assert os.listdir(tmp_path) == ["cifar"]


def test_an_archive_escaping_its_folder_is_refused(server, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        payload = b"escaped"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    content = buffer.getvalue()
    url = server.serve("/evil.tar.gz", content)
    target = tmp_path / "inside"
    target.mkdir()
    with pytest.raises(DownloadError, match=r"cannot extract .*evil\.tar\.gz"):
        data.load("cifar10", root=str(target / "cifar"), download=True, url=url, md5=md5(content))
    assert os.listdir(target) == [] and not (tmp_path / "escaped.txt").exists()


def test_nothing_is_fetched_when_the_folder_is_complete(tmp_path):
    root = tmp_path / "cifar"
    write_cifar_folder(root)
    # port 9 (discard) on localhost: any attempt to download would fail
    d = data.load("cifar10", root=str(root), download=True, url="http://127.0.0.1:9/x.tar.gz", val_size=10)
    assert d["X_train"].shape == (40, 3, 32, 32)


def test_mnist_files_download_and_verify_one_by_one(server, tmp_path):
    files, arrays = mnist_files()
    for name, content in files.items():
        server.serve(f"/mnist/{name}", content)
    d = data.load("mnist", root=str(tmp_path / "mnist"), download=True, url=server.url + "/mnist/",
                  md5={name: md5(content) for name, content in files.items()}, val_size=5, normalize="none")
    np.testing.assert_array_equal(d["X_test"][:, 0], arrays["t10k-images-idx3-ubyte.gz"])
    assert sorted(os.listdir(tmp_path / "mnist")) == sorted(files)


def test_mirrors_are_tried_in_turn(server, tmp_path):
    files, _ = mnist_files()
    for name, content in files.items():
        server.serve(f"/good/{name}", content)
    root = str(tmp_path / "mnist")
    raw = load_idx_dataset("MNIST", root, True, [server.url + "/gone/", server.url + "/good/"],
                           {name: md5(content) for name, content in files.items()}, list("0123456789"))
    assert raw["X_train"].shape == (30, 1, 28, 28)


def test_all_mirrors_failing_names_each_url(server, tmp_path):
    files, _ = mnist_files()
    bad = {name: "0" * 32 for name in files}
    for name, content in files.items():
        server.serve(f"/a/{name}", content)
    with pytest.raises(DownloadError, match=r"no mirror could provide train-images-idx3-ubyte\.gz: .*/a/.*expected MD5 0{32}.*/b/.*404"):
        load_idx_dataset("MNIST", str(tmp_path / "m"), True, [server.url + "/a/", server.url + "/b/"], bad, [])
    assert os.listdir(tmp_path / "m") == []
