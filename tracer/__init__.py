"""synack's tracer half: isolated hosts, scenarios, the sniffer, socket-call recording."""
