"""The environment a model was trained in, recorded with it: what a rebuild must match to give the same bits (or
what explains why it did not): Python, the installed packages, torch and its threads, the CPU's instruction set the
kernels used, the GPU and its driver if any, and the hash of the lock (requirements.lock) the packages were installed
from."""

from __future__ import annotations

import hashlib
import platform


def list_packages() -> list[str]:
    """Every installed distribution as NAME==VERSION, sorted (the set pip would reinstall)."""
    from importlib.metadata import distributions

    found = {f"{(dist.metadata['Name'] or '').lower()}=={dist.version}" for dist in distributions()}
    return sorted(name for name in found if not name.startswith("=="))


def read_cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        return platform.processor()


def describe_environment() -> dict:
    """The fingerprint: small figures for tags, and the package list (with its hash) for the record."""
    import torch

    from tasks.core.lockfile import hash_lock

    packages = list_packages()
    found = {"python": platform.python_version(), "platform": platform.platform(),
             "packages_hash": hashlib.sha256("\n".join(packages).encode()).hexdigest()[:16], "packages": packages,
             "lock_hash": hash_lock(),
             "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
             "torch_interop_threads": torch.get_num_interop_threads(),
             "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": read_cpu_model(),
             "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(), "gpu": "", "gpu_driver": ""}
    if torch.cuda.is_available():
        found |= {"gpu": torch.cuda.get_device_name(0), "gpu_driver": f"cuda {torch.version.cuda}"}
    return found


def environment_tags(environment: dict) -> dict[str, str]:
    """The fingerprint as registry tags (env_*): everything but the package list, which its hash stands for."""
    return {f"env_{key}": str(value) for key, value in environment.items() if key != "packages"}
