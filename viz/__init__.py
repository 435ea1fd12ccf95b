"""synack's viz half: reads captures, analyses them, draws figures. Never imports tracer."""
