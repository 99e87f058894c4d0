"""The one place that wires settings, storage, parsers, pipeline and intake together."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import Settings, SnsSettings
from abusedesk.connectors import Connector, build_connector
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import ReportIntake
from abusedesk.intake.sns import CertificateSource, SnsVerifier, load_certificate
from abusedesk.logging import configure_logging
from abusedesk.messaging.delivery import Mailer, build_mailer
from abusedesk.messaging.keys import NoticeContext, notice_context
from abusedesk.parsing.registry import ParserRegistry, default_registry
from abusedesk.pipeline.activity_monitor import ActivityMonitor
from abusedesk.pipeline.blocklist_monitor import BlocklistMonitor
from abusedesk.pipeline.embedded import EmbeddedEngine
from abusedesk.pipeline.enforcement import enforcement_tender, notify_customer
from abusedesk.pipeline.link_monitor import LinkMonitor
from abusedesk.pipeline.monitoring import Monitor, monitoring_tender
from abusedesk.pipeline.notices import notices_tender
from abusedesk.pipeline.parser_health import ParserHealthWatch
from abusedesk.pipeline.processor import ReportProcessor
from abusedesk.pipeline.qa_sampling import qa_sampling_tender
from abusedesk.pipeline.rate_monitor import RateMonitor
from abusedesk.pipeline.replies import CustomerReplies
from abusedesk.pipeline.spike_monitor import SpikeMonitor
from abusedesk.pipeline.weekly_reports import weekly_reports_tender
from abusedesk.storage import audit
from abusedesk.storage.db import make_engine, make_session_factory
from abusedesk.storage.evidence import FilesystemEvidenceStore
from abusedesk.storage.inventory_cache import InventoryCache
from abusedesk.storage.reports import SqlReportRepository


@dataclass
class Container:
    """Everything an entry point needs, built once from settings."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    reports: SqlReportRepository
    parsers: ParserRegistry
    processor: ReportProcessor
    intake: ReportIntake
    embedded: EmbeddedEngine
    sns_verifier: SnsVerifier
    # The provider's control plane, and what customer notices are made and sent with.
    connector: Connector
    notices: NoticeContext
    mailer: Mailer

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def build(settings: Settings, *, configure_logs: bool = False) -> Container:
    """Build the container for *settings*; entry points call this once."""
    if configure_logs:
        configure_logging(settings.log_level, json=settings.environment == "production")
    engine = make_engine(
        settings.database.url,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        echo=settings.database.echo,
    )
    sessions = make_session_factory(engine)
    audit.use_partitions(sessions, settings.audit.partitions)
    reports = SqlReportRepository(
        FilesystemEvidenceStore(settings.storage.evidence_dir),
        inline_max_bytes=settings.storage.inline_max_bytes,
    )
    parsers = default_registry()
    jobs = settings.jobs
    connector = build_connector(settings.connector)
    notices = notice_context(settings)
    mailer = build_mailer(settings.notices)
    processor = ReportProcessor(
        sessions,
        reports,
        parsers,
        max_attempts=jobs.max_attempts,
        backoff_base_seconds=jobs.backoff_base_seconds,
        parser_health=ParserHealthWatch(sessions),
        inventory=InventoryCache(min_reload_seconds=settings.inventory.cache_min_reload_seconds),
        case_groups=settings.cases.groups(),
        reopen_grace=timedelta(days=settings.cases.reopen_grace_days),
        replies=CustomerReplies(sessions, reports, notices),
    )
    embedded = EmbeddedEngine(
        sessions,
        reports,
        processor,
        workers=jobs.embedded_workers,
        lease_seconds=jobs.lease_seconds,
        sweep_interval_seconds=jobs.sweep_interval_seconds,
        send_log_retention_days=settings.inventory.send_log_retention_days,
        retention=settings.retention.policy(),
        purge_batch_size=settings.retention.purge_batch_size,
        tenders=[
            enforcement_tender(sessions, connector, settings, notify=notify_customer(notices)),
            notices_tender(sessions, mailer, notices),
            monitoring_tender(sessions, settings, monitors(settings)),
            # insights tenders: qa sampling
            qa_sampling_tender(sessions, settings.qa),
            # insights tenders: weekly reports
            weekly_reports_tender(sessions, settings),
        ],
    )
    notify = embedded.notify if jobs.backend == "embedded" else _defer_to_procrastinate(settings)
    intake = ReportIntake(
        sessions, reports, max_bytes=settings.storage.max_report_bytes, notify=notify
    )
    # Built here so that a CA file that cannot be read stops the start, not the first message.
    sns_verifier = build_sns_verifier(settings.sns)
    return Container(
        settings,
        engine,
        sessions,
        reports,
        parsers,
        processor,
        intake,
        embedded,
        sns_verifier,
        connector,
        notices,
        mailer,
    )


def build_sns_verifier(settings: SnsSettings) -> SnsVerifier:
    """Build the SNS verifier for *settings*, reading the CA file when one is configured.

    A CA file that is missing or holds no PEM certificate raises here (``OSError`` or
    ``UntrustedCertificate``), naming the file.
    """
    ca: x509.Certificate | None = None
    if settings.ca_file is not None:
        ca = load_certificate(settings.ca_file.read_bytes(), source=f"CA file {settings.ca_file}")
    return SnsVerifier(
        certificate_hosts=settings.certificate_hosts,
        topic_arns=settings.topic_arns,
        certificates=CertificateSource(
            local_dir=settings.certificate_dir, timeout_seconds=settings.fetch_timeout_seconds
        ),
        ca=ca,
        clock=utcnow,
    )


def _defer_to_procrastinate(settings: Settings) -> Callable[[Sequence[int]], None]:
    # Imported lazily: the embedded mode needs no procrastinate connection at all.
    from abusedesk.pipeline.queue import ProcrastinateQueue  # noqa: PLC0415  # optional engine

    return ProcrastinateQueue(settings.database.url).defer_reports


def monitors(settings: Settings) -> list[Monitor]:
    """Return every monitor the monitoring sweep runs, each with its own settings."""
    return [
        RateMonitor(settings.rates),
        BlocklistMonitor(settings.blocklists),
        SpikeMonitor(settings.spikes),
        LinkMonitor(settings.linking),
        ActivityMonitor(settings.activity),
    ]
