"""The training environment's fingerprint: the installed packages with their hash, torch and its threads, the CPU's
instruction set; tags carry everything but the package list."""

from tasks.training.environment import describe_environment, environment_tags, list_packages


def test_the_fingerprint_names_the_packages_torch_and_the_cpu():
    import torch

    environment = describe_environment()
    packages = list_packages()
    assert environment["packages"] == packages and any(name.startswith("torch==") for name in packages)
    assert packages == sorted(packages) and environment["torch"] == torch.__version__
    assert environment["torch_threads"] == torch.get_num_threads() and environment["cpu_capability"]
    tags = environment_tags(environment)
    assert "env_packages" not in tags and tags["env_packages_hash"] == environment["packages_hash"]
    assert all(isinstance(value, str) for value in tags.values())
