from setuptools import find_packages, setup

setup(
    name="halo_platform",
    version="0.1.0",
    description="A Dagster data platform for healthcare operations: report tasks, EMR availability, message delivery.",
    packages=find_packages(exclude=["halo_platform_tests*"]),
    include_package_data=True,
    package_data={"halo_platform": ["core/migrations/*.py", "core/migrations/*.mako", "core/migrations/versions/*.py",
                                   "core/static/*/*", "core/static/*/*/*", "access/templates/*",
                                   "ui/templates/*", "ui/static/*"]},
    python_requires=">=3.11,<3.12",
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-graphql==1.13.27",  # task requests are submitted to the webserver through its client
        "dagster-postgres==0.29.27",
        "dagster-aws==0.29.27",
        "sqlalchemy==2.1.9",
        "alembic==1.20.1",
        "psycopg[binary]==3.3.9",
        "pymysql==1.2.4",
        "duckdb==2.0.0",
        "pyarrow==26.0.1",
        "adbc-driver-manager==1.13.0",
        "adbc-driver-postgresql==1.13.0",
        "connectorx==0.4.6",
        "pandas==3.1.1",
        "numpy==2.4.6",
        "openpyxl==3.1.5",
        "fastapi==0.165.0",
        "uvicorn[standard]==0.54.0",
        "strawberry-graphql==0.327.7",
        "httpx==0.28.1",
        "click==8.5.1",
        "pyyaml==6.0.3",
        "python-dotenv==1.2.4",
        "croniter==7.0.0",
        "phonenumbers==9.0.43",
        "tzdata==2026.6",  # zone.tab: a country's time zones (quiet hours); zones where the OS has none
        "google-auth==2.63.0",  # FCM: OAuth2 access tokens from a service account
        "email-validator==2.4.0",
        "idna==3.20",  # callback_url hosts to their A-labels (delivery.validation)
        "cryptography==50.0.2",
        "paramiko==5.1.0",
        "boto3==1.44.5",
        "orjson==3.13.0",
        "argon2-cffi==25.1.0",
        "python-multipart==0.0.34",
        "jinja2==3.1.6",
        "cron-descriptor==2.2.1",
    ],
    extras_require={
        "dev": [
            "pytest==9.2.0",
            "pytest-timeout==2.4.0",
            "pytest-xdist==3.8.0",
            "hypothesis==6.170.15",
            "ruff==0.17.5",
            "moto[server,s3]==5.2.5",
            "pyftpdlib==2.2.0",
            "pyopenssl==26.4.0",  # pyftpdlib TLS_FTPHandler (FTPS test server)
            "aiosmtpd==1.4.6",
            "polars==2.1.0",
            "import-linter==2.17",  # the layering contracts of .importlinter, checked by make test
            "schemathesis==4.32.5",
            "fhir.resources==8.3.0",  # validates the FHIR Slot API's Bundles against the R4B models
            "fhir-core==1.1.12",
            "playwright==1.65.2",  # browser tests, driving Debian's /usr/bin/chromium (never a browser download)  # property-based tests of the HTTP service against /openapi.json
        ],
    },
    entry_points={
        "console_scripts": ["halo=halo_platform.cli:main"],
        "halo_platform.commands": ["bench=halo_platform.lab.bench:bench"],  # the lab's benchmarks
    },
)
