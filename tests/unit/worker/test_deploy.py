"""The deployment files parse and say what operations.md promises (no Docker engine here to build the image)."""

from __future__ import annotations

import re
import shutil
import subprocess
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
    (configmap,) = documents(DEPLOY / "k8s" / "base" / "config.yaml")
    assert configmap["kind"] == "ConfigMap"
    assert configmap["data"]["config.toml"] == (DEPLOY / "config" / "config.toml").read_text()


def test_compose_runs_three_workers_on_postgres() -> None:
    (compose,) = documents(DEPLOY / "docker-compose.yml")
    worker, db = compose["services"]["worker"], compose["services"]["postgres"]
    assert worker["deploy"]["replicas"] == 3
    assert worker["command"] == ["run"]
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "./config:/etc/csm-sync:ro" in worker["volumes"]
    assert {s["source"] for s in worker["secrets"]} == set(compose["secrets"])
    # The worker runs as uid 10001: each secret is given to it (where compose copies secrets) and the
    # setup steps make the bind-mounted files readable to it (0444 inside a 0700 folder).
    for secret in worker["secrets"]:
        assert (secret["uid"], secret["gid"]) == ("10001", "10001")
        assert int(str(secret["mode"]).removeprefix("0o"), 8) & 0o040
    header = (DEPLOY / "docker-compose.yml").read_text().split("\nname:")[0]
    assert "install -d -m 0700 secrets" in header
    assert "install -m 0444" in header and "umask 0222" in header
    assert db["image"].startswith("postgres:")
    assert "PGPASSWORD" in worker["environment"]


def test_the_deployment_runs_the_scheduler_on_three_replicas() -> None:
    by_kind = {d["kind"]: d for d in documents(DEPLOY / "k8s" / "scheduler" / "deployment.yaml")}
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


K8S = DEPLOY / "k8s"


def kustomization(folder: Path) -> dict[str, Any]:
    (doc,) = documents(folder / "kustomization.yaml")
    assert doc["kind"] == "Kustomization"
    return doc


def test_every_job_is_the_cronjob_template_plus_its_own_patch() -> None:
    top = kustomization(K8S / "cronjobs")
    overlays = [r for r in top["resources"] if r != "../base"]
    assert "../base" in top["resources"]
    jobs = {}
    for name in overlays:
        overlay = kustomization(K8S / "cronjobs" / name)
        assert overlay["resources"] == ["../../cronjob"]
        assert overlay["nameSuffix"] == f"-{name}"
        (patch,) = overlay["patches"]
        body = next(iter(documents_from(patch["patch"])))
        (container,) = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        verb, job = container["args"]
        assert (verb, container["name"]) == ("run-job", "csm-sync")
        assert job.replace("_", "-") == name
        jobs[job] = body["spec"]["schedule"]
    assert sorted(jobs) == sorted(JOB_NAMES)
    # The schedules are the ones the container config gives the `run` scheduler.
    config = (DEPLOY / "config" / "config.toml").read_text()
    for job, schedule in jobs.items():
        assert f'[jobs.{job}]\nschedule = "{schedule}"' in config, job
    (template,) = documents(K8S / "cronjob" / "cronjob.yaml")
    assert template["kind"] == "CronJob"


def documents_from(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def rendered(folder: str) -> list[dict[str, Any]]:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not on PATH (the structure is still checked above)")
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / folder)], capture_output=True, text=True, timeout=60, check=True
    )
    return documents_from(out.stdout)


def test_kustomize_renders_one_cronjob_per_job_never_overlapping() -> None:
    docs = rendered("cronjobs")
    assert [d["kind"] for d in docs].count("ConfigMap") == 1
    cronjobs = [d for d in docs if d["kind"] == "CronJob"]
    jobs = []
    for cj in cronjobs:
        spec = cj["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        verb, job = container["args"]
        assert verb == "run-job"
        jobs.append(job)
        component = job.replace("_", "-")
        assert cj["metadata"]["name"] == f"csm-sync-{component}"
        assert spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"][
            "app.kubernetes.io/component"
        ] == (component)
        assert container["image"] == "registry.example.com/csm-sync:0.1.0"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/csm-sync", "/run/secrets"} <= mounts
        secret_volume = next(v for v in pod["volumes"] if "secret" in v)
        assert {i["path"] for i in secret_volume["secret"]["items"]} == {
            "salesforce_jwt_key",
            "platform_client_secret",
        }
    assert sorted(jobs) == sorted(JOB_NAMES)
    deadlines = {
        j: cj["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] for j, cj in zip(jobs, cronjobs)
    }
    assert deadlines["pull"] < 900  # done before its next firing, 15 minutes later


def test_kustomize_renders_the_scheduler_with_its_config() -> None:
    kinds = sorted(d["kind"] for d in rendered("scheduler"))
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize(
    "pattern",
    [
        r"^FROM python:3\.11-slim AS build$",
        r"^FROM python:3\.11-slim$",
        r"pip install --require-hashes --no-deps -r requirements/prod\.lock",
        r"pip install --no-deps --no-index /wheels/csm_sync-",
        r"^USER 10001:10001$",
        r'^ENTRYPOINT \["csm-sync"\]$',
        r'^CMD \["run"\]$',
        r"^HEALTHCHECK .*\n?.*127\.0\.0\.1:9464/metrics",
        r"CSM_SYNC_CONFIG=/etc/csm-sync/config.toml",
    ],
)
def test_dockerfile(pattern: str) -> None:
    assert re.search(pattern, dockerfile(), re.M), pattern


def test_dockerfile_installs_the_locked_dependencies_in_their_own_layer_and_no_sandbox() -> None:
    lines = dockerfile().splitlines()
    copies = [i for i, line in enumerate(lines) if line.startswith("COPY ") and "--from" not in line]
    lock_copy = next(i for i in copies if "requirements/prod.lock" in lines[i])
    install = next(i for i, line in enumerate(lines) if "-r requirements/prod.lock" in line)
    first_source = min(i for i in copies if i != lock_copy)
    assert lock_copy < install < first_source  # the dependency layer survives a source change
    for package in ("worker", "jobs", "state", "mappings", "connectors", "configfiles"):
        assert f"COPY {package} {package}" in dockerfile()
    assert "COPY sandbox" not in dockerfile()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "config.toml", "*.pem", ".env", "tests", "sandbox", "salesforce"} <= set(ignored)
    assert not {"requirements", "requirements/*.lock"} & set(ignored)
