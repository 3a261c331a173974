"""The deployment files parse and say what operations.md promises (no Docker engine here to build the image)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy.engine import make_url

from worker.scheduler import build_triggers
from worker.settings import JOB_NAMES, load_settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def write_secrets(folder: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    (folder / "salesforce_jwt_key").write_text(pem)  # a signing key is checked when the config loads
    (folder / "platform_client_secret").write_text("not-a-real-secret\n")


def test_the_container_config_is_valid_and_schedules_every_job(tmp_path: Path) -> None:
    text = (DEPLOY / "config" / "config.toml").read_text().replace("/run/secrets", str(tmp_path))
    (tmp_path / "config.toml").write_text(text)
    write_secrets(tmp_path)
    settings = load_settings(tmp_path / "config.toml", {})
    assert settings.state.url.startswith("postgresql://")
    url = make_url(settings.state.url)
    assert (url.host, url.password) == ("postgres", None)  # the password comes from PGPASSWORD
    assert sorted(build_triggers(settings)) == sorted(JOB_NAMES)
    assert settings.metrics.port == 9464


def test_the_kubernetes_configmap_carries_the_same_config() -> None:
    (configmap,) = documents(DEPLOY / "k8s" / "config.yaml")
    assert configmap["kind"] == "ConfigMap"
    assert configmap["data"]["config.toml"] == (DEPLOY / "config" / "config.toml").read_text()


def test_compose_runs_three_workers_on_postgres() -> None:
    (compose,) = documents(DEPLOY / "docker-compose.yml")
    worker, db = compose["services"]["worker"], compose["services"]["postgres"]
    assert worker["deploy"]["replicas"] == 3
    assert worker["command"] == ["run"]
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "./config:/etc/csm-sync:ro" in worker["volumes"]
    assert set(worker["secrets"]) == set(compose["secrets"])
    assert db["image"].startswith("postgres:")
    assert "PGPASSWORD" in worker["environment"]


def test_the_deployment_runs_the_scheduler_on_three_replicas() -> None:
    by_kind = {d["kind"]: d for d in documents(DEPLOY / "k8s" / "deployment.yaml")}
    dep = by_kind["Deployment"]
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["run"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] >= 300
    assert {v["name"] for v in pod["volumes"]} == {m["name"] for m in container["volumeMounts"]}
    assert by_kind["PodDisruptionBudget"]["spec"]["minAvailable"] == 2


def test_one_cronjob_per_job_never_overlapping() -> None:
    cronjobs = documents(DEPLOY / "k8s" / "cronjob.yaml")
    jobs = []
    for cj in cronjobs:
        assert cj["kind"] == "CronJob"
        spec = cj["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        verb, job = container["args"]
        assert verb == "run-job"
        jobs.append(job)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/csm-sync", "/run/secrets"} <= mounts
        secret_volume = next(v for v in pod["volumes"] if "secret" in v)
        assert {i["path"] for i in secret_volume["secret"]["items"]} == {
            "salesforce_jwt_key",
            "platform_client_secret",
        }
    assert sorted(jobs) == sorted(JOB_NAMES)


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize(
    "pattern",
    [
        r"^FROM python:3\.11-slim AS build$",
        r"^FROM python:3\.11-slim$",
        r"pip install \.",
        r"^USER 10001:10001$",
        r'^ENTRYPOINT \["csm-sync"\]$',
        r'^CMD \["run"\]$',
        r"^HEALTHCHECK .*\n?.*127\.0\.0\.1:9464/metrics",
        r"CSM_SYNC_CONFIG=/etc/csm-sync/config.toml",
    ],
)
def test_dockerfile(pattern: str) -> None:
    assert re.search(pattern, dockerfile(), re.M), pattern


def test_dockerfile_copies_every_package_and_the_context_excludes_secrets() -> None:
    for package in ("worker", "jobs", "mappings", "connectors", "sandbox"):
        assert f"COPY {package} {package}" in dockerfile()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "config.toml", "*.pem", ".env", "tests"} <= set(ignored)
