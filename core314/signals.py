"""Events of the platform's own objects that the apps answer (in their ``receivers.py``)."""

from django.dispatch import Signal

# Sent inside the transaction that creates a person's account (``core314.services.user_create``), with
# ``user``: the loop's apps set up what a new user starts with (healing's default policies). Service
# accounts are not people and act on their owner's rows: they never send it.
user_created = Signal()
