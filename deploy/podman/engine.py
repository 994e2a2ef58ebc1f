"""Podman, its configuration and the fleet's images, built here with no image registry.

Debian's podman runs rootful. The sandboxes this project is built in need three settings, kept in
a project-owned containers.conf that every podman call reads through `CONTAINERS_CONF` (nothing
is written to /etc/containers): `default_ulimits` equal to the hard limits (raising a limit is
refused), `runtime = "runc"` (crun refuses the hybrid cgroup layout) and the cgroupfs manager
(no systemd). The base image is debootstrapped Debian bookworm with Python 3.11 and the host's
extra CA certificates (HTTPS leaves through the machine's own certificate authority).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STATE = ROOT / "var" / "podman"
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"

BASE_IMAGE = "localhost/strangler-base:bookworm"
APP_IMAGE = "localhost/strangler:local"
# Backing servers from Debian's packages: compose service -> (image, folder with its Containerfile).
BACKING_IMAGES = {
    "postgres": "localhost/strangler-postgres:15",
    "rabbitmq": "localhost/strangler-rabbitmq:3.10",
    "redis": "localhost/strangler-redis:7",
}
APT_PACKAGES = ["podman", "runc", "debootstrap", "uidmap", "netavark", "aardvark-dns", "iptables"]
# The base image: what the Dockerfile's `python -m venv` and `useradd` need, and CA certificates.
BASE_PACKAGES = ["python3.11", "python3-venv", "python-is-python3", "ca-certificates", "passwd"]
# Where the host keeps its extra (machine) certificate authorities.
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[containers +{time.monotonic() - _STARTED:.0f}s] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("check", True)
    kwargs.setdefault("env", podman_env())
    return subprocess.run(cmd, **kwargs)


def why_unavailable() -> str | None:
    """None when podman can run (or be installed) here; otherwise the reason."""
    if sys.platform != "linux":
        return "podman runs rootful on Linux only here"
    if os.geteuid() != 0:
        return "Debian's podman is used rootful: run as root"
    if not shutil.which("podman") and not shutil.which("apt-get"):
        return "podman is not installed and apt-get is not available to install it"
    return None


def ensure_installed() -> None:
    """Install podman, runc and debootstrap from Debian's packages when one is missing."""
    missing = [p for p in ("podman", "runc", "debootstrap") if not shutil.which(p)]
    missing += [] if Path("/usr/lib/podman/netavark").exists() else ["netavark"]
    if not missing:
        return
    log(f"installing {' '.join(APT_PACKAGES)} with apt-get (missing: {', '.join(missing)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES]
    if subprocess.run(cmd, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)


def podman_compose() -> str:
    """podman-compose from PyPI, in this virtualenv (the dev extra pins it)."""
    script = Path(sys.executable).parent / "podman-compose"
    if not script.exists():
        log("installing podman-compose into the virtualenv")
        lock = ["-c", str(ROOT / "requirements.lock")]
        cmd = [sys.executable, "-m", "pip", "install", "-q", *lock, "podman-compose"]
        subprocess.run(cmd, check=True)
    return str(script)


# Rootful podman 4.3 lowers its own process-count limit to this at start (seen in
# /proc/<podman>/limits here), and runc, started under it, may not raise a container's above it.
PODMAN_NPROC = 32768


def ulimits() -> list[str]:
    """Each limit at the hard value podman runs with: a container may keep it, never raise it."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = PODMAN_NPROC if nproc == resource.RLIM_INFINITY else min(nproc, PODMAN_NPROC)
    limits = [f"nproc={nproc}:{nproc}"]
    if nofile != resource.RLIM_INFINITY:
        limits.append(f"nofile={nofile}:{nofile}")
    return limits


def containers_conf() -> str:
    """The engine settings this sandbox needs (see the module docstring)."""
    limits = [f'"{limit}"' for limit in ulimits()]
    return (
        "# Written by deploy/podman/engine.py; podman reads it through CONTAINERS_CONF.\n"
        "[containers]\n"
        f"default_ulimits = [{', '.join(limits)}]\n"
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


def podman_env() -> dict[str, str]:
    conf = STATE / "containers.conf"
    text = containers_conf()
    if not conf.exists() or conf.read_text() != text:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(text)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def image_exists(image: str) -> bool:
    cmd = ["podman", "image", "exists", image]
    return run(cmd, check=False, capture_output=True).returncode == 0


def build_base(*, force: bool = False) -> None:
    """Debian bookworm by debootstrap with Python 3.11 and the host's CA certificates, cached."""
    if image_exists(BASE_IMAGE) and not force:
        log(f"{BASE_IMAGE}: cached")
        return
    STATE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=STATE, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"{BASE_IMAGE}: debootstrap {SUITE} (minbase, {' '.join(BASE_PACKAGES)})")
        include = "--include=" + ",".join(BASE_PACKAGES)
        cmd = ["debootstrap", "--variant=minbase", include, SUITE, str(rootfs), MIRROR]
        run(cmd, stdout=subprocess.DEVNULL)
        certs = sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []
        target = rootfs / EXTRA_CA_DIR.relative_to("/")
        target.mkdir(parents=True, exist_ok=True)
        for cert in certs:
            shutil.copy2(cert, target / cert.name)
        run(["chroot", str(rootfs), "update-ca-certificates"], stdout=subprocess.DEVNULL)
        # Package installs in image builds must not try to start services.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        (rootfs / "etc/apt/sources.list").write_text(
            f"deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\n"
            f"deb http://deb.debian.org/debian-security {SUITE}-security main\n"
        )
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        changes = [
            f"ENV PIP_CERT={CA_BUNDLE}",
            f"ENV SSL_CERT_FILE={CA_BUNDLE}",
            f"ENV REQUESTS_CA_BUNDLE={CA_BUNDLE}",
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
        ]
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        flags = [arg for change in changes for arg in ("--change", change)]
        run(
            ["podman", "import", *flags, "-", BASE_IMAGE],
            stdin=tar.stdout,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrapped root failed")
    log(f"{BASE_IMAGE}: built")


def build(image: str, context: Path, containerfile: Path, *, force: bool = False) -> None:
    if image_exists(image) and not force:
        log(f"{image}: cached")
        return
    log(f"{image}: building from {containerfile.relative_to(ROOT)}")
    # `podman build` does not apply default_ulimits to its RUN steps: pass them.
    # --jobs=2: the stages of a multi-stage file that do not need each other build at once (the
    # app's runtime stage installs nginx while its build stage installs the wheels).
    cmd = ["podman", "build", "--format=docker", "--network=host", "--jobs=2"]
    cmd += [f"--ulimit={u}" for u in ulimits()]
    cmd += ["--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}"]
    cmd += ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-f", str(containerfile), "-t", image]
    run([*cmd, str(context)], stdout=subprocess.DEVNULL)


def build_images(*, force_app: bool = True) -> None:
    """The base (cached), then the backing servers (cached) and the app image (rebuilt: layers
    cache) side by side: each is mostly waiting on downloads and unpacking, one after the other
    they took ~5 of a cold run's minutes, side by side about the app image's own."""
    build_base()
    builds = [
        *(
            (image, HERE / service, HERE / service / "Containerfile", False)
            for service, image in BACKING_IMAGES.items()
        ),
        (APP_IMAGE, ROOT, ROOT / "Dockerfile", force_app),
    ]
    with ThreadPoolExecutor(max_workers=len(builds)) as pool:
        futures = [
            pool.submit(build, image, context, file, force=force)
            for image, context, file, force in builds
        ]
        for future in futures:
            future.result()  # the first failure, once every build has ended


def remove_images() -> None:
    """Forget every image this module builds, with their build layers (for a cold run); other
    images in podman's store are left alone."""
    images = [APP_IMAGE, *BACKING_IMAGES.values(), BASE_IMAGE]
    run(["podman", "rmi", "--force", "--ignore", *images], check=False, stdout=subprocess.DEVNULL)
