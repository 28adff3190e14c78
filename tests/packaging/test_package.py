"""Install rules and the Debian package (docs/packaging.md).

`cmake --install` into an empty prefix lays out the binaries, the engine's headers and
libraries, the unit and the sample configuration; `cpack -G DEB` builds the package and
`dpkg -i` installs it on this machine (root only: CI runs as root on a throwaway machine;
`dpkg -P` removes it at the end); the unit passes `systemd-analyze verify`; the installed
server starts with the installed sample configuration and serves redis-cli.

CAIRN_BUILD_DIR: a configured and built tree (ctest sets it); the default is build/.
"""
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CAIRN_BUILD_DIR", os.path.join(ROOT, "build"))
READY = re.compile(r"ready: RESP on [^ ]+:(\d+), HTTP on [^ ]+:(\d+)")


def cache_value(name):
    """A variable of the build tree's CMakeCache.txt ("" if absent)."""
    for line in open(os.path.join(BUILD, "CMakeCache.txt")):
        if line.startswith(name + ":"):
            return line.split("=", 1)[1].strip()
    return ""


def run(*args, **kw):
    kw.setdefault("timeout", 240)
    proc = subprocess.run(list(args), capture_output=True, text=True, **kw)
    assert proc.returncode == 0, "%s failed (%d):\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


class Server:
    """cairn-server from an installed binary, on ports the kernel picks (never 7379/7380)."""

    def __init__(self, binary, datadir, extra, user=None):
        self.log = os.path.join(datadir + ".log")
        args = [binary, *extra, "--dir", datadir, "--port", "auto", "--http-port", "auto",
                "--io-threads", "1", "--wal-sync", "none"]
        if user is not None:
            # setpriv execs the server itself (runuser would stay its parent).
            args = ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"] + args
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            text = open(self.log, errors="replace").read()
            m = READY.search(text)
            if m:
                self.port, self.http_port = int(m.group(1)), int(m.group(2))
                return
            assert self.proc.poll() is None, "exited early:\n" + text
            assert time.monotonic() < deadline, "not ready:\n" + text
            time.sleep(0.05)

    def cli(self, *args):
        return run("redis-cli", "-p", str(self.port), *args, timeout=10).stdout.strip()

    def config(self):
        import redis
        return redis.Redis(port=self.port, decode_responses=True).config_get("*")

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(30) == 0, open(self.log).read()


def serves_with_sample_config(binary, config, user=None):
    """The installed server, with the installed config (dir and ports by flag), answers
    redis-cli; the sample config holds the defaults: CONFIG GET * is that of a server
    started without it."""
    tmp = tempfile.mkdtemp(prefix="cairn-pkg-", dir="/tmp")
    try:
        if user is not None:
            shutil.chown(tmp, user, user)
        s = Server(binary, os.path.join(tmp, "data"), ["--config", config], user)
        try:
            assert s.cli("PING") == "PONG"
            assert s.cli("SET", "greeting", "hello from the package") == "OK"
            assert s.cli("GET", "greeting") == "hello from the package"
            with_file = s.config()
        finally:
            s.stop()
        bare = Server(binary, os.path.join(tmp, "bare"), [], user)
        try:
            without = bare.config()
        finally:
            bare.stop()
        for name in ("dir", "port", "http-port"):  # set by flag, differently in each
            with_file.pop(name), without.pop(name)
        assert len(with_file) > 50
        assert with_file == without, {k: (with_file.get(k), without.get(k))
                                      for k in set(with_file) | set(without)
                                      if with_file.get(k) != without.get(k)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_sample_config_names_every_option():
    help_text = run(os.path.join(BUILD, "bin", "cairn-server"), "--help").stdout
    options = set(re.findall(r"^\s+--([a-z0-9-]+) TEXT", help_text, re.M)) - {"config"}
    sample = open(os.path.join(ROOT, "packaging", "cairn.toml")).read()
    keys = re.findall(r"^([a-z0-9-]+) = ", sample, re.M)
    assert len(keys) == len(set(keys)), "an option is set twice"
    assert options - set(keys) == set(), "options missing from packaging/cairn.toml"
    assert set(keys) - options == set(), "unknown options in packaging/cairn.toml"
    # Each one has a comment just above it.
    lines = sample.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z0-9-]+ = ", line):
            assert lines[i - 1].startswith("# "), line


def test_install_into_empty_prefix(tmp_path):
    prefix = tmp_path / "prefix"
    run("cmake", "--install", BUILD, "--prefix", str(prefix))
    for path in ["bin/cairn-server", "bin/cairn", "lib/libcairn_engine.a", "lib/libcairn_base.a",
                 "include/cairn/engine/db.h", "include/cairn/env.h", "lib/pkgconfig/cairn-engine.pc",
                 "lib/systemd/system/cairn.service", "etc/cairn/cairn.toml",
                 "share/doc/cairn/packaging.md"]:
        assert (prefix / path).is_file(), path
    assert os.access(prefix / "bin/cairn-server", os.X_OK)
    assert not (prefix / "bin/cairn-bench").exists()
    unit = (prefix / "lib/systemd/system/cairn.service").read_text()
    assert "ExecStart=%s/bin/cairn-server --config %s/etc/cairn/cairn.toml" % (prefix, prefix) in unit
    assert "@" not in re.sub(r"@[a-z-]+", "", unit), "an unsubstituted @VAR@ in the unit"
    version = run(str(prefix / "bin/cairn-server"), "--version").stdout
    assert version.startswith("cairn-server "), version

    # The engine as a library: a program built against the installed headers and archives.
    app = tmp_path / "app.cc"
    app.write_text("""
#include <cstdio>
#include "cairn/engine/db.h"
int main(int argc, char** argv) {
  auto db = cairn::engine::DB::Open(cairn::engine::Options(), argv[1]);
  if (!db.ok() || !(*db)->Put({}, "k", "installed").ok()) return 1;
  std::string v;
  if (!(*db)->Get({}, "k", &v).ok()) return 1;
  std::puts(v.c_str());
}
""")
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib/pkgconfig"))
    flags = run("pkg-config", "--cflags", "--libs", "cairn-engine", env=env).stdout.split()
    assert "-I%s/lib/pkgconfig/../../include" % prefix in flags, flags
    # The build's own compiler; a sanitized build's archives need its runtime.
    compiler = cache_value("CMAKE_CXX_COMPILER") or "c++"
    sanitize = cache_value("CAIRN_SANITIZE")
    extra = ["-fsanitize=" + sanitize] if sanitize else []
    run(compiler, "-std=c++20", *extra, str(app), "-o", str(tmp_path / "app"), *flags)
    assert run(str(tmp_path / "app"), str(tmp_path / "db")).stdout == "installed\n"

    run("systemd-analyze", "verify", str(prefix / "lib/systemd/system/cairn.service"))
    serves_with_sample_config(str(prefix / "bin/cairn-server"), str(prefix / "etc/cairn/cairn.toml"))

    # Installing again (an upgrade from source) keeps an edited configuration.
    config = prefix / "etc/cairn/cairn.toml"
    edited = config.read_text().replace('loglevel = "notice"', 'loglevel = "warning"')
    assert edited != config.read_text()
    config.write_text(edited)
    run("cmake", "--install", BUILD, "--prefix", str(prefix))
    assert config.read_text() == edited


def dpkg_status(name):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


def test_deb_installs_and_serves(tmp_path):
    out = tmp_path / "pkg"
    out.mkdir()
    run("cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", str(out))
    debs = list(out.glob("cairn_*.deb"))
    assert len(debs) == 1, debs
    deb = str(debs[0])
    info = run("dpkg-deb", "--info", deb).stdout
    assert "Package: cairn" in info and "Depends:" in info and "libabsl" in info, info
    contents = run("dpkg-deb", "--contents", deb).stdout
    for path in ["./usr/bin/cairn-server", "./usr/bin/cairn", "./etc/cairn/cairn.toml",
                 "./usr/lib/systemd/system/cairn.service", "./usr/include/cairn/engine/db.h",
                 "./usr/lib/libcairn_engine.a"]:
        assert path in contents, path
    control = run("dpkg-deb", "--ctrl-tarfile", deb).stdout  # text=True: a tar, just look
    assert "conffiles" in control and "postinst" in control

    if os.geteuid() != 0:
        pytest.skip("dpkg -i needs root (CI runs this as root)")
    assert "installed" not in dpkg_status("cairn"), \
        "a cairn package is installed already: this test installs and purges its own"
    user_existed = True
    try:
        pwd.getpwnam("cairn")
    except KeyError:
        user_existed = False
    import grp
    try:
        grp.getgrnam("cairn")
        group_existed = True
    except KeyError:
        group_existed = False
    try:
        if not user_existed and not group_existed:
            # A group cairn without the user (made by an administrator beforehand, or left
            # over): postinst makes the user in it rather than failing.
            run("groupadd", "--system", "cairn")
        run("dpkg", "-i", deb)
        assert "install ok installed" in dpkg_status("cairn")
        for path in ["/usr/bin/cairn-server", "/usr/bin/cairn", "/etc/cairn/cairn.toml",
                     "/usr/lib/systemd/system/cairn.service", "/usr/lib/pkgconfig/cairn-engine.pc"]:
            assert os.path.isfile(path), path
        # postinst: the cairn system user and its state directory.
        user = pwd.getpwnam("cairn")
        assert user.pw_uid < 1000 and user.pw_dir == "/var/lib/cairn", user
        st = os.stat("/var/lib/cairn")
        assert st.st_uid == user.pw_uid and oct(st.st_mode & 0o777) == "0o750"
        # The configuration holds requirepass and ACL passwords once edited: readable by
        # root and the cairn group only, not by every local user.
        st = os.stat("/etc/cairn/cairn.toml")
        assert st.st_uid == 0 and st.st_gid == user.pw_gid, st
        assert oct(st.st_mode & 0o777) == "0o640", oct(st.st_mode & 0o777)
        unit = open("/usr/lib/systemd/system/cairn.service").read()
        assert "ExecStart=/usr/bin/cairn-server --config /etc/cairn/cairn.toml" in unit
        assert "User=cairn" in unit and "StateDirectory=cairn" in unit and "LimitNOFILE=" in unit
        proc = subprocess.run(["systemd-analyze", "verify", "/usr/lib/systemd/system/cairn.service"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "cairn.service" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        # As the service would run it (no systemd as PID 1 here): the cairn user, the
        # installed binary and configuration.
        serves_with_sample_config("/usr/bin/cairn-server", "/etc/cairn/cairn.toml", user="cairn")
    finally:
        subprocess.run(["dpkg", "-P", "cairn"], capture_output=True, timeout=120)
        if not group_existed:  # normally gone with the user already
            subprocess.run(["groupdel", "cairn"], capture_output=True)
    assert dpkg_status("cairn") == "" or "not-installed" in dpkg_status("cairn")
    assert not os.path.exists("/usr/bin/cairn-server")
    assert not os.path.exists("/etc/cairn/cairn.toml")
    if not user_existed:
        # Purge removes the empty state directory, then the user.
        assert not os.path.exists("/var/lib/cairn")
        with pytest.raises(KeyError):
            pwd.getpwnam("cairn")

