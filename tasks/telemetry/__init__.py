"""What a running server tells an operator: Prometheus metrics and health (and, when asked, OpenTelemetry traces)."""
