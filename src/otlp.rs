//! OpenTelemetry export of the request spans over OTLP/gRPC (cargo feature `otlp`, off by
//! default so that the default build stays lean): `aspflow --otlp-endpoint
//! http://collector:4317 serve ...` (env `OTEL_EXPORTER_OTLP_ENDPOINT`). The spans are those the
//! logs carry (`rpc` with subject, role, request id, case, command), never a payload.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

/// The provider, kept to flush the spans still batched when the process ends.
static PROVIDER: std::sync::OnceLock<SdkTracerProvider> = std::sync::OnceLock::new();

/// A tracing layer that exports spans to `endpoint`. Call inside the tokio runtime.
///
/// # Errors
/// The exporter cannot be built (e.g. a malformed endpoint).
pub fn layer<S>(
    endpoint: &str,
) -> Result<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>, String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("OTLP exporter for {endpoint}: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("aspflow")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let tracer = provider.tracer("aspflow");
    let _ = PROVIDER.set(provider);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Flushes and stops the exporter (at exit).
pub fn shutdown() {
    if let Some(p) = PROVIDER.get()
        && let Err(e) = p.shutdown()
    {
        eprintln!("OTLP exporter shutdown: {e}");
    }
}
