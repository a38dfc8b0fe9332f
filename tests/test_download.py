"""The DAVIS download helper (scoretutor.download) against a local HTTP server on loopback.

The server (http.server in a thread, 127.0.0.1, a random port) serves a small zip in the DAVIS
layout and understands ``Range`` requests; it can cut a response short to simulate a dropped
connection. Nothing here reaches the internet.
"""
import hashlib
import http.server
import io
import socket
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from scoretutor.cli import main as cli_main
from scoretutor.data import download


def davis_zip(top="DAVIS", sequences=("bear", "boat"), frames=11) -> bytes:
    """A small zip laid out like the official archive: ``DAVIS/JPEGImages/480p/<seq>/00000.jpg ...``."""
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/ImageSets/2017/train.txt", "\n".join(sequences[:-1]) + "\n")
        for name in sequences:
            for t in range(frames):
                jpg = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(jpg, "JPEG")
                zf.writestr(f"{top}/JPEGImages/480p/{name}/{t:05d}.jpg", jpg.getvalue())
    return buf.getvalue()


PAYLOAD = davis_zip()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """Serves ``files`` (path → bytes). ``cut_after``: bytes sent in the next ``cuts`` responses before
    the connection is dropped (the full Content-Length is announced). ``honour_range=False`` ignores Range."""

    def __init__(self, files):
        self.files, self.requests = dict(files), []
        self.cut_after, self.cuts, self.honour_range = None, 0, True
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                owner.requests.append((self.path, self.headers.get("Range")))
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                rng = self.headers.get("Range")
                if rng and owner.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                body = data[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if owner.cuts > 0:
                    owner.cuts -= 1
                    self.wfile.write(body[: owner.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    s = Server({"/DAVIS-2017-trainval-480p.zip": PAYLOAD, "/notdavis.zip": None})
    yield s
    s.close()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


FAST = dict(retry_wait=0, timeout=10, progress=False, allow_insecure=True)  # the loopback server is plain http
UNPINNED = dict(sha256=None, size=None)  # the defaults pin the official archive, which this server does not hold


def test_download_verifies_and_extracts(server, tmp_path, capsys):
    dest = tmp_path / "davis"
    root = download.download_davis(
        dest, url=server.url + "/DAVIS-2017-trainval-480p.zip", sha256=SHA, size=len(PAYLOAD), **FAST
    )
    assert root == dest / "DAVIS-2017-trainval-480p"
    assert len(list((root / "JPEGImages" / "480p" / "boat").glob("*.jpg"))) == 11
    assert (root / "ImageSets" / "2017" / "train.txt").read_text() == "bear\n"
    assert leftovers(dest) == ["DAVIS-2017-trainval-480p"]  # no archive, no .part, no temp folder
    n = len(server.requests)
    assert download.download_davis(dest, url=server.url + "/DAVIS-2017-trainval-480p.zip", **FAST) == root
    assert len(server.requests) == n  # already there: no network


def test_without_expected_checksum_it_is_printed(server, tmp_path, capsys):
    path = download.fetch(server.url + "/DAVIS-2017-trainval-480p.zip", tmp_path / "a.zip", **FAST)
    assert path.read_bytes() == PAYLOAD
    assert SHA in capsys.readouterr().out


def test_dropped_connection_is_resumed_with_range(server, tmp_path):
    server.cut_after, server.cuts = 1000, 1
    path = download.fetch(
        server.url + "/DAVIS-2017-trainval-480p.zip", tmp_path / "a.zip", sha256=SHA, retries=2, **FAST
    )
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [None, "bytes=1000-"]
    assert leftovers(tmp_path) == ["a.zip"]


def test_part_file_survives_a_failed_call_and_the_next_call_resumes(server, tmp_path):
    url = server.url + "/DAVIS-2017-trainval-480p.zip"
    server.cut_after, server.cuts = 700, 1
    with pytest.raises(ConnectionError, match="Are you offline.*700 bytes.*SCORETUTOR_DAVIS_ROOT"):
        download.fetch(url, tmp_path / "a.zip", sha256=SHA, retries=0, **FAST)
    assert leftovers(tmp_path) == ["a.zip.part"]
    assert (tmp_path / "a.zip.part").read_bytes() == PAYLOAD[:700]
    download.fetch(url, tmp_path / "a.zip", sha256=SHA, retries=0, **FAST)
    assert server.requests[-1][1] == "bytes=700-"
    assert leftovers(tmp_path) == ["a.zip"] and (tmp_path / "a.zip").read_bytes() == PAYLOAD


def test_server_that_ignores_range_restarts_cleanly(server, tmp_path):
    (tmp_path / "a.zip.part").write_bytes(b"x" * 500)  # stale bytes that must not be kept
    server.honour_range = False
    download.fetch(server.url + "/DAVIS-2017-trainval-480p.zip", tmp_path / "a.zip", sha256=SHA, **FAST)
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD


def test_complete_part_file_is_not_downloaded_again(server, tmp_path):
    (tmp_path / "a.zip.part").write_bytes(PAYLOAD)
    download.fetch(
        server.url + "/DAVIS-2017-trainval-480p.zip", tmp_path / "a.zip", sha256=SHA, size=len(PAYLOAD), **FAST
    )
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD and leftovers(tmp_path) == ["a.zip"]


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"checksum mismatch.*sha256 {SHA}, expected {wrong}"):
        download.download_davis(
            tmp_path / "davis", url=server.url + "/DAVIS-2017-trainval-480p.zip", sha256=wrong, size=None, **FAST
        )
    assert leftovers(tmp_path / "davis") == []
    # a corrupted resumed file fails the same way and is deleted too
    (tmp_path / "a.zip.part").write_bytes(b"\0" * 800)
    with pytest.raises(ValueError, match="checksum mismatch"):
        download.fetch(server.url + "/DAVIS-2017-trainval-480p.zip", tmp_path / "a.zip", sha256=SHA, **FAST)
    assert leftovers(tmp_path) == ["davis"]


def test_size_mismatch_is_caught_before_downloading(server, tmp_path):
    with pytest.raises(ValueError, match=f"offers {len(PAYLOAD)} bytes, expected size=123"):
        download.fetch(server.url + "/DAVIS-2017-trainval-480p.zip", tmp_path / "a.zip", size=123, **FAST)
    assert leftovers(tmp_path) == []


def test_offline_gives_manual_instructions(tmp_path):
    with socket.socket() as s:  # a port on loopback that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match="Are you offline.*by hand: download .*SCORETUTOR_DAVIS_ROOT"):
        download.download_davis(tmp_path / "davis", url=f"http://127.0.0.1:{port}/x.zip", retries=1, **FAST)
    assert leftovers(tmp_path / "davis") == []


def test_missing_file_on_the_server_is_not_retried(server, tmp_path):
    with pytest.raises(ConnectionError, match="HTTP 404"):
        download.fetch(server.url + "/nothing.zip", tmp_path / "a.zip", retries=3, **FAST)
    assert len(server.requests) == 1 and leftovers(tmp_path) == []


@pytest.mark.parametrize("content", ["not a zip", "zip without frames"])
def test_archive_that_is_not_davis_is_removed(server, tmp_path, content):
    if content == "not a zip":
        data = b"PK\3\4 definitely not a zip" * 20
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("readme.txt", "hello")
        data = buf.getvalue()
    server.files["/bad.zip"] = data
    with pytest.raises(ValueError, match="not a readable zip|no JPEGImages/480p"):
        download.download_davis(tmp_path / "davis", url=server.url + "/bad.zip", **UNPINNED, **FAST)
    assert leftovers(tmp_path / "davis") == []


def test_unsafe_member_paths_are_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../escape/JPEGImages/480p/a/00000.jpg", b"x")
    (tmp_path / "evil.zip").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="unsafe member path"):
        download.extract_zip(tmp_path / "evil.zip", tmp_path / "out")
    assert leftovers(tmp_path / "out") == [] and not (tmp_path / "escape").exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal"):
        download.fetch("http://127.0.0.1:9/x", tmp_path / "a", sha256="abc")
    with pytest.raises(ValueError, match="size must be"):
        download.fetch("http://127.0.0.1:9/x", tmp_path / "a", size=-1)


def test_main_downloads_and_says_where(server, tmp_path, capsys):
    url = server.url + "/DAVIS-2017-trainval-480p.zip"
    assert cli_main(["download", "--dest", str(tmp_path), "--url", url, "--sha256", SHA, "--size", str(len(PAYLOAD)),
                     "--allow-insecure", "--retry-wait", "0"]) == 0
    out = capsys.readouterr().out
    assert f"SCORETUTOR_DAVIS_ROOT={tmp_path / 'DAVIS-2017-trainval-480p'}" in out
    assert cli_main(["download", "--dest", str(tmp_path / "x"), "--url", url, "--sha256", "1" * 64,
                     "--size", str(len(PAYLOAD)), "--allow-insecure", "--retry-wait", "0"]) == 1
    assert "checksum mismatch" in capsys.readouterr().err  # errors go to stderr


def test_corrupted_member_fails_its_crc_check(tmp_path):
    """Without a pinned checksum the archive is still verified: every member's CRC-32 is checked
    while extracting, so a flipped byte is caught and nothing is left behind."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("DAVIS/JPEGImages/480p/a/00000.jpg", b"A" * 200)
    data = bytearray(buf.getvalue())
    data[data.index(b"A" * 200) + 100] = ord("B")
    (tmp_path / "flipped.zip").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a readable zip.*CRC"):
        download.extract_zip(tmp_path / "flipped.zip", tmp_path / "out")
    assert leftovers(tmp_path / "out") == []
