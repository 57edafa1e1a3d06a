"""The systemd unit as systemd sees it: its exposure score from systemd's own analyser,
and the daemon running under the unit's system-call filter (built from systemd's own
group lists, loaded with libseccomp, as systemd does for the service)."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from signals import music_like

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "genred.service"


def _require_systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing (make test installs systemd as root)")
        pytest.skip("systemd-analyze is not installed")


def test_the_units_exposure_score():
    """The cheap hardening is there, and the score is the one the README states."""
    _require_systemd_analyze()
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for genred.service: (\d+\.\d)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    score = float(found.group(1))
    for setting in ("PrivateMounts=", "RemoveIPC=", "SystemCallFilter=~@privileged", "SystemCallFilter=~@resources"):
        flagged = [ln for ln in proc.stdout.splitlines() if ln.startswith("✗") and setting in ln]
        assert not flagged, flagged
    assert score <= 1.6, proc.stdout
    assert f"exposure {score}" in (ROOT / "README.md").read_text(), "the README states the measured score"


_SECCOMP_EXEC = """
import ctypes, ctypes.util, errno, json, os, sys
allowed = json.load(open(sys.argv[1]))
lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
ctx = lib.seccomp_init(0x00050000 | errno.EPERM)  # SCMP_ACT_ERRNO: the unit's SystemCallErrorNumber=EPERM
for name in allowed:
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0:
        lib.seccomp_rule_add(ctx, 0x7FFF0000, nr, 0)  # SCMP_ACT_ALLOW
if lib.seccomp_load(ctx) != 0:
    sys.exit("seccomp_load failed")
os.execv(sys.argv[2], sys.argv[2:])
"""


def _group(name: str, cache: dict[str, set[str]] = {}) -> set[str]:  # noqa: B006 - a cache
    """The system calls of a systemd group, its sub-groups expanded."""
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        calls: set[str] = set()
        for line in out.splitlines()[1:]:
            item = line.strip()
            if item and not item.startswith("#"):
                calls |= _group(item) if item.startswith("@") else {item}
        cache[name] = calls
    return cache[name]


def _unit_filter() -> set[str]:
    """What the unit's SystemCallFilter= lines allow: the allow lists, minus the ~ lists."""
    allowed: set[str] = set()
    denied: set[str] = set()
    for line in UNIT.read_text().splitlines():
        if line.startswith("SystemCallFilter="):
            value = line.split("=", 1)[1]
            target = denied if value.startswith("~") else allowed
            for item in value.lstrip("~").split():
                target |= _group(item) if item.startswith("@") else {item}
    assert allowed, "the unit has an allow list"
    return allowed - denied


@pytest.fixture
def under_the_units_filter(tmp_path):
    """``run(argv)``: argv executed under the unit's system-call filter."""
    _require_systemd_analyze()
    if ctypes.util.find_library("seccomp") is None:
        pytest.skip("libseccomp is not installed")
    allowed = tmp_path / "allowed.json"
    allowed.write_text(json.dumps(sorted(_unit_filter())))

    def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _SECCOMP_EXEC, str(allowed), *argv],
                              capture_output=True, text=True, timeout=120, **kw)

    return run


def test_the_filter_bites(under_the_units_filter):
    # ~@resources: setting CPU affinity (an unprivileged call) is refused with EPERM.
    code = "import os; os.sched_setaffinity(0, os.sched_getaffinity(0)); print('allowed')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "allowed\n"
    proc = under_the_units_filter([sys.executable, "-c", code])
    assert proc.returncode != 0 and "PermissionError" in proc.stderr, proc.stderr


def test_the_daemon_runs_under_the_units_filter(under_the_units_filter, mosquitto, subscriber, write_wav, model_path):
    """Python, numpy, LiteRT, libsndfile, PortAudio's start-up and paho, all under the
    filter: the whole runtime path but a real microphone (none here)."""
    path = write_wav("song.wav", music_like(5.0, 16000), 16000)
    sub = subscriber(mosquitto, ["genred/sec/state"])
    proc = under_the_units_filter([sys.executable, "-m", "genred.daemon", "run", "--source", f"file:{path}",
                                   "--device-id", "sec", "--mqtt-host", mosquitto.host, "--mqtt-port", str(mosquitto.port),
                                   "--model", str(model_path)])
    assert proc.returncode == 0, proc.stderr
    assert " sec: " in proc.stdout and "Traceback" not in proc.stderr
    assert json.loads(sub.wait_for("genred/sec/state").payload)["model"]
    for argv in (["devices"], ["check-config", str(ROOT / "deploy" / "config.example.yaml")]):
        proc = under_the_units_filter([sys.executable, "-m", "genred.daemon", *argv])
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (argv, proc.stderr)
