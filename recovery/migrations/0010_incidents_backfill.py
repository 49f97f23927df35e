"""Every signal recorded before incidents existed becomes an incident of its own (one fault each, as it was
treated then), and its healing decisions and actions point at it. Nothing is lost; run again, it adds
nothing."""

from django.db import migrations

BATCH = 1000


def backfill(apps, schema_editor):
    AnomalySignal = apps.get_model("anomalies", "AnomalySignal")
    Incident = apps.get_model("anomalies", "Incident")
    HealingDecision = apps.get_model("recovery", "HealingDecision")
    RecoveryAction = apps.get_model("recovery", "RecoveryAction")
    pending = AnomalySignal.objects.filter(incident__isnull=True).order_by("pk")
    while True:
        signals = list(pending[:BATCH])
        if not signals:
            break
        for signal in signals:
            incident = Incident.objects.create(
                owner_id=signal.owner_id,
                component_id=signal.component_id,
                title=f"{signal.kind.replace('_', ' ')} on {signal.metric}"[:200],
                status=signal.status,
                severity=signal.severity,
                opened_at=signal.first_seen_at,
                last_seen_at=signal.last_seen_at,
                episode_started_at=signal.first_seen_at,
                silenced=signal.silenced,
                acknowledged_by_id=signal.acknowledged_by_id,
                acknowledged_at=signal.acknowledged_at,
                resolved_by_id=signal.resolved_by_id,
                resolved_at=signal.resolved_at,
                resolution_note=signal.resolution_note,
            )
            AnomalySignal.objects.filter(pk=signal.pk).update(incident=incident)
            HealingDecision.objects.filter(signal_id=signal.pk).update(incident=incident)
            RecoveryAction.objects.filter(signal_id=signal.pk).update(incident=incident)


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0009_incidents"),
        ("anomalies", "0004_incidents"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
