# The Celery app lives in core314.celery; Core314Config.ready() imports it, so shared tasks bind to it.
# Nothing is imported here: `python -m core314.embedded` must not configure Django as a side effect.
