from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from anomalies.api import (
    AlertViewSet,
    AnomalySignalViewSet,
    DetectionSettingsViewSet,
    IncidentViewSet,
    SilenceViewSet,
)
from anomalies.views import (
    anomaly_console,
    detection_settings,
    incident_act,
    incident_detail,
    signal_act,
    signal_detail,
    silence_add,
    silence_stop,
)
from core314 import api, views
from core314.demo import api as demo_api
from health.api import ComponentViewSet, ExecutionRecordViewSet, ProbeViewSet, SystemHealthEventViewSet
from health.views import component_detail, export_events, system_monitor
from recovery import views as recovery_views
from recovery.api import (
    ActuatorViewSet,
    BackoffViewSet,
    CircuitBreakerViewSet,
    DemotionViewSet,
    DeploymentViewSet,
    EscalationTargetViewSet,
    HealingDecisionViewSet,
    HealingViewSet,
    RecoveryActionViewSet,
    RecoveryPolicyViewSet,
    ScaleOutViewSet,
)
from selftest import views as selftest_views
from selftest.api import SelfTestResultViewSet, SelfTestRunViewSet

router = DefaultRouter()
router.register("components", ComponentViewSet, basename="component")
router.register("health-events", SystemHealthEventViewSet, basename="health-event")
router.register("execution-records", ExecutionRecordViewSet, basename="execution-record")
router.register("probes", ProbeViewSet, basename="probe")
router.register("anomalies", AnomalySignalViewSet, basename="anomaly")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("silences", SilenceViewSet, basename="silence")
router.register("alerts", AlertViewSet, basename="alert")
router.register("detection-settings", DetectionSettingsViewSet, basename="detection-settings")
router.register("recovery-actions", RecoveryActionViewSet, basename="recovery-action")
router.register("circuit-breakers", CircuitBreakerViewSet, basename="circuit-breaker")
router.register("escalation-targets", EscalationTargetViewSet, basename="escalation-target")
router.register("actuators", ActuatorViewSet, basename="actuator")
router.register("recovery-policies", RecoveryPolicyViewSet, basename="recovery-policy")
router.register("demotions", DemotionViewSet, basename="demotion")
router.register("scale-outs", ScaleOutViewSet, basename="scale-out")
router.register("healing-decisions", HealingDecisionViewSet, basename="healing-decision")
router.register("backoffs", BackoffViewSet, basename="backoff")
router.register("deployments", DeploymentViewSet, basename="deployment")
router.register("healing", HealingViewSet, basename="healing")
router.register("demo-faults", demo_api.DemoFaultViewSet, basename="demo-fault-api")
router.register("selftest-runs", SelfTestRunViewSet, basename="selftest-run")
router.register("selftest-results", SelfTestResultViewSet, basename="selftest-result")
router.register("audit-log", api.AuditLogViewSet, basename="audit-log-entry")
router.register("service-accounts", api.ServiceAccountViewSet, basename="service-account")
router.register("tokens", api.TokenViewSet, basename="token")

urlpatterns = [
    path("", views.home, name="home"),
    # Browsers ask for /favicon.ico on pages that name none (the admin's): answer with ours, not a 404.
    path("favicon.ico", views.favicon),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("system-monitor", system_monitor, name="system-monitor"),
    path("system-monitor/export.csv", export_events, name="health-export"),
    path("system-monitor/components/<int:pk>", component_detail, name="health-component"),
    path("anomaly-console", anomaly_console, name="anomaly-console"),
    path("anomaly-console/signals/<int:pk>", signal_detail, name="anomaly-signal"),
    path("anomaly-console/signals/<int:pk>/acknowledge", signal_act, {"verb": "acknowledge"}, name="console-ack"),
    path("anomaly-console/signals/<int:pk>/resolve", signal_act, {"verb": "resolve"}, name="console-resolve"),
    path(
        "anomaly-console/signals/<int:pk>/accept-normal",
        signal_act,
        {"verb": "accept-normal"},
        name="console-accept-normal",
    ),
    path("anomaly-console/signals/<int:pk>/feedback", signal_act, {"verb": "feedback"}, name="console-feedback"),
    path("anomaly-console/incidents/<int:pk>", incident_detail, name="anomaly-incident"),
    path(
        "anomaly-console/incidents/<int:pk>/acknowledge",
        incident_act,
        {"verb": "acknowledge"},
        name="console-incident-ack",
    ),
    path(
        "anomaly-console/incidents/<int:pk>/resolve", incident_act, {"verb": "resolve"}, name="console-incident-resolve"
    ),
    path(
        "anomaly-console/incidents/<int:pk>/feedback",
        incident_act,
        {"verb": "feedback"},
        name="console-incident-feedback",
    ),
    path("anomaly-console/silences", silence_add, name="anomaly-silence-add"),
    path("anomaly-console/components/<int:pk>/detection", detection_settings, name="anomaly-detection-settings"),
    path("anomaly-console/silences/<int:pk>/end", silence_stop, name="anomaly-silence-end"),
    path("recovery-manager", recovery_views.recovery_manager, name="recovery-manager"),
    path("recovery-manager/actions/<int:pk>/", recovery_views.action_detail, name="recovery-action"),
    path(
        "recovery-manager/actions/<int:pk>/approve",
        recovery_views.action_act,
        {"verb": "approve"},
        name="recovery-approve",
    ),
    path(
        "recovery-manager/actions/<int:pk>/reject",
        recovery_views.action_act,
        {"verb": "reject"},
        name="recovery-reject",
    ),
    path(
        "recovery-manager/actions/<int:pk>/cancel",
        recovery_views.action_act,
        {"verb": "cancel"},
        name="recovery-cancel",
    ),
    path("system-monitor/fault", views.demo_fault, name="demo-fault"),
    path("recovery-manager/manual/", recovery_views.action_manual, name="recovery-manual"),
    path("recovery-manager/pause/", recovery_views.healing_pause, name="recovery-pause"),
    path("recovery-manager/policies/", recovery_views.policy_list, name="recovery-policies"),
    path("recovery-manager/policies/<int:pk>/", recovery_views.policy_detail, name="recovery-policy"),
    path("recovery-manager/policies/<int:pk>/change", recovery_views.policy_change, name="recovery-policy-change"),
    path("recovery-manager/demotions/<int:pk>/clear", recovery_views.demotion_clear, name="recovery-demotion-clear"),
    path("selftest-panel", selftest_views.selftest_panel, name="selftest-panel"),
    path("selftest-panel/run", selftest_views.run_now, name="selftest-run-now"),
    path("selftest-panel/checks/<slug:name>/", selftest_views.check_history, name="selftest-check"),
    path("audit-log", views.audit_log, name="audit-log"),
    path("api/v1/", include(router.urls)),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
