"""Test settings: the production settings with speed knobs only."""

import hashlib
import os

# The test client speaks plain HTTP, and tests need a key; both are set before the real settings load.
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret-" + "x" * 40)
os.environ.setdefault("CORE314_HTTPS", "0")

from core314.settings import *  # noqa: F403 -- test settings extend the real ones, by design

# Hashing passwords is deliberately slow; tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405 -- names from the real settings, imported above

# Each test process gets its own Redis key space (heartbeats, metrics, channel groups, Celery queue), so
# parallel workers and a running `make run` on the same Redis never see each other's keys.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Two checkouts testing against one PostgreSQL/Redis (a developer and CI, say) must not share a test
# database or key space: both names carry a hash of the checkout's path.
_checkout = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:6]  # noqa: S324, F405 -- a label, not security
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_checkout}"}  # noqa: F405 -- names from the real settings, imported above
REDIS_PREFIX = f"c314test-{_checkout}-{_worker}"
CACHES["default"]["KEY_PREFIX"] = REDIS_PREFIX  # noqa: F405 -- names from the real settings, imported above
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{REDIS_PREFIX}:asgi"  # noqa: F405 -- names from the real settings, imported above
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_PREFIX}.default"
CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": f"{REDIS_PREFIX}:"}  # noqa: F405 -- names from the real settings, imported above
# The tests' stand-ins for users' services (HTTP servers, webhook receivers, closed ports) listen on loopback.
# The platform's own PostgreSQL and Redis (also on loopback here) stay refused to non-administrators.
CORE314_EGRESS_ALLOW = ["127.0.0.0/8", "::1/128"]
