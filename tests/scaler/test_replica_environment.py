"""A process replica runs the model's own code: the platform's secrets stay out of its environment."""

from __future__ import annotations

from scaler.runtimes.process import replica_environment


def test_a_replica_never_sees_the_platforms_secrets() -> None:
    scaler_environment = {
        "HYDRO_SERVICE_TOKEN": "service-secret",
        "HYDRO_ADMIN_TOKEN": "admin-secret",
        "HYDRO_TOKEN": "api-secret",
        "HYDRO_DATABASE_URL": "postgresql+asyncpg://hydro:password@db/hydro",
        "HYDRO_TLS_KEY_FILE": "/etc/hydro/key.pem",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "AWS_SESSION_TOKEN": "aws-session",
        "HYDRO_HOME": "/var/lib/hydro",
        "PATH": "/usr/bin",
        "OMP_NUM_THREADS": "1",
    }

    passed_on = replica_environment(scaler_environment)

    assert passed_on == {"HYDRO_HOME": "/var/lib/hydro", "PATH": "/usr/bin", "OMP_NUM_THREADS": "1"}
