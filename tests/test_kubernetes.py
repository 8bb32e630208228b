"""The Kubernetes manifests (`kubernetes=yes`) follow the rules the Kubernetes API documents.

No cluster runs here. Each manifest is validated against the API's published schemas, in
strict mode (an unknown or misspelt field fails), for the oldest and newest Kubernetes this
template supports; then the rules a schema cannot express are checked against the project
itself: probes reach routes the app serves on the port the image exposes, selectors find
the pods, pods run unprivileged on a read-only root, secrets are referenced and never
written, the settings given make a valid production configuration, and a new version's pods
wait until the migration Job has run, shown against the real database.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import create_database, database_url, redis_url, require_servers, run, tool
from tests.matrix import DEFAULTS, Variant, variant_id
from tests.test_deploy_files import _dockerfile, _settings

Baked = Callable[[Variant], Path]
Manifest = dict[str, Any]

KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")  # the oldest and the newest supported
ON = {**DEFAULTS, "kubernetes": "yes"}
CASES = [
    {**ON, "database": "sqlite"},
    {**ON, "database": "sqlite", "auth": "none", "cache": "none"},  # nothing secret at all
    {**ON, "database": "sqlite", "jobs": "queue"},
    {**ON, "database": "postgresql", "cache": "redis", "jobs": "queue"},
    {**ON, "database": "mysql", "auth": "api_key"},
    {**ON, "database": "postgresql", "auth": "none", "cache": "none"},
]
SERVER_CASES = [case for case in CASES if case["database"] != "sqlite"]
# The settings the pods get from the Secret, by the option values that make them needed.
SECRET_SETTINGS = {
    "DATABASE_URL": lambda variant: variant["database"] != "sqlite",
    "SECRET_KEY": lambda variant: variant["auth"] != "none",
    "REDIS_URL": lambda variant: variant["cache"] == "redis",
    "BROKER_URL": lambda variant: variant["jobs"] == "queue",
    "SMTP_PASSWORD": lambda variant: variant["auth"] in ("jwt", "jwt_and_api_key"),
}
IMAGE_USER = "10001"


@pytest.fixture(params=CASES, ids=variant_id)
def variant(request: pytest.FixtureRequest) -> Variant:
    return dict(request.param)


@pytest.fixture
def project(baked: Baked, variant: Variant) -> Path:
    return baked(variant)


def _manifests(project: Path) -> dict[str, Manifest]:
    """Every object by file name, the kustomization left out."""
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted((project / "k8s").glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def _by_kind(project: Path, kind: str) -> list[Manifest]:
    return [manifest for manifest in _manifests(project).values() if manifest["kind"] == kind]


def _pod_specs(project: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every Deployment and Job."""
    for manifest in _manifests(project).values():
        if manifest["kind"] in ("Deployment", "Job"):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def _api(project: Path) -> Manifest:
    (deployment,) = [
        manifest
        for manifest in _by_kind(project, "Deployment")
        if manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    ]
    return deployment


def _api_container(project: Path) -> dict[str, Any]:
    (container,) = [
        c for c in _api(project)["spec"]["template"]["spec"]["containers"] if c["name"] == "api"
    ]
    return container


def _routes(project: Path) -> set[str]:
    """The paths the rendered app serves, from its own OpenAPI document."""
    script = (
        "import json; from app.main import create_app; "
        "print(json.dumps(list(create_app().openapi()['paths'])))"
    )
    result = run(sys.executable, "-c", script, cwd=project, env={"ENVIRONMENT": "development"})
    return set(json.loads(result.stdout))


def test_kubernetes_no_renders_no_manifests(baked: Baked) -> None:
    project = baked(DEFAULTS)
    assert not (project / "k8s").exists()
    assert "kubectl" not in (project / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_a_valid_object_of_the_api(project: Path, version: str) -> None:
    manifests = _manifests(project)
    assert manifests
    for name, manifest in manifests.items():
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} on Kubernetes {version}: {error.message} at {list(error.path)}")
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", manifest["metadata"]["name"])


def test_the_kustomization_applies_every_manifest_with_one_image(project: Path) -> None:
    kustomization = yaml.safe_load((project / "k8s" / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(_manifests(project))
    (image,) = kustomization["images"]
    for _, spec in _pod_specs(project):
        assert {container["image"] for container in _containers(spec)} == {image["name"]}
    assert image["newTag"] == "0.1.0"  # the project's first version


def test_pods_run_unprivileged_on_a_read_only_root_with_resources(project: Path) -> None:
    user = [
        arguments
        for keyword, arguments in _dockerfile(project)[-1]["instructions"]
        if keyword == "USER"
    ]
    assert user == [f"{IMAGE_USER}:{IMAGE_USER}"]
    for name, spec in _pod_specs(project):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert str(pod["runAsUser"]) == IMAGE_USER
        assert str(pod["runAsGroup"]) == IMAGE_USER
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, name
        for container in _containers(spec):
            where = f"{name}/{container['name']}"
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where


def test_the_writable_places_are_volumes(project: Path, variant: Variant) -> None:
    """A read-only root: /tmp (the worker's heartbeat) and the SQLite file are mounted."""
    for name, spec in _pod_specs(project):
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in spec["containers"]:
            mounts = {
                mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])
            }
            if container["name"] in ("api", "worker"):
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}/{container['name']}"
            if variant["database"] == "sqlite":
                claim = volumes[mounts["/srv/data"]]["persistentVolumeClaim"]["claimName"]
                assert claim in {
                    m["metadata"]["name"] for m in _by_kind(project, "PersistentVolumeClaim")
                }


def test_probes_reach_routes_of_the_app_on_the_port_the_image_exposes(project: Path) -> None:
    runtime = _dockerfile(project)[-1]["instructions"]
    exposed = [arguments for keyword, arguments in runtime if keyword == "EXPOSE"]
    (command,) = [json.loads(arguments) for keyword, arguments in runtime if keyword == "CMD"]
    port = int(command[command.index("--port") + 1])
    assert exposed == [str(port)]

    container = _api_container(project)
    ports = {declared["name"]: declared["containerPort"] for declared in container["ports"]}
    assert ports == {"http": port}
    routes = _routes(project)
    probes = {kind: container[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        assert probe["httpGet"]["port"] in ports, kind
        assert probe["httpGet"]["path"] in routes, kind
    assert probes["livenessProbe"]["httpGet"]["path"] == "/health/live"  # the process only
    assert probes["readinessProbe"]["httpGet"]["path"] == "/health/ready"  # and the database

    (service,) = _by_kind(project, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_selectors_find_the_pods_they_mean(project: Path, variant: Variant) -> None:
    api = _api(project)
    labels = api["spec"]["template"]["metadata"]["labels"]
    for deployment in _by_kind(project, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (service,) = _by_kind(project, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    others = [
        d
        for d in _by_kind(project, "Deployment")
        if d["metadata"]["name"] != api["metadata"]["name"]
    ]
    for other in others:  # the Service never sends requests to a worker
        assert (
            not service["spec"]["selector"].items()
            <= other["spec"]["template"]["metadata"]["labels"].items()
        )
    if variant["database"] == "sqlite":
        assert api["spec"]["replicas"] == 1
        assert api["spec"]["strategy"] == {"type": "Recreate"}
        assert not _by_kind(project, "HorizontalPodAutoscaler")
        assert not _by_kind(project, "PodDisruptionBudget")
        return
    (budget,) = _by_kind(project, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (scaler,) = _by_kind(project, "HorizontalPodAutoscaler")
    target = scaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", api["metadata"]["name"])
    assert scaler["spec"]["minReplicas"] > budget["spec"]["minAvailable"]
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_secrets_are_referenced_and_never_written(project: Path, variant: Variant) -> None:
    assert not _by_kind(project, "Secret")
    settings = _settings(project)
    fields = {name.upper() for name in settings["fields"]}
    (config,) = _by_kind(project, "ConfigMap")
    assert set(config["data"]) <= fields  # no misspelt setting
    needed = {name for name, needs in SECRET_SETTINGS.items() if needs(variant)}
    assert not needed & set(config["data"])
    expected = [{"configMapRef": {"name": config["metadata"]["name"]}}]
    if needed:
        expected.append(
            {"secretRef": {"name": f"{config['metadata']['name'].removesuffix('-config')}-secrets"}}
        )
    for name, spec in _pod_specs(project):
        for container in _containers(spec):
            assert container["envFrom"] == expected, f"{name}/{container['name']}"
            assert "env" not in container
    readme = (project / "README.md").read_text(encoding="utf-8")
    for setting in needed:
        assert f"--from-literal={setting}=" in readme, setting
    for setting in set(SECRET_SETTINGS) - needed:
        assert f"--from-literal={setting}=" not in readme, setting


def test_the_config_map_and_the_secret_make_a_valid_production_configuration(
    project: Path, variant: Variant
) -> None:
    (config,) = _by_kind(project, "ConfigMap")
    assert config["data"]["ENVIRONMENT"] == "production"
    values = _secret_values(variant)
    script = "from app.core.config import Settings; print(Settings(_env_file=None).environment)"
    result = run(
        sys.executable,
        "-c",
        script,
        cwd=project,
        env={"PATH": os.environ["PATH"], **config["data"], **values},
    )
    assert result.stdout.strip() == "production"


def _secret_values(variant: Variant) -> dict[str, str]:
    """What an operator would put in the Secret, for the settings this variant needs."""
    values = {
        "DATABASE_URL": "postgresql+asyncpg://app:password@db.internal:5432/app",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "REDIS_URL": "redis://:password@redis.internal:6379/0",
        "BROKER_URL": "amqp://app:password@rabbitmq.internal:5672/",
        "SMTP_PASSWORD": "password",
    }
    return {name: value for name, value in values.items() if SECRET_SETTINGS[name](variant)}


@pytest.mark.parametrize("variant", SERVER_CASES, ids=variant_id)
def test_new_pods_wait_until_the_migration_job_has_run(
    project: Path, variant: Variant, tmp_path: Path, worker_id: str
) -> None:
    """The commands of the manifests, run against a real database: `wait-for-schema` keeps
    waiting on a database the Job has not migrated, and lets the pod start once it has."""
    require_servers(variant)
    name = f"tpl_k8s_{variant_id(variant)}"
    create_database(variant["database"], name)
    (config,) = _by_kind(project, "ConfigMap")
    env = {
        **config["data"],
        **_secret_values(variant),
        "DATABASE_URL": database_url(variant["database"], name, tmp_path),
        "REDIS_URL": redis_url(worker_id),
        "PATH": f"{tool('alembic').parent}{os.pathsep}{os.environ['PATH']}",
    }
    (job,) = _by_kind(project, "Job")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    waits = [
        container["command"]
        for _, spec in _pod_specs(project)
        for container in spec.get("initContainers", [])
    ]
    assert waits
    assert all(command == waits[0] for command in waits)

    def waiting_for(seconds: float) -> bool:
        try:
            subprocess.run(
                waits[0], cwd=project, env=env, capture_output=True, timeout=seconds, check=True
            )
        except subprocess.TimeoutExpired:
            return True
        return False

    assert waiting_for(8), "wait-for-schema let a pod start on an empty database"
    run(*migrate["command"], cwd=project, env=env)
    started = time.monotonic()
    assert not waiting_for(60)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "variant", [case for case in CASES if case["database"] == "sqlite"], ids=variant_id
)
def test_the_sqlite_pod_migrates_its_file_before_serving(
    project: Path, variant: Variant, tmp_path: Path
) -> None:
    spec = _api(project)["spec"]["template"]["spec"]
    (migrate,) = spec["initContainers"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    mounts = {mount["mountPath"] for mount in migrate["volumeMounts"]}
    assert mounts == {"/srv/data"}
    env = {
        "DATABASE_URL": database_url("sqlite", "k8s", tmp_path),
        "PATH": f"{tool('alembic').parent}{os.pathsep}{os.environ['PATH']}",
    }
    run(*migrate["command"], cwd=project, env=env)
    current = run("alembic", "current", cwd=project, env=env)
    assert "(head)" in current.stdout
