"""Deployment files, tested without a Docker engine (none runs on CI).

- the image's entrypoint runs under bash with fake `flask` / `gunicorn` / `python` on PATH
  that record their arguments;
- gunicorn.conf.py is loaded by gunicorn itself (`--check-config` imports the app too);
- docker-compose.yml is validated against the official Compose Specification JSON schema
  (tests/ops/data/compose-spec.json, from github.com/compose-spec/compose-spec, Apache-2.0)
  because `docker compose config` needs the compose plugin, which this machine lacks;
- the Dockerfile is checked for the properties we rely on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
LOG_NAME = "calls.log"


@pytest.fixture
def fake_bin(tmp_path):
    """A PATH dir whose flask/gunicorn/python append their argv to calls.log."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / LOG_NAME
    for name in ("flask", "gunicorn", "python"):
        script = bindir / name
        script.write_text(
            "#!/usr/bin/env bash\n"
            f'echo "{name} $*" >> "{log}"\n'
            f'if [ "{name}" = flask ] && [ -n "${{FAIL_FLASK:-}}" ]; then exit 3; fi\n'
            "exit 0\n"
        )
        script.chmod(0o755)
    return bindir, log


def _run(fake_bin, *args: str, **env: str) -> tuple[int, list[str]]:
    bindir, log = fake_bin
    full_env = {"PATH": f"{bindir}:/usr/bin:/bin", **env}
    proc = subprocess.run(
        ["bash", str(ENTRYPOINT), *args], env=full_env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, calls


def test_web_without_migrations_only_starts_gunicorn(fake_bin):
    rc, calls = _run(fake_bin, "web")
    assert rc == 0
    assert calls == ["gunicorn --config gunicorn.conf.py run:app"]


def test_web_with_run_migrations_upgrades_then_inits_then_serves(fake_bin):
    rc, calls = _run(fake_bin, "web", RUN_MIGRATIONS="1")
    assert rc == 0
    assert calls == [
        "flask --app run db upgrade",
        "flask --app run omnicrm init",
        "gunicorn --config gunicorn.conf.py run:app",
    ]


def test_failed_migration_stops_the_container_before_serving(fake_bin):
    rc, calls = _run(fake_bin, "web", RUN_MIGRATIONS="1", FAIL_FLASK="1")
    assert rc == 3
    assert calls == ["flask --app run db upgrade"]


def test_default_role_is_web_and_extra_args_reach_gunicorn(fake_bin):
    rc, calls = _run(fake_bin)
    assert rc == 0
    assert calls == ["gunicorn --config gunicorn.conf.py run:app"]
    fake_bin[1].unlink()
    rc, calls = _run(fake_bin, "web", "--workers", "2")
    assert calls == ["gunicorn --config gunicorn.conf.py --workers 2 run:app"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("worker", ["python worker.py --no-cron"]),
        ("scheduler", ["python worker.py --queues default"]),
        ("migrate", ["flask --app run db upgrade", "flask --app run omnicrm init"]),
    ],
)
def test_other_roles(fake_bin, role, expected):
    rc, calls = _run(fake_bin, role, RUN_MIGRATIONS="1")
    assert rc == 0
    assert calls == expected


def test_any_other_command_runs_as_is(fake_bin):
    rc, calls = _run(fake_bin, "flask", "--app", "run", "omnicrm", "audit", "verify")
    assert rc == 0
    assert calls == ["flask --app run omnicrm audit verify"]


def test_entrypoint_passes_shellcheck_style_basics():
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(ENTRYPOINT)], capture_output=True).returncode == 0


# -- gunicorn ------------------------------------------------------------------------------


def _load_gunicorn_conf(**env: str) -> dict:
    code = (
        "import json, runpy; ns = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: v for k, v in ns.items() if isinstance(v, (str, int, bool))}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "GUNICORN_", "PORT"))}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_gunicorn_conf_reads_the_environment():
    conf = _load_gunicorn_conf()
    assert conf["bind"] == "0.0.0.0:8000"
    assert 1 <= conf["workers"] <= 8
    conf = _load_gunicorn_conf(PORT="9001", WEB_CONCURRENCY="3", GUNICORN_THREADS="2")
    assert conf["bind"] == "0.0.0.0:9001"
    assert conf["workers"] == 3
    assert conf["threads"] == 2


def test_gunicorn_access_log_never_prints_query_strings():
    fmt = _load_gunicorn_conf()["access_log_format"]
    assert "%(U)s" in fmt  # path only
    for atom in ("%(r)s", "%(q)s", "%(f)s", "%(a)s"):
        assert atom not in fmt


def test_gunicorn_accepts_the_config_and_imports_the_app(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {
        **os.environ,
        "OMNICRM_ENV": "testing",
        "OMNICRM_INSTANCE_DIR": str(tmp_path),
        "PORT": "0",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.run(
        [str(gunicorn), "--check-config", "--config", "gunicorn.conf.py", "run:app"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


# -- docker compose --------------------------------------------------------------------------


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_specification():
    schema = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())
    compose = _compose()
    jsonschema.validate(compose, schema)
    # and the schema does reject a broken file (the check can fail)
    broken = {**compose, "services": {"web": {"image": "x", "depends_on": {"db": {"condition": "sometimes"}}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_docker_compose_config_when_the_cli_can():
    """`docker compose config -q` if the compose plugin exists; else the schema test stands in."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        # no compose plugin here: prove at least that every ${VAR} reference is well formed
        text = (ROOT / "docker-compose.yml").read_text()
        refs = re.findall(r"\$\{([^}]*)\}", text)
        assert refs
        for ref in refs:
            assert re.fullmatch(r"[A-Z_][A-Z0-9_]*(:?[-?].*)?", ref), ref
        return
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], cwd=tmp)
        assert proc.returncode == 0


def test_compose_services_roles_and_scaling():
    services = _compose()["services"]
    assert {"web", "worker", "scheduler", "migrate", "postgres", "redis"} <= set(services)
    assert services["web"]["command"] == ["web"]
    assert services["worker"]["command"] == ["worker"]
    assert services["scheduler"]["command"] == ["scheduler"]
    assert services["migrate"]["command"] == ["migrate"]
    # scalable with --scale worker=N: no fixed name, no host port
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]
    # web waits for the one-shot migration; no replica migrates by itself
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("web", "worker", "scheduler", "migrate"):
        assert services[name]["environment"].get("RUN_MIGRATIONS") in (None, "0")
        assert services[name]["environment"]["OMNICRM_ENV"] == "production"
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")


def test_compose_scheduler_starts_the_scheduler_like_worker_py():
    """The scheduler role runs `python worker.py` with cron on (as the README and `make run`
    do), the scaled worker role without, and the health check asks the scheduler's state."""
    services = _compose()["services"]
    entrypoint = ENTRYPOINT.read_text()
    scheduler_line = re.search(r"^  scheduler\)\n\s+exec (.+)$", entrypoint, re.M).group(1)
    assert scheduler_line.startswith("python worker.py")
    assert "--no-cron" not in scheduler_line
    worker_line = re.search(r"^  worker\)\n\s+exec (.+)$", entrypoint, re.M).group(1)
    assert "--no-cron" in worker_line
    assert services["scheduler"]["healthcheck"]["test"] == ["CMD", "flask", "--app", "run", "omnicrm", "jobs", "check"]
    run_dev = (ROOT / "scripts" / "run_dev.sh").read_text()
    assert re.search(r"^\$BIN/python worker\.py &$", run_dev, re.M)  # make run: worker + scheduler


def test_redis_keeps_queues_durable():
    command = _compose()["services"]["redis"]["command"]
    joined = " ".join(command)
    assert "--appendonly yes" in joined
    assert "--maxmemory-policy noeviction" in joined


# -- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_gunicorn():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)
    assert stages == [("python:3.11-slim", "build"), ("python:3.11-slim", "runtime")]
    runtime = text.split("AS runtime", 1)[1]
    user = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert user
    assert not user[-1].startswith(("root", "0"))
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert "gcc" not in runtime
    assert "build-essential" not in runtime
    assert 'ENTRYPOINT ["omnicrm-entrypoint"]' in runtime
    assert 'CMD ["web"]' in runtime
    # everything the image copies exists in the repository
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part.rstrip("/")).exists(), part
