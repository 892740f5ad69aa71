//! Traces by OTLP over HTTP/protobuf, set up by the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `_HEADERS`,
//! `_TIMEOUT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_BSP_*`). Without an endpoint nothing is exported.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// Either of these turns export on.
const ENDPOINTS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// What shutdown may spend sending the last spans.
const FLUSH_LIMIT: Duration = Duration::from_secs(3);

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

fn export_wanted() -> bool {
    ENDPOINTS
        .iter()
        .any(|var| std::env::var(var).is_ok_and(|v| !v.trim().is_empty()))
}

/// The tracer spans are exported with, when an endpoint is configured. The W3C
/// `traceparent` propagator is installed either way.
pub fn tracer() -> anyhow::Result<Option<SdkTracer>> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    if !export_wanted() {
        return Ok(None);
    }
    // The exporter's HTTP client is reqwest on rustls, whose provider we pick.
    crate::tls::install_crypto_provider();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .context("setting up the OTLP trace exporter")?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("switchyard");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("switchyard");
    if PROVIDER.set(provider).is_err() {
        anyhow::bail!("the OTLP exporter was set up twice");
    }
    Ok(Some(tracer))
}

/// Sends the spans still buffered and stops exporting. Blocks for at most a few
/// seconds; a no-op without export.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(err) = provider.shutdown_with_timeout(FLUSH_LIMIT)
    {
        eprintln!("switchyard: the last spans may be lost: {err}");
    }
}
